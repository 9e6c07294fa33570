"""The methods ``evaluate`` and ``bench`` compare, by name: the baseline, the peer, LINA and LINA's ablations.

All of them run the same sampling loop at the same step count; LINA and its ablations differ only in
the θ handed to ``generate_lina``:

    baseline        the loop with no interventions and the backend's default schedule
    peer            Attend-and-Excite (``lina_core.peers``): early latent updates by a backward pass
                    through the UNet that raise the weakest subject token's cross-attention peak
    lina            θ = ``lina_settings_for(csg)``: what the learned predictor says for this prompt
    lina-fixed      θ = one fixed global θ for every prompt (the candidate with the best mean score in the
                    predictor's label search; ``InterventionSettings()`` when no predictor is saved)
    lina-oracle     θ = the per-prompt best candidate, found by generating every candidate at the evaluated
                    seeds and judging them: the ceiling of the candidate set, NOT a method (it uses the judge)
    lina-embedding  LINA's θ with only the prompt-embedding guidance left on
    lina-latent     LINA's θ with only the visual-latent guidance left on
    lina-schedule   LINA's θ with only the reallocated schedule left on
    world           the world's own render of the prompt at the backend's resolution, laid out with the training
                    jitter: what the judge gives a picture that is right but for its resolution. A reference row
                    (the ceiling any model of that size can reach under this judge), NOT a method
"""
from __future__ import annotations

import copy
import os
from dataclasses import replace
from functools import lru_cache
from typing import Callable, Sequence
from weakref import WeakKeyDictionary

import torch

from ..backends.base import Backend
from ..csg.graph import CSG
from ..csg.layout import assign_layout
from ..lina.embedding import EFFECT_TYPES, PhysicsDirections, estimate_directions
from ..lina.interventions import InterventionSettings, generate_lina
from ..lina.predictor import Predictor
from ..lina.predictor_command import DEFAULT_PATH as DEFAULT_PREDICTOR
from ..lina.search import best_of, candidate_grid, judge_candidates
from ..world.render import RenderError, render
from ..world.stream import TRAIN_JITTER, image_to_tensor
from .run import Method, baseline

SettingsFor = Callable[[CSG], InterventionSettings]


PREDICTOR_ENV = "LINA_PREDICTOR_PATH"


@lru_cache(maxsize=4)
def _load_predictor(path: str) -> Predictor | None:
    try:
        return Predictor.load(path)
    except FileNotFoundError:
        return None


def default_predictor() -> Predictor | None:
    """The saved predictor ($LINA_PREDICTOR_PATH, else assets/lina-predictor), read once; None when there is none."""
    return _load_predictor(os.environ.get(PREDICTOR_ENV) or str(DEFAULT_PREDICTOR))


def lina_settings_for(csg: CSG) -> InterventionSettings:
    """The θ LINA uses for ``csg``: the learned predictor's choice (``InterventionSettings()`` without one)."""
    predictor = default_predictor()
    return predictor.predict(csg) if predictor is not None else InterventionSettings()


def fixed_settings(csg: CSG) -> InterventionSettings:
    """One global θ for every prompt: the ablation that shows what adapting θ per prompt buys."""
    predictor = default_predictor()
    return predictor.candidates[predictor.meta["fixed"]] if predictor is not None else InterventionSettings()


PARTS = ("embedding", "latent", "schedule")


def _keeping(*parts: str) -> SettingsFor:
    """LINA's θ for the graph with every intervention not in ``parts`` switched off (strength 0, gamma 1)."""
    def settings_for(csg: CSG) -> InterventionSettings:
        theta, off = lina_settings_for(csg), InterventionSettings.off()
        return replace(theta, embedding=(theta if "embedding" in parts else off).embedding,
                       latent_strength=(theta if "latent" in parts else off).latent_strength,
                       gamma=(theta if "schedule" in parts else off).gamma)
    return settings_for


def gradient_settings(csg: CSG) -> InterventionSettings:
    """LINA's θ with its latent guidance done by a gradient step through the model instead of the projection."""
    return replace(lina_settings_for(csg), latent_mode="gradient")


LINA_VARIANTS: dict[str, SettingsFor] = {
    "lina": _keeping(*PARTS),
    "lina-fixed": fixed_settings,
    **{f"lina-{part}": _keeping(part) for part in PARTS},
    "lina-gradient": gradient_settings,
}
ORACLE = "lina-oracle"
WORLD = "world"
METHOD_NAMES: tuple[str, ...] = ("baseline", "peer", *LINA_VARIANTS, ORACLE, WORLD)


def world_renders(backend: Backend, csg: CSG, seeds: Sequence[int], steps: int, guidance: float) -> torch.Tensor:
    """The renderer's image of the graph at the backend's resolution, one training-jitter layout per seed (what
    the tiny model learns from). ``steps`` and ``guidance`` do not apply: nothing is sampled."""
    images = []
    for seed in seeds:
        laid_out = assign_layout(copy.deepcopy(csg), seed=seed, jitter=TRAIN_JITTER)
        try:
            image = render(laid_out, size=backend.image_size, seed=seed).image
        except RenderError as exc:
            raise ValueError(f"the world cannot draw {csg.prompt!r} ({exc}); leave '{WORLD}' out of --methods "
                             "for prompts outside the world's vocabulary") from None
        images.append((image_to_tensor(image) + 1) / 2)
    return torch.stack(images)


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


class OracleMethod:
    """Every candidate θ at the evaluated seeds, judged, the best kept: the ablation's ceiling, never LINA itself."""

    def __init__(self, directions: DirectionCache | None = None) -> None:
        self.directions = directions or DirectionCache()

    def prepare(self, backend: Backend) -> None:
        self.directions(backend)

    def __call__(self, backend: Backend, csg: CSG, seeds: Sequence[int], steps: int,
                 guidance: float) -> torch.Tensor:
        predictor = default_predictor()
        candidates = predictor.candidates if predictor is not None else candidate_grid()
        judged = judge_candidates(backend, csg, seeds, candidates, steps, guidance, self.directions(backend))
        return judged[best_of(judged)].images


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
    special: dict[str, Callable[[], Method]] = {
        "baseline": lambda: baseline, "peer": _peer, ORACLE: lambda: OracleMethod(directions),
        WORLD: lambda: world_renders}
    return {n: special[n]() if n in special else LinaMethod(LINA_VARIANTS[n], directions)
            for n in check_method_names(names)}


def _peer() -> Method:
    from ..peers import AttendExciteMethod  # loads diffusers' A&E pipeline module: only when the peer is asked for

    return AttendExciteMethod()
