"""Which prompts an evaluation runs on: a world split's fixed list, or a user's file (one prompt per line)."""
from __future__ import annotations

import warnings
from pathlib import Path

from ..csg.parser import PromptError, parse_prompt
from ..world.prompts import PromptSample, ood_prompts, train_prompts_examples

SPLITS = {"train": train_prompts_examples, "ood": ood_prompts}


def load_prompt_file(path: str | Path) -> list[PromptSample]:
    """Every line parsed up front: a line the parser refuses fails the load (naming the line) before any model
    loads, and words it could not read are warned about, since a score over half a prompt looks like a good one."""
    samples = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        prompt = line.strip()
        if not prompt or prompt.startswith("#"):
            continue
        try:
            notes = parse_prompt(prompt).notes
        except PromptError as exc:
            raise PromptError(f"{path}, line {number}: {exc}") from None
        for note in notes:
            warnings.warn(f"{path}, line {number} ({prompt!r}): {note}", stacklevel=2)
        samples.append(PromptSample(prompt, "custom", "custom", {"source": str(path), "line": len(samples)}))
    if not samples:
        raise ValueError(f"{path} holds no prompts (one per line; lines starting with # are ignored)")
    return samples


def evaluation_prompts(split: str | None = None, prompts_file: str | Path | None = None) -> list[PromptSample]:
    if prompts_file is not None:
        return load_prompt_file(prompts_file)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    return SPLITS[split]()
