"""The UNet family (SD-1.5-style: tokenizer + text encoder + UNet2DConditionModel + VAE + scheduler).

Both the embedded tiny model and SD-1.5 checkpoints run through this one class; it mirrors what
``StableDiffusionPipeline`` does per step so that our sampling loop reproduces the stock pipeline.
``encode_text`` is the tokenise-and-encode step every diffusers text encoder here shares (CLIP, T5).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from .base import Backend, PromptEmbedding


@dataclass
class EncodedText:
    """One text encoder's output for a batch of prompts, with the token strings of its rows."""

    hidden: torch.Tensor  # [B, L, D]
    pooled: torch.Tensor | None  # [B, P] when the encoder has a projection head (CLIPTextModelWithProjection)
    tokens: list[list[str]]
    truncated: bool


def encode_text(tokenizer, text_encoder, prompts: list[str], device: torch.device, *, max_length: int | None = None,
                penultimate: bool = False) -> EncodedText:
    """Pad to ``max_length`` (the tokenizer's limit by default), warn when a prompt is cut, and encode.

    ``penultimate`` takes the second-to-last hidden layer, as the SDXL and SD-3 pipelines do; the pooled
    vector is the encoder's first output when that is a [B, P] projection, as in those pipelines.
    """
    max_length = max_length or tokenizer.model_max_length
    enc = tokenizer(prompts, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt")
    longest = tokenizer(prompts, padding="longest", return_tensors="pt").input_ids
    truncated = longest.shape[-1] > enc.input_ids.shape[-1]
    if truncated:
        warnings.warn(f"prompt longer than the text encoder's limit of {max_length} tokens: the end was cut off",
                      stacklevel=3)
    use_mask = getattr(text_encoder.config, "use_attention_mask", False)
    mask = enc.attention_mask.to(device) if use_mask else None
    out = text_encoder(enc.input_ids.to(device), attention_mask=mask, output_hidden_states=penultimate)
    hidden = out.hidden_states[-2] if penultimate else out[0]
    pooled = out[0] if out[0].ndim == 2 else None
    tokens = [tokenizer.convert_ids_to_tokens(ids) for ids in enc.input_ids.tolist()]
    return EncodedText(hidden.to(text_encoder.dtype), pooled, tokens, truncated)


def execution_device(pipe) -> torch.device:
    """Where a pipeline computes: its accelerator even when model CPU offload keeps the weights on the CPU."""
    return pipe._execution_device


class UNetBackend(Backend):
    def __init__(self, *, vae, text_encoder, tokenizer, unet, scheduler, name: str = "unet",
                 device: torch.device | None = None) -> None:
        self.vae, self.text_encoder, self.tokenizer, self.unet, self.scheduler = vae, text_encoder, tokenizer, unet, scheduler
        self.name = name
        self._device = device
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.image_size = unet.config.sample_size * self.vae_scale_factor
        for module in (vae, text_encoder, unet):
            if module is not None:
                module.requires_grad_(False).eval()

    @classmethod
    def from_pipeline(cls, pipe, name: str = "unet") -> UNetBackend:
        return cls(vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, unet=pipe.unet,
                   scheduler=pipe.scheduler, name=name, device=execution_device(pipe))

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    @property
    def device(self) -> torch.device:
        return self._device or self.unet.device

    @torch.no_grad()
    def encode_prompt(self, prompts: list[str]) -> PromptEmbedding:
        text = encode_text(self.tokenizer, self.text_encoder, prompts, self.device)
        return PromptEmbedding(embeds=text.hidden, tokens=text.tokens, truncated=text.truncated)

    def latent_shape(self, batch: int, image_size: int | None = None) -> tuple[int, ...]:
        side = (image_size or self.image_size) // self.vae_scale_factor
        return (batch, self.unet.config.in_channels, side, side)

    def predict(self, latents: torch.Tensor, t: torch.Tensor, cond: PromptEmbedding) -> torch.Tensor:
        return self.unet(latents, t, encoder_hidden_states=cond.embeds, return_dict=False)[0]

    def unscale(self, latents: torch.Tensor) -> torch.Tensor:
        """Model latents -> what ``vae.decode`` takes (the pipelines' scaling, before decoding)."""
        return latents / self.vae.config.scaling_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        images = self.vae.decode(self.unscale(latents).to(self.vae.dtype), return_dict=False)[0]
        return (images.float() / 2 + 0.5).clamp(0, 1)
