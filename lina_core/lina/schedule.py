"""Reallocated, causality-aware schedule at EQUAL step count (insight 3: structure is set early).

The baseline spends its N steps evenly over the noise range ("trailing" spacing). LINA keeps N (the
same number of model evaluations) and warps the spacing with an exponent gamma >= 1, so that more
of the steps fall at high noise, where the scene's layout and causal structure form:

    DDPM family (discrete t in [0, T-1]):  t_i = round(T * (1 - (i/N)**gamma)) - 1,  i = 0..N-1
    flow matching (sigma in (0, 1]):      s_i = s_max - (s_max - s_min) * (i/(N-1))**gamma

gamma = 1 gives back exactly what the baseline scheduler computes (trailing timesteps; the flow
scheduler's own linspace), so "schedule off" and "gamma = 1" are the same run. The flow sigmas are
returned *unshifted*: diffusers' ``FlowMatchEulerDiscreteScheduler.set_timesteps(sigmas=...)`` applies
the model's ``shift`` to custom sigmas itself, so the warp composes with the shift the model was
trained for instead of replacing it.
"""
from __future__ import annotations

import inspect
from typing import Any, Mapping

import numpy as np

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


def reallocated_timesteps(scheduler_config: Mapping[str, Any] | Any, steps: int, gamma: float) -> list[float]:
    """N strictly decreasing integer timesteps, the first T-1; gamma = 1 is the trailing spacing.

    Rounding can make neighbouring high-noise steps collide for large gamma; each collision is
    resolved by stepping one timestep down, so the step count never changes.
    """
    T = int(_config(scheduler_config)["num_train_timesteps"])
    _check(steps, gamma, T)
    if gamma == 1.0:  # the trailing grid exactly as diffusers computes it (same float rounding)
        t = np.round(np.arange(T, 0, -T / steps)) - 1
    else:
        frac = np.arange(steps, dtype=np.float64) / steps
        t = np.round(T * (1.0 - frac ** gamma)) - 1
    for i in range(1, steps):  # strictly decreasing
        t[i] = min(t[i], t[i - 1] - 1)
    return [float(v) for v in t]


def reallocated_sigmas(scheduler_config: Mapping[str, Any] | Any, steps: int, gamma: float) -> list[float]:
    """N unshifted, strictly decreasing flow-matching sigmas from the scheduler's sigma_max to sigma_min."""
    _check(steps, gamma)
    cfg = _config(scheduler_config)
    T = int(cfg["num_train_timesteps"])
    s_max, s_min = 1.0, _flow_sigma_min(T, float(cfg.get("shift", 1.0)))
    if steps == 1:
        return [s_max]
    if gamma == 1.0:  # bit-identical to the scheduler's default spacing
        return [float(v) for v in np.linspace(s_max * T, s_min * T, steps) / T]
    frac = np.arange(steps, dtype=np.float64) / (steps - 1)
    return [float(v) for v in s_max - (s_max - s_min) * frac ** gamma]


def _flow_sigma_min(T: int, shift: float) -> float:
    """The scheduler's own lower end: 1/T shifted, in float32 as its ``__init__`` computes it (the default
    ``set_timesteps`` interpolates between 1 and this value, then shifts again)."""
    s = np.float32(1.0) / np.float32(T)
    return float(np.float32(shift) * s / (np.float32(1.0) + np.float32(shift - 1.0) * s))


def is_flow_matching(scheduler: Any) -> bool:
    return type(scheduler).__name__.startswith("FlowMatch")


def schedule_for(scheduler: Any, steps: int, gamma: float) -> dict[str, list[float]]:
    """``dict(timesteps=...)`` or ``dict(sigmas=...)`` for ``sample(**...)``, chosen by the scheduler class."""
    if is_flow_matching(scheduler):
        return {"sigmas": reallocated_sigmas(scheduler.config, steps, gamma)}
    if "timesteps" not in inspect.signature(scheduler.set_timesteps).parameters:
        raise ValueError(f"{type(scheduler).__name__} cannot take custom timesteps, so the schedule cannot be "
                         "reallocated; use gamma = 1 (the default schedule) with this scheduler")
    return {"timesteps": reallocated_timesteps(scheduler.config, steps, gamma)}


def effective_timesteps(scheduler: Any, steps: int, gamma: float | None = None) -> list[float]:
    """The timesteps a fresh copy of ``scheduler`` will actually run (baseline when gamma is None): for plots."""
    fresh = type(scheduler).from_config(scheduler.config)
    if gamma is None:
        fresh.set_timesteps(steps)
    else:
        fresh.set_timesteps(**schedule_for(scheduler, steps, gamma))
    return [float(t) for t in fresh.timesteps]


def step_allocation(timesteps: list[float] | np.ndarray, T: int) -> float:
    """Fraction of the steps in the highest-noise 30% of the range, i.e. with t >= 0.7 * (T - 1)."""
    t = np.asarray(timesteps, dtype=np.float64)
    if t.size == 0:
        raise ValueError("no timesteps")
    return float((t >= (1.0 - HIGH_NOISE_SHARE) * (T - 1)).mean())
