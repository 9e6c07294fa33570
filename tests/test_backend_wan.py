"""The Wan text-to-video backend on a tiny random Wan pipeline: our loop reproduces WanPipeline (UniPC, the
two-expert Wan2.2 layout, FlowMatchEuler), UMT5's sentencepiece tokens line up with the embedding rows, and
every LINA intervention acts on video latents, the latent one only inside its regions, in every frame."""
from __future__ import annotations

import pytest
import torch

from lina_core.backends.errors import MissingWeightsError
from lina_core.backends.registry import load_backend
from lina_core.backends.wan import WanBackend, parse_size
from lina_core.evaluation.run import canonical_graph
from lina_core.lina.embedding import estimate_directions, token_positions
from lina_core.lina.latent import LatentGuidance, LatentSpaceCodec, codec_for, footprint
from lina_core.lina.schedule import effective_timesteps, step_allocation
from lina_core.sampling import make_generators, sample

from sd_tiny import LatentRecorder, latent_change, lina_runs
from wan_tiny import tiny_wan_pipeline

PROMPT = "a red ball on a small mirror"
SIZE = (64, 64, 9)  # an 8x8 latent grid, 3 latent frames
SEQ = 32  # max_sequence_length (the pipeline's 512 would only add padding rows)
STEPS = 3


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny transformer's forward takes ~3 ms on one thread; on two threads of a busy CPU it took seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make(scheduler: str = "unipc", two_stage: bool = False) -> tuple[WanBackend, object]:
    pipe = tiny_wan_pipeline(scheduler=scheduler, two_stage=two_stage)
    return WanBackend.from_pipeline(pipe, size=SIZE, max_sequence_length=SEQ), pipe


@pytest.fixture(scope="module")
def wan():
    return make()


@pytest.fixture(scope="module")
def directions(wan):
    return estimate_directions(wan[0])


@pytest.mark.parametrize("scheduler, two_stage, guidance", [("unipc", False, 5.0), ("unipc", True, 4.0),
                                                             ("euler", False, 1.0)])
def test_loop_reproduces_the_stock_pipeline(scheduler, two_stage, guidance):
    backend, pipe = make(scheduler, two_stage)
    height, width, frames = SIZE
    ref = pipe(PROMPT, height=height, width=width, num_frames=frames, num_inference_steps=4,
               guidance_scale=guidance, generator=make_generators([7]), output_type="pt",
               max_sequence_length=SEQ).frames  # [B, F, 3, H, W]
    ours = sample(backend, [PROMPT], [7], steps=4, guidance_scale=guidance)
    assert ours.latents.shape == backend.latent_shape(1) == (1, 16, 3, 8, 8)
    assert ours.images.shape == (1, 3, frames, height, width)
    torch.testing.assert_close(ours.images, ref.permute(0, 2, 1, 3, 4), rtol=1e-5, atol=1e-5)
    experts = {backend.model_for(torch.tensor(t)) is backend.transformer for t in ours.timesteps}
    assert experts == ({True, False} if two_stage else {True})  # Wan2.2: both experts ran


def test_a_second_guidance_scale_for_the_low_noise_expert_reproduces_the_pipeline(monkeypatch, tmp_path):
    backend, pipe = make("unipc", two_stage=True)
    height, width, frames = SIZE
    ref = pipe(PROMPT, height=height, width=width, num_frames=frames, num_inference_steps=4, guidance_scale=4.0,
               guidance_scale_2=1.5, generator=make_generators([7]), output_type="pt").frames  # its default length
    pipe.save_pretrained(tmp_path)
    monkeypatch.setenv("LINA_WAN_SIZE", "x".join(map(str, SIZE)))
    monkeypatch.setenv("LINA_WAN_GUIDANCE_2", "1.5")
    loaded = load_backend("wan", path=tmp_path)
    ours = sample(loaded, [PROMPT], [7], steps=4, guidance_scale=4.0)
    torch.testing.assert_close(ours.images, ref.permute(0, 2, 1, 3, 4), rtol=1e-5, atol=1e-5)
    loaded.guidance_scale_2 = None
    one_scale = sample(loaded, [PROMPT], [7], steps=4, guidance_scale=4.0).images
    assert not torch.allclose(one_scale, ours.images, atol=1e-3)  # the second scale mattered
    monkeypatch.setenv("LINA_WAN_GUIDANCE_2", "high")
    with pytest.raises(ValueError, match="LINA_WAN_GUIDANCE_2 must be a number"):
        load_backend("wan", path=tmp_path)
    with pytest.raises(ValueError, match="two-expert"):
        WanBackend.from_pipeline(tiny_wan_pipeline(), size=SIZE, guidance_scale_2=1.5)


def test_umt5_pieces_line_up_with_the_rows_and_padding_is_zero(wan):
    backend, _ = wan
    cond = backend.encode_prompt([PROMPT, "a blue cube"])
    assert cond.embeds.shape[:2] == (2, SEQ) and len(cond.tokens[0]) == SEQ
    pos = token_positions(cond, ["red", "ball"])
    assert len(pos) > 2  # "red" is several sentencepiece pieces in the tiny vocabulary, "ball" one
    assert "".join(cond.tokens[0][p] for p in pos).replace("▁", "") == "redball"
    length = cond.tokens[1].index("</s>") + 1
    assert cond.embeds[1, :length].abs().sum(-1).min() > 0
    assert torch.equal(cond.embeds[1, length:], torch.zeros_like(cond.embeds[1, length:]))  # as the pipeline


def test_long_prompts_are_cut_with_a_warning(wan):
    with pytest.warns(UserWarning, match="limit of 32 tokens"):
        cond = wan[0].encode_prompt(["a red ball on a small mirror " * 6])
    assert cond.truncated


def test_sizes_are_checked_and_parsed(wan):
    assert parse_size("480x832x81") == (480, 832, 81)
    with pytest.raises(ValueError, match="LINA_WAN_SIZE"):
        parse_size("480x832")
    pipe = wan[1]
    with pytest.raises(ValueError, match="frame count"):
        WanBackend.from_pipeline(pipe, size=(64, 64, 8))
    with pytest.raises(ValueError, match="multiples of 16"):
        WanBackend.from_pipeline(pipe, size=(60, 64, 9))


def test_every_intervention_changes_the_video_and_all_off_is_the_baseline(wan, directions):
    runs = lina_runs(wan[0], canonical_graph(PROMPT), directions, steps=STEPS)
    assert torch.equal(runs["off"], runs["baseline"])
    for name in ("embedding", "latent", "latent-gradient", "schedule"):
        assert (runs[name] - runs["baseline"]).abs().max() > 1e-4, name


def test_latent_guidance_acts_only_inside_its_regions_in_every_frame(wan):
    backend, _ = wan
    assert isinstance(codec_for(backend), LatentSpaceCodec)
    csg = canonical_graph(PROMPT)
    change = latent_change(backend, csg, ["reflection_ball"], steps=STEPS)  # [F, h, w]
    zone = torch.from_numpy(footprint(csg, "reflection_ball", *change.shape[1:]))
    assert change.shape[0] == 3
    for frame in change:
        assert frame[zone].max() > 0 and frame[~zone].max() == 0.0


def test_an_effect_with_a_frame_span_acts_only_in_those_frames(wan):
    backend, _ = wan
    csg = canonical_graph(PROMPT)
    csg.node("reflection_ball").params["frames"] = [0.5, 1.0]  # the reflection appears halfway through
    per_frame = latent_change(backend, csg, ["reflection_ball"], steps=STEPS).flatten(1).amax(1)
    assert per_frame[0] == 0.0 and bool((per_frame[1:] > 0).all())  # latent frames at 0, 0.5 and 1 of the clip
    csg.node("reflection_ball").params["frames"] = [0.8, 0.2]
    with pytest.raises(ValueError, match="reflection_ball.*frames"):
        LatentGuidance(codec_for(backend), 1.0, csg)


def test_the_latent_edit_survives_unipcs_corrector(wan):
    """UniPC rebuilds x_{t-1} from its own last sample at the next step; the sampler must keep a hook's edit
    (without that, ~5% of it reached the final latents)."""
    backend, _ = wan
    csg = canonical_graph(PROMPT)
    before, after = LatentRecorder(), LatentRecorder()
    hook = LatentGuidance(codec_for(backend), 1.0, csg, window=(0, 1))
    guided = sample(backend, [PROMPT], [0], steps=8, hooks=[before, hook, after]).latents
    base = sample(backend, [PROMPT], [0], steps=8).latents
    edit = (after.prev[0] - before.prev[0]).norm()
    assert (guided - base).norm() > 0.5 * edit


class ShiftAt:
    """Adds a fixed offset to x_t before the model runs at one step (as the gradient latent guidance does)."""

    def __init__(self, index: int, offset: torch.Tensor) -> None:
        self.index, self.offset = index, offset

    def before_model(self, state) -> None:
        if state.index == self.index:
            state.latents = state.latents + self.offset

    def after_step(self, state) -> None:
        return None


def test_an_edit_of_x_t_before_the_model_survives_unipcs_corrector(wan):
    backend, _ = wan
    offset = 0.5 * torch.randn(backend.latent_shape(1), generator=torch.Generator().manual_seed(3))
    base = sample(backend, [PROMPT], [0], steps=8).latents
    shifted = sample(backend, [PROMPT], [0], steps=8, hooks=[ShiftAt(3, offset)]).latents
    assert (shifted - base).norm() > 0.5 * offset.norm()


@pytest.mark.parametrize("where", ["folder", "hub id"])
def test_an_unreachable_model_names_the_id_and_the_local_path_way(where, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub id is then looked up in the local cache only
    source = str(tmp_path / "Wan2.2-T2V-A14B-Diffusers") if where == "folder" else "nobody/Wan2.2-T2V-A14B-Diffusers"
    with pytest.raises(MissingWeightsError, match="Wan2.2-T2V-A14B-Diffusers.*LINA_MODEL_ID"):
        load_backend("wan", path=source)


def test_a_local_folder_loads_with_its_size_and_a_float32_vae(wan, tmp_path, monkeypatch):
    wan[1].save_pretrained(tmp_path)
    monkeypatch.setenv("LINA_WAN_SIZE", "32x48x5")
    monkeypatch.setenv("LINA_DTYPE", "bfloat16")
    backend = load_backend("wan", path=tmp_path)
    assert isinstance(backend, WanBackend) and backend.latent_shape(1) == (1, 16, 2, 4, 6)
    assert backend.transformer.dtype == torch.bfloat16 and backend.vae.dtype == torch.float32


def test_the_apps_schedule_plot_reads_unipcs_reallocated_timesteps(wan):
    scheduler = wan[0].scheduler
    base, lina = effective_timesteps(scheduler, 8), effective_timesteps(scheduler, 8, 2.0)
    assert len(base) == len(lina) == 8 and base[0] == lina[0]
    assert step_allocation(lina, 1000) > step_allocation(base, 1000)  # more of the steps at high noise
