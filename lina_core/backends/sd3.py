"""Stable Diffusion 3 / 3.5: SD3Transformer2DModel, three text encoders, flow matching with shift.

Mirrors ``StableDiffusion3Pipeline``. The prompt sequence is two blocks along the token axis: first the
CLIP rows (CLIP-L and CLIP-G penultimate layers side by side in the channels, zero-padded to T5's
width; both CLIP tokenizers split a prompt alike), then the T5 rows. ``tokens`` follows the same
layout (CLIP-L's tokens, then T5's), so an entity's words are found in each block. Without T5 (it is
optional, and the largest part) its rows are zeros, as in the pipeline. The model predicts the flow
velocity, which is what the scheduler's ``step`` takes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Backend, PromptEmbedding
from .unet import encode_text, execution_device

T5_MAX_LENGTH = 256  # the pipeline's default max_sequence_length
PAD = "<pad>"  # token string of the rows that stand for an absent T5


class SD3Backend(Backend):
    def __init__(self, *, vae, transformer, scheduler, text_encoder, tokenizer, text_encoder_2, tokenizer_2,
                 text_encoder_3=None, tokenizer_3=None, max_sequence_length: int = T5_MAX_LENGTH, name: str = "sd3",
                 device: torch.device | None = None) -> None:
        self.vae, self.transformer, self.scheduler = vae, transformer, scheduler
        self.clips = [(tokenizer, text_encoder), (tokenizer_2, text_encoder_2)]
        self.t5 = (tokenizer_3, text_encoder_3) if text_encoder_3 is not None else None
        self.text_encoder = text_encoder
        self.max_sequence_length, self.name, self._device = max_sequence_length, name, device
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.image_size = transformer.config.sample_size * self.vae_scale_factor
        for module in (vae, transformer, text_encoder, text_encoder_2, text_encoder_3):
            if module is not None:
                module.requires_grad_(False).eval()

    @classmethod
    def from_pipeline(cls, pipe, name: str = "sd3", max_sequence_length: int = T5_MAX_LENGTH) -> SD3Backend:
        return cls(vae=pipe.vae, transformer=pipe.transformer, scheduler=pipe.scheduler,
                   text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, text_encoder_2=pipe.text_encoder_2,
                   tokenizer_2=pipe.tokenizer_2, text_encoder_3=pipe.text_encoder_3, tokenizer_3=pipe.tokenizer_3,
                   max_sequence_length=max_sequence_length, name=name, device=execution_device(pipe))

    @property
    def dtype(self) -> torch.dtype:
        return self.transformer.dtype

    @property
    def device(self) -> torch.device:
        return self._device or self.transformer.device

    @torch.no_grad()
    def encode_prompt(self, prompts: list[str]) -> PromptEmbedding:
        clips = [encode_text(tok, enc, prompts, self.device, penultimate=True) for tok, enc in self.clips]
        clip = torch.cat([c.hidden for c in clips], dim=-1).to(self.text_encoder.dtype)
        if self.t5 is None:
            width = self.transformer.config.joint_attention_dim
            t5 = torch.zeros(len(prompts), self.max_sequence_length, width, device=self.device, dtype=clip.dtype)
            t5_tokens = [[PAD] * self.max_sequence_length for _ in prompts]
            cut = False
        else:
            text = encode_text(*self.t5, prompts, self.device, max_length=self.max_sequence_length)
            t5, t5_tokens, cut = text.hidden, text.tokens, text.truncated
        clip = F.pad(clip, (0, t5.shape[-1] - clip.shape[-1]))
        return PromptEmbedding(
            embeds=torch.cat([clip, t5], dim=-2),
            tokens=[a + b for a, b in zip(clips[0].tokens, t5_tokens)],
            pooled=torch.cat([c.pooled for c in clips], dim=-1),
            truncated=cut or any(c.truncated for c in clips),
        )

    def latent_shape(self, batch: int, image_size: int | None = None) -> tuple[int, ...]:
        side = (image_size or self.image_size) // self.vae_scale_factor
        return (batch, self.transformer.config.in_channels, side, side)

    def predict(self, latents: torch.Tensor, t: torch.Tensor, cond: PromptEmbedding) -> torch.Tensor:
        return self.transformer(hidden_states=latents, timestep=t.expand(latents.shape[0]),
                                encoder_hidden_states=cond.embeds, pooled_projections=cond.pooled,
                                return_dict=False)[0]

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        cfg = self.vae.config
        latents = latents / cfg.scaling_factor + (cfg.shift_factor or 0.0)
        images = self.vae.decode(latents.to(self.vae.dtype), return_dict=False)[0]
        return (images.float() / 2 + 0.5).clamp(0, 1)
