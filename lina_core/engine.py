"""The shared model core: one backend loaded once, baseline and LINA computed in one call at the same seed.

The app, the API and the scripts all go through an ``Engine``; a lock serialises access to the model
so concurrent users never interleave on it (the Gradio queue also runs it with concurrency 1). θ comes
either from the caller (the app's manual controls, with per-node weights) or from ``predicted_settings``.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .backends.base import Backend
from .csg import CSG
from .defaults import DEFAULT_GUIDANCE
from .evaluation.methods import lina_settings_for
from .evaluation.run import canonical_graph, judge_image
from .lina.embedding import PhysicsDirections, estimate_directions
from .lina.interventions import InterventionSettings, generate_lina
from .sampling import SampleResult, sample
from .video import still
from .world.judge import Verdict

MAX_SEED = 2**31 - 1
STEP_RANGE = (4, 50)
GUIDANCE_RANGE = (1.0, 15.0)


@dataclass
class SideBySide:
    """Baseline and LINA for one graph and seed, with the judge's verdicts (on a video's last frame) and the
    denoising trajectories."""

    csg: CSG
    seed: int
    steps: int
    baseline: SampleResult
    lina: SampleResult
    baseline_verdict: Verdict
    lina_verdict: Verdict
    settings: InterventionSettings
    trajectory_steps: list[int] = field(default_factory=list)


def trajectory_points(steps: int, count: int = 5) -> list[int]:
    """A few steps spread over the run, dense at the start where the scene's structure is decided."""
    points = {round((steps - 1) * (k / (count - 1)) ** 2) for k in range(count)}
    return sorted(points)


def check_settings(seed: int, steps: int, guidance: float) -> None:
    """Out-of-range numbers get a message that says the allowed range."""
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be between 0 and {MAX_SEED}, got {seed}")
    if not STEP_RANGE[0] <= steps <= STEP_RANGE[1]:
        raise ValueError(f"steps must be between {STEP_RANGE[0]} and {STEP_RANGE[1]}, got {steps}")
    if not GUIDANCE_RANGE[0] <= guidance <= GUIDANCE_RANGE[1]:
        raise ValueError(f"guidance scale must be between {GUIDANCE_RANGE[0]} and {GUIDANCE_RANGE[1]}, got {guidance}")


class Engine:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._lock = threading.Lock()
        self._directions: PhysicsDirections | None = None

    @property
    def directions(self) -> PhysicsDirections:
        """The backend's physics/texture directions, measured once on first use."""
        if self._directions is None:
            self._directions = estimate_directions(self.backend)
        return self._directions

    @staticmethod
    def parse(prompt: str) -> CSG:
        """Prompt -> graph with its canonical layout (the regions the method and the judge use)."""
        return canonical_graph(prompt)

    @staticmethod
    def predicted_settings(csg: CSG) -> InterventionSettings:
        """The θ LINA itself uses for this graph (the learned predictor's, where evaluation gets it too)."""
        return lina_settings_for(csg)

    def generate(
        self, csg: CSG, seed: int, steps: int = 20, guidance: float = DEFAULT_GUIDANCE,
        settings: InterventionSettings | None = None, progress: bool = False,
    ) -> SideBySide:
        check_settings(seed, steps, guidance)
        settings = settings or InterventionSettings()
        settings.validate(steps)
        points = trajectory_points(steps)
        with self._lock:
            baseline = sample(self.backend, [csg.prompt], [seed], steps=steps, guidance_scale=guidance,
                              trajectory_steps=points, progress=progress)
            lina = generate_lina(self.backend, csg, [seed], steps, guidance, settings, directions=self.directions,
                                 trajectory_steps=points, progress=progress)
        return SideBySide(
            csg=csg, seed=seed, steps=steps, baseline=baseline, lina=lina,
            baseline_verdict=judge_image(still(baseline.images[0]), csg),
            lina_verdict=judge_image(still(lina.images[0]), csg),
            settings=settings, trajectory_steps=points,
        )
