"""Reading a UNet's cross-attention maps with diffusers' own Attend-and-Excite recorder.

``AttentionStore`` and ``AttendExciteAttnProcessor`` come from diffusers' (deprecated)
``StableDiffusionAttendAndExcitePipeline``; what is ours is only WHERE they go: on the cross-attention
layers alone, and only inside ``recording_cross_attention``, which puts the model's own processors back
afterwards (also on an exception), so a model shared with the baseline is never left altered.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import torch
from diffusers.pipelines.deprecated.stable_diffusion_attend_and_excite.pipeline_stable_diffusion_attend_and_excite import (  # noqa: E501
    AttendExciteAttnProcessor,
    AttentionStore,
)

from ..backends.base import Backend

PLACES = ("down", "mid", "up")
_PLACE_OF_BLOCK = {"down_blocks": "down", "mid_block": "mid", "up_blocks": "up"}
_NO_CROSS_ATTENTION = "peer needs a backend with cross-attention (UNet)"


class NoCrossAttentionError(ValueError):
    """The backend's model has no cross-attention layers to read (e.g. a joint-attention transformer)."""


def cross_attention_unet(backend: Backend) -> torch.nn.Module:
    """The backend's UNet when it has cross-attention processors; NoCrossAttentionError otherwise."""
    unet = getattr(backend, "unet", None)
    if unet is None or not hasattr(unet, "attn_processors") or not cross_attention_layers(unet):
        raise NoCrossAttentionError(_NO_CROSS_ATTENTION)
    return unet


def has_cross_attention(backend: Backend) -> bool:
    try:
        cross_attention_unet(backend)
    except NoCrossAttentionError:
        return False
    return True


def cross_attention_layers(unet: torch.nn.Module) -> list[str]:
    """Processor names (as in ``unet.attn_processors``) of the layers that attend to the text."""
    return [name for name in unet.attn_processors
            if getattr(unet.get_submodule(name.removesuffix(".processor")), "is_cross_attention", False)]


def cross_attention_sides(unet: torch.nn.Module, latent_side: int) -> list[int]:
    """Side lengths of the maps the cross-attention blocks make on a ``latent_side`` latent: down block i
    runs at side / 2**i, the mid block at the coarsest side, up block j at side / 2**(n-1-j)."""
    cfg = unet.config
    depth = len(cfg.down_block_types) - 1
    sides = {latent_side >> i for i, kind in enumerate(cfg.down_block_types) if "CrossAttn" in kind}
    sides |= {latent_side >> (depth - j) for j, kind in enumerate(cfg.up_block_types) if "CrossAttn" in kind}
    if "CrossAttn" in (cfg.mid_block_type or ""):
        sides.add(latent_side >> depth)
    return sorted(sides, reverse=True)


def default_attention_side(sides: list[int], latent_side: int) -> int:
    """A&E reads 16x16 maps on SD's 64x64 latents (a quarter of the side). On small latents a quarter is
    a handful of cells per object, so aim at no less than 8; take the available side nearest the aim."""
    aim = max(latent_side // 4, 8)
    return min(sides, key=lambda side: (abs(math.log2(side / aim)), -side))


@contextmanager
def recording_cross_attention(unet: torch.nn.Module, side: int) -> Iterator[AttentionStore]:
    """Record every ``side``x``side`` cross-attention map of each forward pass that needs gradients (A&E's
    processor stores only then) into the yielded store; the original processors are restored on exit."""
    cross = cross_attention_layers(unet)
    store = AttentionStore((side, side))
    store.num_att_layers = len(cross)  # the store closes a forward pass after this many recorded layers
    original = unet.attn_processors
    recording = {name: AttendExciteAttnProcessor(store, _PLACE_OF_BLOCK[name.split(".")[0]]) for name in cross}
    unet.set_attn_processor({**original, **recording})  # set_attn_processor consumes the dict it is given
    try:
        yield store
    finally:
        unet.set_attn_processor(dict(original))
