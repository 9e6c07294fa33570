"""The methods ``evaluate`` and ``bench`` compare, by name: the baseline, LINA and LINA's ablations.

All of them run the same sampling loop at the same step count; LINA and its ablations differ only in
the θ handed to ``generate_lina``:

    baseline        the loop with no interventions and the backend's default schedule
    lina            θ = ``lina_settings_for(csg)``: what LINA uses for this prompt
    lina-fixed      θ = one fixed global θ (``InterventionSettings()``) for every prompt
    lina-embedding  LINA's θ with only the prompt-embedding guidance left on
    lina-latent     LINA's θ with only the visual-latent guidance left on
    lina-schedule   LINA's θ with only the reallocated schedule left on
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence
from weakref import WeakKeyDictionary

import torch

from ..backends.base import Backend
from ..csg.graph import CSG
from ..lina.embedding import EFFECT_TYPES, PhysicsDirections, estimate_directions
from ..lina.interventions import InterventionSettings, generate_lina
from .run import Method, baseline

SettingsFor = Callable[[CSG], InterventionSettings]


def lina_settings_for(csg: CSG) -> InterventionSettings:
    """The θ LINA uses for ``csg``: the ONE place where the learned predictor plugs in.

    Until the predictor is trained this is the fixed global θ (``InterventionSettings()``), the same for
    every prompt, so "lina" and "lina-fixed" give identical images for now."""
    return InterventionSettings()


def fixed_settings(csg: CSG) -> InterventionSettings:
    """One global θ for every prompt: the ablation that shows what adapting θ per prompt buys."""
    return InterventionSettings()


PARTS = ("embedding", "latent", "schedule")


def _keeping(*parts: str) -> SettingsFor:
    """LINA's θ for the graph with every intervention not in ``parts`` switched off (strength 0, gamma 1)."""
    def settings_for(csg: CSG) -> InterventionSettings:
        theta, off = lina_settings_for(csg), InterventionSettings.off()
        return replace(theta, embedding=(theta if "embedding" in parts else off).embedding,
                       latent_strength=(theta if "latent" in parts else off).latent_strength,
                       gamma=(theta if "schedule" in parts else off).gamma)
    return settings_for


LINA_VARIANTS: dict[str, SettingsFor] = {
    "lina": _keeping(*PARTS),
    "lina-fixed": fixed_settings,
    **{f"lina-{part}": _keeping(part) for part in PARTS},
}
METHOD_NAMES: tuple[str, ...] = ("baseline", *LINA_VARIANTS)


class DirectionCache:
    """Physics directions measured once per backend and shared by every LINA variant of one run."""

    def __init__(self) -> None:
        self._by_backend: WeakKeyDictionary[Backend, PhysicsDirections] = WeakKeyDictionary()

    def __call__(self, backend: Backend) -> PhysicsDirections:
        if backend not in self._by_backend:
            self._by_backend[backend] = estimate_directions(backend)
        return self._by_backend[backend]


def _pushes_embedding(settings: InterventionSettings) -> bool:
    return any(settings.embedding.get(t, 0.0) > 0 for t in EFFECT_TYPES)


class LinaMethod:
    """``generate_lina`` with θ chosen per graph by ``settings_for``."""

    def __init__(self, settings_for: SettingsFor, directions: DirectionCache | None = None) -> None:
        self.settings_for = settings_for
        self.directions = directions or DirectionCache()

    def prepare(self, backend: Backend) -> None:
        """Measure the directions now, so that no timed call pays for them."""
        self.directions(backend)

    def __call__(self, backend: Backend, csg: CSG, seeds: Sequence[int], steps: int,
                 guidance: float) -> torch.Tensor:
        settings = self.settings_for(csg)
        directions = self.directions(backend) if _pushes_embedding(settings) else None  # None: never measured
        return generate_lina(backend, csg, seeds, steps, guidance, settings, directions=directions).images


def check_method_names(names: Sequence[str]) -> list[str]:
    """The names as a list; none, unknown or repeated names raise ValueError naming the valid ones."""
    names = list(names)
    if not names:
        raise ValueError(f"no methods given; choose from: {', '.join(METHOD_NAMES)}")
    unknown = [n for n in names if n not in METHOD_NAMES]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(map(repr, unknown))}; choose from: {', '.join(METHOD_NAMES)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"method(s) listed twice: {', '.join(repeated)}")
    return names


def parse_method_names(text: str) -> list[str]:
    """"baseline, lina" -> ["baseline", "lina"] (the CLI's comma-separated list), checked."""
    return check_method_names([n.strip() for n in text.split(",") if n.strip()])


def make_methods(names: Sequence[str]) -> dict[str, Method]:
    """The named methods, in the given order; the LINA variants share one direction cache."""
    directions = DirectionCache()
    return {n: baseline if n == "baseline" else LinaMethod(LINA_VARIANTS[n], directions)
            for n in check_method_names(names)}
