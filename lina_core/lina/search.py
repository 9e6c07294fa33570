"""Label search: every candidate θ on every predictor-training prompt at a few seeds, scored by the judge.

This is the only place where LINA meets the judge, and only offline: the table it fills is what the predictor
learns from (and the per-prompt oracle of the ablations). Candidate 0 is always "everything off", the
baseline, so a θ's score is measured against the baseline at the same seeds.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..backends.base import Backend
from ..csg.graph import CSG
from ..defaults import DEFAULT_GUIDANCE
from ..evaluation.run import canonical_graph, judge_image
from ..world.prompts import ood_prompts, sample_prompt, train_prompts_examples
from .embedding import EFFECT_TYPES, PhysicsDirections
from .interventions import DEFAULT_LATENT_SHARE, InterventionSettings, generate_lina

TEXTURE_PENALTY = 2.0  # a θ that loses texture (objects, colours) to gain physics is not a fix
OOD_SHARE = 2 / 3  # most predictor-training prompts are held-out compositions, where the baseline fails


# The latent guidance (strength, share of the steps it acts on): off; early only, where the paper finds the
# structure is set; or longer, because on our model a reflection's spill past a small mirror and a jar's fill
# level come back after the early steps (OOD physical 0.42 early, 0.58 over 70%, 0.62 over all the steps).
LATENT_OPTIONS = ((0.0, DEFAULT_LATENT_SHARE), (2.5, DEFAULT_LATENT_SHARE), (2.5, 0.7), (2.5, 1.0))


def candidate_grid() -> list[InterventionSettings]:
    """The θ searched: every combination of embedding strength, latent guidance and schedule warp.
    Off (the baseline) first."""
    return [InterventionSettings(embedding={t: alpha for t in EFFECT_TYPES}, latent_strength=latent,
                                 latent_share=share, gamma=gamma)
            for alpha, (latent, share), gamma in product((0.0, 1.5), LATENT_OPTIONS, (1.0, 2.0))]


def best_global(scores: np.ndarray) -> int:
    """The one candidate with the best mean score over the prompts: the fixed global θ LINA is compared with."""
    return int(np.argmax(scores.mean(0)))


def objective(physical: np.ndarray, texture: np.ndarray, base_texture: np.ndarray) -> np.ndarray:
    """Physical alignment, minus a penalty for texture lost against the baseline at the same seeds."""
    return physical - TEXTURE_PENALTY * np.maximum(0.0, base_texture - texture)


@dataclass
class SearchTable:
    """Judged scores of each candidate θ (columns) on each prompt (rows), averaged over the seeds."""

    backend: str
    prompts: list[str]
    seeds: list[int]
    candidates: list[InterventionSettings]
    physical: np.ndarray  # [P, C]
    texture: np.ndarray  # [P, C]
    steps: int = 20  # the sampling settings the labels were judged at: a predictor fits only those
    guidance: float = DEFAULT_GUIDANCE
    command: str = ""  # the train-predictor arguments and wall time of the search, so a refit's card can cite them
    minutes: float = 0.0

    def scores(self) -> np.ndarray:
        """The search objective per prompt and candidate (column 0, the baseline, loses no texture)."""
        return objective(self.physical, self.texture, self.texture[:, :1])

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({
            "backend": self.backend, "prompts": self.prompts, "seeds": self.seeds, "candidates": [c.to_dict() for c in self.candidates],
            "physical": self.physical.tolist(), "texture": self.texture.tolist(),
            "steps": self.steps, "guidance": self.guidance, "command": self.command, "minutes": self.minutes,
        }, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> SearchTable:
        d = json.loads(Path(path).read_text())  # tables without steps/guidance were all made at 20 and 5.0
        return cls(d["backend"], d["prompts"], d["seeds"], [InterventionSettings.from_dict(c) for c in d["candidates"]],
                   np.array(d["physical"]), np.array(d["texture"]), d.get("steps", 20), d.get("guidance", 5.0),
                   d.get("command", ""), d.get("minutes", 0.0))


def predictor_prompts(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct prompts from the world's generator — two thirds held-out compositions, one third
    training ones (so the predictor also learns when to leave a prompt alone) — never one of the fixed
    evaluation prompts, so that evaluating the predictor is evaluating it on prompts it did not see."""
    if n < 2:
        raise ValueError(f"need at least 2 prompts, got {n}")
    rng = random.Random(seed)
    held_out = {s.prompt.lower() for s in ood_prompts() + train_prompts_examples()}
    n_ood = round(n * OOD_SHARE)
    prompts: list[str] = []
    for split, count in (("ood", n_ood), ("train", n - n_ood)):
        mine: list[str] = []
        while len(mine) < count:
            p = sample_prompt(rng, split).prompt
            if p.lower() not in held_out and p not in prompts and p not in mine:
                mine.append(p)
        prompts += mine
    return prompts


@dataclass
class Judged:
    """One candidate θ on one prompt: its images at the seeds and their mean judged scores."""

    images: torch.Tensor
    physical: float
    texture: float


def judge_candidates(backend: Backend, csg: CSG, seeds: Sequence[int], candidates: Sequence[InterventionSettings],
                     steps: int = 20, guidance: float = DEFAULT_GUIDANCE, directions: PhysicsDirections | None = None,
                     progress: tqdm | None = None) -> list[Judged]:
    """Every candidate generated at ``seeds`` and judged against ``csg``."""
    out = []
    for theta in candidates:
        images = generate_lina(backend, csg, list(seeds), steps, guidance, theta, directions=directions).images
        verdicts = [judge_image(im, csg) for im in images]
        out.append(Judged(images, float(np.mean([v.physical for v in verdicts])),
                          float(np.mean([v.texture for v in verdicts]))))
        if progress is not None:
            progress.update(1)
    return out


def best_of(judged: Sequence[Judged]) -> int:
    """The index of the best candidate by the search objective (``judged[0]`` is the baseline)."""
    physical, texture = np.array([j.physical for j in judged]), np.array([j.texture for j in judged])
    return int(np.argmax(objective(physical, texture, texture[:1])))


def _check_candidates(candidates: Sequence[InterventionSettings]) -> list[InterventionSettings]:
    candidates = list(candidates)
    if not candidates or candidates[0] != InterventionSettings.off():
        raise ValueError("candidates[0] must be InterventionSettings.off() (the baseline the others are scored against)")
    return candidates


def search(backend: Backend, prompts: Sequence[str], seeds: Sequence[int],
           candidates: Sequence[InterventionSettings] | None = None, steps: int = 20,
           guidance: float = DEFAULT_GUIDANCE,
           directions: PhysicsDirections | None = None) -> SearchTable:
    """Generate and judge every (prompt, candidate) at ``seeds``; ``candidates[0]`` must be all-off."""
    candidates = _check_candidates(candidates or candidate_grid())
    physical = np.zeros((len(prompts), len(candidates)))
    texture = np.zeros_like(physical)
    with tqdm(total=len(prompts) * len(candidates), desc="label search") as bar:
        for p, prompt in enumerate(prompts):
            judged = judge_candidates(backend, canonical_graph(prompt), seeds, candidates, steps, guidance,
                                      directions, bar)
            physical[p] = [j.physical for j in judged]
            texture[p] = [j.texture for j in judged]
    return SearchTable(backend.name, list(prompts), list(seeds), candidates, physical, texture, steps, guidance)
