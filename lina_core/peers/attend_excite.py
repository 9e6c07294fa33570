"""The peer: Attend-and-Excite (Chefer et al. 2023) as a hook on our one sampling loop.

At each of the first steps, before the model runs, the latent takes a gradient step on A&E's loss
``max over subjects of (1 - max attention of the subject's token)``: the weakest subject's cross-attention
peak is raised, so no named thing is left out of the image. At a few steps the update is repeated until
every subject's peak reaches a threshold. Then the loop runs as usual (classifier-free guidance included)
on the updated latent. This costs a forward AND a backward pass through the UNet per image per updated
step, where LINA's interventions cost no extra model call: that difference is what ``bench`` times.

The loss, its smoothing and the latent update are diffusers' ``StableDiffusionAttendAndExcitePipeline``
functions; its defaults are stated for 50 steps and scaled here to the loop's step count. The subject
tokens are the nouns of the CSG's entities (a light is a direction, not a thing to draw).
"""
from __future__ import annotations

import inspect
import warnings
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import torch
from diffusers.pipelines.deprecated.stable_diffusion_attend_and_excite.pipeline_stable_diffusion_attend_and_excite import (  # noqa: E501
    StableDiffusionAttendAndExcitePipeline as AEPipeline,
)

from ..backends.base import Backend, PromptEmbedding
from ..csg.graph import CSG
from ..csg.vocab import CLASSES, Category
from ..lina.embedding import token_positions
from ..sampling import StepState, sample
from .attention import PLACES, cross_attention_sides, cross_attention_unet, default_attention_side, \
    recording_cross_attention

REFERENCE_STEPS = 50  # A&E's defaults below are stated for a 50-step schedule


@dataclass(frozen=True)
class AttendExciteSettings:
    """A&E's parameters, with its defaults (``StableDiffusionAttendAndExcitePipeline.__call__``)."""

    scale_factor: float = 20.0  # step size at the first step; 0 makes every update a no-op
    max_iter_to_alter: int = 25  # the latent is updated at steps < this (of REFERENCE_STEPS)
    thresholds: dict[int, float] = field(default_factory=lambda: {0: 0.05, 10: 0.5, 20: 0.8})  # step -> peak
    max_refinement_steps: int = 20  # at most this many updates to reach a threshold
    attention_side: int | None = None  # side of the maps read; None: see ``default_attention_side``

    def __post_init__(self) -> None:
        if self.scale_factor < 0:
            raise ValueError(f"peer scale_factor must be >= 0, got {self.scale_factor}")
        if not all(0 < v <= 1 for v in self.thresholds.values()):
            raise ValueError(f"peer thresholds must be in (0, 1], got {self.thresholds}")

    def updated_steps(self, steps: int) -> int:
        """How many of ``steps`` steps update the latent (25 of 50 -> 10 of 20)."""
        return round(self.max_iter_to_alter * steps / REFERENCE_STEPS)

    def scaled_thresholds(self, steps: int) -> dict[int, float]:
        return {round(i * steps / REFERENCE_STEPS): v for i, v in self.thresholds.items()}

    def step_sizes(self, steps: int) -> np.ndarray:
        """A&E's schedule: the step size decays from ``scale_factor`` to ``scale_factor * sqrt(0.5)``."""
        return self.scale_factor * np.sqrt(np.linspace(1.0, 0.5, steps))


def subject_words(csg: CSG) -> list[str]:
    """One word per thing to draw: the noun of each entity (its last word), lights left out."""
    return [e.words[-1] for e in csg.entities()
            if e.words and getattr(CLASSES.get(e.cls), "category", None) != Category.LIGHT]


def subject_indices(cond: PromptEmbedding, words: Sequence[str], row: int) -> list[int]:
    """Token positions of the subjects in prompt ``row`` (the last piece of each noun), without repeats."""
    found = (token_positions(cond, [w], row) for w in words)
    return sorted({pos[-1] for pos in found if pos})


def _value(loss: torch.Tensor | int) -> float:
    """A&E's loss as a number (it is the int 0 when every subject is already at full attention)."""
    return float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)


def default_schedule(scheduler, steps: int) -> tuple[list[float], list[float]]:
    """(timesteps, input scales) of the default ``steps``-step schedule: the factor ``scale_model_input``
    applies at each step (1 for DDIM-like schedulers, 1/sqrt(sigma^2+1) for Euler-like ones), so the
    gradient pass feeds the UNet what the loop feeds it. A scheduler knows which step it is at only by
    stepping, so a fresh copy is stepped through the schedule on dummy values."""
    fresh = type(scheduler).from_config(scheduler.config)
    fresh.set_timesteps(steps)
    kwargs = {"generator": torch.Generator().manual_seed(0)} if "generator" in inspect.signature(
        fresh.step).parameters else {}
    one, scales = torch.ones(1), []
    for t in fresh.timesteps:
        scales.append(float(fresh.scale_model_input(one, t)))
        fresh.step(torch.zeros(1), t, one, **kwargs)
    return [float(t) for t in fresh.timesteps], scales


class AttendExcite:
    """The StepHook: updates ``state.latents`` in the first steps; records the loss before each update.

    One instance per sampling call (it reads the schedule on the first step)."""

    def __init__(self, backend: Backend, csg: CSG, settings: AttendExciteSettings | None = None) -> None:
        self.unet = cross_attention_unet(backend)
        self.backend, self.settings = backend, settings or AttendExciteSettings()
        self.words = subject_words(csg)
        side = backend.latent_shape(1)[-1]
        sides = cross_attention_sides(self.unet, side)
        self.side = self.settings.attention_side or default_attention_side(sides, side)
        if self.side not in sides:
            raise ValueError(f"peer attention_side {self.side}: this UNet's cross-attention maps are "
                             f"{', '.join(f'{s}x{s}' for s in sides)}")
        self.losses: list[tuple[int, float]] = []  # (step, A&E loss of image 0 before the step's update)
        self._schedule: tuple[list[float], list[float]] | None = None  # (timesteps, input scales)

    def _loss(self, store, latent: torch.Tensor, t: torch.Tensor, scale: float, embeds: torch.Tensor,
              indices: list[int]) -> tuple[torch.Tensor | int, torch.Tensor]:
        """(A&E loss, the latent it was taken at, now a leaf that requires grad) for one image."""
        latent = latent.detach().requires_grad_(True)
        self.unet(latent * scale, t, encoder_hidden_states=embeds)
        maps = store.aggregate_attention(from_where=PLACES)  # [side, side, tokens], averaged over layers/heads
        return AEPipeline._compute_loss(AEPipeline._compute_max_attention_per_index(maps, indices)), latent

    def _excite(self, store, latent: torch.Tensor, state: StepState, embeds: torch.Tensor, indices: list[int],
                log: bool) -> torch.Tensor:
        i, s = state.index, self.settings
        step_size = float(s.step_sizes(state.num_steps)[i])
        scale = self._schedule[1][i]
        loss, latent = self._loss(store, latent, state.timestep, scale, embeds, indices)
        if log:
            self.losses.append((i, _value(loss)))
        threshold = s.scaled_thresholds(state.num_steps).get(i)
        # A&E steps on what the UNet sees (SD's latent); ours is that divided by ``scale`` (Euler-like
        # schedulers), so the same step on it is step_size / scale**2 along the gradient taken w.r.t. ours.
        step_size /= scale ** 2
        if threshold is not None and step_size > 0:  # A&E's iterative refinement
            for _ in range(s.max_refinement_steps):
                if _value(loss) <= 1.0 - threshold:
                    break
                latent = AEPipeline._update_latent(latent, loss, step_size)
                loss, latent = self._loss(store, latent, state.timestep, scale, embeds, indices)
        if _value(loss) > 0:
            latent = AEPipeline._update_latent(latent, loss, step_size)
        return latent.detach()

    def before_model(self, state: StepState) -> None:
        if state.index >= self.settings.updated_steps(state.num_steps):
            return
        if self._schedule is None:
            self._schedule = default_schedule(self.backend.scheduler, state.num_steps)
        if self._schedule[0][state.index] != float(state.timestep):
            raise ValueError("the peer runs on the backend's default schedule only")
        rows = [subject_indices(state.cond, self.words, r) for r in range(state.latents.shape[0])]
        if not any(rows):
            if state.index == 0:
                warnings.warn(f"peer: none of the subjects {self.words} is a token of the prompt; "
                              "it runs as the baseline", stacklevel=2)
            return
        updated = []
        with torch.enable_grad(), recording_cross_attention(self.unet, self.side) as store:
            for r, indices in enumerate(rows):
                latent = state.latents[r:r + 1]
                updated.append(self._excite(store, latent, state, state.cond.embeds[r:r + 1], indices, log=r == 0)
                               if indices else latent)
        state.latents = torch.cat(updated).to(state.latents.dtype)

    def after_step(self, state: StepState) -> None:
        return None


class AttendExciteMethod:
    """The evaluation method "peer": the loop with the A&E hook, at the same seeds, steps and guidance."""

    def __init__(self, settings: AttendExciteSettings | None = None) -> None:
        self.settings = settings or AttendExciteSettings()

    def prepare(self, backend: Backend) -> None:
        """Refuse a backend without cross-attention before anything is generated or timed."""
        cross_attention_unet(backend)

    def describe(self, steps: int) -> dict:
        """The settings and what they mean at ``steps`` steps (for reports)."""
        return {**asdict(self.settings), "updated_steps": self.settings.updated_steps(steps),
                "refinement_at": sorted(self.settings.scaled_thresholds(steps))}

    def __call__(self, backend: Backend, csg: CSG, seeds: Sequence[int], steps: int,
                 guidance: float) -> torch.Tensor:
        hook = AttendExcite(backend, csg, self.settings)
        return sample(backend, [csg.prompt] * len(seeds), seeds, steps=steps, guidance_scale=guidance,
                      hooks=[hook]).images
