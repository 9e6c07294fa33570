"""The peer (Attend-and-Excite) on a randomly initialised tiny model: what it reads, what it changes, and what
it must leave as it found it (the model's processors, weights and gradient flags)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, EulerDiscreteScheduler

from lina_core.backends.tiny.model import SCHEDULER_CONFIG, build
from lina_core.backends.tiny.tokenizer import words_of
from lina_core.csg.layout import assign_layout
from lina_core.csg.parser import parse_prompt
from lina_core.peers import AttendExcite, AttendExciteMethod, AttendExciteSettings, NoCrossAttentionError
from lina_core.peers.attend_excite import AEPipeline, default_schedule, subject_indices, subject_words
from lina_core.peers.attention import PLACES, cross_attention_layers, cross_attention_sides, recording_cross_attention
from lina_core.sampling import StepState, sample

MIRROR = "a red ball on a small mirror, lit from the left"
STEPS = 4


@pytest.fixture(scope="module")
def backend():
    return build(words_of([MIRROR, "a bird eats a snake"]), seed=0).backend()


@pytest.fixture(scope="module")
def csg():
    return assign_layout(parse_prompt(MIRROR), seed=0, jitter=0.0)


def _processors(unet) -> dict:
    return dict(unet.attn_processors)


def test_subjects_are_the_entity_nouns_without_the_light(backend, csg) -> None:
    assert subject_words(csg) == ["ball", "mirror"]
    cond = backend.encode_prompt([csg.prompt])
    tokens = cond.tokens[0]
    assert [tokens[i] for i in subject_indices(cond, subject_words(csg), 0)] == ["ball", "mirror"]


def test_the_store_records_one_map_per_cross_attention_layer_at_the_chosen_side(backend, csg) -> None:
    unet = backend.unet
    side = backend.latent_shape(1)[-1]
    sides = cross_attention_sides(unet, side)
    assert sides == [8, 4]  # down 1 / up 1 at 8, the mid block at 4 (the default UNet has no attention at 16)
    cond = backend.encode_prompt([csg.prompt])
    latent = torch.randn(backend.latent_shape(1), requires_grad=True)
    with recording_cross_attention(unet, 8) as store:
        unet(latent, torch.tensor(500), encoder_hidden_states=cond.embeds)
        maps = store.aggregate_attention(from_where=PLACES)
        recorded = sum(len(store.attention_store[p]) for p in PLACES)
    at_8 = [n for n in cross_attention_layers(unet) if n.startswith(("down_blocks.1.", "up_blocks.1."))]
    assert len(at_8) == 3 and recorded == 3  # of 4 layers; an up block has layers_per_block + 1 attentions
    assert maps.shape == (8, 8, cond.embeds.shape[1])
    # each map is a softmax over the tokens, averaged over layers and heads: it still sums to one per cell
    torch.testing.assert_close(maps.sum(-1), torch.ones(8, 8))
    ball = subject_indices(cond, ["ball"], 0)[0]
    assert maps[..., ball].shape == (8, 8) and maps[..., ball].std() > 0


def test_recording_only_touches_cross_attention_and_restores_processors_even_on_error(backend) -> None:
    unet = backend.unet
    before = _processors(unet)
    cross = set(cross_attention_layers(unet))
    assert cross and all(".attn2." in name for name in cross)
    with pytest.raises(RuntimeError, match="boom"):
        with recording_cross_attention(unet, 8):
            during = _processors(unet)
            raise RuntimeError("boom")
    assert all((during[n] is before[n]) == (n not in cross) for n in before)
    assert all(unet.attn_processors[n] is before[n] for n in before)


def _step_state(backend, csg, index: int, seed: int = 0) -> StepState:
    timesteps, scales = default_schedule(backend.scheduler, STEPS)
    latents = torch.randn(backend.latent_shape(1), generator=torch.Generator().manual_seed(seed)) / scales[index]
    return StepState(index, STEPS, torch.tensor(timesteps[index]), 0.0, latents, backend.encode_prompt([csg.prompt]))


def _loss(hook: AttendExcite, state: StepState, latents: torch.Tensor) -> float:
    indices = subject_indices(state.cond, hook.words, 0)
    with torch.enable_grad(), recording_cross_attention(hook.unet, hook.side) as store:
        loss, _ = hook._loss(store, latents, state.timestep, hook._schedule[1][state.index], state.cond.embeds,
                             indices)
    return float(torch.as_tensor(loss).detach())


def test_one_update_raises_the_weakest_subjects_attention_peak(backend, csg) -> None:
    hook = AttendExcite(backend, csg)
    state = _step_state(backend, csg, index=1)  # an updated step without refinement: exactly one update
    start = state.latents.clone()
    hook.before_model(state)
    assert not torch.equal(state.latents, start)
    (step, loss_before), = hook.losses
    assert step == 1 and loss_before == pytest.approx(_loss(hook, state, start), abs=1e-6)
    assert 0 < _loss(hook, state, state.latents) < loss_before  # loss = 1 - weakest subject's peak


def test_no_update_after_the_window(backend, csg) -> None:
    hook = AttendExcite(backend, csg)
    assert AttendExciteSettings().updated_steps(STEPS) == 2  # A&E alters 25 of 50 steps
    state = _step_state(backend, csg, index=2)
    start = state.latents.clone()
    hook.before_model(state)
    assert torch.equal(state.latents, start) and hook.losses == []


def test_the_weights_and_their_gradient_flags_are_left_as_they_were(backend, csg) -> None:
    unet = backend.unet
    weights = {k: v.clone() for k, v in unet.state_dict().items()}
    flags = {k: p.requires_grad for k, p in unet.named_parameters()}
    processors = _processors(unet)
    AttendExciteMethod(AttendExciteSettings(max_refinement_steps=2))(backend, csg, [0, 1], STEPS, 5.0)
    assert all(torch.equal(weights[k], v) for k, v in unet.state_dict().items())
    assert {k: p.requires_grad for k, p in unet.named_parameters()} == flags
    assert all(p.grad is None for p in unet.parameters())
    assert all(unet.attn_processors[n] is processors[n] for n in processors)


def test_processors_are_restored_when_the_loss_fails_mid_run(backend, csg, monkeypatch) -> None:
    processors = _processors(backend.unet)

    def broken(*args, **kwargs):
        raise RuntimeError("loss failed")

    monkeypatch.setattr(AEPipeline, "_compute_loss", staticmethod(broken))
    with pytest.raises(RuntimeError, match="loss failed"):
        AttendExciteMethod()(backend, csg, [0], STEPS, 5.0)
    assert all(backend.unet.attn_processors[n] is processors[n] for n in processors)


def test_at_scale_zero_the_peer_is_the_baseline_exactly(backend, csg) -> None:
    seeds = [3, 4]
    base = sample(backend, [csg.prompt] * 2, seeds, steps=STEPS, guidance_scale=5.0).images
    hook = AttendExcite(backend, csg, AttendExciteSettings(scale_factor=0.0))
    peer = sample(backend, [csg.prompt] * 2, seeds, steps=STEPS, guidance_scale=5.0, hooks=[hook]).images
    assert [s for s, _ in hook.losses] == [0, 1]  # the gradient passes did run
    assert torch.equal(peer, base)
    default = AttendExciteMethod()(backend, csg, seeds, STEPS, 5.0)
    assert not torch.equal(default, base)


def test_the_gradient_pass_sees_what_the_loop_feeds_the_model() -> None:
    euler = EulerDiscreteScheduler(**SCHEDULER_CONFIG)
    timesteps, scales = default_schedule(euler, 20)
    euler.set_timesteps(20)
    assert timesteps == [float(t) for t in euler.timesteps]
    np.testing.assert_allclose(scales, [1 / np.sqrt(float(s) ** 2 + 1) for s in euler.sigmas[:-1]], rtol=1e-5)
    _, ddim_scales = default_schedule(DDIMScheduler(), 20)
    assert ddim_scales == [1.0] * 20


def test_a_reallocated_schedule_is_refused(backend, csg) -> None:
    hook = AttendExcite(backend, csg)
    state = _step_state(backend, csg, index=0)
    state.timestep = state.timestep - 7
    with pytest.raises(ValueError, match="default schedule"):
        hook.before_model(state)


def test_a_backend_without_cross_attention_is_a_clear_error(csg) -> None:
    class Transformerish:
        transformer = torch.nn.Linear(2, 2)

    with pytest.raises(NoCrossAttentionError, match=r"^peer needs a backend with cross-attention \(UNet\)$"):
        AttendExciteMethod().prepare(Transformerish())
    with pytest.raises(ValueError, match="cross-attention"):
        AttendExcite(Transformerish(), csg)


def test_a_side_without_cross_attention_maps_is_an_error(backend, csg) -> None:
    with pytest.raises(ValueError, match="maps are 8x8, 4x4$"):  # no attention at the full 16x16
        AttendExcite(backend, csg, AttendExciteSettings(attention_side=16))


def test_a_prompt_without_subject_tokens_warns_and_runs_as_the_baseline(backend) -> None:
    csg = assign_layout(parse_prompt("lit from the left"), seed=0, jitter=0.0)
    base = sample(backend, [csg.prompt], [0], steps=STEPS, guidance_scale=5.0).images
    with pytest.warns(UserWarning, match="runs as the baseline"):
        peer = AttendExciteMethod()(backend, csg, [0], STEPS, 5.0)
    assert torch.equal(peer, base)
