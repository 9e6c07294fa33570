"""The learned intervention predictor: prompt + CSG features → θ, the "adaptively" in LINA.

Labels come from a search (``lina.search``): every prompt of a predictor-training set is generated with each
θ of a small candidate set at a few seeds and judged. The predictor fits, for every candidate, a ridge
regression from the graph's features to that candidate's judged score, and at generation time picks the
candidate with the highest predicted score. It never calls the judge and never generates more than one image
per seed: the judge is only used offline, to make the labels.

Why a score per candidate rather than a direct regression onto θ's numbers: the searched optimum is often
flat or multi-modal (several θ tie), and averaging tied optima gives a θ no search ever scored. Predicting
the score of each candidate keeps every output a θ that was actually measured. The scores are first pooled
over the candidates that share a latent guidance setting (``pooled``): at two seeds per prompt, which of a
setting's near-identical embedding and schedule variants scored best is mostly noise.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..csg.graph import CSG, EdgeType, Entity, RELATIONS
from .embedding import EFFECT_TYPES
from .interventions import InterventionSettings

PREDICTOR_FILE = "predictor.json"
RIDGE = 10.0  # 30-odd features, 36-72 prompts: chosen on the first (48-prompt) table, checked on a new one
LIGHT_SIDES = ("left", "right", "top")


def _feature_names() -> list[str]:
    names = [f"effect:{t}" for t in EFFECT_TYPES] + [f"implied:{t}" for t in EFFECT_TYPES]
    names += ["max_hop", "entities", "small_things", "large_things", "unknown_words"]
    names += [f"relation:{r}" for r in RELATIONS] + [f"light:{s}" for s in LIGHT_SIDES]
    names += ["fill_level", "surface_area", "support_area"]
    return names


FEATURE_NAMES: tuple[str, ...] = tuple(_feature_names())


def _area(node: Entity) -> float:
    return node.region.width * node.region.height if node.region is not None else 0.0


def csg_features(csg: CSG) -> np.ndarray:
    """A fixed-length description of what the graph asks for: which effects (stated or implied, how many hops),
    which relations, the light, sizes, the fill level and the size of reflecting surfaces and supports (a small
    mirror clips a reflection; a narrow support changes the shadow) — the factors the method's failures follow."""
    f = dict.fromkeys(FEATURE_NAMES, 0.0)
    effects = csg.effects()
    for e in effects:
        f[f"effect:{e.type.value}"] += 1
        f[f"implied:{e.type.value}"] += float(e.implied)
        if e.type.value == "fill":
            f["fill_level"] = float(e.params.get("level") or 0.0)
    f["max_hop"] = float(max((e.hop for e in effects), default=0))
    entities = csg.entities()
    f["entities"] = float(len(entities))
    f["small_things"] = float(sum(e.size == "small" for e in entities))
    f["large_things"] = float(sum(e.size == "large" for e in entities))
    f["unknown_words"] = float(len(csg.unknown_words))
    for edge in csg.edges(EdgeType.LOCATED_AT):
        relation = edge.params.get("relation")
        if relation in RELATIONS:
            f[f"relation:{relation}"] += 1
    for light in csg.entities("light"):
        if light.side in LIGHT_SIDES:
            f[f"light:{light.side}"] = 1.0
    surfaces = {edge.src for edge in csg.edges(EdgeType.REFLECTS)}
    supports = {edge.src for edge in csg.edges(EdgeType.SUPPORTS)}
    f["surface_area"] = max((_area(csg.node(s)) for s in surfaces), default=0.0)
    f["support_area"] = min((_area(csg.node(s)) for s in supports if csg.node(s).kind == "entity"), default=0.0)
    return np.array([f[n] for n in FEATURE_NAMES], dtype=np.float64)


def latent_setting(theta: InterventionSettings) -> tuple:
    """What a candidate's latent guidance is; its embedding and schedule variants barely change an image alone."""
    return theta.latent_strength, theta.latent_share, theta.latent_mode, theta.latent_window


def latent_groups(candidates: Sequence[InterventionSettings]) -> list[list[int]]:
    """Candidate indices grouped by latent setting, in order of first appearance."""
    keys = [latent_setting(c) for c in candidates]
    return [[i for i, k in enumerate(keys) if k == key] for key in dict.fromkeys(keys)]


def pooled(scores: np.ndarray, candidates: Sequence[InterventionSettings]) -> np.ndarray:
    """Each candidate's score on each prompt, read at the level of its latent setting: the mean of that setting's
    variants on the prompt, plus the candidate's own offset over all prompts. Which of several near-identical
    variants scored best on one prompt at two seeds is mostly noise; which latent setting suits it is not."""
    out = np.empty_like(scores, dtype=np.float64)
    for g in latent_groups(candidates):
        per_prompt = scores[:, g].mean(1, keepdims=True)
        out[:, g] = per_prompt + (scores[:, g].mean(0) - per_prompt.mean())
    return out


@dataclass
class Predictor:
    """Ridge regressions from standardised graph features to each candidate θ's judged score (pooled over the
    candidates that share its latent setting)."""

    candidates: list[InterventionSettings]
    mean: np.ndarray  # [F] feature means on the training prompts
    scale: np.ndarray  # [F] feature standard deviations (1 where a feature never varied)
    weights: np.ndarray  # [F + 1, C]: intercept row first
    meta: dict

    @classmethod
    def fit(cls, graphs: Sequence[CSG], scores: np.ndarray, candidates: Sequence[InterventionSettings],
            ridge: float = RIDGE, meta: dict | None = None) -> Predictor:
        """``scores[p, c]``: the judged score of candidate ``c`` on prompt ``p`` (the search's labels)."""
        if len(graphs) != scores.shape[0] or len(candidates) != scores.shape[1]:
            raise ValueError(f"scores must be [{len(graphs)} prompts, {len(candidates)} candidates], "
                             f"got {list(scores.shape)}")
        if len(graphs) < 2:
            raise ValueError("the predictor needs at least 2 labelled prompts")
        scores = pooled(scores, candidates)
        x = np.stack([csg_features(g) for g in graphs])
        mean, scale = x.mean(0), x.std(0)
        scale[scale == 0] = 1.0
        design = np.hstack([np.ones((len(x), 1)), (x - mean) / scale])
        penalty = ridge * np.eye(design.shape[1])
        penalty[0, 0] = 0.0  # the intercept (each candidate's mean score) is not shrunk
        weights = np.linalg.solve(design.T @ design + penalty, design.T @ scores)
        return cls(list(candidates), mean, scale, weights, dict(meta or {}))

    def scores(self, csg: CSG) -> np.ndarray:
        """The predicted judged score of every candidate for this graph."""
        x = (csg_features(csg) - self.mean) / self.scale
        return np.concatenate([[1.0], x]) @ self.weights

    def choose(self, csg: CSG) -> int:
        return int(np.argmax(self.scores(csg)))

    def predict(self, csg: CSG) -> InterventionSettings:
        """θ for this prompt: the candidate with the highest predicted score."""
        return self.candidates[self.choose(csg)]

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / PREDICTOR_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "features": list(FEATURE_NAMES), "candidates": [c.to_dict() for c in self.candidates],
            "mean": self.mean.tolist(), "scale": self.scale.tolist(), "weights": self.weights.tolist(),
            "meta": self.meta,
        }, indent=1))
        return path

    @classmethod
    def load(cls, folder: str | Path) -> Predictor:
        """Read a saved predictor; a file from another feature set is refused rather than misread."""
        path = Path(folder) / PREDICTOR_FILE
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"no predictor at {path}; build one with `python -m lina_core train-predictor "
                                    f"--out {folder}`") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); rebuild it with train-predictor") from None
        if d.get("features") != list(FEATURE_NAMES):
            raise ValueError(f"{path} was fitted on other features; rebuild it with train-predictor")
        return cls([InterventionSettings.from_dict(c) for c in d["candidates"]], np.array(d["mean"]),
                   np.array(d["scale"]), np.array(d["weights"]), d.get("meta", {}))
