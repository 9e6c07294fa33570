"""Wan2.1 / Wan2.2 text-to-video: UMT5 encoder, WanTransformer3DModel (two of them for Wan2.2-A14B), the
Wan VAE, flow matching (the checkpoints ship UniPC on shifted flow sigmas).

Mirrors ``WanPipeline`` per step so that our loop reproduces it: the prompt is cleaned as the pipeline
cleans it, encoded with its attention mask and zeroed past its length; latents are [B, C, F, H, W] in
float32 (the pipeline keeps them so whatever the transformer's dtype); the high-noise transformer runs
while t >= boundary_ratio * T and ``transformer_2`` after, guided with ``guidance_scale_2`` where one is set
(the pipeline's argument of that name); ``decode`` undoes the per-channel latent
normalisation and returns [B, 3, F, H, W] in [0, 1].
"""
from __future__ import annotations

import warnings

import torch

from .base import Backend, PromptEmbedding
from .unet import execution_device

MAX_SEQUENCE_LENGTH = 512  # WanPipeline.__call__'s default (its encode_prompt alone defaults to 226)
DEFAULT_SIZE = (480, 832, 81)  # height, width, frames: Wan2.2's 480p preset


class WanBackend(Backend):
    def __init__(self, *, vae, text_encoder, tokenizer, transformer, scheduler, transformer_2=None,
                 boundary_ratio: float | None = None, expand_timesteps: bool = False,
                 size: tuple[int, int, int] = DEFAULT_SIZE, max_sequence_length: int = MAX_SEQUENCE_LENGTH,
                 guidance_scale_2: float | None = None, name: str = "wan", device: torch.device | None = None) -> None:
        if guidance_scale_2 is not None and (boundary_ratio is None or transformer_2 is None):
            raise ValueError("guidance_scale_2 (LINA_WAN_GUIDANCE_2) needs a two-expert Wan2.2 model: this one has "
                             "no low-noise transformer_2")
        self.vae, self.text_encoder, self.tokenizer, self.scheduler = vae, text_encoder, tokenizer, scheduler
        self.transformer, self.transformer_2 = transformer, transformer_2
        self.boundary_ratio, self.expand_timesteps = boundary_ratio, expand_timesteps
        self.max_sequence_length, self.name, self._device = max_sequence_length, name, device
        self.guidance_scale_2 = guidance_scale_2
        self.scale_spatial = int(vae.config.scale_factor_spatial)
        self.scale_temporal = int(vae.config.scale_factor_temporal)
        self.height, self.width, self.num_frames = _checked_size(size, self.scale_spatial, self.scale_temporal)
        self.image_size = max(self.height, self.width)
        for module in (vae, text_encoder, transformer, transformer_2):
            if module is not None:
                module.requires_grad_(False).eval()

    @classmethod
    def from_pipeline(cls, pipe, name: str = "wan", *, size: tuple[int, int, int] = DEFAULT_SIZE,
                      max_sequence_length: int = MAX_SEQUENCE_LENGTH, guidance_scale_2: float | None = None,
                      ) -> WanBackend:
        return cls(vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer,
                   transformer=pipe.transformer, transformer_2=pipe.transformer_2, scheduler=pipe.scheduler,
                   boundary_ratio=pipe.config.boundary_ratio, expand_timesteps=pipe.config.expand_timesteps,
                   size=size, max_sequence_length=max_sequence_length, guidance_scale_2=guidance_scale_2, name=name,
                   device=execution_device(pipe))

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32  # the latents' dtype; each transformer gets them cast to its own

    @property
    def device(self) -> torch.device:
        return self._device or self.transformer.device

    @torch.no_grad()
    def encode_prompt(self, prompts: list[str]) -> PromptEmbedding:
        from diffusers.pipelines.wan.pipeline_wan import prompt_clean

        tok, n = self.tokenizer, self.max_sequence_length
        cleaned = [prompt_clean(p) for p in prompts]
        enc = tok(cleaned, padding="max_length", max_length=n, truncation=True, add_special_tokens=True,
                  return_attention_mask=True, return_tensors="pt")
        truncated = max(len(ids) for ids in tok(cleaned, add_special_tokens=True).input_ids) > n
        if truncated:
            warnings.warn(f"prompt longer than the text encoder's limit of {n} tokens: the end was cut off",
                          stacklevel=2)
        mask = enc.attention_mask
        hidden = self.text_encoder(enc.input_ids.to(self.device), mask.to(self.device)).last_hidden_state
        # Past each prompt's own length the pipeline feeds zeros, not the encoder's padding states.
        embeds = hidden * mask.to(hidden.device, hidden.dtype)[..., None]
        tokens = [tok.convert_ids_to_tokens(ids) for ids in enc.input_ids.tolist()]
        return PromptEmbedding(embeds=embeds.to(self.text_encoder.dtype), tokens=tokens, truncated=truncated)

    def latent_shape(self, batch: int, image_size: int | None = None) -> tuple[int, ...]:
        """[B, C, F, H, W]; ``image_size`` asks for square frames of that side instead of the backend's size."""
        height, width = (image_size, image_size) if image_size else (self.height, self.width)
        frames = (self.num_frames - 1) // self.scale_temporal + 1
        return (batch, self.transformer.config.in_channels, frames, height // self.scale_spatial,
                width // self.scale_spatial)

    def model_for(self, t: torch.Tensor):
        """Wan2.2-A14B: the high-noise expert down to the boundary timestep, the low-noise one after it."""
        if self.boundary_ratio is None or self.transformer_2 is None:
            return self.transformer
        boundary = self.boundary_ratio * self.scheduler.config.num_train_timesteps
        return self.transformer if t >= boundary else self.transformer_2

    def guidance_at(self, t: torch.Tensor, guidance_scale: float) -> float:
        if self.guidance_scale_2 is not None and self.model_for(t) is self.transformer_2:
            return self.guidance_scale_2
        return guidance_scale

    def predict(self, latents: torch.Tensor, t: torch.Tensor, cond: PromptEmbedding) -> torch.Tensor:
        model = self.model_for(t)
        batch, _, frames, height, width = latents.shape
        if self.expand_timesteps:  # Wan2.2-TI2V: one timestep per patch token
            _, ph, pw = model.config.patch_size
            timestep = t.expand(batch, frames * (height // ph) * (width // pw))
        else:
            timestep = t.expand(batch)
        dtype = model.dtype  # a walk over the parameters: once per call
        return model(hidden_states=latents.to(dtype), timestep=timestep, encoder_hidden_states=cond.embeds.to(dtype),
                     return_dict=False)[0]

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        cfg = self.vae.config
        shape = (1, cfg.z_dim, 1, 1, 1)
        mean = torch.tensor(cfg.latents_mean).view(shape).to(latents.device, torch.float32)
        std = torch.tensor(cfg.latents_std).view(shape).to(latents.device, torch.float32)
        video = self.vae.decode((latents.float() * std + mean).to(self.vae.dtype), return_dict=False)[0]
        return (video.float() / 2 + 0.5).clamp(0, 1)


def _checked_size(size: tuple[int, int, int], spatial: int, temporal: int) -> tuple[int, int, int]:
    """Height and width must be multiples of the VAE's spatial factor times the patch size (2); frames 1 + k * 4."""
    height, width, frames = (int(v) for v in size)
    step = 2 * spatial
    if height < step or width < step or height % step or width % step:
        raise ValueError(f"size: height and width must be positive multiples of {step}, got {height}x{width}")
    if frames < 1 or (frames - 1) % temporal:
        raise ValueError(f"size: the frame count must be 1 + a multiple of {temporal} (e.g. 81), got {frames}")
    return height, width, frames


def parse_size(text: str) -> tuple[int, int, int]:
    """"HEIGHTxWIDTHxFRAMES" (e.g. "480x832x81", the LINA_WAN_SIZE variable) -> a checked (height, width, frames)."""
    parts = text.lower().replace(" ", "").split("x")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"LINA_WAN_SIZE: expected HEIGHTxWIDTHxFRAMES such as 480x832x81, got {text!r}")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]
