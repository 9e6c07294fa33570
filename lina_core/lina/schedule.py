"""Reallocated, causality-aware schedule at EQUAL step count (insight 3: structure is set early).

The baseline spends its N steps evenly over the noise range (in its scheduler's spacing). LINA keeps N (the
same number of model evaluations) and warps the spacing with an exponent gamma >= 1, so that more
of the steps fall at high noise, where the scene's layout and causal structure form:

    DDPM family (discrete t in [0, T-1]): the scheduler's own spacing, read as a line t(x) over the step
        index x, sampled at the warped indices x_i = D * (i/D)**gamma (D is where that line reaches the
        end of the range: N for "trailing" and "leading", N-1 for "linspace"). For trailing spacing
        this is t_i = round(T * (1 - (i/N)**gamma)) - 1.
    flow matching (sigma in (0, 1]):      s_i = s_max - (s_max - s_min) * (i/(N-1))**gamma

Every warp keeps the first (noisiest) step where the baseline has it. gamma = 1 gives back exactly what
the baseline scheduler computes (its own ``set_timesteps``: SD-1.5 and SDXL use "leading" spacing, the
tiny model "trailing"; the flow scheduler's own linspace), so "schedule off" and "gamma = 1" are the
same run. The flow sigmas are returned *unshifted*: diffusers'
``FlowMatchEulerDiscreteScheduler.set_timesteps(sigmas=...)`` applies the model's ``shift`` (SD-3.5: 3.0)
to custom sigmas itself, so the warp composes with the shift the model was trained for instead of
replacing it; at gamma = 1 those sigmas match the default to float32 rounding (diffusers casts custom
sigmas to float32 before shifting, its default path shifts in float64), which is why ``generate_lina``
skips the custom schedule altogether at gamma = 1.
"""
from __future__ import annotations

import inspect
from typing import Any, Mapping

import numpy as np

from ..sampling import fresh_scheduler

GAMMA_RANGE = (1.0, 4.0)
HIGH_NOISE_SHARE = 0.3  # "the first 30% of the noise range" that step_allocation reports on


def _check(steps: int, gamma: float, T: int | None = None) -> None:
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not GAMMA_RANGE[0] <= gamma <= GAMMA_RANGE[1]:
        raise ValueError(f"gamma must be in [{GAMMA_RANGE[0]}, {GAMMA_RANGE[1]}], got {gamma}")
    if T is not None and steps > T:
        raise ValueError(f"steps ({steps}) cannot exceed the scheduler's {T} training timesteps")


def _config(scheduler_or_config: Any) -> Mapping[str, Any]:
    return getattr(scheduler_or_config, "config", scheduler_or_config)


def reallocated_timesteps(scheduler_or_config: Mapping[str, Any] | Any, steps: int, gamma: float) -> list[float]:
    """N strictly decreasing integer timesteps starting where the scheduler's own schedule starts; gamma = 1
    is that schedule (computed by the scheduler class named in the config when diffusers has it).

    Rounding can make neighbouring high-noise steps collide for large gamma; each collision is
    resolved by stepping one timestep down, so the step count never changes.
    """
    cfg = _config(scheduler_or_config)
    T = int(cfg["num_train_timesteps"])
    _check(steps, gamma, T)
    spacing = cfg.get("timestep_spacing", "trailing")
    if spacing not in _SPACINGS:
        raise ValueError(f"timestep_spacing {spacing!r} cannot be warped; use one of {sorted(_SPACINGS)}")
    if gamma == 1.0:
        return _default_timesteps(scheduler_or_config, steps)
    line, end = _SPACINGS[spacing](T, steps, int(cfg.get("steps_offset", 0) or 0))
    x = end * (np.arange(steps, dtype=np.float64) / end) ** gamma if end > 0 else np.zeros(1)
    t = np.round(line(x))
    for i in range(1, steps):  # strictly decreasing
        t[i] = min(t[i], t[i - 1] - 1)
    return [float(v) for v in t]


def _trailing(T: int, n: int, offset: int):
    return (lambda x: T * (1.0 - x / n) - 1), n


def _leading(T: int, n: int, offset: int):
    ratio = T // n
    return (lambda x: ratio * (n - 1 - x) + offset), n


def _linspace(T: int, n: int, offset: int):
    return (lambda x: (T - 1) * (1.0 - x / max(n - 1, 1))), n - 1


_SPACINGS = {"trailing": _trailing, "leading": _leading, "linspace": _linspace}


def _default_timesteps(scheduler_or_config: Any, steps: int) -> list[float]:
    """What the scheduler's own ``set_timesteps(steps)`` gives: its class is the object's type, or the
    config's ``_class_name``; a bare config without one gets the trailing formula."""
    import diffusers

    cfg = _config(scheduler_or_config)
    cls = type(scheduler_or_config) if hasattr(scheduler_or_config, "config") else getattr(
        diffusers, str(cfg.get("_class_name", "")), None)
    if cls is not None and hasattr(cls, "set_timesteps"):
        fresh = cls.from_config(cfg)
        fresh.set_timesteps(steps)
        return [float(v) for v in fresh.timesteps]
    T = int(cfg["num_train_timesteps"])
    return [float(v) for v in np.round(np.arange(T, 0, -T / steps)) - 1]


def reallocated_sigmas(scheduler_config: Mapping[str, Any] | Any, steps: int, gamma: float) -> list[float]:
    """N unshifted, strictly decreasing flow-matching sigmas from the scheduler's sigma_max to sigma_min."""
    _check(steps, gamma)
    cfg = _config(scheduler_config)
    T = int(cfg["num_train_timesteps"])
    if cfg.get("use_flow_sigmas"):  # UniPC on flow sigmas (Wan): its own grid, shifted by flow_shift in set_timesteps
        default = np.linspace(1.0, 1.0 / T, steps + 1)[:-1]
    else:
        default = np.linspace(T, _flow_sigma_min(T, float(cfg.get("shift", 1.0))) * T, steps) / T
    if steps == 1 or gamma == 1.0:  # bit-identical to the scheduler's default spacing
        return [float(v) for v in default]
    s_max, s_min = float(default[0]), float(default[-1])
    frac = np.arange(steps, dtype=np.float64) / (steps - 1)
    sigmas = s_max - (s_max - s_min) * frac ** gamma
    # Near sigma = 1 the warp packs steps closer than one training timestep once the model's shift compresses them
    # (at most by the factor ``shift`` there), and a scheduler on integer timesteps (UniPC) then sees two equal
    # timesteps and fails: keep neighbours at least 1.5 timesteps apart after any shift.
    gap = 1.5 * max(float(cfg.get("flow_shift") or 1.0), float(cfg.get("shift") or 1.0)) / T
    for i in range(1, steps - 1):
        sigmas[i] = min(sigmas[i], sigmas[i - 1] - gap)
    return [float(v) for v in sigmas]


def _flow_sigma_min(T: int, shift: float) -> float:
    """The scheduler's own lower end: 1/T shifted, in float32 as its ``__init__`` computes it (the default
    ``set_timesteps`` interpolates between 1 and this value, then shifts again)."""
    s = np.float32(1.0) / np.float32(T)
    return float(np.float32(shift) * s / (np.float32(1.0) + np.float32(shift - 1.0) * s))


def is_flow_matching(scheduler: Any) -> bool:
    """FlowMatch* schedulers, and the multistep ones run on flow sigmas (UniPC with use_flow_sigmas: Wan)."""
    return type(scheduler).__name__.startswith("FlowMatch") or bool(_config(scheduler).get("use_flow_sigmas"))


def schedule_for(scheduler: Any, steps: int, gamma: float) -> dict[str, list[float]]:
    """``dict(timesteps=...)`` or ``dict(sigmas=...)`` for ``sample(**...)``, chosen by the scheduler class."""
    if is_flow_matching(scheduler):
        return {"sigmas": reallocated_sigmas(scheduler.config, steps, gamma)}
    if "timesteps" not in inspect.signature(scheduler.set_timesteps).parameters:
        raise ValueError(f"{type(scheduler).__name__} cannot take custom timesteps, so the schedule cannot be "
                         "reallocated; use gamma = 1 (the default schedule) with this scheduler")
    return {"timesteps": reallocated_timesteps(scheduler, steps, gamma)}


def effective_timesteps(scheduler: Any, steps: int, gamma: float | None = None) -> list[float]:
    """The timesteps a fresh copy of ``scheduler`` will actually run (baseline when gamma is None): for plots."""
    fresh = fresh_scheduler(scheduler, steps, **({} if gamma is None else schedule_for(scheduler, steps, gamma)))
    return [float(t) for t in fresh.timesteps]


def step_allocation(timesteps: list[float] | np.ndarray, T: int) -> float:
    """Fraction of the steps in the highest-noise 30% of the range, i.e. with t >= 0.7 * (T - 1)."""
    t = np.asarray(timesteps, dtype=np.float64)
    if t.size == 0:
        raise ValueError("no timesteps")
    return float((t >= (1.0 - HIGH_NOISE_SHARE) * (T - 1)).mean())
