"""Prompt-embedding guidance (insight 2: the prompt embedding holds texture and physics apart).

Directions are measured with the backend's own text encoder on prompt PAIRS that differ in one
factor, at the tokens of the entity the factor acts on. Text encoders of this family (CLIP) are
causal: a token only sees the words before it, so every pair puts the factor BEFORE the entity
("a large mirror with a red ball on it" vs "a large table with a red ball on it"); measured after a
factor that comes later, the entity's tokens would not differ at all.

    reflection  mirror vs table under the object              (at the object's tokens)
    shadow      light from the left vs from the right          (sign: which side the shadow falls)
    contact     "with X on it" vs "under X"                    (resting vs floating)
    fill        "more S than empty space in the jar" vs "less" (at the container's tokens)
    action      X after "is eaten by" vs after "eats"          (agent vs patient role, at X's tokens)
    texture     colour swaps of the same object                (a basis, not one direction)

Physics directions are orthogonalised against the texture basis, so pushing along them does not
repaint anything. The hook adds ``alpha_k * magnitude_k * u_k`` to the tokens of each effect's parent
entities on the conditional branch only: ``alpha = 1`` is one average factor flip, and no extra
model evaluation is made.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import torch
from safetensors.torch import load_file, save_file

from ..backends.base import Backend, PromptEmbedding
from ..csg.graph import CSG, Effect, EffectType
from ..csg.vocab import COLOURS
from ..sampling import StepState

EFFECT_TYPES: tuple[str, ...] = tuple(t.value for t in EffectType)
# Which params of an effect name the entities whose tokens carry its direction, with the sign applied.
PARENT_ROLES: dict[str, tuple[tuple[str, float], ...]] = {
    "reflection": (("object", 1.0),),
    "shadow": (("object", 1.0),),
    "contact": (("object", 1.0),),
    "fill": (("container", 1.0),),
    "action": (("agent", 1.0), ("patient", -1.0)),  # push the two roles apart
}
_OBJECTS = ("ball", "cube", "cup", "bottle")
_PAIR_COLOURS = ("red", "blue", "green", "yellow")
_SUBSTANCES = ("dirt", "sand", "water")
_TEXTURE_VARIANCE = 0.95  # keep the colour components that explain this much of the colour variation
_MAX_TEXTURE_DIMS = 8
_PROBE = "a red ball on a table"  # fingerprint of the text encoder a cached file was measured with
_TOKEN_MARKS = ("</w>", "Ġ", "▁", "##")
# Start, end and padding markers of the tokenizers in use (CLIP, T5/UMT5, the tiny word-level one); not
# [UNK], which stands for a word inside the prompt.
_BOUNDARIES = ("<|endoftext|>", "<|startoftext|>", "</s>", "<s>", "<pad>", "[PAD]", "[BOS]", "[EOS]", "[CLS]", "[SEP]")


# -- token alignment ----------------------------------------------------------------------------

def _norm_token(tok: str) -> str:
    for mark in _TOKEN_MARKS:
        tok = tok.replace(mark, "")
    return tok.lower()


def _occurrences(pieces: list[str], word: str) -> list[list[int]]:
    """Every run of consecutive tokens whose pieces spell ``word`` (one token for a word-level tokenizer)."""
    word = word.lower()
    runs = []
    for start in range(len(pieces)):
        text, end = "", start
        while end < len(pieces) and len(text) < len(word) and word.startswith(text + pieces[end]) and pieces[end]:
            text += pieces[end]
            end += 1
        if text == word:
            runs.append(list(range(start, end)))
    return runs


def _segments(tokens: list[str]) -> list[range]:
    """Maximal runs of tokens between start/end/padding markers: one per copy of the prompt (SD-3 puts the
    CLIP tokens and then the T5 tokens in one sequence, so its prompt occurs twice)."""
    runs, start = [], None
    for i, tok in enumerate([*tokens, _BOUNDARIES[0]]):
        if tok in _BOUNDARIES:
            if start is not None:
                runs.append(range(start, i))
            start = None
        elif start is None:
            start = i
    return runs


def _best_run(pieces: list[str], words: Sequence[str]) -> list[int]:
    """The positions of ``words`` in one copy of the prompt (see ``token_positions``)."""
    found = [(w, _occurrences(pieces, w)) for w in words]
    found = [(w, occ) for w, occ in found if occ]
    if not found:
        return []
    *before, (_, anchors) = found
    best: list[int] | None = None
    for anchor in anchors:
        picked, limit = [anchor], anchor[0]
        for _, occ in reversed(before):
            prior = [o for o in occ if o[-1] < limit]
            if prior:
                picked.append(prior[-1])
                limit = prior[-1][0]
        span = anchor[-1] - min(p[0] for p in picked)
        if best is None or span < best[0]:
            best = [span] + sorted(i for p in picked for i in p)
    return best[1:]


def block_positions(cond: PromptEmbedding, words: Sequence[str], row: int = 0) -> list[list[int]]:
    """Positions of a CSG node's ``words`` in each copy of prompt ``row``: one copy for most models; where
    the sequence holds the prompt once per text encoder (SD-3: CLIP, then T5), one list per copy, in order.
    Exact for a word-level tokenizer; a subword tokenizer's pieces are matched in order. Anchored on the
    last word (the noun): of its occurrences, the one whose preceding words sit closest wins ("a red ball
    and a red cube": the cube gets the second "red"). Words missing from a copy (unknown, truncated) are
    skipped there."""
    if not words or not cond.tokens:
        return []
    tokens = cond.tokens[row]
    pieces = [_norm_token(t) for t in tokens]
    return [[seg[i] for i in _best_run(pieces[seg.start:seg.stop], words)] for seg in _segments(tokens)]


def token_positions(cond: PromptEmbedding, words: Sequence[str], row: int = 0) -> list[int]:
    """``block_positions`` of every copy, as one list."""
    return [i for block in block_positions(cond, words, row) for i in block]


# -- directions -----------------------------------------------------------------------------------

# Written into saved directions: one part per copy of the prompt in the token sequence (see entity_vectors).
DIRECTIONS_FORMAT = "per-copy"


@dataclass
class PhysicsDirections:
    """Unit physics directions per effect type (orthogonal to ``texture``), their average size, and an
    orthonormal texture basis [k, D]."""

    physics: dict[str, torch.Tensor]  # effect type -> [copies * D], unit norm (see ``entity_vectors``)
    magnitude: dict[str, float]  # effect type -> norm of the average pair difference (texture removed)
    texture: torch.Tensor  # [k, D], orthonormal rows
    probe: torch.Tensor | None = None  # [D] text-encoder fingerprint (see ``_PROBE``)

    def save(self, path: str | Path) -> None:
        tensors = {f"physics.{k}": v.contiguous() for k, v in self.physics.items()}
        tensors["texture"] = self.texture.contiguous()
        if self.probe is not None:
            tensors["probe"] = self.probe.contiguous()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.float().cpu() for k, v in tensors.items()}, str(path),
                  metadata={"magnitude": json.dumps(self.magnitude), "format": DIRECTIONS_FORMAT})

    @classmethod
    def load(cls, path: str | Path) -> PhysicsDirections:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != DIRECTIONS_FORMAT:
            raise ValueError(f"{path}: physics directions in an older format (one part for all copies of the "
                             "prompt); measure them again with estimate_directions")
        tensors = load_file(str(path))
        physics = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith("physics.")}
        return cls(physics, json.loads(meta.get("magnitude", "{}")), tensors["texture"], tensors.get("probe"))


@dataclass(frozen=True)
class PromptPair:
    """Two prompts that differ in one factor, and the words of the entity where the difference is read."""

    with_factor: str
    without_factor: str
    words: tuple[str, ...]


def physics_pairs() -> dict[str, list[PromptPair]]:
    """Minimal pairs from the world's vocabulary, the factor always placed before the entity."""
    things = [(c, o) for o in _OBJECTS for c in _PAIR_COLOURS]
    pairs: dict[str, list[PromptPair]] = {
        "reflection": [PromptPair(f"a large mirror with a {c} {o} on it", f"a large table with a {c} {o} on it",
                                  (c, o)) for c, o in things],
        "shadow": [PromptPair(f"lit from the left, a {c} {o} on the floor",
                              f"lit from the right, a {c} {o} on the floor", (c, o)) for c, o in things],
        "contact": [PromptPair(f"a table with a {c} {o} on it", f"a table under a {c} {o}", (c, o))
                    for c, o in things],
        "fill": [PromptPair(f"there is more {s} than empty space in the {c} jar",
                            f"there is less {s} than empty space in the {c} jar", (c, "jar"))
                 for s in _SUBSTANCES for c in _PAIR_COLOURS],
        "action": [PromptPair(f"a {a} is eaten by a {c} {p}", f"a {a} eats a {c} {p}", (c, p))
                   for a, p in (("bird", "snake"), ("snake", "bird")) for c in _PAIR_COLOURS],
    }
    return pairs


def texture_prompts() -> list[tuple[str, tuple[str, ...], str]]:
    """(prompt, entity words, object) for every colour of every object: the colour variation per object."""
    return [(f"a {c} {o} on a table", (c, o), o) for o in _OBJECTS for c in COLOURS]


def entity_vectors(backend: Backend, prompts: list[str], words: list[Sequence[str]]) -> torch.Tensor:
    """Mean embedding over each prompt's entity tokens, copy by copy of the prompt, joined: [n, copies * D].
    Each text encoder has its own space (SD-3's CLIP rows are zero past CLIP's width, T5's are not), so a
    direction keeps one part per copy and each part is added only to its own copy's tokens."""
    cond = backend.encode_prompt(prompts)
    out = []
    for row, w in enumerate(words):
        blocks = block_positions(cond, w, row)
        if not blocks or not all(blocks):
            raise ValueError(f"the backend's tokenizer does not contain {' '.join(w)!r} in {prompts[row]!r}")
        out.append(torch.cat([cond.embeds[row, b].float().mean(0) for b in blocks]))
    return torch.stack(out).cpu()


def _texture_basis(backend: Backend) -> torch.Tensor:
    items = texture_prompts()
    vecs = entity_vectors(backend, [p for p, _, _ in items], [w for _, w, _ in items])
    objects = [o for _, _, o in items]
    groups = [torch.tensor([i for i, o in enumerate(objects) if o == obj]) for obj in dict.fromkeys(objects)]
    residuals = torch.cat([vecs[g] - vecs[g].mean(0) for g in groups])  # colour variation of each object
    _, s, vh = torch.linalg.svd(residuals, full_matrices=False)
    energy = (s ** 2).cumsum(0) / (s ** 2).sum().clamp_min(1e-12)
    k = min(int((energy < _TEXTURE_VARIANCE).sum()) + 1, _MAX_TEXTURE_DIMS, vh.shape[0])
    return vh[:k]


def remove_texture(v: torch.Tensor, texture: torch.Tensor) -> torch.Tensor:
    """``v`` minus its projection on the span of the orthonormal rows of ``texture``."""
    return v - texture.T @ (texture @ v) if texture.numel() else v


def _probe(backend: Backend) -> torch.Tensor:
    return backend.encode_prompt([_PROBE]).embeds[0].float().mean(0).cpu()


def estimate_directions(backend: Backend, cache: str | Path | None = None) -> PhysicsDirections:
    """Measure the directions on ``backend``'s text encoder, or read them from ``cache`` when that file was
    measured with the same encoder (checked on a probe prompt); a fresh estimate is written to ``cache``."""
    probe = _probe(backend)
    cached = None
    if cache is not None and Path(cache).is_file():
        try:
            cached = PhysicsDirections.load(cache)
        except ValueError:  # an older format: measured again below, and the file rewritten
            cached = None
    if cached is not None and cached.probe is not None and cached.probe.shape == probe.shape and torch.allclose(
            cached.probe, probe, atol=1e-4):
        return cached
    texture = _texture_basis(backend)
    physics, magnitude = {}, {}
    for effect, pairs in physics_pairs().items():
        words = [p.words for p in pairs]
        diff = (entity_vectors(backend, [p.with_factor for p in pairs], words)
                - entity_vectors(backend, [p.without_factor for p in pairs], words)).mean(0)
        diff = remove_texture(diff, texture)
        norm = float(diff.norm())
        if norm < 1e-8:
            raise ValueError(f"the {effect} pairs give the same embedding on this text encoder: no direction")
        physics[effect], magnitude[effect] = diff / norm, norm
    out = PhysicsDirections(physics, magnitude, texture, probe)
    if cache is not None:
        out.save(cache)
    return out


# -- the hook -------------------------------------------------------------------------------------

def _sign(effect: Effect) -> float:
    """Per-effect orientation of its direction: which side a shadow falls, which way a fill level goes."""
    if effect.type == EffectType.SHADOW:
        return {"right": 1.0, "left": -1.0}.get(effect.params.get("side"), 0.0)  # light-left pairs: shadow right
    if effect.type == EffectType.FILL:
        level = effect.params.get("level")
        return 0.0 if level is None else max(-1.0, min(1.0, (float(level) - 0.5) / 0.25))
    return 1.0


def _guided_effects(csg: CSG, nodes: Iterable[str] | None) -> list[Effect]:
    wanted = None if nodes is None else set(nodes)
    return [e for e in csg.effects() if (wanted is None or e.id in wanted)
            and not (e.type == EffectType.CONTACT and e.params.get("part") == "mouth")]  # the action covers it


class EmbeddingGuidance:
    """Adds physics directions on the tokens of each effect's parent entities, in a window of steps.

    One instance per run: the token positions are looked up once, on the first active step.
    """

    def __init__(self, strengths: dict[str, float], directions: PhysicsDirections, csg: CSG,
                 window: tuple[int, int] | None = None, nodes: Iterable[str] | None = None) -> None:
        unknown = set(strengths) - set(EFFECT_TYPES)
        if unknown:
            raise ValueError(f"embedding strengths for unknown effect types {sorted(unknown)}; use {EFFECT_TYPES}")
        self.strengths, self.directions, self.csg, self.window = dict(strengths), directions, csg, window
        self.effects = _guided_effects(csg, nodes)
        self._delta: torch.Tensor | None = None  # [B, L, D] added to the conditional embeddings

    def edits(self) -> list[tuple[list[str], torch.Tensor]]:
        """(entity words, vector added on their tokens) for every guided effect with a non-zero push."""
        out = []
        for eff in self.effects:
            alpha = float(self.strengths.get(eff.type.value, 0.0)) * _sign(eff)
            u = self.directions.physics.get(eff.type.value)
            if alpha == 0.0 or u is None:
                continue
            delta = alpha * self.directions.magnitude[eff.type.value] * u
            for key, sign in PARENT_ROLES[eff.type.value]:
                parent = eff.params.get(key)
                if parent in self.csg and self.csg.node(parent).words:
                    out.append((list(self.csg.node(parent).words), sign * delta))
        return out

    def _build_delta(self, cond: PromptEmbedding) -> torch.Tensor:
        """Each edit's vector on its words' tokens, its k-th part (see ``entity_vectors``) on the k-th copy."""
        delta = torch.zeros_like(cond.embeds)
        for words, vec in self.edits():
            parts = vec.to(delta).reshape(-1, delta.shape[-1])
            for row in range(delta.shape[0]):
                blocks = block_positions(cond, words, row)
                if not any(blocks) or len(blocks) != len(parts):
                    found = "no tokens" if not any(blocks) else f"{len(blocks)} copies of the prompt, not {len(parts)}"
                    warnings.warn(f"embedding guidance: {found} for {' '.join(words)!r} in prompt {row}; "
                                  "nothing added there", stacklevel=3)
                    continue
                for block, part in zip(blocks, parts):
                    delta[row, block] += part
        return delta

    def before_model(self, state: StepState) -> None:
        a, b = self.window if self.window is not None else (0, state.num_steps)
        if not a <= state.index < b:
            return
        if self._delta is None:
            self._delta = self._build_delta(state.cond)
        if not self._delta.any():
            return
        # A new object: the sampler hands the same cond to every step, so it must never be edited in place.
        state.cond = PromptEmbedding(state.cond.embeds + self._delta, state.cond.tokens, state.cond.pooled,
                                     state.cond.truncated)

    def after_step(self, state: StepState) -> None:
        return None
