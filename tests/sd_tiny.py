"""Tiny, randomly initialised SD-1.5-, SDXL- and SD-3-style pipelines built in code (the way diffusers' own
tests do), with locally written CLIP and T5 tokenizers: nothing is downloaded."""
from __future__ import annotations

import string

import torch
from diffusers import (
    AutoencoderKL, EulerDiscreteScheduler, FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel,
    StableDiffusion3Pipeline, StableDiffusionPipeline, StableDiffusionXLPipeline, UNet2DConditionModel,
)
from tokenizers import pre_tokenizers
from transformers import (
    CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer, T5Config, T5EncoderModel, T5Tokenizer,
)


CLIP_LENGTH = 77  # CLIP's own limit, for the SDXL and SD-3 tokenizers: every direction-measuring prompt fits


def clip_tokenizer(max_length: int = 32) -> CLIPTokenizer:
    """Byte-level CLIP vocabulary with no merges: every character is a token."""
    chars = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = ["<|startoftext|>", "<|endoftext|>"] + chars + [c + "</w>" for c in chars]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[], model_max_length=max_length)


T5_LENGTH = 64  # max_sequence_length for the tiny SD-3 (the pipeline's 256 only costs time here)


def t5_tokenizer() -> T5Tokenizer:
    """Unigram vocabulary of single characters (word-initial ones marked with ▁), as a sentencepiece T5 has."""
    chars = string.ascii_lowercase + string.digits + string.punctuation
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    vocab += [("▁" + c, -2.0) for c in chars] + [(c, -3.0) for c in chars]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=T5_LENGTH)


def _clip_config(tokenizer: CLIPTokenizer, **extra) -> CLIPTextConfig:
    return CLIPTextConfig(bos_token_id=0, eos_token_id=1, hidden_size=32, intermediate_size=37, num_attention_heads=4,
                          num_hidden_layers=2, pad_token_id=1, vocab_size=len(tokenizer),
                          max_position_embeddings=tokenizer.model_max_length, **extra)


def tiny_vae(levels: int, **extra) -> AutoencoderKL:
    """``levels`` blocks: the latent grid is 2**(levels - 1) times smaller than the image."""
    return AutoencoderKL(block_out_channels=(16,) * levels, in_channels=3, out_channels=3, latent_channels=4,
                         norm_num_groups=16, down_block_types=("DownEncoderBlock2D",) * levels,
                         up_block_types=("UpDecoderBlock2D",) * levels, **extra)


def _sd_scheduler(**extra) -> EulerDiscreteScheduler:
    return EulerDiscreteScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, steps_offset=1,
                                  **extra)


def _quiet(pipe):
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_sd_pipeline(seed: int = 0) -> StableDiffusionPipeline:
    torch.manual_seed(seed)
    tokenizer = clip_tokenizer()
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, norm_num_groups=16,
    )
    return _quiet(StableDiffusionPipeline(
        vae=tiny_vae(4), text_encoder=CLIPTextModel(_clip_config(tokenizer)), tokenizer=tokenizer, unet=unet,
        scheduler=_sd_scheduler(), safety_checker=None, feature_extractor=None, requires_safety_checker=False))


def tiny_sdxl_pipeline(seed: int = 0) -> StableDiffusionXLPipeline:
    """Two CLIP encoders (the second with a projection: the pooled vector) and a text/time-conditioned UNet;
    "leading" timestep spacing, as the SDXL base model's scheduler config has."""
    torch.manual_seed(seed)
    tokenizer = clip_tokenizer(CLIP_LENGTH)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, projection_class_embeddings_input_dim=6 * 8 + 32, cross_attention_dim=64,
        norm_num_groups=8,
    )
    config = _clip_config(tokenizer, projection_dim=32)
    return _quiet(StableDiffusionXLPipeline(
        vae=tiny_vae(2), text_encoder=CLIPTextModel(config), tokenizer=tokenizer,
        text_encoder_2=CLIPTextModelWithProjection(config), tokenizer_2=clip_tokenizer(CLIP_LENGTH), unet=unet,
        scheduler=_sd_scheduler(timestep_spacing="leading")))


def tiny_sd3_pipeline(seed: int = 0, t5: bool = True) -> StableDiffusion3Pipeline:
    """CLIP-L and CLIP-G (32 channels each, projections 32 each: a 64-wide pooled vector), optional T5 (80
    channels, so the CLIP block is zero-padded as in SD-3), flow matching with SD-3's shift of 3. Run it with
    ``max_sequence_length=T5_LENGTH``."""
    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(
        sample_size=8, patch_size=1, in_channels=4, out_channels=4, num_layers=2, attention_head_dim=8,
        num_attention_heads=4, caption_projection_dim=32, joint_attention_dim=80, pooled_projection_dim=64,
    )
    tokenizer = clip_tokenizer(CLIP_LENGTH)
    config = _clip_config(tokenizer, projection_dim=32)
    t5_parts = dict(text_encoder_3=None, tokenizer_3=None)
    if t5:
        tok3 = t5_tokenizer()
        t5_parts = dict(tokenizer_3=tok3, text_encoder_3=T5EncoderModel(T5Config(
            vocab_size=len(tok3), d_model=80, d_ff=64, d_kv=16, num_heads=2, num_layers=2,
            relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)))
    vae = tiny_vae(2, shift_factor=0.0609, scaling_factor=1.5035, use_quant_conv=False, use_post_quant_conv=False)
    return _quiet(StableDiffusion3Pipeline(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        text_encoder=CLIPTextModelWithProjection(config), tokenizer=tokenizer,
        text_encoder_2=CLIPTextModelWithProjection(config), tokenizer_2=clip_tokenizer(CLIP_LENGTH), **t5_parts))


# -- checks every diffusers image backend passes (used by tests/test_backend_*.py) ---------------------

def pipeline_images(pipe, backend, prompt: str, seed: int, steps: int, guidance: float, **kwargs) -> torch.Tensor:
    """The stock pipeline's output for one prompt and seed, at the backend's image size."""
    from lina_core.sampling import make_generators

    return pipe(prompt, num_inference_steps=steps, guidance_scale=guidance, generator=make_generators([seed]),
                height=backend.image_size, width=backend.image_size, output_type="pt", **kwargs).images


def assert_each_intervention_acts(backend, csg, directions, steps: int = 3, seed: int = 0) -> None:
    """Everything off is the baseline bit for bit; each intervention alone changes the image (the latent
    guidance in both modes: projection, and a gradient step through the backend's model)."""
    runs = lina_runs(backend, csg, directions, steps, seed)
    assert torch.equal(runs["off"], runs["baseline"])
    for name in ("embedding", "latent", "latent-gradient", "schedule"):
        assert not torch.allclose(runs[name], runs["baseline"], atol=1e-4), name


def assert_latent_guidance_stays_in(backend, csg, node: str) -> None:
    """At the first hooked step, guidance on ``node`` moves latents inside its footprint and nowhere else."""
    from lina_core.lina.latent import footprint

    change = latent_change(backend, csg, [node]).numpy()
    zone = footprint(csg, node, *change.shape)
    assert change[zone].max() > 0 and change[~zone].max() == 0.0


def lina_runs(backend, csg, directions, steps: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Images of the baseline, of everything off, and of each intervention alone (same seed, same steps)."""
    from lina_core.lina.embedding import EFFECT_TYPES
    from lina_core.lina.interventions import InterventionSettings, generate_lina
    from lina_core.sampling import sample

    off = {t: 0.0 for t in EFFECT_TYPES}
    settings = {
        "off": InterventionSettings.off(),
        "embedding": InterventionSettings(embedding={t: 2.0 for t in EFFECT_TYPES}, latent_strength=0.0, gamma=1.0),
        "latent": InterventionSettings(embedding=off, latent_strength=1.0, gamma=1.0),
        "latent-gradient": InterventionSettings(embedding=off, latent_strength=2.5, latent_mode="gradient", gamma=1.0),
        "schedule": InterventionSettings(embedding=off, latent_strength=0.0, gamma=2.5),
    }
    runs = {"baseline": sample(backend, [csg.prompt], [seed], steps=steps).images}
    for name, s in settings.items():
        runs[name] = generate_lina(backend, csg, [seed], steps=steps, settings=s, directions=directions).images
    return runs


class LatentRecorder:
    """x_{t-1} as the step left it (before) or as the hooks left it (after), per step index."""

    def __init__(self) -> None:
        self.prev: dict[int, torch.Tensor] = {}

    def before_model(self, state) -> None:
        return None

    def after_step(self, state) -> None:
        self.prev[state.index] = state.prev_latents.clone()


def latent_change(backend, csg, nodes: list[str], steps: int = 2, seed: int = 0) -> torch.Tensor:
    """|change| of x_{t-1} made by full-strength latent guidance at the first step, max over channels: [h, w]."""
    from lina_core.lina.latent import LatentGuidance, codec_for
    from lina_core.sampling import sample

    before, after = LatentRecorder(), LatentRecorder()
    hook = LatentGuidance(codec_for(backend), 1.0, csg, window=(0, 1), nodes=nodes)
    sample(backend, [csg.prompt], [seed], steps=steps, hooks=[before, hook, after])
    assert torch.equal(after.prev[1], before.prev[1])  # outside its window it does nothing
    return (after.prev[0] - before.prev[0]).abs().amax(dim=(0, 1))
