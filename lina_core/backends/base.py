"""The one interface every backend implements, so the method and the sampler never see a model directly.

A backend turns prompts into per-token embeddings (which the method may edit), predicts at a step,
owns a diffusers scheduler (whose timesteps/sigmas the method may reallocate) and decodes latents
to images. The sampling loop in ``lina_core.sampling`` drives it.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import torch


@dataclass
class PromptEmbedding:
    """Per-token prompt embeddings plus the tokens they came from (to find an entity's tokens)."""

    embeds: torch.Tensor  # [B, L, D]
    tokens: list[list[str]] = field(default_factory=list)  # per prompt, one string per position
    pooled: torch.Tensor | None = None  # [B, P] for backends that also condition on a pooled vector
    truncated: bool = False

    def select(self, index: slice | list[int]) -> PromptEmbedding:
        rows = list(range(self.embeds.shape[0]))[index] if isinstance(index, slice) else index
        return PromptEmbedding(
            embeds=self.embeds[rows],
            tokens=[self.tokens[r] for r in rows] if self.tokens else [],
            pooled=None if self.pooled is None else self.pooled[rows],
            truncated=self.truncated,
        )

    @staticmethod
    def cat(parts: list[PromptEmbedding]) -> PromptEmbedding:
        pooled = [p.pooled for p in parts]
        return PromptEmbedding(
            embeds=torch.cat([p.embeds for p in parts]),
            tokens=[t for p in parts for t in p.tokens],
            pooled=None if any(x is None for x in pooled) else torch.cat(pooled),  # type: ignore[arg-type]
            truncated=any(p.truncated for p in parts),
        )


class Backend(ABC):
    """A frozen text-to-image (or video) model behind one interface."""

    name: str
    scheduler: object  # a diffusers scheduler
    image_size: int
    # Colour name per entity class, for a model that always draws an uncoloured thing of that class in one colour
    # (the embedded model: the world's defaults); latent guidance then places a missing uncoloured thing too.
    class_colours: Mapping[str, str] = MappingProxyType({})
    # RGB per substance class (dirt, sand, water) for a model that draws each in one colour; latent guidance then
    # fills a container with the substance's own colour rather than whatever its x̂0 shows at the bottom.
    substance_colours: Mapping[str, tuple[int, int, int]] = MappingProxyType({})

    @abstractmethod
    def encode_prompt(self, prompts: list[str]) -> PromptEmbedding:
        """Embeddings of the prompts; the empty prompt "" gives the unconditional branch."""

    @abstractmethod
    def latent_shape(self, batch: int, image_size: int | None = None) -> tuple[int, ...]:
        """Shape of the initial noise for ``batch`` images."""

    @abstractmethod
    def predict(self, latents: torch.Tensor, t: torch.Tensor, cond: PromptEmbedding) -> torch.Tensor:
        """Raw model output (noise / velocity, in the scheduler's parameterisation) at timestep ``t``. Not under
        ``no_grad`` of its own: the sampler runs without gradients, and a hook may differentiate through it."""

    @abstractmethod
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], shape [B, 3, H, W] (or [B, 3, F, H, W] for video)."""

    def guidance_at(self, t: torch.Tensor, guidance_scale: float) -> float:
        """The classifier-free guidance scale at timestep ``t``: the caller's, except where a model guides each
        of its stages with its own scale (Wan2.2's low-noise expert)."""
        return guidance_scale

    @property
    def is_video(self) -> bool:
        """Latents with a time axis ([B, C, F, H, W]): the app then shows videos beside the stills."""
        return len(self.latent_shape(1)) == 5

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")
