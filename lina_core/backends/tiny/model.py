"""The embedded tiny text-to-image model: build it (for training) and load it (for the app).

Components are genuine diffusers/transformers classes (``UNet2DConditionModel``, ``CLIPTextModel``,
``EulerDiscreteScheduler``), saved as a folder of safetensors that ``from_pretrained`` loads offline.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import torch
from diffusers import DDPMScheduler, EulerDiscreteScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerFast

from ...world.render import DEFAULT_COLOUR, SUBSTANCE_RGB
from ..errors import MissingWeightsError
from ..unet import UNetBackend
from .codec import SpaceToDepthCodec
from .tokenizer import MAX_TOKENS, SPECIALS, build_tokenizer

DEFAULT_PATH = Path(__file__).resolve().parents[3] / "assets" / "lina-tiny"
# 32x32 pixels folded 2x2 into a 16x16x12 grid: measured here to draw recognisable scenes within ~1000 steps
# on 2 CPU cores. 64x64 folded 4x4 (16x16x48) trained at the same speed but was still grainy after 2,250
# steps: each grid cell then has to denoise 16 pixels at once.
IMAGE_SIZE = 32
FOLD = 2
TEXT_DIM = 128

# v-prediction on a cosine schedule with zero terminal SNR: the model learns to draw from pure noise,
# which matters here because the method's reallocated schedule spends its steps at the highest noise.
SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction",
    timestep_spacing="trailing", rescale_betas_zero_snr=True, steps_offset=1,
)


@dataclass
class TinyComponents:
    tokenizer: PreTrainedTokenizerFast
    text_encoder: CLIPTextModel
    unet: UNet2DConditionModel
    vae: SpaceToDepthCodec
    scheduler: EulerDiscreteScheduler

    def backend(self) -> UNetBackend:
        backend = UNetBackend(vae=self.vae, text_encoder=self.text_encoder, tokenizer=self.tokenizer, unet=self.unet,
                              scheduler=self.scheduler, name="tiny")
        backend.class_colours = MappingProxyType(DEFAULT_COLOUR)  # what the world draws a thing of no stated colour in
        backend.substance_colours = MappingProxyType(SUBSTANCE_RGB)
        return backend

    def save(self, path: Path) -> None:
        path = Path(path)
        self.tokenizer.save_pretrained(path / "tokenizer")
        self.text_encoder.save_pretrained(path / "text_encoder")
        self.unet.to(torch.float16).save_pretrained(path / "unet")  # fp16 on disk halves the repo size
        self.unet.to(torch.float32)
        self.vae.save_pretrained(path / "vae")
        self.scheduler.save_pretrained(path / "scheduler")


def build(words: set[str], seed: int = 0, top_attention: bool = False) -> TinyComponents:
    """Randomly initialised components for training, with a tokenizer over ``words``. Without ``top_attention``
    (the committed model) the UNet has no attention at its full 16x16 latent resolution, only text conditioning
    at 8x8 and 4x4: on 2 CPU cores a training step then takes a third of the time, since attention at 256
    positions dominates it."""
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(words)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=TEXT_DIM, intermediate_size=4 * TEXT_DIM, num_hidden_layers=3,
        num_attention_heads=4, max_position_embeddings=MAX_TOKENS, pad_token_id=SPECIALS.index("[PAD]"),
        bos_token_id=SPECIALS.index("[BOS]"), eos_token_id=SPECIALS.index("[EOS]"),
    ))
    vae = SpaceToDepthCodec(factor=FOLD)
    top_down, top_up = ("CrossAttnDownBlock2D", "CrossAttnUpBlock2D") if top_attention else ("DownBlock2D", "UpBlock2D")
    unet = UNet2DConditionModel(
        sample_size=IMAGE_SIZE // FOLD, in_channels=vae.config.latent_channels, out_channels=vae.config.latent_channels,
        block_out_channels=(64, 128, 192), layers_per_block=1, norm_num_groups=32,
        down_block_types=(top_down, "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", top_up),
        cross_attention_dim=TEXT_DIM, attention_head_dim=32,
    )
    return TinyComponents(tokenizer, text_encoder, unet, vae, EulerDiscreteScheduler(**SCHEDULER_CONFIG))


def training_noise_scheduler(components: TinyComponents) -> DDPMScheduler:
    return DDPMScheduler.from_config(components.scheduler.config)


def load(path: str | Path = DEFAULT_PATH) -> TinyComponents:
    path = Path(path)
    rebuild = f"Rebuild them with: python -m lina_core train-tiny --out {path}"
    if not (path / "unet").is_dir():
        raise MissingWeightsError(f"The tiny model's weights are not at {path}. {rebuild}")
    try:
        return TinyComponents(
            tokenizer=PreTrainedTokenizerFast.from_pretrained(path / "tokenizer"),
            text_encoder=CLIPTextModel.from_pretrained(path / "text_encoder"),
            unet=UNet2DConditionModel.from_pretrained(path / "unet", torch_dtype=torch.float32),
            vae=SpaceToDepthCodec.from_config(SpaceToDepthCodec.load_config(path / "vae")),  # no weights to load
            scheduler=EulerDiscreteScheduler.from_pretrained(path / "scheduler"),
        )
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise MissingWeightsError(f"The tiny model's weights at {path} could not be read ({exc}). {rebuild}") from None
