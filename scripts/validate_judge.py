"""Validate the judge: near-perfect on correct renders, failing the right node on counterfactual ones.

Counterfactuals are made by editing the graph before rendering (the renderer draws what the graph
says) and judging the image against the *original* graph:
  removed    the effect is deleted (a fill is emptied)
  unclipped  the small mirror is drawn large enough to hold the whole reflection
  side       the shadow falls on the other side
  swapped    agent and patient trade roles
  level      the jar is filled to a clearly different level
  floating   the object is lifted off its support
  colour     an entity is drawn in another colour
Every case is also judged after blur (radius 1 px) and noise (sigma 0.05), as a small generator
would draw it, and in two layouts: "matched" renders laid out at jitter 1 and judged against that
same layout, and "jitter" renders laid out at the training jitter (0.5, some mirrored) but judged
against the prompt's canonical layout, as the tiny model's samples are. ``--size 32`` draws every scene at
the tiny model's resolution and upsamples it as ``evaluate`` does its samples: the judge's accuracy on
pictures of that size. Checks the judge declares not
judgeable (a shadow on a thin support, a sliver of reflection) are left out of both rates and counted
apart. Pure-noise and blank images must score (nearly) nothing.
Usage: python scripts/validate_judge.py [--n 300] [--seed 0] [--size 64] [--examples PATH]
"""
from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lina_core.csg import CSG, EdgeType, EffectType, Region  # noqa: E402
from lina_core.csg.layout import assign_layout  # noqa: E402
from lina_core.csg.parser import parse_prompt  # noqa: E402
from lina_core.evaluation.run import at_judge_size  # noqa: E402
from lina_core.world.judge import Verdict, judge  # noqa: E402
from lina_core.world.prompts import ood_prompts, sample_prompt, train_prompts_examples  # noqa: E402
from lina_core.world.render import RenderError, render  # noqa: E402
from lina_core.world.stream import TRAIN_JITTER  # noqa: E402

MATCHED_JITTER = 1.0
SIZE = 64
MODES = ("matched", "jitter")
# A colour swap for the "colour" counterfactual: far from the original in hue or brightness.
OTHER_COLOUR = {"red": "blue", "green": "red", "blue": "yellow", "yellow": "purple", "orange": "blue",
                "purple": "yellow", "pink": "green", "white": "black", "black": "white", "gray": "red",
                "brown": "cyan", "cyan": "red"}


@dataclass
class Case:
    """One scene to judge: the graph it must match, the image, and the node expected to fail (if any)."""

    prompt: str
    kind: str  # "correct" or a counterfactual name
    csg: CSG
    image: Image.Image
    target: str | None = None


@dataclass
class Scene:
    prompt: str
    seed: int
    csg: CSG  # laid out as drawn
    judged: CSG  # laid out as judged: the same layout, or the canonical one
    jitter: float
    size: int = SIZE  # drawn at this resolution, then brought to the judge's


def scene(prompt: str, seed: int, mode: str = "matched", size: int = SIZE) -> Scene:
    """"matched": drawn and judged in one layout at jitter 1; "jitter": drawn at the training jitter,
    judged against the canonical layout (jitter 0), as the tiny model's samples are."""
    jitter = MATCHED_JITTER if mode == "matched" else TRAIN_JITTER
    csg = assign_layout(parse_prompt(prompt), seed=seed, jitter=jitter)
    judged = csg if mode == "matched" else assign_layout(parse_prompt(prompt), seed=0, jitter=0.0)
    return Scene(prompt, seed, csg, judged, jitter, size)


def _relaid(s: Scene, edit: Callable[[CSG], None]) -> CSG:
    """The prompt's graph edited, then laid out with the scene's seed (same noise, same places)."""
    g = parse_prompt(s.prompt)
    edit(g)
    return assign_layout(g, seed=s.seed, jitter=s.jitter)


def _draw(g: CSG, seed: int, size: int = SIZE) -> Image.Image:
    return at_judge_size(render(g, size=size, seed=seed).image)


# -- counterfactuals -----------------------------------------------------------------------------
def _removed(s: Scene) -> Iterator[tuple[str, CSG]]:
    for eff in s.csg.effects():
        if eff.type in (EffectType.REFLECTION, EffectType.SHADOW):
            yield eff.id, _relaid(s, lambda g, i=eff.id: g.remove(i))
        elif eff.type == EffectType.FILL:
            yield eff.id, _relaid(s, lambda g, i=eff.id: g.node(i).params.update(level=0.0))


def _mirrored_box(obj: Region, surf: Region) -> Region:
    line = max(surf.y0, obj.y1)
    return Region(obj.x0, max(2 * line - obj.y1, 0.0), obj.x1, min(2 * line - obj.y0, 1.0))


def _unclipped(s: Scene) -> Iterator[tuple[str, CSG]]:
    """A mirror too small for the reflection, drawn as large as the reflection needs."""
    for eff in s.csg.effects(EffectType.REFLECTION):
        surf, obj = s.csg.node(eff.params["surface"]), s.csg.node(eff.params["object"])
        if surf.cls != "mirror":
            continue
        full = _mirrored_box(obj.region, surf.region)
        if surf.region.contains(full, tol=2 / SIZE):
            continue
        g = copy.deepcopy(s.csg)
        r = surf.region
        g.node(surf.id).region = Region(min(r.x0, full.x0 - 0.02), r.y0, max(r.x1, full.x1 + 0.02),
                                        min(max(r.y1, full.y1 + 0.02), 1.0))
        yield eff.id, g


def _side(s: Scene) -> Iterator[tuple[str, CSG]]:
    flip = {"left": "right", "right": "left", "below": "left"}
    for eff in s.csg.effects(EffectType.SHADOW):
        new = flip[eff.params.get("side") or "below"]
        yield eff.id, _relaid(s, lambda g, i=eff.id, n=new: g.node(i).params.update(side=n))


def _swapped(s: Scene) -> Iterator[tuple[str, CSG]]:
    for eff in s.csg.effects(EffectType.ACTION):
        if eff.params.get("agent_larger") is not None:
            yield eff.id, _relaid(s, lambda g, i=eff.id: _swap_roles(g, i))


def _swap_roles(g: CSG, action: str) -> None:
    eff = g.node(action)
    a, p = eff.params["agent"], eff.params["patient"]
    eff.params.update(agent=p, patient=a)
    for src, dst, ty in ((a, action, EdgeType.CAUSES), (action, p, EdgeType.ACTS_ON), (a, p, EdgeType.ACTS_ON)):
        edge = g.edge(src, dst)
        g.graph.remove_edge(src, dst)
        new = {a: p, p: a}
        g.connect(new.get(src, src), new.get(dst, dst), ty, **edge.params)
    for c in g.effects(EffectType.CONTACT):
        if c.params.get("part") == "mouth":
            g.remove(c.id)


def _level(s: Scene) -> Iterator[tuple[str, CSG]]:
    for eff in s.csg.effects(EffectType.FILL):
        level = eff.params.get("level")
        level = 0.5 if level is None else level
        new = 0.95 if level < 0.55 else 0.15
        yield eff.id, _relaid(s, lambda g, i=eff.id, n=new: g.node(i).params.update(level=n))


def _floating(s: Scene) -> Iterator[tuple[str, CSG]]:
    held = {e.params.get("patient") for e in s.csg.effects(EffectType.ACTION)}
    for eff in s.csg.effects(EffectType.CONTACT):
        # a patient held in a mouth is already off its support: lifting it changes nothing
        if eff.params.get("part") == "mouth" or eff.params["object"] in held:
            continue
        g = copy.deepcopy(s.csg)
        obj = g.node(eff.params["object"])
        r = obj.region
        lift = min(5 / SIZE, r.y0)
        if lift < 4 / SIZE:
            continue
        obj.region = Region(r.x0, r.y0 - lift, r.x1, r.y1 - lift)
        yield eff.id, g


def _recoloured(s: Scene) -> Iterator[tuple[str, CSG]]:
    for ent in s.csg.entities():
        if ent.colour in OTHER_COLOUR:
            g = copy.deepcopy(s.csg)
            g.node(ent.id).colour = OTHER_COLOUR[ent.colour]
            yield ent.id, g


COUNTERFACTUALS: dict[str, Callable[[Scene], Iterator[tuple[str, CSG]]]] = {
    "removed": _removed, "unclipped": _unclipped, "side": _side, "swapped": _swapped, "level": _level,
    "floating": _floating, "colour": _recoloured,
}


def cases(s: Scene, dropped: Counter[str] | None = None) -> list[Case]:
    """The correct render of a scene and every counterfactual that applies to it and shows.

    A counterfactual the renderer draws (nearly) like the correct image (``visible_change`` false: a
    shadow that would fall off a narrow support, a reflection of a sliver) is dropped and counted in
    ``dropped`` per kind: no judge could tell the two images apart."""
    out = [Case(s.prompt, "correct", s.judged, _draw(s.csg, s.seed, s.size))]
    for kind, make in COUNTERFACTUALS.items():
        for target, g in make(s):
            try:
                image = _draw(g, s.seed, s.size)
            except RenderError:
                continue
            if visible_change(out[0].image, image):
                out.append(Case(s.prompt, kind, s.judged, image, target))
            elif dropped is not None:
                dropped[kind] += 1
    return out


def visible_change(a: Image.Image, b: Image.Image, min_pixels: int = 6, step: int = 32) -> bool:
    """At least ``min_pixels`` pixels differ by ``step`` levels or more in some channel."""
    diff = np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max(-1)
    return int((diff >= step).sum()) >= min_pixels


# -- degradation ---------------------------------------------------------------------------------
def degrade(image: Image.Image, rng: np.random.Generator, blur: float = 1.0, noise: float = 0.05) -> np.ndarray:
    """What a small generator draws: slightly blurred, with additive noise; float [H, W, 3] in [0, 1]."""
    a = np.asarray(image.filter(ImageFilter.GaussianBlur(blur)), np.float32) / 255.0
    return np.clip(a + rng.normal(0.0, noise, a.shape).astype(np.float32), 0.0, 1.0)


# -- statistics ----------------------------------------------------------------------------------
@dataclass
class Tally:
    """Pass counts per node type on correct renders, detection counts per counterfactual."""

    node_pass: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    caught: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    failures: list[tuple[Case, Verdict]] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)  # counterfactuals left out as invisible, per kind
    # checks the judge declared not judgeable (left out of the rates): per node type on correct renders,
    # per kind as counterfactual targets
    abstained: Counter[str] = field(default_factory=Counter)
    abstained_targets: Counter[str] = field(default_factory=Counter)

    def add(self, case: Case, verdict: Verdict) -> None:
        nodes = verdict.by_id()
        if case.kind == "correct":
            for n in verdict.nodes:
                key = _node_type(case.csg, n.node_id, n.kind)
                if not n.judged:
                    self.abstained[key] += 1
                    continue
                self.node_pass[key][0] += n.passed
                self.node_pass[key][1] += 1
            if not verdict.passed:
                self.failures.append((case, verdict))
        elif not nodes[case.target].judged:
            self.abstained_targets[case.kind] += 1
        else:
            hit = not nodes[case.target].passed
            self.caught[case.kind][0] += hit
            self.caught[case.kind][1] += 1
            if not hit:
                self.failures.append((case, verdict))

    def correct_score(self) -> float:
        """Mean over node types of the pass rate on correct renders."""
        rates = [p / n for p, n in self.node_pass.values() if n]
        return float(np.mean(rates)) if rates else 1.0

    def node_rate(self) -> float:
        p, n = np.sum([v for v in self.node_pass.values()], axis=0) if self.node_pass else (0, 0)
        return p / n if n else 1.0

    def catch_rate(self, kind: str | None = None) -> float:
        items = [self.caught[kind]] if kind else list(self.caught.values())
        p, n = np.sum(items, axis=0) if items else (0, 0)
        return p / n if n else 1.0


def _node_type(csg: CSG, nid: str, kind: str) -> str:
    if kind == "relation":
        return "relation"
    node = csg.node(nid)
    return node.type.value if kind == "effect" else f"entity:{node.cls}"


def prompts(n: int, seed: int) -> list[tuple[str, int]]:
    """The fixed train/OOD prompt lists, then ``n`` sampled prompts from each split; a seed for each."""
    rng = random.Random(seed)
    texts = [p.prompt for p in ood_prompts() + train_prompts_examples()]
    for _ in range(n):
        texts.append(sample_prompt(rng, "train").prompt)
        texts.append(sample_prompt(rng, "ood").prompt)
    return [(p, rng.randrange(2**31)) for p in texts]


def scenes(n: int, seed: int, mode: str = "matched", size: int = SIZE) -> list[Scene]:
    return [scene(p, s, mode, size) for p, s in prompts(n, seed)]


def validate(all_scenes: list[Scene], seed: int = 0) -> tuple[Tally, Tally, float]:
    """Judge every case of every scene, clean and degraded: (clean tally, noisy tally, seconds per judge call)."""
    clean, noisy, rng, spent, count = Tally(), Tally(), np.random.default_rng(seed), 0.0, 0
    for s in all_scenes:
        for case in cases(s, clean.dropped):
            for tally, image in ((clean, case.image), (noisy, degrade(case.image, rng))):
                t0 = time.perf_counter()
                verdict = judge(image, case.csg)
                spent += time.perf_counter() - t0
                count += 1
                tally.add(case, verdict)
    return clean, noisy, spent / max(count, 1)


def null_images(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """What an untrained model draws: pixel noise, smooth colour blobs, a flat grey."""
    blobs = np.asarray(Image.fromarray((rng.random((6, 6, 3)) * 255).astype(np.uint8)).resize((SIZE, SIZE),
                                                                                             Image.BICUBIC))
    return {"uniform noise": rng.random((SIZE, SIZE, 3)).astype(np.float32),
            "gaussian noise": np.clip(0.5 + 0.25 * rng.standard_normal((SIZE, SIZE, 3)), 0, 1).astype(np.float32),
            "colour blobs": blobs.astype(np.float32) / 255.0,
            "blank": np.full((SIZE, SIZE, 3), 0.6, np.float32)}


def null_scores(graphs: list[CSG], seed: int = 0) -> dict[str, tuple[float, float]]:
    """Mean (texture, physical) per kind of meaningless image, judged against every graph."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for g in graphs:
        for name, image in null_images(rng).items():
            v = judge(image, g)
            out[name].append((v.texture, v.physical))
    return {k: tuple(np.mean(vals, axis=0).tolist()) for k, vals in out.items()}


# -- report --------------------------------------------------------------------------------------
def table(tallies: dict[str, Tally]) -> str:
    """One column per tally (e.g. matched/jitter x clean/noisy)."""
    cols = list(tallies)
    ts = list(tallies.values())
    head = "".join(f"{c:>16s}" for c in cols)
    lines = [f"{'':28s}{head}", "correct renders (pass rate per node type)"]
    for key in sorted(set().union(*[t.node_pass for t in ts])):
        lines.append(f"  {key:26s}" + "".join(f"{_rate(t.node_pass.get(key, [0, 0])):>16s}" for t in ts)
                     + f"   (n={ts[0].node_pass.get(key, [0, 0])[1]})")
    lines.append(f"  {'MEAN over node types':26s}" + "".join(f"{t.correct_score():16.3f}" for t in ts))
    lines.append(f"  {'all node checks':26s}" + "".join(f"{t.node_rate():16.3f}" for t in ts))
    lines.append("counterfactuals (right node fails)")
    for kind in COUNTERFACTUALS:
        lines.append(f"  {kind:26s}" + "".join(f"{_rate(t.caught.get(kind, [0, 0])):>16s}" for t in ts)
                     + f"   (n={ts[0].caught.get(kind, [0, 0])[1]})")
    lines.append(f"  {'ALL':26s}" + "".join(f"{t.catch_rate():16.3f}" for t in ts))
    return "\n".join(lines)


def summary(tallies: dict[str, Tally]) -> str:
    """The two headline numbers per layout mode: correct renders passing (all node checks pooled; target
    >= 0.95 clean) and counterfactuals failing the right node (target >= 0.95), clean and degraded, and how
    many counterfactuals were left out as invisible."""
    lines = []
    for mode in MODES:
        clean, noisy = tallies[f"{mode} clean"], tallies[f"{mode} noisy"]
        kept, dropped = sum(n for _, n in clean.caught.values()), sum(clean.dropped.values())
        checks = sum(n for _, n in clean.node_pass.values())
        lines.append(f"{mode:8s} correct renders pass {clean.node_rate():.3f} clean, {noisy.node_rate():.3f} degraded; "
                     f"counterfactuals caught {clean.catch_rate():.3f} clean, {noisy.catch_rate():.3f} degraded "
                     f"({kept} judged; {dropped} left out as invisible: fewer than 6 pixels change by 32+ levels)")
        lines.append(f"{'':8s} not judgeable, left out above: {abstained(clean.abstained, checks)} node checks on "
                     f"correct renders, {abstained(clean.abstained_targets, kept)} counterfactual targets")
    return "\n".join(lines)


def abstained(counts: Counter[str], judged: int) -> str:
    """How many checks the judge declared not judgeable (of all checks made), and of what kind."""
    n = sum(counts.values())
    what = ", ".join(f"{k} {c}" for k, c in sorted(counts.items()))
    return f"{n} of {n + judged} ({n / max(n + judged, 1):.1%}{': ' + what if what else ''})"


def _rate(pn: list[int]) -> str:
    return f"{pn[0] / pn[1]:.3f}" if pn[1] else "-"


def examples_sheet(items: list[tuple[Case, Verdict]], path: str | Path, scale: int = 4) -> None:
    """Upscaled images with their prompt, case kind and each node's verdict and reason."""
    font = ImageFont.load_default(size=11)
    size = SIZE * scale
    cell_w, cell_h = size + 360, size + 8
    sheet = Image.new("RGB", (2 * cell_w, ((len(items) + 1) // 2) * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (case, verdict) in enumerate(items):
        x, y = (i % 2) * cell_w + 4, (i // 2) * cell_h + 4
        sheet.paste(case.image.resize((size, size), Image.NEAREST), (x, y))
        head = f"{case.prompt[:52]}\n[{case.kind}{' -> ' + case.target if case.target else ''}] " \
               f"phys {verdict.physical:.2f} tex {verdict.texture:.2f}"
        draw.multiline_text((x + size + 6, y), head, fill="black", font=font)
        for j, n in enumerate(verdict.nodes[:16]):
            colour = (0, 120, 0) if n.passed else (200, 0, 0)
            draw.text((x + size + 6, y + 30 + 14 * j), f"{'ok ' if n.passed else 'NO '}{n.node_id}: {n.reason}"[:58],
                      fill=colour, font=font)
    sheet.save(path)


def _example_items(all_scenes: list[Scene], k: int = 12) -> list[tuple[Case, Verdict]]:
    """One correct case and one of each counterfactual kind, from the first scenes that have them."""
    seen: set[str] = set()
    out = []
    for s in all_scenes:
        for case in cases(s):
            if case.kind == "correct" and len([o for o in out if o[0].kind == "correct"]) < 4 or case.kind not in seen:
                seen.add(case.kind)
                out.append((case, judge(case.image, case.csg)))
            if len(out) >= k:
                return out
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="sampled prompts per split (train, ood)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=SIZE,
                    help="draw the scenes at this resolution (the tiny model's is 32), upsampled for the judge")
    ap.add_argument("--examples", default="/tmp/judge_examples.png")
    args = ap.parse_args()
    tallies: dict[str, Tally] = {}
    spent, failures = [], []
    for mode in MODES:
        all_scenes = scenes(args.n, args.seed, mode, args.size)
        clean, noisy, t = validate(all_scenes, seed=args.seed)
        tallies[f"{mode} clean"], tallies[f"{mode} noisy"] = clean, noisy
        spent.append(t)
        failures += clean.failures + noisy.failures
    print(f"{len(all_scenes)} scenes per layout mode ({args.n} train + {args.n} ood sampled with seed {args.seed}, "
          f"plus the fixed lists), drawn at {args.size}x{args.size}")
    print(table(tallies))
    print(summary(tallies))
    print(f"judge time per {SIZE}x{SIZE} image: {1000 * float(np.mean(spent)):.2f} ms")
    for name, (tex, phys) in null_scores([s.judged for s in all_scenes]).items():
        print(f"  {name:16s} texture {tex:.3f}  physical {phys:.3f}")
    examples_sheet(_example_items(all_scenes), args.examples)
    print(f"examples: {args.examples}")
    for case, verdict in failures[:25]:
        bad = "; ".join(f"{n.node_id}: {n.reason}" for n in verdict.nodes if not n.passed) or "(target passed)"
        print(f"  MISS [{case.kind}{' -> ' + case.target if case.target else ''}] {case.prompt!r}: {bad}")


if __name__ == "__main__":
    main()
