"""A parameter-free "autoencoder": space-to-depth. The tiny model works on 64x64 pixels folded into a
16x16x48 grid, which trains several times faster on 2 CPU cores than a UNet at full resolution and
needs no autoencoder training. It speaks the ``AutoencoderKL`` API that diffusers pipelines call, so
the stock ``StableDiffusionPipeline`` can run the tiny model unchanged (our loop is checked against it).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.autoencoders.vae import DecoderOutput
from diffusers.models.modeling_utils import ModelMixin


class SpaceToDepthCodec(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, factor: int = 4, in_channels: int = 3, scaling_factor: float = 1.0,
                 block_out_channels: list[int] | None = None, latent_channels: int | None = None) -> None:
        """``block_out_channels`` and ``latent_channels`` are derived from ``factor`` (accepted so a saved config
        loads back without warnings)."""
        super().__init__()
        if factor < 1 or factor & (factor - 1):
            raise ValueError(f"factor must be a power of two, got {factor}")
        # diffusers pipelines derive their vae_scale_factor as 2 ** (len(block_out_channels) - 1)
        self.register_to_config(block_out_channels=[in_channels] * (int(math.log2(factor)) + 1))
        self.register_to_config(latent_channels=in_channels * factor * factor)
        # No weights, but diffusers reads a model's device and dtype from its first parameter or buffer.
        self.register_buffer("anchor", torch.zeros(()), persistent=False)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1], [B, C, H, W] -> latents [B, C*f*f, H/f, W/f]."""
        return F.pixel_unshuffle(images, self.config.factor) * self.config.scaling_factor

    def decode(self, latents: torch.Tensor, return_dict: bool = True, generator=None) -> DecoderOutput | tuple:
        images = F.pixel_shuffle(latents, self.config.factor)
        return DecoderOutput(sample=images) if return_dict else (images,)
