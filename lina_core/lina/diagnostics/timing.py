"""Timing probe (insight 3): when during sampling does an intervention still change the outcome?

The same intervention (LINA's visual-latent guidance at one strength) is applied only within one window
of steps [a, b) at a time, the windows tiling the run; the final physical alignment per window says where
the effect comes from. A baseline run also records the judge's verdict on the clean estimate x̂0 at every
step: the step from which it no longer changes (equals the final image's verdict on every later step)
is where the outcome is settled. Expected by the paper: the early windows carry most of the effect, and
the verdict settles early. Prompts are the held-out (OOD) ones, where the baseline fails and there is an
effect to see.
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import mean, median
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from ...backends.base import Backend
from ...csg.graph import CSG
from ...defaults import DEFAULT_GUIDANCE
from ...evaluation.run import canonical_graph, judge_image
from ...sampling import sample
from ...world.judge import Verdict
from ...world.prompts import PromptSample, ood_prompts
from ..embedding import EFFECT_TYPES
from ..interventions import InterventionSettings, generate_lina
from .report import ProbeReport, Table

KINDS = {"all nodes": None, "physics nodes": True, "entity nodes": False}


def spread_prompts(samples: Sequence[PromptSample], n: int) -> list[PromptSample]:
    """The first ``n`` of ``samples`` taken round-robin over their subcategories (a few of every kind)."""
    queues: dict[str, list[PromptSample]] = {}
    for s in samples:
        queues.setdefault(s.subcategory, []).append(s)
    out: list[PromptSample] = []
    while len(out) < n and any(queues.values()):
        for q in queues.values():
            if q and len(out) < n:
                out.append(q.pop(0))
    return out


def windows(steps: int, count: int) -> list[tuple[int, int]]:
    """``count`` contiguous windows tiling [0, steps), as equal as integers allow."""
    if not 1 <= count <= steps:
        raise ValueError(f"--windows must be between 1 and the {steps} steps, got {count}")
    edges = np.linspace(0, steps, count + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def latent_only(strength: float, window: tuple[int, int]) -> InterventionSettings:
    """θ with only the visual-latent guidance on, in ``window``."""
    return InterventionSettings(embedding={t: 0.0 for t in EFFECT_TYPES}, latent_strength=strength,
                                latent_window=window, gamma=1.0)


def node_passes(verdict: Verdict, physics: bool | None) -> tuple[bool | None, ...]:
    return tuple(n.verdict for n in verdict.nodes if physics is None or (n.kind != "entity") == physics)


def settle_step(per_step: Sequence[tuple[bool, ...]], final: tuple[bool, ...]) -> int:
    """The first step from which every x̂0 verdict equals ``final`` (len(per_step) if even the last differs)."""
    s = len(per_step)
    while s > 0 and per_step[s - 1] == final:
        s -= 1
    return s


@dataclass
class Trajectory:
    """One baseline image: the verdict on x̂0 at every step and on the final image."""

    prompt: str
    seed: int
    per_step: list[Verdict]
    final: Verdict

    def settle(self, physics: bool | None) -> int:
        return settle_step([node_passes(v, physics) for v in self.per_step], node_passes(self.final, physics))

    def agreement(self) -> list[float]:
        """Per step, the share of nodes whose x̂0 verdict is already the final one."""
        final = node_passes(self.final, None)
        return [float(np.mean([a == b for a, b in zip(node_passes(v, None), final)])) if final else 1.0
                for v in self.per_step]


def baseline_trajectories(backend: Backend, csg: CSG, seeds: Sequence[int], steps: int, guidance: float,
                          ) -> tuple[list[Trajectory], list[Verdict]]:
    result = sample(backend, [csg.prompt] * len(seeds), seeds, steps, guidance, trajectory_steps=range(steps))
    finals = [judge_image(im, csg) for im in result.images]
    trajectories = [Trajectory(csg.prompt, int(seed), [judge_image(result.trajectory[i][row], csg)
                                                       for i in range(steps)], finals[row])
                    for row, seed in enumerate(seeds)]
    return trajectories, finals


def _alignment_row(label: str, verdicts: list[Verdict], base: float) -> list:
    physical = mean(v.physical for v in verdicts)
    return [label, len(verdicts), physical, physical - base, mean(v.passed for v in verdicts),
            mean(v.texture for v in verdicts)]


def figure(table: Table, agreement: np.ndarray, settle: dict[str, list[int]], steps: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_w, ax_s) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    rows = table.rows[1:]  # the windows and "all"; row 0 is the baseline
    bars = ax_w.bar(range(len(rows)), [r[3] for r in rows], color=["tab:green"] * (len(rows) - 1) + ["tab:gray"])
    ax_w.bar_label(bars, fmt="%+.3f", fontsize=8)
    ax_w.axhline(0, color="black", lw=0.8)
    ax_w.set_xticks(range(len(rows)), [str(r[0]) for r in rows], fontsize=8)
    ax_w.set_ylabel("Δ physical alignment vs baseline")
    ax_w.set_title(f"Latent guidance only within a window (baseline {table.rows[0][2]:.2f})", fontsize=10)
    x = np.arange(steps)
    ax_s.plot(x, agreement.mean(0), marker="o", ms=3, label="nodes whose x̂0 verdict = final verdict")
    for (label, values), colour in zip(settle.items(), ("black", "tab:red", "tab:purple")):
        ax_s.axvline(mean(values), color=colour, ls="--", lw=1, label=f"mean settle step, {label}")
    ax_s.set_xlabel("step")
    ax_s.set_ylim(0, 1.05)
    ax_s.set_title("Baseline: when does the judge's verdict on x̂0 settle?", fontsize=10)
    ax_s.legend(fontsize=7, loc="lower right")
    return fig


def run_timing_probe(backend: Backend, n: int = 6, seeds: Sequence[int] = (0, 1), steps: int = 20,
                     guidance: float = DEFAULT_GUIDANCE, strength: float = 1.0, window_count: int = 4,
                     progress: bool = True):
    """(report, figure) over the first ``n`` OOD prompts (spread over subcategories)."""
    spans = windows(steps, window_count)
    samples = spread_prompts(ood_prompts(), n)
    if len(samples) < n:
        raise ValueError(f"--n must be at most {len(samples)} for the timing probe (the OOD list), got {n}")
    runs = [(f"[{a}, {b})", (a, b)) for a, b in spans] + [("all", (0, steps))]
    finals: dict[str, list[Verdict]] = {name: [] for name in ["baseline", *(name for name, _ in runs)]}
    trajectories: list[Trajectory] = []
    records = []
    for s in tqdm(samples, desc="timing", disable=not progress):
        csg = canonical_graph(s.prompt)
        traj, base = baseline_trajectories(backend, csg, seeds, steps, guidance)
        trajectories += traj
        finals["baseline"] += base
        for name, span in runs:
            images = generate_lina(backend, csg, seeds, steps, guidance, latent_only(strength, span)).images
            verdicts = [judge_image(im, csg) for im in images]
            finals[name] += verdicts
            records += [{"prompt": s.prompt, "seed": int(seed), "window": name, **v.as_dict()}
                        for seed, v in zip(seeds, verdicts)]
    base = mean(v.physical for v in finals["baseline"])
    table = Table(f"Final alignment with latent guidance (strength {strength}) only in a window of steps",
                  ["window [a, b)", "images", "physical", "Δ vs baseline", "all nodes pass", "texture"],
                  [_alignment_row(name, v, base) for name, v in finals.items()])
    settle = {k: [t.settle(p) for t in trajectories] for k, p in KINDS.items()}
    settle_table = Table(f"Baseline: the step (of {steps}) from which the verdict on x̂0 no longer changes",
                         ["nodes", "runs", "mean settle step", "median", "mean / steps"],
                         [[k, len(v), mean(v), median(v), mean(v) / steps] for k, v in settle.items()])
    gains = {r[0]: r[3] for r in table.rows[1:-1]}
    report = ProbeReport(
        probe="timing",
        question=("Apply the same intervention only within a window of steps [a, b): which windows carry the "
                  "effect on the final alignment, and when does the judge's verdict on x̂0 settle in a baseline "
                  "run? Paper: early windows carry most of the effect."),
        config={"backend": backend.name, "prompts": [s.prompt for s in samples], "seeds": list(seeds),
                "steps": steps, "guidance": guidance, "latent_strength": strength, "windows": [list(w) for w in spans]},
        tables=[table, settle_table],
        summary={"baseline physical": base, **{f"gain {k}": g for k, g in gains.items()},
                 "gain all steps": table.rows[-1][3], "mean settle step (all nodes)": mean(settle["all nodes"])},
        records=records + [{"prompt": t.prompt, "seed": t.seed, "settle": {k: t.settle(p) for k, p in KINDS.items()},
                            "agreement": t.agreement()} for t in trajectories],
    )
    agreement = np.array([t.agreement() for t in trajectories])
    return report, figure(table, agreement, settle, steps)
