"""Figures for the generate view: the schedule plot, denoising-trajectory strips and verdict tables."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from PIL import Image

from lina_core.csg.draw import figure_to_image
from lina_core.imaging import grid, to_pil
from lina_core.lina.interventions import InterventionSettings
from lina_core.video import still
from lina_core.world.judge import Verdict


def schedule_plot(baseline: list[float], lina: list[float], num_train_timesteps: int = 1000) -> Image.Image:
    """Timestep per step for both runs at equal step count: LINA spends more of them at high noise."""
    fig, ax = plt.subplots(figsize=(5.2, 2.6), dpi=100)
    ax.plot(range(len(baseline)), baseline, "o-", ms=3, label=f"baseline ({len(baseline)} steps)", color="#777")
    ax.plot(range(len(lina)), lina, "o-", ms=3, label=f"LINA ({len(lina)} steps)", color="#d2561b")
    ax.axhspan(0.7 * num_train_timesteps, num_train_timesteps, color="#d2561b", alpha=0.08, lw=0)
    ax.text(len(baseline) - 1, 0.72 * num_train_timesteps, "structure forms here", ha="right", fontsize=8,
            color="#d2561b")
    ax.set_xlabel("step")
    ax.set_ylabel("timestep (noise level)")
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    image = figure_to_image(fig)
    plt.close(fig)
    return image


def trajectory_strip(trajectory: dict[int, torch.Tensor], final: torch.Tensor) -> Image.Image:
    """Predicted clean image x̂0 at a few steps, then the final image: shows how early the layout is fixed
    (a video's last frame)."""
    frames = [to_pil(still(trajectory[k][0])) for k in sorted(trajectory)] + [to_pil(still(final[0]))]
    return grid([frames], scale=3)


def verdict_rows(baseline: Verdict, lina: Verdict) -> list[list[str]]:
    """One row per node: ✓/✗ (– where the image cannot show it) and the judge's reason, baseline and LINA."""
    theirs = lina.by_id()
    rows = []
    for node in baseline.nodes:
        other = theirs.get(node.node_id)
        mark = lambda v: ("– " if not v.judged else "✓ " if v.passed else "✗ ") + v.reason  # noqa: E731
        rows.append([node.node_id, node.kind, mark(node), mark(other) if other else ""])
    return rows


def score_line(name: str, verdict: Verdict, seconds: float) -> str:
    return (f"**{name}**: physical alignment {verdict.physical:.2f}, texture {verdict.texture:.2f}, "
            f"{seconds:.2f} s")


def theta_line(settings: InterventionSettings, steps: int, source: str) -> str:
    """θ as it was used, exactly (the sliders can only show an average α and a window that starts at 0)."""
    emb = ", ".join(f"{t} {v:g}" for t, v in settings.embedding.items() if v) or "off"
    (_, _), (a, b) = settings.windows(steps)
    latent = (f"{settings.latent_strength:g} on steps {a}–{b - 1} by {settings.latent_mode}"
              if settings.latent_strength else "off")
    nodes = settings.nodes
    if isinstance(nodes, dict):
        nodes = [f"{n} ×{w:g}" for n, w in nodes.items() if w]
    guided = "every effect" if nodes is None else ", ".join(nodes) or "none"
    return f"θ ({source}): embedding α {emb} · latent {latent} · γ {settings.gamma:g} · nodes: {guided}"
