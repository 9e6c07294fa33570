"""Embedding probe (insight 2): does the prompt embedding keep physics and texture in different directions?

Structure: the physics directions (``embedding.estimate_directions``, from prompt pairs that differ in one
factor) against the texture basis (colour variation of the same objects). LINA's directions are
orthogonalised against that basis, so the table reads the RAW mean pair differences: which share of each
lies in the texture span (a random direction would have sqrt(k/D)), how consistent the single pairs are
with it, and how the directions relate to each other.

Edits: on prompts that state one effect, the same entity tokens are pushed either along the effect's
physics direction, against the prompt (one average factor flip times ``strength``), or along a colour
change of the same entity (one colour flip times ``strength``). The judge's physics verdict (effect and
relation checks) should change under the physics edit more than its texture verdict (entity colours),
and the colour edit the reverse.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ...backends.base import Backend
from ...csg.graph import CSG, Entity
from ...csg.vocab import COLOURS, canonical_colour
from ...defaults import DEFAULT_GUIDANCE
from ...evaluation.run import canonical_graph, judge_image
from ...sampling import StepHook, sample
from ...world.judge import Verdict
from ...world.render import DEFAULT_COLOUR
from ..embedding import (
    EFFECT_TYPES, PARENT_ROLES, EmbeddingGuidance, PhysicsDirections, entity_vectors, estimate_directions,
    physics_pairs, remove_texture,
)
from .report import ProbeReport, Table, rate

# One prompt per effect type, every parent entity with a stated colour (so a colour edit has a verdict to
# change); all of the train split, so the baseline draws them.
EDIT_PROMPTS: tuple[tuple[str, str], ...] = (
    ("a red ball on a large mirror", "reflection"),
    ("a red cube on a table, lit from the left", "shadow"),
    ("a green ball on top of a red cube", "contact"),
    ("a blue jar with a little sand in it", "fill"),
    ("a green snake eating a brown bird", "action"),
)
FLIP_COLOURS = ("red", "blue", "green", "yellow")  # what a colour edit may turn an entity into
EDITS = ("physics", "colour")


# -- structure -----------------------------------------------------------------------------------------

def structure_tables(backend: Backend, directions: PhysicsDirections) -> tuple[list[Table], np.ndarray]:
    """(tables, |cos| matrix between the physics directions)."""
    texture = directions.texture
    k, dim = texture.shape
    rows = []
    for effect, pairs in physics_pairs().items():
        words = [p.words for p in pairs]
        diffs = (entity_vectors(backend, [p.with_factor for p in pairs], words)
                 - entity_vectors(backend, [p.without_factor for p in pairs], words))
        raw = diffs.mean(0)
        in_texture = float((texture @ raw).norm() / raw.norm().clamp_min(1e-12))
        u = directions.physics[effect]
        single = torch.stack([remove_texture(d, texture) for d in diffs])
        consistency = float((single @ u / single.norm(dim=1).clamp_min(1e-12)).mean())
        rows.append([effect, len(pairs), float(raw.norm()), in_texture, math.sqrt(k / dim), consistency])
    names = [e for e in EFFECT_TYPES if e in directions.physics]
    u = torch.stack([directions.physics[e] for e in names])
    cos = (u @ u.T).abs().numpy()
    return [
        Table(f"Physics directions vs the texture basis (k = {k} colour components in D = {dim})",
              ["effect", "pairs", "|mean pair difference|", "share in texture span (raw)",
               "random direction", "pair consistency (mean cos)"], rows),
        Table("|cos| between physics directions (texture removed)", ["effect"] + names,
              [[a] + [float(cos[i, j]) for j in range(len(names))] for i, a in enumerate(names)]),
    ], cos


# -- edits ---------------------------------------------------------------------------------------------

class TokenEdit(EmbeddingGuidance):
    """``EmbeddingGuidance``'s mechanics (conditional branch, these words' tokens) with given vectors."""

    def __init__(self, edits: list[tuple[list[str], torch.Tensor]], directions: PhysicsDirections, csg: CSG) -> None:
        super().__init__({}, directions, csg)
        self._edits = edits

    def edits(self) -> list[tuple[list[str], torch.Tensor]]:
        return self._edits


def stated_colour(ent: Entity) -> str:
    return (canonical_colour(ent.colour) if ent.colour else None) or DEFAULT_COLOUR.get(ent.cls, "gray")


def flipped_colour(colour: str) -> str:
    """The flip colour farthest (RGB) from ``colour``: the clearest texture change."""
    rgb = np.array(COLOURS[colour])
    return max((c for c in FLIP_COLOURS if c != colour), key=lambda c: float(np.abs(np.array(COLOURS[c]) - rgb).sum()))


def parents(csg: CSG, effect: str) -> list[Entity]:
    """The entities whose tokens carry ``effect``'s direction (the same ones both edits act on)."""
    out = []
    for eff in csg.effects(effect):
        for key, _ in PARENT_ROLES[effect]:
            node = csg.node(eff.params[key]) if eff.params.get(key) in csg else None
            if isinstance(node, Entity) and node not in out:
                out.append(node)
    return out


def colour_edit(backend: Backend, csg: CSG, effect: str, directions: PhysicsDirections, strength: float) -> TokenEdit:
    """Each parent entity's tokens moved by ``strength`` colour flips (its colour -> ``flipped_colour``)."""
    edits = []
    for ent in parents(csg, effect):
        old = stated_colour(ent)
        new = flipped_colour(old)
        vecs = entity_vectors(backend, [f"a {c} {ent.cls} on a table" for c in (new, old)], [(new, ent.cls),
                                                                                              (old, ent.cls)])
        edits.append((list(ent.words), strength * (vecs[0] - vecs[1])))
    return TokenEdit(edits, directions, csg)


def physics_edit(csg: CSG, effect: str, directions: PhysicsDirections, strength: float) -> EmbeddingGuidance:
    """LINA's own embedding hook with a NEGATIVE strength: a push against the effect the prompt states."""
    return EmbeddingGuidance({effect: -strength}, directions, csg)


@dataclass
class EditCase:
    prompt: str
    effect: str
    seed: int
    edit: str
    physics_changed: bool
    texture_changed: bool
    d_physical: float
    d_texture: float


def _passes(verdict: Verdict, physics: bool) -> tuple[bool | None, ...]:
    return tuple(n.verdict for n in verdict.nodes if (n.kind != "entity") == physics)


def compare(prompt: str, effect: str, seed: int, edit: str, base: Verdict, edited: Verdict) -> EditCase:
    return EditCase(prompt, effect, seed, edit, _passes(base, True) != _passes(edited, True),
                    _passes(base, False) != _passes(edited, False), edited.physical - base.physical,
                    edited.texture - base.texture)


def _generate(backend: Backend, csg: CSG, seeds: Sequence[int], steps: int, guidance: float,
              hooks: Sequence[StepHook] = ()) -> list[Verdict]:
    images = sample(backend, [csg.prompt] * len(seeds), seeds, steps, guidance, hooks=hooks).images
    return [judge_image(im, csg) for im in images]


def edit_table(cases: list[EditCase]) -> Table:
    rows = []
    for edit in EDITS:
        for effect in [None, *dict.fromkeys(c.effect for c in cases)]:
            sel = [c for c in cases if c.edit == edit and (effect is None or c.effect == effect)]
            rows.append([f"{edit} edit" + (f" ({effect} prompt)" if effect else ": all"), len(sel),
                         rate(sum(c.physics_changed for c in sel), len(sel)),
                         rate(sum(c.texture_changed for c in sel), len(sel)),
                         float(np.mean([abs(c.d_physical) for c in sel])),
                         float(np.mean([abs(c.d_texture) for c in sel]))])
    return Table("Verdict changes against the unedited image (same seed)",
                 ["edit", "images", "physics verdict changed", "texture verdict changed", "mean |Δ physical|",
                  "mean |Δ texture|"], rows)


def figure(cos: np.ndarray, names: list[str], in_texture: list[float], edits: Table):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_cos, ax_bar) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    heat = np.concatenate([cos, np.array(in_texture)[:, None]], axis=1)
    im = ax_cos.imshow(heat, vmin=0, vmax=1, cmap="viridis")
    ax_cos.set_xticks(range(len(names) + 1), names + ["texture\n(raw share)"], fontsize=8, rotation=30)
    ax_cos.set_yticks(range(len(names)), names, fontsize=8)
    for (i, j), v in np.ndenumerate(heat):
        ax_cos.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v < 0.6 else "black")
    ax_cos.set_title("|cos| of physics directions", fontsize=10)
    fig.colorbar(im, ax=ax_cos, fraction=0.046)
    totals = [r for r in edits.rows if str(r[0]).endswith(": all")]
    x = np.arange(len(totals))
    ax_bar.bar(x - 0.2, [r[2] or 0 for r in totals], 0.4, label="physics verdict changed")
    ax_bar.bar(x + 0.2, [r[3] or 0 for r in totals], 0.4, label="texture verdict changed")
    ax_bar.set_xticks(x, [str(r[0]).replace(": all", "") for r in totals])
    ax_bar.set_ylim(0, 1.05)
    ax_bar.set_ylabel("share of images")
    ax_bar.set_title("Which verdict does an embedding edit change?", fontsize=10)
    ax_bar.legend(fontsize=8)
    return fig


def run_embedding_probe(backend: Backend, n: int = len(EDIT_PROMPTS), seeds: Sequence[int] = (0, 1),
                        steps: int = 20, guidance: float = DEFAULT_GUIDANCE, strength: float = 2.0,
                        progress: bool = True):
    """(report, figure): the direction structure and the edit test on the first ``n`` of ``EDIT_PROMPTS``."""
    if not 1 <= n <= len(EDIT_PROMPTS):
        raise ValueError(f"--n must be between 1 and {len(EDIT_PROMPTS)} for the embedding probe, got {n}")
    directions = estimate_directions(backend)
    struct, cos = structure_tables(backend, directions)
    cases: list[EditCase] = []
    for prompt, effect in tqdm(EDIT_PROMPTS[:n], desc="embedding", disable=not progress):
        csg = canonical_graph(prompt)
        base = _generate(backend, csg, seeds, steps, guidance)
        for edit, hook in (("physics", physics_edit(csg, effect, directions, strength)),
                           ("colour", colour_edit(backend, csg, effect, directions, strength))):
            edited = _generate(backend, csg, seeds, steps, guidance, [hook])
            cases += [compare(prompt, effect, s, edit, b, e) for s, b, e in zip(seeds, base, edited)]
    table = edit_table(cases)
    totals = {r[0]: r for r in table.rows}
    report = ProbeReport(
        probe="embedding",
        question=("Are physics and texture separate directions of the prompt embedding? An edit along a physics "
                  "direction (against the prompt) should change the judge's physics verdict more than its texture "
                  "verdict, a colour edit on the same tokens the reverse."),
        config={"backend": backend.name, "prompts": n, "seeds": list(seeds), "steps": steps, "guidance": guidance,
                "strength": strength},
        tables=[*struct, table],
        summary={"physics_edit: physics changed": totals["physics edit: all"][2],
                 "physics_edit: texture changed": totals["physics edit: all"][3],
                 "colour_edit: physics changed": totals["colour edit: all"][2],
                 "colour_edit: texture changed": totals["colour edit: all"][3],
                 "max |cos| between physics directions": float((cos - np.eye(len(cos))).max())},
        records=[vars(c) for c in cases],
    )
    names = [r[0] for r in struct[1].rows]
    in_texture = {r[0]: r[3] for r in struct[0].rows}
    return report, figure(cos, names, [in_texture[e] for e in names], table)
