"""The one sampling loop. Baseline = this loop with no hooks and the backend's default schedule;
LINA = the same loop with intervention hooks and/or a reallocated schedule, at the same seed and the
same number of model evaluations. Any difference between the two images is caused by the hooks.
"""
from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np
import torch
from diffusers.utils.torch_utils import randn_tensor
from tqdm.auto import tqdm

from .backends.base import Backend, PromptEmbedding
from .defaults import DEFAULT_GUIDANCE


@dataclass
class StepState:
    """What a hook sees and may change at one denoising step."""

    index: int
    num_steps: int
    timestep: torch.Tensor
    sigma: float  # noise level of ``latents`` (in the scheduler's own units)
    latents: torch.Tensor  # x_t; a hook may replace it before the model runs
    cond: PromptEmbedding  # conditional embeddings; a hook may replace them before the model runs
    noise_pred: torch.Tensor | None = None  # guided model output, after the model runs
    x0: torch.Tensor | None = None  # predicted clean latents, after the scheduler step
    prev_latents: torch.Tensor | None = None  # x_{t-1}; a hook may replace it after the step
    scheduler: object | None = None  # this run's scheduler, at this step (read it; step a copy, never it)


class StepHook(Protocol):
    def before_model(self, state: StepState) -> None: ...

    def after_step(self, state: StepState) -> None: ...


@dataclass
class SampleResult:
    images: torch.Tensor  # [B, 3, H, W] in [0, 1]
    latents: torch.Tensor
    timesteps: list[float]
    sigmas: list[float]
    trajectory: dict[int, torch.Tensor] = field(default_factory=dict)  # step -> decoded x0 prediction
    seconds: float = 0.0


def make_generators(seeds: Sequence[int]) -> list[torch.Generator]:
    """CPU generators: the documented reproducible path (same seed -> same noise on any device)."""
    return [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]


def fresh_scheduler(scheduler, steps: int, *, timesteps: Sequence[float] | None = None,
                    sigmas: Sequence[float] | None = None, device: torch.device | str | None = None):
    """A new copy of ``scheduler`` (no state shared between runs) set to ``steps`` steps, or to the given
    ``timesteps`` / ``sigmas``."""
    fresh = type(scheduler).from_config(scheduler.config)
    if timesteps is not None:
        fresh.set_timesteps(timesteps=list(timesteps), device=device)
    elif sigmas is not None:
        fresh.set_timesteps(sigmas=np.asarray(sigmas, dtype=np.float64), device=device)  # UniPC needs an array
    else:
        fresh.set_timesteps(steps, device=device)
    return fresh


def model_input(scheduler, latents: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """What the model is given at ``t``: the scheduler's input scaling where it has one (Euler), else x_t."""
    return scheduler.scale_model_input(latents, t) if hasattr(scheduler, "scale_model_input") else latents


def _keep_edit(scheduler, index: int) -> None:
    """UniPC's corrector at step index + 1 rebuilds x_t from its own last sample and would drop a hook's edit
    (~95% of it): skip that one correction. Schedulers without a corrector need nothing."""
    if hasattr(scheduler, "disable_corrector"):
        scheduler.disable_corrector = [*scheduler.disable_corrector, index]


@torch.no_grad()
def sample(
    backend: Backend,
    prompts: list[str],
    seeds: Sequence[int],
    steps: int = 20,
    guidance_scale: float = DEFAULT_GUIDANCE,
    *,
    timesteps: Sequence[float] | None = None,
    sigmas: Sequence[float] | None = None,
    hooks: Sequence[StepHook] = (),
    trajectory_steps: Sequence[int] = (),
    progress: bool = False,
    latents: torch.Tensor | None = None,
) -> SampleResult:
    """Generate one image per prompt; ``timesteps``/``sigmas`` override the scheduler's default spacing."""
    if len(seeds) != len(prompts):
        raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
    start = time.perf_counter()
    scheduler = fresh_scheduler(backend.scheduler, steps, timesteps=timesteps, sigmas=sigmas, device=backend.device)
    schedule = scheduler.timesteps
    cfg = guidance_scale > 1.0
    cond = backend.encode_prompt(list(prompts))
    uncond = backend.encode_prompt([""] * len(prompts)) if cfg else None

    generators = make_generators(seeds)
    # Stochastic schedulers (DDPM, ancestral) draw their step noise from the same per-image generators,
    # as StableDiffusionPipeline does, so every image stays reproducible from its seed.
    step_kwargs = {"generator": generators} if "generator" in inspect.signature(scheduler.step).parameters else {}
    if latents is None:
        shape = backend.latent_shape(len(prompts))
        latents = randn_tensor(shape, generator=generators, device=backend.device, dtype=backend.dtype)
        latents = latents * getattr(scheduler, "init_noise_sigma", 1.0)  # flow-matching schedulers have none
    step_sigmas = [float(s) for s in getattr(scheduler, "sigmas", torch.zeros(len(schedule) + 1))]
    trajectory: dict[int, torch.Tensor] = {}
    for i, t in enumerate(tqdm(schedule, desc="denoising", disable=not progress)):
        state = StepState(i, len(schedule), t, step_sigmas[i], latents, cond, scheduler=scheduler)
        for hook in hooks:
            hook.before_model(state)
        if state.latents is not latents and i > 0:  # a hook replaced x_t: this step's correction would undo it
            _keep_edit(scheduler, i - 1)
        x_in = model_input(scheduler, torch.cat([state.latents] * 2) if cfg else state.latents, t)
        if cfg:
            out = backend.predict(x_in, t, PromptEmbedding.cat([uncond, state.cond]))
            out_uncond, out_cond = out.chunk(2)
            state.noise_pred = out_uncond + backend.guidance_at(t, guidance_scale) * (out_cond - out_uncond)
        else:
            state.noise_pred = backend.predict(x_in, t, state.cond)
        step = scheduler.step(state.noise_pred, t, state.latents, return_dict=True, **step_kwargs)
        state.prev_latents = step.prev_sample
        state.x0 = getattr(step, "pred_original_sample", None)
        for hook in hooks:
            hook.after_step(state)
        if state.prev_latents is not step.prev_sample:  # a hook replaced x_{t-1}: the next correction would undo it
            _keep_edit(scheduler, i)
        if i in trajectory_steps and state.x0 is not None:
            trajectory[i] = backend.decode(state.x0)
        latents = state.prev_latents
    images = backend.decode(latents)
    return SampleResult(
        images=images, latents=latents, timesteps=[float(t) for t in schedule], sigmas=step_sigmas,
        trajectory=trajectory, seconds=time.perf_counter() - start,
    )
