"""The one sampling loop: with no hooks it reproduces the stock diffusers pipeline (same seed, allclose),
and hooks are the only thing that can change its output."""
from __future__ import annotations

import pytest
import torch
from diffusers import StableDiffusionPipeline

from lina_core.backends.tiny.model import build
from lina_core.backends.tiny.tokenizer import words_of
from lina_core.backends.unet import UNetBackend
from lina_core.sampling import make_generators, sample

from sd_tiny import tiny_sd_pipeline

PROMPT = "a red ball on a small mirror"


@pytest.fixture(scope="module")
def tiny():
    components = build(words_of([PROMPT, "a bird eats a snake"]), seed=0)
    pipe = StableDiffusionPipeline(vae=components.vae, text_encoder=components.text_encoder, tokenizer=components.tokenizer,
                                   unet=components.unet, scheduler=components.scheduler, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return components.backend(), pipe


@pytest.fixture(scope="module")
def sd():
    pipe = tiny_sd_pipeline()
    return UNetBackend.from_pipeline(pipe, name="sd-tiny"), pipe


@pytest.mark.parametrize("which", ["tiny", "sd"])
@pytest.mark.parametrize("guidance", [1.0, 4.5])
def test_loop_reproduces_the_stock_pipeline(which, guidance, tiny, sd):
    backend, pipe = {"tiny": tiny, "sd": sd}[which]
    size = backend.image_size
    ref = pipe(PROMPT, num_inference_steps=4, guidance_scale=guidance, generator=make_generators([7]), height=size,
               width=size, output_type="pt").images
    ours = sample(backend, [PROMPT], [7], steps=4, guidance_scale=guidance)
    assert ours.images.shape == ref.shape
    torch.testing.assert_close(ours.images, ref, rtol=1e-5, atol=1e-5)


def test_same_seed_same_image_other_seed_other_image(sd):
    backend, _ = sd
    a = sample(backend, [PROMPT, PROMPT], [1, 2], steps=3)
    b = sample(backend, [PROMPT], [1], steps=3)
    assert torch.equal(b.images, sample(backend, [PROMPT], [1], steps=3).images)
    torch.testing.assert_close(a.images[0], b.images[0], rtol=1e-4, atol=1e-4)  # batching only reorders float sums
    assert not torch.allclose(a.images[0], a.images[1], atol=1e-2)


def test_custom_timesteps_change_the_schedule_not_the_step_count(sd):
    backend, _ = sd
    default = sample(backend, [PROMPT], [0], steps=4)
    custom = sample(backend, [PROMPT], [0], steps=4, timesteps=[999, 950, 800, 400])
    assert len(custom.timesteps) == len(default.timesteps) == 4
    assert custom.timesteps == [999, 950, 800, 400]
    assert not torch.allclose(custom.images, default.images)


class RecordingHook:
    def __init__(self, edit: bool = False) -> None:
        self.seen: list[int] = []
        self.edit = edit

    def before_model(self, state) -> None:
        self.seen.append(state.index)
        if self.edit and state.index == 0:
            state.cond.embeds = state.cond.embeds * 0.0

    def after_step(self, state) -> None:
        assert state.x0 is not None and state.prev_latents is not None


def test_hooks_see_every_step_and_only_edits_change_the_image(sd):
    backend, _ = sd
    base = sample(backend, [PROMPT], [3], steps=3)
    watcher = RecordingHook()
    watched = sample(backend, [PROMPT], [3], steps=3, hooks=[watcher], trajectory_steps=[0, 2])
    assert watcher.seen == [0, 1, 2]
    assert torch.equal(watched.images, base.images)
    assert sorted(watched.trajectory) == [0, 2] and watched.trajectory[0].shape == base.images.shape
    edited = sample(backend, [PROMPT], [3], steps=3, hooks=[RecordingHook(edit=True)])
    assert not torch.allclose(edited.images, base.images)


def test_long_prompts_are_truncated_with_a_warning(tiny):
    backend, _ = tiny
    with pytest.warns(UserWarning, match="limit of 32 tokens"):
        emb = backend.encode_prompt([" ".join(["ball"] * 60)])
    assert emb.truncated and emb.embeds.shape[1] == 32


def test_stochastic_scheduler_matches_the_pipeline_and_is_reproducible(sd):
    from diffusers import DDPMScheduler

    backend, pipe = sd
    ddpm = DDPMScheduler.from_config(pipe.scheduler.config)
    backend.scheduler, pipe.scheduler, euler = ddpm, ddpm, pipe.scheduler
    try:
        ref = pipe(PROMPT, num_inference_steps=4, guidance_scale=3.0, generator=make_generators([5]),
                   height=backend.image_size, width=backend.image_size, output_type="pt").images
        ours = sample(backend, [PROMPT], [5], steps=4, guidance_scale=3.0).images
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
        assert torch.equal(ours, sample(backend, [PROMPT], [5], steps=4, guidance_scale=3.0).images)
    finally:
        backend.scheduler, pipe.scheduler = euler, euler
