"""Paired (Winoground-style) scores: prompts with the same words in a different order.

"a bird eats a snake" and "a snake eats a bird" use the same words; a model that ignores word order
draws the same picture for both and can pass at most one of them. So a pair counts as right for a
method and seed only when BOTH images pass the judge on every node.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace
from itertools import combinations
from typing import TYPE_CHECKING, Iterable, Sequence

from ..world.prompts import PromptSample

if TYPE_CHECKING:
    from .records import EvalRecord

# Metadata key marking a prompt evaluated only to complete a swapped pair (its value: the prompt it pairs).
PARTNER_OF = "pair_partner_of"
PAIRED_CATEGORIES = ("agency",)  # where the world's swapped prompts mean something different (who eats whom)


def prompt_words(prompt: str) -> list[str]:
    return re.findall(r"[a-z]+", prompt.lower())


def is_swapped_pair(a: str, b: str) -> bool:
    """Same words (as a multiset), different order."""
    wa, wb = prompt_words(a), prompt_words(b)
    return wa != wb and sorted(wa) == sorted(wb)


def find_pairs(prompts: Iterable[str]) -> list[tuple[str, str]]:
    """Every two distinct prompts of the set that are swapped versions of each other, in first-seen order."""
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for p in dict.fromkeys(prompts):
        groups[tuple(sorted(prompt_words(p)))].append(p)
    return [(a, b) for group in groups.values() for a, b in combinations(group, 2) if is_swapped_pair(a, b)]


def partner_samples(samples: Sequence[PromptSample], pool: Sequence[PromptSample],
                    categories: Sequence[str] = PAIRED_CATEGORIES) -> list[PromptSample]:
    """Prompts of ``pool`` (e.g. the train list) that complete a swapped pair with a sample of ``categories``,
    marked with ``PARTNER_OF`` so that they count only towards the paired score."""
    have = {s.prompt for s in samples}
    out: dict[str, PromptSample] = {}
    for s in samples:
        if s.category not in categories:
            continue
        for p in pool:
            if p.prompt not in have and p.prompt not in out and is_swapped_pair(s.prompt, p.prompt):
                out[p.prompt] = replace(p, metadata={**p.metadata, PARTNER_OF: s.prompt})
    return list(out.values())


def paired_scores(records: Sequence[EvalRecord]) -> dict[str, dict]:
    """Per method: {"pairs": prompt pairs seen, "trials": (pair, seed) with both images, "accuracy": share of
    the trials where both images pass}. Methods with no complete pair are left out."""
    verdicts: dict[tuple[str, str], dict[int, bool]] = defaultdict(dict)
    for r in records:
        verdicts[r.method, r.prompt][r.seed] = r.passed
    pairs = find_pairs(r.prompt for r in records)
    out = {}
    for method in dict.fromkeys(r.method for r in records):
        seen, trials = 0, []
        for a, b in pairs:
            va, vb = verdicts.get((method, a), {}), verdicts.get((method, b), {})
            common = sorted(va.keys() & vb.keys())
            seen += bool(common)
            trials += [va[seed] and vb[seed] for seed in common]
        if trials:
            out[method] = {"pairs": seen, "trials": len(trials), "accuracy": sum(trials) / len(trials)}
    return out
