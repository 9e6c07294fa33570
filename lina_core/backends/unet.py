"""The UNet family (SD-1.5-style: tokenizer + text encoder + UNet2DConditionModel + VAE + scheduler).

Both the embedded tiny model and SD-1.5 checkpoints run through this one class; it mirrors what
``StableDiffusionPipeline`` does per step so that our sampling loop reproduces the stock pipeline.
"""
from __future__ import annotations

import warnings

import torch

from .base import Backend, PromptEmbedding


class UNetBackend(Backend):
    def __init__(self, *, vae, text_encoder, tokenizer, unet, scheduler, name: str = "unet") -> None:
        self.vae, self.text_encoder, self.tokenizer, self.unet, self.scheduler = vae, text_encoder, tokenizer, unet, scheduler
        self.name = name
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.image_size = unet.config.sample_size * self.vae_scale_factor
        for module in (vae, text_encoder, unet):
            module.requires_grad_(False).eval()

    @classmethod
    def from_pipeline(cls, pipe, name: str = "unet") -> UNetBackend:
        return cls(vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, unet=pipe.unet,
                   scheduler=pipe.scheduler, name=name)

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @torch.no_grad()
    def encode_prompt(self, prompts: list[str]) -> PromptEmbedding:
        tok = self.tokenizer
        enc = tok(prompts, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt")
        longest = tok(prompts, padding="longest", return_tensors="pt").input_ids
        truncated = longest.shape[-1] > enc.input_ids.shape[-1]
        if truncated:
            warnings.warn(
                f"prompt longer than the text encoder's limit of {tok.model_max_length} tokens: the end was cut off",
                stacklevel=2,
            )
        use_mask = getattr(self.text_encoder.config, "use_attention_mask", False)
        mask = enc.attention_mask.to(self.device) if use_mask else None
        embeds = self.text_encoder(enc.input_ids.to(self.device), attention_mask=mask)[0]
        tokens = [tok.convert_ids_to_tokens(ids) for ids in enc.input_ids.tolist()]
        return PromptEmbedding(embeds=embeds.to(self.text_encoder.dtype), tokens=tokens, truncated=truncated)

    def latent_shape(self, batch: int, image_size: int | None = None) -> tuple[int, ...]:
        side = (image_size or self.image_size) // self.vae_scale_factor
        return (batch, self.unet.config.in_channels, side, side)

    @torch.no_grad()
    def predict(self, latents: torch.Tensor, t: torch.Tensor, cond: PromptEmbedding) -> torch.Tensor:
        return self.unet(latents, t, encoder_hidden_states=cond.embeds, return_dict=False)[0]

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        images = self.vae.decode(latents / self.vae.config.scaling_factor, return_dict=False)[0]
        return (images / 2 + 0.5).clamp(0, 1)
