"""The SD-3 backend on a tiny random SD-3 pipeline: our loop reproduces StableDiffusion3Pipeline, the token
list lines up with the CLIP + T5 sequence, and every LINA intervention acts (and only where intended)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lina_core.backends.sd3 import SD3Backend
from lina_core.evaluation.run import canonical_graph
from lina_core.lina.embedding import EmbeddingGuidance, block_positions, estimate_directions, token_positions
from lina_core.lina.schedule import schedule_for
from lina_core.sampling import StepState, sample

from sd_tiny import (
    CLIP_LENGTH, T5_LENGTH, assert_each_intervention_acts, assert_latent_guidance_stays_in, pipeline_images,
    tiny_sd3_pipeline,
)

PROMPT = "a red ball on a small mirror"


def make(t5: bool):
    pipe = tiny_sd3_pipeline(t5=t5)
    return SD3Backend.from_pipeline(pipe, max_sequence_length=T5_LENGTH), pipe


@pytest.fixture(scope="module")
def sd3():
    return make(t5=True)


@pytest.fixture(scope="module")
def directions(sd3):
    return estimate_directions(sd3[0])


@pytest.mark.parametrize("t5, guidance", [(True, 4.5), (False, 1.0)])
def test_loop_reproduces_the_stock_pipeline(t5, guidance, sd3):
    backend, pipe = sd3 if t5 else make(t5=False)
    ref = pipeline_images(pipe, backend, PROMPT, 7, 3, guidance, max_sequence_length=T5_LENGTH)
    ours = sample(backend, [PROMPT], [7], steps=3, guidance_scale=guidance)
    assert ours.images.shape == ref.shape
    torch.testing.assert_close(ours.images, ref, rtol=1e-5, atol=1e-5)


def test_tokens_line_up_with_the_clip_and_t5_rows(sd3):
    backend, _ = sd3
    cond = backend.encode_prompt([PROMPT])
    assert len(cond.tokens[0]) == cond.embeds.shape[1] == CLIP_LENGTH + T5_LENGTH
    assert cond.pooled.shape == (1, 64)
    pos = token_positions(cond, ["red", "ball"])
    clip, t5 = [p for p in pos if p < CLIP_LENGTH], [p for p in pos if p >= CLIP_LENGTH]
    assert "".join(cond.tokens[0][p] for p in clip).replace("</w>", "") == "redball"
    assert "".join(cond.tokens[0][p] for p in t5).replace("▁", "") == "redball"
    assert torch.equal(cond.embeds[0, :CLIP_LENGTH, 64:], torch.zeros(CLIP_LENGTH, 16))  # CLIP padded to T5's width


def test_without_t5_its_rows_are_zeros_and_carry_no_words():
    backend, _ = make(t5=False)
    cond = backend.encode_prompt([PROMPT])
    assert torch.equal(cond.embeds[0, CLIP_LENGTH:], torch.zeros(T5_LENGTH, 80))
    assert max(token_positions(cond, ["red", "ball"])) < CLIP_LENGTH


def test_a_direction_has_a_clip_part_and_a_t5_part_each_added_to_its_own_rows(sd3, directions):
    backend, _ = sd3
    width = 80  # T5's width; CLIP's 64 are padded to it
    u = directions.physics["reflection"]
    clip, t5 = u.reshape(2, width)
    assert torch.equal(clip[64:], torch.zeros(16)) and float(clip.norm()) > 0 and float(t5.norm()) > 0
    cond = backend.encode_prompt([PROMPT])
    state = StepState(0, 1, torch.tensor(999), 1.0, torch.zeros(1), cond)
    EmbeddingGuidance({"reflection": 1.0}, directions, canonical_graph(PROMPT)).before_model(state)
    delta = (state.cond.embeds - cond.embeds)[0]
    in_clip, in_t5 = block_positions(cond, ["red", "ball"])
    assert max(in_clip) < CLIP_LENGTH <= min(in_t5)
    step = directions.magnitude["reflection"] * u.reshape(2, width)
    torch.testing.assert_close(delta[in_clip], step[0].expand(len(in_clip), width), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(delta[in_t5], step[1].expand(len(in_t5), width), rtol=1e-5, atol=1e-5)
    assert torch.equal(delta[:CLIP_LENGTH, 64:], torch.zeros(CLIP_LENGTH, 16))  # CLIP rows keep CLIP's width


def test_each_intervention_changes_the_image_and_all_off_is_the_baseline(sd3, directions):
    assert_each_intervention_acts(sd3[0], canonical_graph(PROMPT), directions)


def test_latent_guidance_leaves_latents_outside_its_regions_unchanged(sd3):
    assert_latent_guidance_stays_in(sd3[0], canonical_graph(PROMPT), "reflection_ball")


@pytest.mark.parametrize("gamma", [1.5, 3.0])
def test_the_flow_warp_keeps_the_step_count_and_the_endpoints(sd3, gamma):
    """Sigmas go through the model's shift (3.0) either way: same first and last sigma, more steps early."""
    backend, _ = sd3
    base = sample(backend, [PROMPT], [0], steps=5, guidance_scale=1.0)
    warped = sample(backend, [PROMPT], [0], steps=5, guidance_scale=1.0, **schedule_for(backend.scheduler, 5, gamma))
    assert len(warped.timesteps) == len(base.timesteps) == 5
    assert warped.sigmas[0] == base.sigmas[0] == 1.0 and warped.sigmas[-1] == base.sigmas[-1] == 0.0
    assert warped.sigmas[-2] == pytest.approx(base.sigmas[-2], rel=1e-6)
    assert all(w > b for w, b in zip(warped.sigmas[1:-2], base.sigmas[1:-2]))
    assert np.all(np.diff(warped.sigmas) < 0)
