"""The SDXL backend on a tiny random SDXL pipeline: our loop reproduces StableDiffusionXLPipeline (two CLIP
encoders, pooled text and size/crop conditioning, zeros for the empty prompt), and every LINA intervention
acts, only where intended, with the schedule warped in the scheduler's own ("leading") spacing."""
from __future__ import annotations

import pytest
import torch

from lina_core.backends.sdxl import SDXLBackend
from lina_core.evaluation.run import canonical_graph
from lina_core.lina.embedding import estimate_directions, token_positions
from lina_core.lina.schedule import effective_timesteps, schedule_for
from lina_core.sampling import sample

from sd_tiny import (
    CLIP_LENGTH, assert_each_intervention_acts, assert_latent_guidance_stays_in, pipeline_images, tiny_sdxl_pipeline,
)

PROMPT = "a red ball on a small mirror"


@pytest.fixture(scope="module")
def sdxl():
    pipe = tiny_sdxl_pipeline()
    return SDXLBackend.from_pipeline(pipe), pipe


@pytest.fixture(scope="module")
def directions(sdxl):
    return estimate_directions(sdxl[0])


@pytest.mark.parametrize("guidance", [1.0, 4.5])
def test_loop_reproduces_the_stock_pipeline(guidance, sdxl):
    backend, pipe = sdxl
    ref = pipeline_images(pipe, backend, PROMPT, 7, 3, guidance)
    ours = sample(backend, [PROMPT], [7], steps=3, guidance_scale=guidance)
    assert ours.images.shape == ref.shape
    torch.testing.assert_close(ours.images, ref, rtol=1e-5, atol=1e-5)


def test_two_encoders_side_by_side_and_zeros_for_the_empty_prompt(sdxl):
    backend, _ = sdxl
    cond, empty = backend.encode_prompt([PROMPT]), backend.encode_prompt([""])
    assert cond.embeds.shape == (1, CLIP_LENGTH, 64) and cond.pooled.shape == (1, 32)
    assert len(cond.tokens[0]) == cond.embeds.shape[1]
    assert "".join(cond.tokens[0][p] for p in token_positions(cond, ["red", "ball"])).replace("</w>", "") == "redball"
    assert not empty.embeds.any() and not empty.pooled.any()


def test_each_intervention_changes_the_image_and_all_off_is_the_baseline(sdxl, directions):
    assert_each_intervention_acts(sdxl[0], canonical_graph(PROMPT), directions)


def test_latent_guidance_leaves_latents_outside_its_regions_unchanged(sdxl):
    assert_latent_guidance_stays_in(sdxl[0], canonical_graph(PROMPT), "reflection_ball")


def test_the_warp_stays_in_the_leading_spacing(sdxl):
    """gamma = 1 is the scheduler's own leading grid (951, 901, ... at 20 steps, not trailing's 999, 949, ...);
    a larger gamma keeps the step count and the first step and moves the others to higher noise."""
    scheduler = sdxl[0].scheduler
    default = effective_timesteps(scheduler, 20)
    assert effective_timesteps(scheduler, 20, 1.0) == default and default[0] == 951
    warped = schedule_for(scheduler, 20, 2.0)["timesteps"]
    assert len(warped) == 20 and warped[0] == default[0] and warped[-1] >= scheduler.config.steps_offset
    assert all(w >= d for w, d in zip(warped, default)) and warped[1] > default[1]


def test_a_float16_vae_decodes_in_float32_and_is_left_in_float16():
    backend = SDXLBackend.from_pipeline(tiny_sdxl_pipeline())
    latents = torch.randn(backend.latent_shape(1), generator=torch.Generator().manual_seed(0))
    backend.vae.to(torch.float16).to(torch.float32)  # the float16 weights, computed in float32
    reference = backend.decode(latents)
    backend.vae.to(torch.float16)
    torch.testing.assert_close(backend.decode(latents), reference)  # no float16 arithmetic on the way
    assert backend.vae.dtype == torch.float16
