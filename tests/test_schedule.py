"""The reallocated schedule: same step count, gamma = 1 is the baseline, gamma > 1 moves steps to high noise,
and the result is accepted by our sampler and by diffusers' schedulers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, EulerDiscreteScheduler, FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

from lina_core.backends.tiny.model import SCHEDULER_CONFIG, build
from lina_core.backends.tiny.tokenizer import words_of
from lina_core.lina.schedule import (
    effective_timesteps, reallocated_sigmas, reallocated_timesteps, schedule_for, step_allocation,
)
from lina_core.sampling import fresh_scheduler, sample

T = SCHEDULER_CONFIG["num_train_timesteps"]
GAMMAS = (1.0, 1.5, 2.0, 3.0, 4.0)


@pytest.fixture(scope="module")
def euler():
    return EulerDiscreteScheduler(**SCHEDULER_CONFIG)


@pytest.mark.parametrize("steps", [1, 4, 7, 16, 20, 48, 50, 61])
def test_gamma_one_is_the_baseline_trailing_schedule(euler, steps):
    euler.set_timesteps(steps)
    assert reallocated_timesteps(euler.config, steps, 1.0) == [float(t) for t in euler.timesteps]


@pytest.mark.parametrize("steps", [2, 5, 20, 50, 200])
@pytest.mark.parametrize("gamma", GAMMAS)
def test_equal_length_strictly_decreasing_integers_from_the_top(euler, steps, gamma):
    t = reallocated_timesteps(euler.config, steps, gamma)
    assert len(t) == steps
    assert t[0] == T - 1 and t[-1] >= 0
    assert all(v == int(v) for v in t)
    assert all(a > b for a, b in zip(t, t[1:]))


def test_larger_gamma_puts_more_steps_at_high_noise(euler):
    # Trailing spacing at 20 steps: i/N < 0.3 for i = 0..5, so 6 of 20 steps lie in the top 30%.
    assert step_allocation(reallocated_timesteps(euler.config, 20, 1.0), T) == pytest.approx(0.3)
    shares = [step_allocation(reallocated_timesteps(euler.config, 20, g), T) for g in GAMMAS]
    assert all(a < b for a, b in zip(shares, shares[1:])), shares


def test_out_of_range_gamma_and_step_count_are_refused(euler):
    with pytest.raises(ValueError, match="gamma"):
        reallocated_timesteps(euler.config, 20, 0.5)
    with pytest.raises(ValueError, match="gamma"):
        schedule_for(euler, 20, 5.0)
    with pytest.raises(ValueError, match="steps"):
        reallocated_timesteps(euler.config, T + 1, 2.0)


def test_a_scheduler_without_custom_timesteps_is_named():
    with pytest.raises(ValueError, match="DDIMScheduler"):
        schedule_for(DDIMScheduler(), 10, 2.0)


def test_the_sampler_runs_the_reallocated_schedule_at_equal_step_count():
    prompt = "a red ball on a small mirror"
    backend = build(words_of([prompt]), seed=0).backend()
    kwargs = schedule_for(backend.scheduler, 3, 2.5)
    assert set(kwargs) == {"timesteps"}
    base = sample(backend, [prompt], [0], steps=3, guidance_scale=1.0)
    ours = sample(backend, [prompt], [0], steps=3, guidance_scale=1.0, **kwargs)
    assert ours.timesteps == kwargs["timesteps"] and len(ours.timesteps) == len(base.timesteps) == 3
    assert ours.timesteps[0] == base.timesteps[0] == T - 1 and ours.timesteps[1] > base.timesteps[1]


@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_flow_matching_sigmas_are_accepted_and_gamma_one_is_the_default(shift):
    flow = FlowMatchEulerDiscreteScheduler(shift=shift)
    kwargs = schedule_for(flow, 12, 1.0)
    assert set(kwargs) == {"sigmas"} and len(kwargs["sigmas"]) == 12
    default = effective_timesteps(flow, 12)
    ours = effective_timesteps(flow, 12, 1.0)
    np.testing.assert_allclose(ours, default, rtol=1e-5)
    warped = effective_timesteps(flow, 12, 3.0)
    assert len(warped) == 12 and all(a > b for a, b in zip(warped, warped[1:]))
    assert step_allocation(warped, flow.config.num_train_timesteps) > step_allocation(default, 1000)


def test_flow_warp_composes_with_the_models_shift():
    """The sigmas are passed unshifted: the scheduler's shift still acts on them (a larger shift, more noise)."""
    s = reallocated_sigmas({"num_train_timesteps": 1000, "shift": 1.0}, 10, 2.0)
    low, high = (effective_timesteps(FlowMatchEulerDiscreteScheduler(shift=k), 10, 2.0) for k in (1.0, 3.0))
    np.testing.assert_allclose(np.array(low) / 1000, s, rtol=1e-5)
    assert all(h > lo for h, lo in zip(high[1:-1], low[1:-1]))


@pytest.mark.parametrize("steps", [4, 20, 50])
@pytest.mark.parametrize("gamma", (2.0, 3.0, 4.0))
def test_unipc_on_flow_sigmas_gets_distinct_integer_timesteps(steps, gamma):
    """Wan's scheduler rounds shifted sigmas to integer timesteps: at gamma 2 and 20 steps the first two used to
    collide (999, 999) and UniPC's step then failed; neighbours are now kept apart."""
    unipc = UniPCMultistepScheduler(use_flow_sigmas=True, flow_shift=3.0, prediction_type="flow_prediction")
    t = effective_timesteps(unipc, steps, gamma)
    assert len(t) == steps and all(a > b for a, b in zip(t, t[1:]))
    run = fresh_scheduler(unipc, steps, **schedule_for(unipc, steps, gamma))
    x = torch.zeros(1, 4, 2, 2)
    for step in run.timesteps:  # every step runs (the collision failed an assertion inside diffusers)
        x = run.step(torch.zeros_like(x), step, x).prev_sample
