"""SDXL: the UNet family with two CLIP encoders and the added text/time conditioning.

Mirrors ``StableDiffusionXLPipeline``: the two encoders' penultimate layers are concatenated along the
channels (both tokenizers split a prompt the same way, so one token list lines up with the rows), the
second encoder's projection is the pooled vector, and the size/crop "time ids" are the default ones
(original = target = the image size, no crop). With ``force_zeros_for_empty_prompt`` the pipeline's
unconditional branch is all zeros rather than the encoding of "", so ours is too.
"""
from __future__ import annotations

import torch

from .base import PromptEmbedding
from .unet import UNetBackend, encode_text, execution_device


class SDXLBackend(UNetBackend):
    def __init__(self, *, vae, text_encoder, tokenizer, text_encoder_2, tokenizer_2, unet, scheduler,
                 force_zeros_for_empty_prompt: bool = True, name: str = "sdxl",
                 device: torch.device | None = None) -> None:
        super().__init__(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                         name=name, device=device)
        self.text_encoder_2, self.tokenizer_2 = text_encoder_2.requires_grad_(False).eval(), tokenizer_2
        self.force_zeros_for_empty_prompt = force_zeros_for_empty_prompt

    @classmethod
    def from_pipeline(cls, pipe, name: str = "sdxl") -> SDXLBackend:
        return cls(vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer,
                   text_encoder_2=pipe.text_encoder_2, tokenizer_2=pipe.tokenizer_2, unet=pipe.unet,
                   scheduler=pipe.scheduler, force_zeros_for_empty_prompt=pipe.config.force_zeros_for_empty_prompt,
                   name=name, device=execution_device(pipe))

    def _encoders(self) -> list[tuple[object, object]]:
        pairs = [(self.tokenizer, self.text_encoder), (self.tokenizer_2, self.text_encoder_2)]
        return [(tok, enc) for tok, enc in pairs if enc is not None]  # the refiner has no first encoder

    @torch.no_grad()
    def encode_prompt(self, prompts: list[str]) -> PromptEmbedding:
        texts = [encode_text(tok, enc, prompts, self.device, penultimate=True) for tok, enc in self._encoders()]
        embeds = torch.cat([t.hidden for t in texts], dim=-1).to(self.text_encoder_2.dtype)
        pooled = texts[-1].pooled
        if self.force_zeros_for_empty_prompt and all(p == "" for p in prompts):
            embeds, pooled = torch.zeros_like(embeds), torch.zeros_like(pooled)
        return PromptEmbedding(embeds=embeds, tokens=texts[0].tokens, pooled=pooled,
                               truncated=any(t.truncated for t in texts))

    def time_ids(self, batch: int) -> torch.Tensor:
        """(original size, crop top-left, target size) per image, as the pipeline's defaults."""
        side = self.image_size
        return torch.tensor([[side, side, 0, 0, side, side]] * batch, dtype=self.dtype, device=self.device)

    def predict(self, latents: torch.Tensor, t: torch.Tensor, cond: PromptEmbedding) -> torch.Tensor:
        added = {"text_embeds": cond.pooled.to(self.device), "time_ids": self.time_ids(latents.shape[0])}
        return self.unet(latents, t, encoder_hidden_states=cond.embeds, added_cond_kwargs=added, return_dict=False)[0]

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """In float32 when the VAE asks for it (``force_upcast``: SDXL's VAE overflows in float16), as the
        pipeline does."""
        if self.vae.dtype != torch.float16 or not getattr(self.vae.config, "force_upcast", False):
            return super().decode(latents)
        self.vae.to(torch.float32)
        try:
            return super().decode(latents)
        finally:
            self.vae.to(torch.float16)

    def unscale(self, latents: torch.Tensor) -> torch.Tensor:
        cfg = self.vae.config
        if getattr(cfg, "latents_mean", None) is not None and getattr(cfg, "latents_std", None) is not None:
            mean = torch.tensor(cfg.latents_mean).view(1, -1, 1, 1).to(latents)
            std = torch.tensor(cfg.latents_std).view(1, -1, 1, 1).to(latents)
            return latents * std / cfg.scaling_factor + mean
        return super().unscale(latents)
