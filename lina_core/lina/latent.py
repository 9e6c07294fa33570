"""Visual-latent guidance by projection on the clean estimate x̂0 (no backward pass through the model), or by
a gradient step through it.

At each step of its window (the first steps, or all of them: θ's ``latent_share``) the hook reads the
sampler's x̂0, builds for every enabled CSG node a target x̂0* from the model's OWN x̂0 and the graph's
layout regions (never from a ground-truth image), and moves the next latents so that their clean
component moves towards it, inside the node's masks only:

    x_{t-1} <- x_{t-1} + s * (1 - sigma_{t-1}/sigma_t) * encode(M * (x̂0* - x̂0))

Why that factor. The Euler step the sampler takes is x_{t-1} = x_t + (sigma_{t-1} - sigma_t) * d with
d = (x_t - x̂0) / sigma_t, i.e. x_{t-1} = x̂0 + r * (x_t - x̂0) with r = sigma_{t-1}/sigma_t. Had the
model predicted x̂0 + D instead of x̂0 (same x_t), the step would have landed at x_{t-1} + (1 - r) * D.
So adding (1 - r) * D is exactly the step the sampler would have taken from the corrected
prediction, with the noise part untouched ("re-noised consistently with the sampler"). The same
algebra holds for flow matching (x_t = (1 - sigma) x0 + sigma * eps, velocity = (x_t - x̂0) / sigma),
so r is read from the step itself, r = <x_{t-1} - x̂0, x_t - x̂0> / |x_t - x̂0|^2, exact for any such
first-order step and free of scheduler bookkeeping. s = 1 is the full projection.

The gradient variant (``gradient=backend``) instead changes x_t before the model runs: one backward pass
through the model's conditional prediction gives g = dL/dx_t for each sample's
L = |M * (x̂0(x_t) - x̂0*)|^2 / 2, and x_t <- x_t - min(c * s * L / |g|^2, MAX_GRADIENT_STEP * |x_t| / |g|) * g.
L / |g|^2 is Polyak's step size, the step that would zero L were x̂0 linear in x_t, so no learning rate is
tuned per model; c = GRADIENT_SHARE makes one strength s pull about as hard in both modes (on the tiny model a
full Polyak step washed the background out; at s = 2.5 over the first 30% of the steps the gradient scored
the projection's physical alignment on 8 OOD prompts x 2 seeds, 0.41, with better texture, 0.93 vs 0.81).
It costs a forward and a backward pass per guided step (2-2.6x the time of a run on the tiny model when every
step is guided); the projection costs nothing, hence the default.

Targets are built in a working space given by a ``Codec``: pixels for a backend whose "VAE" is a
cheap exact bijection (the tiny model's space-to-depth), the latent grid itself for others (regions
resized to the latent grid; colours from the VAE encoder). The target builders only take medians,
flips and mixes of the working image, so they run unchanged in either space.

Video latents [B, C, F, H, W] are guided frame by frame on the latent grid: every frame gets the targets
of the same regions, built from its own x̂0 frame, except that an effect with ``params["frames"]`` acts only
in that part of the clip (the CSG has no time axis of its own; this is how it says "happens later").
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Iterable, Mapping, Protocol

import numpy as np
import torch

from ..backends.base import Backend
from ..csg.graph import CSG, EdgeType, Effect, EffectType, Entity, Region
from ..csg.layout import container_interior, region_mask
from ..csg.vocab import COLOURS, Category, canonical_colour, category, is_reflective
from ..sampling import StepState, model_input

Tensor = torch.Tensor
RGB = tuple[int, int, int]

MIRROR_MIX, WATER_MIX = 0.6, 0.3  # how much of the object a reflection shows (the rest is the surface's colour)
SHADOW_DARKNESS = 0.5
FOREGROUND_SHARE = 0.5  # a pixel at least this share of the most object-like pixel's distance counts as object
PRESENT_SHARE = 0.3  # an entity with less of its silhouette near its colour counts as not drawn
SILHOUETTE_FILL = 0.8  # the share of its box a placed object's ellipse spans
SUBSTANCE_ROWS, EMPTY_ROWS = 0.2, 0.15  # interior shares read for the substance and the empty colour
GRADIENT_SHARE = 0.1  # the gradient mode's step at strength 1, as a share of Polyak's step (see above)
MAX_GRADIENT_STEP = 0.25  # the gradient mode never moves x_t by more than this share of its norm


# -- codecs ---------------------------------------------------------------------------------------

class Codec(Protocol):
    """Latents <-> the working space where targets are built (pixels, or the latent grid itself)."""

    backend: Backend

    def to_pixels(self, latents: Tensor) -> Tensor: ...

    def to_latents(self, pixels: Tensor) -> Tensor: ...

    def colour(self, rgb: RGB) -> Tensor | None:
        """A flat colour as a [C] vector of the working space (None when it cannot be known)."""


class ExactCodec:
    """Pixels through the backend VAE's exact inverse pair (the tiny model's space-to-depth).

    ``to_pixels`` is the backend's decode WITHOUT its final clamp to [0, 1]: an early x̂0 lies partly
    outside that range, and only the unclamped map makes ``to_latents(to_pixels(z)) == z``, so that a
    change of the pixels by D changes the latents by exactly encode(D).
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.vae = getattr(backend, "vae")
        self.scale = float(getattr(self.vae.config, "scaling_factor", 1.0))

    @staticmethod
    def fits(backend: Backend, size: int = 16) -> bool:
        """Does ``vae.encode`` return latents that ``backend.decode`` maps back exactly? (tried on a small image)"""
        vae = getattr(backend, "vae", None)
        if vae is None or not hasattr(vae, "encode") or not hasattr(vae, "decode"):
            return False
        pixels = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
        try:
            with torch.no_grad():
                latents = vae.encode((pixels * 2 - 1).to(backend.device, backend.dtype))
                if not isinstance(latents, Tensor):
                    return False
                codec = ExactCodec(backend)
                back, own = backend.decode(latents).float().cpu(), codec.to_pixels(latents).cpu()
        except (RuntimeError, ValueError, TypeError, AttributeError):
            return False
        return back.shape == pixels.shape and torch.allclose(back, pixels, atol=1e-5) and torch.allclose(
            own, pixels, atol=1e-5)

    def to_pixels(self, latents: Tensor) -> Tensor:
        return self.vae.decode(latents / self.scale, return_dict=False)[0].float() / 2 + 0.5

    def to_latents(self, pixels: Tensor) -> Tensor:
        return self.vae.encode(pixels * 2 - 1)

    def colour(self, rgb: RGB) -> Tensor:
        return torch.tensor(rgb, dtype=torch.float32) / 255.0


class LatentSpaceCodec:
    """Works on the latent grid itself (an invertible decode would cost a VAE pass per step)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.vae = getattr(backend, "vae", None)
        self._colours: dict[RGB, Tensor | None] = {}

    def to_pixels(self, latents: Tensor) -> Tensor:
        return latents.float()

    def to_latents(self, pixels: Tensor) -> Tensor:
        return pixels

    def colour(self, rgb: RGB) -> Tensor | None:
        """The mean latent of a flat patch of that colour, through the VAE encoder (once per colour)."""
        if rgb not in self._colours:
            self._colours[rgb] = self._encode_flat(rgb)
        return self._colours[rgb]

    def _encode_flat(self, rgb: RGB) -> Tensor | None:
        """A video VAE (5-D latents) encodes the patch as a one-frame clip. Latents are normalised as the
        backends' ``decode`` expects: per channel by ``latents_mean``/``latents_std`` where the VAE config has
        them (Wan, some SDXL VAEs), else by ``shift_factor``; then times ``scaling_factor`` (1 when absent)."""
        if self.vae is None or not hasattr(self.vae, "encode"):
            return None
        cfg = self.vae.config
        factor = getattr(cfg, "scale_factor_spatial", None) or 2 ** (len(getattr(cfg, "block_out_channels", [0])) - 1)
        side = 8 * factor
        frames = (1,) * (len(self.backend.latent_shape(1)) - 4)  # (1,) for video: a one-frame clip
        colour = torch.tensor(rgb, dtype=torch.float32) / 127.5 - 1
        patch = colour.view(1, 3, *frames, 1, 1).expand(1, 3, *frames, side, side)
        with torch.no_grad():
            out = self.vae.encode(patch.to(self.backend.device, self.backend.dtype))
        dist = getattr(out, "latent_dist", None)
        latents = dist.mean if dist is not None else out
        mean, std = getattr(cfg, "latents_mean", None), getattr(cfg, "latents_std", None)
        if mean is not None and std is not None:
            per_channel = (1, -1) + (1,) * (latents.dim() - 2)
            latents = (latents - torch.tensor(mean).view(per_channel).to(latents)) / torch.tensor(std).view(
                per_channel).to(latents)
        else:
            latents = latents - (getattr(cfg, "shift_factor", None) or 0.0)
        scale = getattr(cfg, "scaling_factor", 1.0)
        return (latents * scale).float().mean(dim=[d for d in range(latents.dim()) if d != 1]).cpu()


def codec_for(backend: Backend) -> Codec:
    return ExactCodec(backend) if ExactCodec.fits(backend) else LatentSpaceCodec(backend)


# -- geometry helpers -----------------------------------------------------------------------------

def _clipped(x0: float, y0: float, x1: float, y1: float) -> Region | None:
    x0, y0, x1, y1 = max(x0, 0.0), max(y0, 0.0), min(x1, 1.0), min(y1, 1.0)
    return Region(x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def _mask(region: Region | None, h: int, w: int) -> np.ndarray:
    return region_mask(region, h, w) if region is not None else np.zeros((h, w), bool)


def mirrored(obj: Region, surface: Region) -> Region | None:
    """Where the object mirrored about its contact line lies if nothing clips it (inside the image)."""
    line = max(surface.y0, obj.y1)
    return _clipped(obj.x0, 2 * line - obj.y1, obj.x1, 2 * line - obj.y0)


def reflection_zone(obj: Region, surface: Region) -> Region | None:
    """Where the object's reflection may spill: below its contact line, in its columns widened by half its width
    on each side, down to twice its height at least (a model draws its own object larger than the layout's box
    as often as not, and its reflection with it), and as far as its mirrored box reaches."""
    line = max(surface.y0, obj.y1)
    return _clipped(obj.x0 - obj.width / 2, line, obj.x1 + obj.width / 2,
                    max(line + 2 * obj.height, 2 * line - obj.y0))


def _around(box: Region, h: int, w: int) -> np.ndarray:
    """The columns within one box width of ``box`` (all rows): where its local surroundings are read."""
    out = np.zeros((h, w), bool)
    cols = (np.arange(w) + 0.5) / w
    out[:, (cols >= box.x0 - box.width) & (cols < box.x1 + box.width)] = True
    return out


def _wrong_side(shadow: Region, obj: Region) -> Region | None:
    """The shadow box mirrored about the object's centre line: where a shadow must NOT be."""
    cx = (obj.x0 + obj.x1) / 2
    return _clipped(2 * cx - shadow.x1, shadow.y0, 2 * cx - shadow.x0, shadow.y1)


def _erode(m: np.ndarray) -> np.ndarray:
    """One pixel off every side of a mask (a mirror's frame); a mask too thin to erode is kept."""
    out = ~dilate(~m)
    return out if out.any() else m


def dilate(m: np.ndarray) -> np.ndarray:
    """One pixel added on every side of a mask (4-neighbourhood)."""
    p = np.pad(m, 1)
    return m | p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]


def _entity(csg: CSG, nid: object) -> Entity | None:
    node = csg.node(nid) if isinstance(nid, str) and nid in csg else None
    return node if isinstance(node, Entity) and node.region is not None else None


def _is_thing(csg: CSG, node: Entity) -> bool:
    """Drawn on top of the ground (objects, animals, containers...), as opposed to ground bands and supports."""
    return category(node.cls) not in (Category.SURFACE, Category.SUBSTANCE, Category.SUPPORT) or bool(
        csg.parents(node.id, EdgeType.CONTAINS))


def _things(csg: CSG, h: int, w: int, skip: Iterable[str] = ()) -> np.ndarray:
    out = np.zeros((h, w), bool)
    for ent in csg.entities():
        if ent.region is not None and ent.id not in skip and _is_thing(csg, ent):
            out |= region_mask(ent.region, h, w)
    return out


# -- colour statistics on the working image ---------------------------------------------------------

def _row_median(x: Tensor, keep: np.ndarray) -> Tensor:
    """Per-row, per-channel median of the kept pixels of x [C, H, W] -> [C, H]; an empty row copies the
    nearest row that has some (all rows empty: the whole image's median)."""
    c, h, w = x.shape
    k = torch.from_numpy(keep)
    n = k.sum(1)
    if not bool(n.any()):
        return x.reshape(c, -1).median(1).values[:, None].expand(c, h).clone()
    vals = torch.where(k[None], x, torch.full_like(x, float("inf"))).sort(dim=2).values
    med = vals.gather(2, ((n - 1).clamp_min(0) // 2).view(1, h, 1).expand(c, h, 1))[..., 0]
    rows = torch.arange(h)
    valid = rows[n > 0]
    nearest = valid[(rows[:, None] - valid[None, :]).abs().argmin(1)]
    return med[:, nearest]


def _median(x: Tensor, keep: np.ndarray, fallback: np.ndarray | None = None) -> Tensor:
    """Per-channel median of x [C, H, W] over ``keep`` (else over ``fallback``, else over everything)."""
    for m in (keep, fallback):
        if m is not None and m.any():
            return x[:, torch.from_numpy(m)].median(1).values
    return x.reshape(x.shape[0], -1).median(1).values


def _distance(d: Tensor) -> Tensor:
    """Euclidean norm over channels (torch.norm over dim 0 measured ten times slower here, on CPU)."""
    return d.pow(2).sum(0).sqrt()


def _foreground(x: Tensor, region: np.ndarray, background: Tensor) -> Tensor:
    """How object-like each pixel is, in [0, 1]: distance from the row background, relative to the most
    distant pixel of ``region`` (scale-free, so it means the same in pixel and latent space)."""
    d = _distance(x - background[:, :, None])
    top = d[torch.from_numpy(region)].max() if region.any() else d.max()
    return (d / (FOREGROUND_SHARE * top).clamp_min(1e-6)).clamp(0, 1)


def _paint(value: Tensor, mask: Tensor, where: np.ndarray, colour: Tensor) -> None:
    """Set the target to a colour ([C] or [C, H] per row) on ``where`` (in place)."""
    w = torch.from_numpy(where)
    col = colour[:, :, None].expand_as(value) if colour.dim() == 2 else colour[:, None, None].expand_as(value)
    value[:, w] = col[:, w]
    mask |= w


# -- targets ----------------------------------------------------------------------------------------

@dataclass
class Target:
    """Where (mask [H, W]) the working image should take which values (value [C, H, W])."""

    mask: Tensor
    value: Tensor


Builder = Callable[[CSG, Effect, Tensor, Codec], Target | None]


def _blank(x: Tensor) -> Target:
    return Target(torch.zeros(x.shape[1:], dtype=torch.bool), x.clone())


def reflection_target(csg: CSG, eff: Effect, x: Tensor, codec: Codec) -> Target | None:
    """Inside the surface, in the object's mirrored box: the object's pixels flipped about the contact line,
    mixed towards the surface's colour; outside the surface but inside the reflection's (wider) zone: the
    surrounding ground (no spill). The glass beyond the mirrored box is left to whatever else lies on it."""
    obj, surf = _entity(csg, eff.params.get("object")), _entity(csg, eff.params.get("surface"))
    if obj is None or surf is None:
        return None
    box = reflection_zone(obj.region, surf.region)
    if box is None:
        return None
    c, h, w = x.shape
    out = _blank(x)
    zone, on_surface = _mask(box, h, w), region_mask(surf.region, h, w)
    glass = on_surface if surf.cls == "water" else _erode(on_surface)  # a mirror keeps its frame
    # The spill zone starts one pixel off the surface: its frame (or shore) is the surface's own edge.
    inside = _mask(mirrored(obj.region, surf.region), h, w) & glass
    spill = zone & ~dilate(on_surface) & ~_things(csg, h, w, skip=(obj.id,))
    for shadow in csg.effects(EffectType.SHADOW):  # a shadow there is no spill
        if shadow.region is not None:
            spill &= ~region_mask(shadow.region, h, w)
    obj_mask = region_mask(obj.region, h, w)
    # Inside: source row mirrored about the line, weighted by how object-like the source pixel is.
    line = int(round(max(surf.region.y0, obj.region.y1) * h))
    src = (2 * line - 1 - torch.arange(h)).clamp(0, h - 1)
    backdrop = _row_median(x, ~obj_mask & ~zone & ~on_surface)
    weight = (_foreground(x, obj_mask, backdrop) * torch.from_numpy(obj_mask).float())[src]
    plain = glass & ~(inside & (weight > 0.5).numpy())  # glass with no object mirrored onto it
    colour = _median(x, plain, glass)
    mix = WATER_MIX if surf.cls == "water" else MIRROR_MIX
    flipped = colour[:, None, None] + mix * weight[None] * (x[:, src] - colour[:, None, None])
    sel = torch.from_numpy(inside)
    out.value[:, sel] = flipped[:, sel]
    out.mask |= sel
    # Outside the surface: the ground around it, row by row.
    ground = _row_median(x, ~zone & ~on_surface & ~_things(csg, h, w))
    _paint(out.value, out.mask, spill, ground)
    return out


def shadow_target(csg: CSG, eff: Effect, x: Tensor, codec: Codec) -> Target | None:
    """Darken the ground in the shadow's region (opposite the light); bring the mirrored, wrong-side region
    back to the plain ground colour. Only on what the object stands on, and past a mirror's edge on the floor
    it lies on (a mirror is flat: a lamp's long shadow runs on over the floor; a table's top ends it)."""
    obj = _entity(csg, eff.params.get("object"))
    if obj is None or eff.region is None:
        return None
    c, h, w = x.shape
    out = _blank(x)
    side = eff.params.get("side")
    wrong = _wrong_side(eff.region, obj.region) if side in ("left", "right") else None
    right_m, wrong_m = region_mask(eff.region, h, w), _mask(wrong, h, w) & ~region_mask(eff.region, h, w)
    supports = [p for p in csg.parents(obj.id, EdgeType.SUPPORTS) if isinstance(p, Entity) and p.region is not None]
    if supports:
        allowed = np.zeros((h, w), bool)
        for s in supports:
            allowed |= region_mask(s.region, h, w)
            if is_reflective(s.cls):
                allowed[int(s.region.y0 * h):] = True
    else:  # nothing named under it: the floor below its base
        allowed = np.zeros((h, w), bool)
        allowed[int(obj.region.y1 * h):] = True
    allowed &= ~_things(csg, h, w)
    plain = allowed & ~right_m & ~wrong_m
    dark = codec.colour((0, 0, 0))
    for box, m, darken in ((eff.region, right_m, True), (wrong, wrong_m, False)):
        if box is None:
            continue
        ground = _row_median(x, plain & _around(box, h, w))  # local: the light also shades the ground across
        if darken:
            ground = ground * (1 - SHADOW_DARKNESS) if dark is None else ground + SHADOW_DARKNESS * (
                dark[:, None] - ground)
        _paint(out.value, out.mask, m & allowed, ground)
    return out


def fill_target(csg: CSG, eff: Effect, x: Tensor, codec: Codec) -> Target | None:
    """The container's interior takes the substance's colour below the level and the empty colour above.

    The substance's colour is the stated one, else the one the backend draws that substance in
    (``substance_colours``), else what x̂0 shows at the interior's bottom. The empty colour is what x̂0 shows at
    the interior's top, unless that already looks like the substance (a jar drawn full to the brim, the prior
    LINA is there to correct): then the background beside the container, which clear glass shows. The side walls
    keep what x̂0 shows there that stands out from the background: with clear glass above the level, a model
    readily loses the walls and draws a bare block of substance."""
    cont = _entity(csg, eff.params.get("container"))
    if cont is None:
        return None
    level = eff.params.get("level")
    level = 0.5 if level is None else min(max(float(level), 0.0), 1.0)
    inner = container_interior(cont.region)
    c, h, w = x.shape
    out = _blank(x)
    interior = region_mask(inner, h, w)
    rows = (np.arange(h) + 0.5) / h
    line = inner.y1 - level * inner.height
    colour = _substance_colour(_entity(csg, eff.params.get("substance")), codec)
    if colour is None:
        bottom = interior & (rows >= inner.y1 - SUBSTANCE_ROWS * inner.height)[:, None]
        colour = _median(x, bottom, interior)
    top = interior & (rows < inner.y0 + EMPTY_ROWS * inner.height)[:, None]
    empty = _median(x, top, interior)
    above = interior & (rows < line)[:, None]
    beside = _row_median(x, ~_things(csg, h, w) & _around(cont.region, h, w))
    inner_rows = torch.from_numpy(interior.any(1))
    substance_like = (_distance(x - colour[:, None, None]) < _distance(x - beside[:, :, None])).numpy()
    if _distance(empty - colour) < 0.5 * _distance(beside[:, inner_rows].mean(1) - colour):
        # drawn full to the brim: only the substance-like pixels above the level go, to what the glass shows
        above &= substance_like
        empty = beside
    _paint(out.value, out.mask, interior & (rows >= line)[:, None], colour)
    _paint(out.value, out.mask, above, empty)
    walls = region_mask(cont.region, h, w) & ~interior & (rows >= inner.y0)[:, None] & (rows < inner.y1)[:, None]
    # a wall drawn in the substance's colour is no wall: its colour is read from the rest
    drawn = walls & ~substance_like
    if drawn.any():
        _paint(out.value, out.mask, walls, _object_colour(x, drawn, beside))
    return out


def _substance_colour(sub: Entity | None, codec: Codec) -> Tensor | None:
    """A substance's colour as for any entity (``expected_colour``), else the backend's RGB habit for its class."""
    if sub is None:
        return None
    stated = expected_colour(sub, codec)
    if stated is not None:
        return stated
    rgb = codec.backend.substance_colours.get(sub.cls)
    return codec.colour(rgb) if rgb is not None else None


def _object_colour(x: Tensor, region: np.ndarray, background: Tensor) -> Tensor:
    """Median of the clearly object-like pixels of ``region`` (all of it when none stand out)."""
    fg = (_foreground(x, region, background) >= 1.0).numpy() & region
    return _median(x, fg, region)


def expected_colour(ent: Entity, codec: Codec) -> Tensor | None:
    """The stated colour, else the one this model draws an uncoloured thing of that class in (the backend's
    ``class_colours``: the embedded model's world has a habit per class, real models have none)."""
    name = canonical_colour(ent.colour) if ent.colour else codec.backend.class_colours.get(ent.cls)
    return codec.colour(COLOURS[name]) if name else None


def _stated_or_measured(ent: Entity, x: Tensor, region: np.ndarray, background: Tensor, codec: Codec) -> Tensor:
    stated = expected_colour(ent, codec)
    return stated if stated is not None else _object_colour(x, region, background)


def contact_target(csg: CSG, eff: Effect, x: Tensor, codec: Codec) -> Target | None:
    """No gap: in the contact strip under the object's middle, the object's colour (its lower half's
    object-like pixels) down to its base line and the support's top colour below it. A mouth contact
    (from an action) instead gets the agent's head colour over the patient."""
    obj, sup = _entity(csg, eff.params.get("object")), _entity(csg, eff.params.get("support"))
    if obj is None or sup is None or eff.region is None:
        return None
    c, h, w = x.shape
    out = _blank(x)
    if eff.params.get("part") == "mouth":
        head = _head_colour(csg, sup, obj, eff.region, x)
        _paint(out.value, out.mask, region_mask(eff.region, h, w), head)
        return out
    o = obj.region
    middle = _clipped(o.x0 + o.width / 4, eff.region.y0, o.x1 - o.width / 4, eff.region.y1)
    strip = region_mask(eff.region, h, w) & _mask(middle, h, w)
    rows = (np.arange(h) + 0.5) / h
    lower = _mask(_clipped(o.x0 + o.width / 4, o.y0 + 0.5 * o.height, o.x1 - o.width / 4, o.y1), h, w)
    background = _row_median(x, ~_things(csg, h, w) & ~region_mask(sup.region, h, w))
    top = _mask(_clipped(o.x0, sup.region.y0, o.x1, sup.region.y0 + 0.25 * sup.region.height), h, w)
    _paint(out.value, out.mask, strip & (rows < o.y1)[:, None], _object_colour(x, lower, background))
    _paint(out.value, out.mask, strip & (rows >= o.y1)[:, None], _median(x, top, region_mask(sup.region, h, w)))
    return out


def _head_colour(csg: CSG, agent: Entity, patient: Entity, mouth: Region, x: Tensor) -> Tensor:
    """The agent's colour in the rows of its mouth (its head), off the patient."""
    c, h, w = x.shape
    a_m, p_m = region_mask(agent.region, h, w), region_mask(patient.region, h, w)
    background = _row_median(x, ~a_m & ~p_m & ~_things(csg, h, w))
    head = _mask(_clipped(agent.region.x0, mouth.y0, agent.region.x1, mouth.y1), h, w) & a_m & ~p_m
    return _object_colour(x, head if head.any() else a_m & ~p_m, background)


def action_target(csg: CSG, eff: Effect, x: Tensor, codec: Codec) -> Target | None:
    """Who is who: inside the agent's own region, pixels that look like the patient (closer to the patient's
    colour than to the agent's) take the agent's colour, and the other way round; each colour is the stated
    one, else the median of the clearly object-like pixels of that one's own region. Deliberately modest:
    it undoes swapped or mixed-up roles and stray patches, it does not draw a bite (the mouth contact
    node paints the agent's head at the patient)."""
    agent, patient = _entity(csg, eff.params.get("agent")), _entity(csg, eff.params.get("patient"))
    if agent is None or patient is None:
        return None
    c, h, w = x.shape
    out = _blank(x)
    a_m, p_m = region_mask(agent.region, h, w), region_mask(patient.region, h, w)
    background = _row_median(x, ~a_m & ~p_m & ~_things(csg, h, w))
    own = {agent.id: a_m & ~p_m, patient.id: p_m & ~a_m}
    colour = {e.id: _stated_or_measured(e, x, own[e.id], background, codec) for e in (agent, patient)}
    for me, other in ((agent, patient), (patient, agent)):
        d_me = _distance(x - colour[me.id][:, None, None])
        d_other = _distance(x - colour[other.id][:, None, None])
        fg = (_foreground(x, own[me.id], background) >= 1.0).numpy()
        _paint(out.value, out.mask, own[me.id] & fg & (d_other < d_me).numpy(), colour[me.id])
    return out


def silhouette(region: Region, h: int, w: int) -> np.ndarray:
    """An ellipse filling SILHOUETTE_FILL of the box: where a missing object is placed (at least one pixel)."""
    ys, xs = (np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w
    (cx, cy), fill = region.center, SILHOUETTE_FILL / 2
    rx, ry = max(region.width * fill, 0.5 / w), max(region.height * fill, 0.5 / h)
    return ((xs[None, :] - cx) / rx) ** 2 + ((ys[:, None] - cy) / ry) ** 2 <= 1.0


def texture_target(csg: CSG, ent: Entity, x: Tensor, codec: Codec) -> Target | None:
    """The entity's stated colour, kept with its shading: the pixels of its region that are already near
    that colour (closer than half the way to the background) are shifted so their median becomes it. No
    colour is painted where the model drew something else (a substance inside a jar, a thing in front) —
    unless the entity is missing (fewer than PRESENT_SHARE of its silhouette near its colour), which is how
    out-of-distribution compositions usually fail ("a ball on a small mirror" drawn as a bare mirror): then a
    blob of its colour is placed on its silhouette, and the model draws the object there from then on. A
    container's colour is read and placed on its rim, above its interior: its glass is clear."""
    colour = expected_colour(ent, codec)
    if colour is None or ent.region is None:
        return None
    c, h, w = x.shape
    out = _blank(x)
    own = region_mask(ent.region, h, w)
    for other in csg.nodes():  # what lies inside or in front of it is not its texture
        if other.id != ent.id and other.region is not None and ent.region.contains(other.region):
            own &= ~region_mask(other.region, h, w)
    body = silhouette(ent.region, h, w) & own
    if category(ent.cls) == Category.CONTAINER:  # clear glass: its own colour shows on the rim above its interior
        rim = own & ((np.arange(h) + 0.5) / h < container_interior(ent.region).y0)[:, None]
        if rim.any():
            own = body = rim
    background = _row_median(x, ~region_mask(ent.region, h, w) & ~_things(csg, h, w))
    d_colour = _distance(x - colour[:, None, None])
    d_background = _distance(colour[:, None, None] - background[:, :, None])
    near = own & (d_colour < 0.5 * d_background).numpy()
    if near.sum() < PRESENT_SHARE * body.sum():
        _paint(out.value, out.mask, body, colour)
        return out
    shift = colour - _median(x, near)
    sel = torch.from_numpy(near)
    out.value[:, sel] = x[:, sel] + shift[:, None]
    out.mask |= sel
    return out


BUILDERS: dict[EffectType, Builder] = {
    EffectType.REFLECTION: reflection_target, EffectType.SHADOW: shadow_target, EffectType.FILL: fill_target,
    EffectType.CONTACT: contact_target, EffectType.ACTION: action_target,
}
# Later targets win where masks overlap: the reflection (which clears spills) goes last.
_ORDER = (EffectType.FILL, EffectType.CONTACT, EffectType.SHADOW, EffectType.ACTION, EffectType.REFLECTION)


def footprint(csg: CSG, node_id: str, h: int, w: int) -> np.ndarray:
    """Every pixel a node's target may touch (its boxes, from the graph alone): for tests and the app."""
    node = csg.node(node_id)
    out = _mask(node.region, h, w)
    if isinstance(node, Effect):
        p = node.params
        obj = _entity(csg, p.get("object"))
        if node.type == EffectType.REFLECTION and obj is not None and _entity(csg, p.get("surface")) is not None:
            out |= _mask(reflection_zone(obj.region, csg.node(p["surface"]).region), h, w)
        elif node.type == EffectType.SHADOW and obj is not None and node.region is not None:
            out |= _mask(_wrong_side(node.region, obj.region), h, w)
        elif node.type == EffectType.FILL and _entity(csg, p.get("container")) is not None:
            out |= region_mask(csg.node(p["container"]).region, h, w)  # its interior and walls
    return out


# -- the hook ---------------------------------------------------------------------------------------

def guided_nodes(csg: CSG, nodes: Iterable[str] | None, class_colours: Mapping[str, str] = MappingProxyType({})
                 ) -> list[str]:
    """Node ids the latent guidance acts on: by default the things with a stated colour or a colour in
    ``class_colours`` (their texture and presence) and every effect; otherwise the named ones. Entities come
    first, so effects win overlaps."""
    if nodes is None:
        things = [e.id for e in csg.entities() if (e.colour or e.cls in class_colours) and _is_thing(csg, e)]
        return things + [e.id for e in sorted(csg.effects(), key=lambda e: _ORDER.index(e.type))]
    nodes = list(nodes)
    missing = [n for n in nodes if n not in csg]
    if missing:
        raise ValueError(f"latent guidance on nodes that are not in the graph: {missing}")
    effects = sorted((csg.node(n) for n in nodes if isinstance(csg.node(n), Effect)),
                     key=lambda e: _ORDER.index(e.type))
    return [n for n in nodes if isinstance(csg.node(n), Entity)] + [e.id for e in effects]


def clip_span(node: Entity | Effect) -> tuple[float, float]:
    """When in a video a node's effect shows: an effect's ``params["frames"] = [start, end]``, shares of the clip
    (0 the first frame, 1 the last; e.g. [0.5, 1] for an effect that happens halfway). Default: all of it."""
    span = node.params.get("frames") if isinstance(node, Effect) else None
    if span is None:
        return (0.0, 1.0)
    ok = isinstance(span, (list, tuple)) and len(span) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in span)
    if not ok or not 0.0 <= span[0] <= span[1] <= 1.0:
        raise ValueError(f"node {node.id!r}: params.frames must be [start, end] with 0 <= start <= end <= 1 "
                         f"(shares of the clip), got {span!r}")
    return (float(span[0]), float(span[1]))


def clean_from_output(scheduler, state: StepState, output: Tensor, latents: Tensor) -> Tensor:
    """x̂0 where the scheduler's step reports none: a DDPM-family scheduler (PNDM, SD-1.5's default; UniPC on
    timesteps) from its alphas_cumprod, for noise or v prediction; flow matching, whose model output is the
    velocity eps - x0, as x_t - sigma * v."""
    kind = getattr(getattr(scheduler, "config", None), "prediction_type", None)
    if kind == "sample":
        return output
    if kind in ("epsilon", "v_prediction") and hasattr(scheduler, "alphas_cumprod"):
        a = scheduler.alphas_cumprod[round(float(state.timestep))].to(latents)
        if kind == "epsilon":
            return (latents - (1 - a).sqrt() * output) / a.sqrt()
        return a.sqrt() * latents - (1 - a).sqrt() * output
    return latents - state.sigma * output


def clean_estimate(state: StepState) -> Tensor:
    """x̂0 of the step: the scheduler's own when it reports one, else ``clean_from_output``."""
    if state.x0 is not None:
        return state.x0
    return clean_from_output(state.scheduler, state, state.noise_pred, state.latents)


def predicted_clean(scheduler, state: StepState, output: Tensor, latents: Tensor) -> Tensor:
    """x̂0 from a model ``output`` at ``latents`` (differentiable in both), by a step of ``scheduler``, a copy
    of the run's (whose own state must not advance); flow matching as in ``clean_estimate``."""
    step = scheduler.step(output, state.timestep, latents, return_dict=True)
    x0 = getattr(step, "pred_original_sample", None)
    return x0 if x0 is not None else clean_from_output(scheduler, state, output, latents)


def contraction(state: StepState, x0: Tensor) -> Tensor:
    """r = sigma_{t-1}/sigma_t per sample, read from the step (see the module docstring): [B, 1, ...]."""
    a = (state.prev_latents - x0).flatten(1).double()
    b = (state.latents - x0).flatten(1).double()
    r = (a * b).sum(1) / (b * b).sum(1).clamp_min(1e-20)
    return r.clamp(0.0, 1.0).to(x0.dtype).view(-1, *([1] * (x0.dim() - 1)))


class LatentGuidance:
    """Moves x_{t-1} toward the CSG targets on x̂0 inside the nodes' masks, during ``window`` steps; with
    ``gradient`` (the backend whose model to differentiate) moves x_t by a gradient step instead."""

    def __init__(self, codec: Codec, strength: float, csg: CSG, window: tuple[int, int] | None = None,
                 nodes: Iterable[str] | None = None, gradient: Backend | None = None) -> None:
        self.codec, self.strength, self.csg, self.window = codec, float(strength), csg, window
        self.gradient = gradient
        self.nodes = guided_nodes(csg, nodes, codec.backend.class_colours)
        for nid in self.nodes:
            if csg.node(nid).region is None:
                raise ValueError(f"node {nid!r} has no layout region: run csg.layout.assign_layout first")
        self.spans = {nid: clip_span(csg.node(nid)) for nid in self.nodes}
        self._skipped: set[str] = set()

    def targets(self, x: Tensor, at: float | None = None) -> tuple[Tensor, Tensor]:
        """x̂0* and the union mask for one working image x [C, H, W]; ``at`` is a video frame's place in the
        clip (0 first, 1 last), where only the nodes whose span holds it act (None: an image, all act)."""
        value = x.clone()
        mask = torch.zeros(x.shape[1:], dtype=torch.bool)
        for nid in self.nodes:  # every target reads the model's own x̂0; where they overlap, the later wins
            a, b = self.spans[nid]
            if at is not None and not a <= at <= b:
                continue
            node = self.csg.node(nid)
            if isinstance(node, Entity):
                target = texture_target(self.csg, node, x, self.codec)
            else:
                target = BUILDERS[node.type](self.csg, node, x, self.codec)
            if target is None:
                if nid not in self._skipped:
                    self._skipped.add(nid)
                    warnings.warn(f"latent guidance: {nid} lacks what its target needs (parents, regions or a "
                                  "colour); skipped", stacklevel=2)
                continue
            value[:, target.mask] = target.value[:, target.mask]
            mask |= target.mask
        return value, mask

    def goal(self, x: Tensor) -> Tensor:
        """x̂0* of one sample: an image [C, H, W], or a video [C, F, H, W] frame by frame (the CSG's regions
        repeat in every frame; a node with a ``frames`` span acts only in the frames it covers)."""
        if x.dim() == 3:
            return self.targets(x)[0]
        n = x.shape[1]
        frames = [self.targets(x[:, k], k / (n - 1) if n > 1 else 0.0)[0] for k in range(n)]
        return torch.stack(frames, dim=1)

    def _active(self, state: StepState) -> bool:
        a, b = self.window if self.window is not None else (0, state.num_steps)
        return self.strength != 0.0 and bool(self.nodes) and a <= state.index < b

    def before_model(self, state: StepState) -> None:
        if self.gradient is None or not self._active(state):
            return
        scheduler = copy.deepcopy(state.scheduler)
        with torch.enable_grad():
            x = state.latents.detach().float().requires_grad_(True)
            x_in = model_input(scheduler, x, state.timestep).to(state.latents.dtype)
            output = self.gradient.predict(x_in, state.timestep, state.cond)
            pixels = self.codec.to_pixels(predicted_clean(scheduler, state, output.float(), x))
            goal = torch.stack([self.goal(p) for p in pixels.detach().cpu()]).to(pixels)
            loss = 0.5 * (pixels - goal).pow(2).flatten(1).sum(1)  # per sample; x̂0 is its own goal off the masks
            grad, = torch.autograd.grad(loss.sum(), x)  # sample b's loss depends on sample b's latents only
        shape = (-1, *[1] * (x.dim() - 1))
        size = (loss.detach() / grad.flatten(1).pow(2).sum(1).clamp_min(1e-20)).view(shape)
        step = GRADIENT_SHARE * self.strength * size * grad
        # Where x̂0 barely responds to x_t, Polyak's step explodes: never move x_t by more than a share of itself.
        norm = step.flatten(1).norm(dim=1).view(shape).clamp_min(1e-20)
        step = step * (MAX_GRADIENT_STEP * x.detach().flatten(1).norm(dim=1).view(shape) / norm).clamp(max=1.0)
        state.latents = (x - step).detach().to(state.latents.dtype)

    def after_step(self, state: StepState) -> None:
        if self.gradient is not None or not self._active(state):
            return
        x0 = clean_estimate(state)
        pixels = self.codec.to_pixels(x0).cpu()
        goal = torch.stack([self.goal(p) for p in pixels])
        delta = self.codec.to_latents(goal.to(x0)) - self.codec.to_latents(pixels.to(x0))
        state.prev_latents = state.prev_latents + self.strength * (1 - contraction(state, x0)) * delta
