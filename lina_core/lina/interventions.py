"""LINA's interventions composed into one run: the settings θ, the hooks they make, and ``generate_lina``.

θ = (embedding strength per effect type, latent strength and window, schedule gamma, node weights).
The predictor outputs θ per prompt; the app lets the user override every field; evaluation calls
``generate_lina``. A node's weight multiplies the global strengths for that node (1 = as set, 0 = off):
the embedding gets one hook per distinct weight (its pushes add up), the latent guidance one hook that
blends each node's target by its own strength. The baseline is ``sample`` with no hooks and the default
schedule, so with all strengths 0 and gamma 1 LINA *is* the baseline, bit for bit.
"""
from __future__ import annotations

import math
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence
from weakref import WeakKeyDictionary

import torch

from ..backends.base import Backend
from ..csg.graph import CSG
from ..defaults import DEFAULT_GUIDANCE
from ..sampling import SampleResult, StepHook, sample
from .embedding import EFFECT_TYPES, EmbeddingGuidance, PhysicsDirections, estimate_directions
from .latent import Codec, LatentGuidance, codec_for, guided_nodes
from .schedule import GAMMA_RANGE, schedule_for

STRENGTH_RANGE = (0.0, 3.0)
SHARE_RANGE = (0.0, 1.0)
WEIGHT_RANGE = (0.0, 3.0)  # a node's weight multiplies the strengths: 0 = off, 1 = as set
NodeWeights = dict[str, float]
DEFAULT_LATENT_SHARE = 0.3  # default latent window: the first 30% of the steps, where structure forms
# Visual-latent guidance by projection on x̂0 (no backward pass) or by a gradient step on x_t (see latent.py).
LATENT_MODES = ("projection", "gradient")


def _default_embedding() -> dict[str, float]:
    return {t: 0.5 for t in EFFECT_TYPES}


@dataclass
class InterventionSettings:
    """One θ. ``embedding`` maps effect types to strengths (a type left out gets no push). Windows are
    [start, end) step indices; None means the default (all steps for the embedding, the first
    ``latent_share`` of the steps for the latent guidance: a share, so one θ fits any step count). ``nodes``
    None enables every effect node of the graph at weight 1; a list enables exactly those at weight 1; a dict
    gives each node its weight (0 = off). Entity ids turn on their colour pull."""

    embedding: dict[str, float] = field(default_factory=_default_embedding)
    embedding_window: tuple[int, int] | None = None
    latent_strength: float = 1.0
    latent_window: tuple[int, int] | None = None
    latent_share: float = DEFAULT_LATENT_SHARE
    latent_mode: str = LATENT_MODES[0]
    gamma: float = 1.5
    nodes: NodeWeights | list[str] | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, steps: int | None = None) -> InterventionSettings:
        """Raise ValueError naming the field for anything out of range (windows need the step count)."""
        unknown = set(self.embedding) - set(EFFECT_TYPES)
        if unknown:
            raise ValueError(f"embedding: unknown effect types {sorted(unknown)}; use {list(EFFECT_TYPES)}")
        for kind, value in self.embedding.items():
            _check_range(f"embedding[{kind!r}]", value, STRENGTH_RANGE)
        _check_range("latent_strength", self.latent_strength, STRENGTH_RANGE)
        if self.latent_mode not in LATENT_MODES:
            raise ValueError(f"latent_mode must be one of {', '.join(LATENT_MODES)}, got {self.latent_mode!r}")
        _check_range("latent_share", self.latent_share, SHARE_RANGE)
        if self.latent_share == 0.0:
            raise ValueError("latent_share must be above 0 (a share of the steps; latent_strength 0 turns it off)")
        _check_range("gamma", self.gamma, GAMMA_RANGE)
        if self.nodes is not None and not all(isinstance(n, str) for n in self.nodes):
            raise ValueError(f"nodes: expected node ids (a list, or a dict of weights), got {self.nodes!r}")
        if isinstance(self.nodes, dict):
            for nid, weight in self.nodes.items():
                _check_range(f"nodes[{nid!r}] weight", weight, WEIGHT_RANGE)
        for name in ("embedding_window", "latent_window"):
            window = getattr(self, name)
            if window is None:
                continue
            if len(window) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in window):
                raise ValueError(f"{name}: expected two integer step indices (start, end), got {window!r}")
            a, b = window
            if not 0 <= a < b:
                raise ValueError(f"{name}: need 0 <= start < end (an empty window would do nothing), got {window}")
            if steps is not None and b > steps:
                raise ValueError(f"{name}: end {b} is past the {steps} sampling steps")
        return self

    def windows(self, steps: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """(embedding window, latent window) for a run of ``steps``, defaults resolved."""
        self.validate(steps)
        emb = self.embedding_window or (0, steps)
        lat = self.latent_window or (0, max(1, math.ceil(self.latent_share * steps - 1e-9)))
        return emb, lat

    def node_weights(self, csg: CSG, class_colours: Mapping[str, str] = MappingProxyType({})) -> NodeWeights:
        """The nodes this θ guides in ``csg`` with their weights, zero weights left out; raises ValueError
        naming any node id that is not in the graph. ``class_colours``: the backend's (see ``guided_nodes``)."""
        if self.nodes is None:  # latent guidance's default: the things of a known colour, and every effect
            return dict.fromkeys(guided_nodes(csg, None, class_colours), 1.0)
        weights = dict(self.nodes) if isinstance(self.nodes, dict) else dict.fromkeys(self.nodes, 1.0)
        unknown = [n for n in weights if n not in csg]
        if unknown:
            known = ", ".join(n.id for n in csg.nodes())
            raise ValueError(f"nodes: {', '.join(map(repr, unknown))} not in the graph (its nodes: {known})")
        return {n: float(w) for n, w in weights.items() if w > 0}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for name in ("embedding_window", "latent_window"):
            if d[name] is not None:
                d[name] = list(d[name])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InterventionSettings:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown intervention settings {sorted(unknown)}; expected some of {sorted(names)}")
        d = dict(d)
        for name in ("embedding_window", "latent_window"):
            if d.get(name) is not None:
                d[name] = tuple(d[name])
        if d.get("nodes") is not None:
            d["nodes"] = dict(d["nodes"]) if isinstance(d["nodes"], dict) else list(d["nodes"])
        if "embedding" in d:
            d["embedding"] = {str(k): v for k, v in d["embedding"].items()}
        return cls(**d)

    @classmethod
    def off(cls) -> InterventionSettings:
        """Every intervention off: ``generate_lina`` then reproduces the baseline exactly."""
        return cls(embedding={t: 0.0 for t in EFFECT_TYPES}, latent_strength=0.0, gamma=1.0)


def _check_range(name: str, value: Any, bounds: tuple[float, float]) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"{name} must be in [{bounds[0]}, {bounds[1]}], got {value}")


_MEASURED: WeakKeyDictionary[Backend, PhysicsDirections] = WeakKeyDictionary()


def _directions(backend: Backend, directions: PhysicsDirections | str | Path | None) -> PhysicsDirections:
    """Given, read from a cache file, or measured once per backend object (evaluation calls this per prompt)."""
    if isinstance(directions, PhysicsDirections):
        return directions
    if directions is not None:
        return estimate_directions(backend, cache=directions)
    if backend not in _MEASURED:
        _MEASURED[backend] = estimate_directions(backend)
    return _MEASURED[backend]


class WeightedLatentGuidance(LatentGuidance):
    """Visual-latent guidance with a strength per node: each node's target exactly as ``LatentGuidance``
    builds it (where targets overlap the later node wins, as there), blended into x̂0* by that node's
    strength; the step itself is the parent's at strength 1. Scaling a target's pull in the working space
    equals scaling the latent step, since both codecs map differences linearly (space-to-depth, or the
    latent grid itself)."""

    def __init__(self, codec: Codec, strength: float, csg: CSG, window: tuple[int, int] | None,
                 weights: NodeWeights, gradient: Backend | None = None) -> None:
        super().__init__(codec, 1.0, csg, window, nodes=list(weights), gradient=gradient)
        self.parts = [(LatentGuidance(codec, 1.0, csg, window, nodes=[n]), strength * weights[n])
                      for n in self.nodes]

    def targets(self, x: torch.Tensor, at: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x̂0 moved toward every node's target by that node's strength, and the union mask."""
        value, scale = x.clone(), torch.zeros(x.shape[1:], dtype=x.dtype)
        mask = torch.zeros(x.shape[1:], dtype=torch.bool)
        for part, strength in self.parts:
            goal, m = part.targets(x, at)
            value[:, m] = goal[:, m]
            scale[m] = strength
            mask |= m
        return x + scale * (value - x), mask


def _by_weight(weights: NodeWeights) -> dict[float, list[str]]:
    groups: dict[float, list[str]] = defaultdict(list)
    for nid, weight in weights.items():
        groups[weight].append(nid)
    return dict(groups)


def build_interventions(backend: Backend, csg: CSG, settings: InterventionSettings, steps: int,
                        directions: PhysicsDirections | str | Path | None = None,
                        ) -> tuple[list[StepHook], dict[str, list[float]]]:
    """The hooks and the schedule kwargs for ``sample``. ``directions`` may be measured ones, a cache file,
    or None (measured now, a second or two on the tiny model). Switched-off parts make no hook; equal node
    weights make the plain hooks at scaled strengths (weight 1 everywhere: exactly the unweighted run)."""
    emb_window, lat_window = settings.windows(steps)
    weights = settings.node_weights(csg, backend.class_colours)  # raises on ids that are not in the graph
    if not csg.effects() and not any(csg.node(n).kind == "entity" for n in weights):
        warnings.warn("the graph has no effect nodes: only the schedule is changed", stacklevel=2)
    hooks: list[StepHook] = []
    effect_ids = {e.id for e in csg.effects()}
    if any(v > 0 for v in settings.embedding.values()) and effect_ids & set(weights):
        found = _directions(backend, directions)
        for weight, ids in _by_weight(weights).items():
            if effect_ids & set(ids):
                hooks.append(EmbeddingGuidance({t: s * weight for t, s in settings.embedding.items()}, found, csg,
                                               emb_window, nodes=ids))
    if settings.latent_strength > 0 and weights:
        groups = _by_weight(weights)
        gradient = backend if settings.latent_mode == "gradient" else None
        if len(groups) == 1:
            (weight, ids), = groups.items()
            hooks.append(LatentGuidance(codec_for(backend), settings.latent_strength * weight, csg, lat_window,
                                        nodes=ids, gradient=gradient))
        else:
            hooks.append(WeightedLatentGuidance(codec_for(backend), settings.latent_strength, csg, lat_window,
                                                weights, gradient))
    schedule = {} if settings.gamma == 1.0 else schedule_for(backend.scheduler, steps, settings.gamma)
    return hooks, schedule


def generate_lina(backend: Backend, csg: CSG, seeds: Sequence[int], steps: int = 20, guidance: float = DEFAULT_GUIDANCE,
                  settings: InterventionSettings | None = None, *,
                  directions: PhysicsDirections | str | Path | None = None, **sample_kwargs: Any) -> SampleResult:
    """One LINA image per seed for the graph's prompt: the baseline loop plus the interventions of θ."""
    settings = InterventionSettings() if settings is None else settings  # None: the fixed global θ
    hooks, schedule = build_interventions(backend, csg, settings, steps, directions)
    return sample(backend, [csg.prompt] * len(seeds), seeds, steps, guidance, hooks=hooks, **schedule,
                  **sample_kwargs)
