"""The judge: scores an image against its CSG, node by node, as the paper's VLM judge does.

It reads only the pixels and the graph with its layout regions, never the renderer's masks, so
it can score a generated image exactly like a rendered one. A generative model draws things
roughly where the layout says, blurred and noisy, so every check searches in and around the
node's region and decides on colour statistics against an estimated background, not on exact
pixels. The reference colours (named colours, ground and substance colours, mirror glass) are
the world's appearance, shared with the renderer.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
from PIL import Image

from ..csg.graph import CSG, EdgeType, Effect, EffectType, Entity, Region
from ..csg.layout import container_interior
from ..csg.vocab import COLOURS, Category, canonical_colour, category, is_reflective
from .render import GROUND_RGB, SUBSTANCE_RGB
from .sprites import MIRROR_GLASS

Array = np.ndarray
Rect = tuple[int, int, int, int]  # pixel box y0, y1, x0, x1 (half-open)

DEV = 0.12  # colour distance (RGB in [0, 1]) above which a pixel is not background
SUN_RGB = (255, 222, 60)
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# Brightness range (scale of the named colour) a pixel may show and still count as that colour:
# shading darkens faces and outlines; achromatic colours split the grey axis between them.
_SCALE: dict[str, tuple[float, float]] = {"white": (0.8, 1.2), "gray": (0.55, 1.4), "black": (0.0, 2.6)}
_CHROMATIC_SCALE = (0.45, 1.3)
# Fraction of its box an entity shows in its own colour, below which it counts as missing.
_COLOUR_AREA: dict[str, float] = {"jar": 0.015, "lamp": 0.04, "person": 0.06, "snake": 0.05, "bird": 0.06,
                                  "bottle": 0.06, "cup": 0.1, "table": 0.08, "mirror": 0.05}
_DEFAULT_COLOUR_AREA = 0.12
_CONTRAST_AREA = 0.1  # fraction of its box that must differ from the background
_GROUND_AREA = 0.4  # fraction of a ground band in its class colour
_FILL_TOL = 0.15
_SHADOW_DARK = 0.12  # relative darkening that counts as a shadow
_REFLECTION_AREA = 0.2
# How far (0 = plain surface, 1 = the object itself) a reflection pixel moves towards the object:
# water shows a dark, rippled copy, a mirror a bright one.
_WATER_MIX, _MIRROR_MIX = 0.12, 0.35
_SPILL_PX = 5
_CONTACT_GAP = 1  # rows of background allowed between an object and its support
_MAX_GAP = 12
_AGENT_RATIO = 1.2


# -- results -------------------------------------------------------------------------------------
@dataclass
class NodeVerdict:
    node_id: str
    kind: str  # "entity" | "effect" | "relation"
    passed: bool
    score: float  # confidence in [0, 1] that the node is drawn right
    reason: str


@dataclass
class Verdict:
    nodes: list[NodeVerdict]
    physical: float  # fraction of effect and relation checks passing
    texture: float  # fraction of entities present with the right colour
    passed: bool

    def by_id(self) -> dict[str, NodeVerdict]:
        return {n.node_id: n for n in self.nodes}

    def as_dict(self) -> dict[str, Any]:
        return {"physical": self.physical, "texture": self.texture, "passed": self.passed,
                "nodes": [asdict(n) for n in self.nodes]}


def _verdict(node_id: str, kind: str, value: float, threshold: float, spread: float, ok: str, bad: str) -> NodeVerdict:
    """Pass when ``value >= threshold``; the score says how far from the threshold it is."""
    score = float(np.clip(0.5 + (value - threshold) / (2 * spread), 0.0, 1.0))
    passed = value >= threshold
    return NodeVerdict(node_id, kind, passed, score, ok if passed else bad)


def _fail(node_id: str, kind: str, reason: str) -> NodeVerdict:
    return NodeVerdict(node_id, kind, False, 0.0, reason)


# -- the image, prepared once --------------------------------------------------------------------
def as_array(image: Any) -> Array:
    """PIL image or array ([3,H,W] or [H,W,3], float in [0, 1] or uint8) -> float32 [H, W, 3] in [0, 1]."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), np.float32) / 255.0
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    a = np.asarray(image)
    if a.ndim != 3:
        raise ValueError(f"expected an RGB image, got shape {a.shape}")
    if a.shape[0] == 3 and a.shape[-1] != 3:
        a = a.transpose(1, 2, 0)
    a = a.astype(np.float32) / (255.0 if a.dtype == np.uint8 else 1.0)
    return np.clip(a, 0.0, 1.0)


def _smooth(a: Array) -> Array:
    """[1, 4, 1] / 6 separable blur: halves a generator's pixel noise, keeps thin things' colour."""
    p = np.pad(a, ((1, 1), (1, 1), (0, 0)), mode="edge")
    a = (p[:-2] + 4 * p[1:-1] + p[2:]) / 6
    return (a[:, :-2] + 4 * a[:, 1:-1] + a[:, 2:]) / 6


def _row_median(img: Array, keep: Array) -> Array:
    """Per-row median colour of the kept pixels; rows with none copy the nearest row that has some."""
    h = img.shape[0]
    vals = np.where(keep[..., None], img, np.inf)
    vals.sort(axis=1)
    n = keep.sum(axis=1)
    ok = n > 0
    if not ok.any():
        return np.median(img, axis=1)
    rows = np.arange(h)
    lo = np.take_along_axis(vals, np.maximum((n - 1) // 2, 0)[:, None, None], axis=1)[:, 0]
    hi = np.take_along_axis(vals, np.maximum(n // 2, 0)[:, None, None], axis=1)[:, 0]
    med = (lo + hi) / 2
    valid = rows[ok]
    nearest = valid[np.abs(rows[:, None] - valid[None, :]).argmin(axis=1)]
    return med[nearest]


@dataclass
class _View:
    """The smoothed image, a background estimate and the graph's regions in pixels."""

    csg: CSG
    raw: Array  # the image as given: medians over many pixels are read here
    img: Array  # smoothed: per-pixel tests are read here
    bg: Array
    dev: Array  # distance of each pixel from the background estimate
    lum: Array

    @property
    def size(self) -> tuple[int, int]:
        return self.img.shape[0], self.img.shape[1]

    def rect(self, region: Region, pad: float = 0.0) -> Rect:
        h, w = self.size
        y0 = int(np.clip(np.floor(region.y0 * h - pad), 0, h - 1))
        x0 = int(np.clip(np.floor(region.x0 * w - pad), 0, w - 1))
        y1 = int(np.clip(np.ceil(region.y1 * h + pad), y0 + 1, h))
        x1 = int(np.clip(np.ceil(region.x1 * w + pad), x0 + 1, w))
        return y0, y1, x0, x1

    def area(self, region: Region) -> float:
        h, w = self.size
        return max(region.width * w * region.height * h, 1.0)


def _side_light(img: Array, bg: Array, free: Array) -> Array:
    """A light from one side brightens the whole scene towards it: the per-column gain that row
    medians miss, fitted as a line over the background pixels."""
    w = img.shape[1]
    ys, xs = np.nonzero(free)
    if len(xs) < 16:
        return np.ones(w, np.float32)
    ratio = (img[ys, xs] @ _LUMA) / np.maximum(bg[ys, xs] @ _LUMA, 1e-3)
    k, a = np.polyfit(xs.astype(np.float32), ratio, 1)
    return (a + k * np.arange(w)).astype(np.float32)


def _surfaces(csg: CSG) -> list[Entity]:
    """Ground bands: surfaces and substances not held by a container."""
    return [e for e in csg.entities() if category(e.cls) in (Category.SURFACE, Category.SUBSTANCE)
            and not csg.parents(e.id, EdgeType.CONTAINS) and e.region is not None]


def _view(image: Any, csg: CSG) -> _View:
    raw = as_array(image)
    img = _smooth(raw)
    h, w = img.shape[:2]
    free = np.ones((h, w), bool)
    grounds = {e.id for e in _surfaces(csg)}
    tmp = _View(csg, raw, img, img, img, img)
    for n in csg.nodes():
        if n.region is not None and n.id not in grounds:
            y0, y1, x0, x1 = tmp.rect(n.region, pad=2)
            free[y0:y1, x0:x1] = False
    # The ground is split into side-by-side bands (sand | water): one background per band.
    segment = np.zeros((h, w), np.int8)
    for k, band in enumerate(_surfaces(csg), start=1):
        y0, y1, x0, x1 = tmp.rect(band.region)
        segment[y0:y1, x0:x1] = k
    bg = np.empty_like(img)
    for k in np.unique(segment):
        where = segment == k
        med = _row_median(img, free & where if (free & where).any() else where)
        bg[where] = np.broadcast_to(med[:, None, :], img.shape)[where]
    bg = bg * _side_light(img, bg, free)[None, :, None]
    dev = np.sqrt(((img - bg) ** 2).sum(-1))
    return _View(csg, raw, img, bg, dev, img @ _LUMA)


# -- colours -------------------------------------------------------------------------------------
def _rgb(c: tuple[int, ...]) -> Array:
    return np.asarray(c[:3], np.float32) / 255.0


def _near_colour(px: Array, c: Array, scale: tuple[float, float] = _CHROMATIC_SCALE, tol: float = 0.16) -> Array:
    """Pixels that look like colour ``c`` under shading: close to ``s * c`` for some s in ``scale``."""
    s = np.clip(px @ c / float(c @ c), *scale)
    return np.sqrt(((px - s[..., None] * c) ** 2).sum(-1)) <= tol * np.maximum(s, 0.5)


def _nearest_named(px: Array, name: str) -> Array:
    """Pixels whose nearest named colour (under shading) is ``name``, and near enough to it."""
    best_d = np.full(px.shape[:2], np.inf, np.float32)
    best = np.full(px.shape[:2], "", object)
    for other, c in COLOURS.items():
        cc = _rgb(c)
        s = np.clip(px @ cc / float(cc @ cc), *_SCALE.get(other, _CHROMATIC_SCALE))
        d = np.sqrt(((px - s[..., None] * cc) ** 2).sum(-1)) / np.maximum(s, 0.5)
        closer = d < best_d
        best[closer], best_d[closer] = other, d[closer]
    return (best == name) & (best_d <= 0.2)


def _named_in(v: _View, rect: Rect, name: str) -> Array:
    """Pixels of ``rect`` drawn in a named colour: in the smoothed or the raw image (thin strokes keep
    their colour only in the raw one), and standing out from the background (a white cup, not the wall)."""
    y0, y1, x0, x1 = rect
    hit = _nearest_named(v.img[y0:y1, x0:x1], name) | _nearest_named(v.raw[y0:y1, x0:x1], name)
    return hit & (v.dev[y0:y1, x0:x1] > DEV / 2)


def _colour_of(ent: Entity) -> str | None:
    return canonical_colour(ent.colour) if ent.colour else None


def _ent(csg: CSG, nid: Any) -> Entity | None:
    node = csg.node(nid) if isinstance(nid, str) and nid in csg else None
    return node if isinstance(node, Entity) else None


def _appearance(v: _View, ent: Entity) -> Callable[[Rect], Array]:
    """A pixel test for what the entity looks like: its named colour, else its measured colour."""
    name = _colour_of(ent)
    if name:
        return lambda rect: _named_in(v, rect, name)
    c = _measured_colour(v, ent)
    return lambda r: _near_colour(v.img[r[0]:r[1], r[2]:r[3]], c) & (v.dev[r[0]:r[1], r[2]:r[3]] > DEV)


# -- entities ------------------------------------------------------------------------------------
def _pad(v: _View, region: Region) -> float:
    h, w = v.size
    return max(2.0, 0.15 * max(region.width * w, region.height * h))


def _check_entity(v: _View, ent: Entity) -> NodeVerdict:
    csg, cat = v.csg, category(ent.cls)
    name = _colour_of(ent)
    what = " ".join(x for x in (name, ent.cls) if x)
    if cat in (Category.SURFACE, Category.SUBSTANCE):
        held = bool(csg.parents(ent.id, EdgeType.CONTAINS))
        refs = [SUBSTANCE_RGB.get(ent.cls)] if held else _GROUND_REFS.get(ent.cls, [])
        if name:
            refs = [COLOURS[name]]
        if not refs:
            return _contrast(v, ent, what)
        y0, y1, x0, x1 = v.rect(ent.region, pad=1 if held else 0)
        px = v.img[y0:y1, x0:x1]
        hit = np.zeros(px.shape[:2], bool)
        for r in refs:
            hit |= _near_colour(px, _rgb(r), (0.7, 1.3), 0.14)
        frac = hit.sum() / v.area(ent.region)
        need = 0.3 if held else _GROUND_AREA
        return _verdict(ent.id, "entity", frac, need, 0.2, f"{what} found at the expected place",
                        f"no {what} at the expected place ({frac:.0%} of its area)")
    if cat == Category.LIGHT:
        y0, y1, x0, x1 = v.rect(ent.region, pad=2)
        frac = _near_colour(v.img[y0:y1, x0:x1], _rgb(SUN_RGB), (0.7, 1.2), 0.2).sum() / v.area(ent.region)
        return _verdict(ent.id, "entity", frac, 0.06, 0.1, f"light found on the {ent.side or 'expected side'}",
                        "no light source where the light should be")
    if not name:
        return _contrast(v, ent, what)
    y0, y1, x0, x1 = v.rect(ent.region, pad=_pad(v, ent.region))
    area = v.area(ent.region)
    frac = _named_in(v, (y0, y1, x0, x1), name).sum() / area
    contrast = (v.dev[y0:y1, x0:x1] > DEV).sum() / area
    need = _COLOUR_AREA.get(ent.cls, _DEFAULT_COLOUR_AREA)
    if frac >= need:
        return _verdict(ent.id, "entity", min(frac / need, contrast / _CONTRAST_AREA), 1.0, 1.0,
                        f"{what} found at the expected place", f"no {what} at the expected place")
    if contrast >= _CONTRAST_AREA:
        return _verdict(ent.id, "entity", frac, need, need, "", f"{ent.cls} at the expected place is not {name}")
    return _verdict(ent.id, "entity", frac, need, need, "", f"no {what} at the expected place")


def _contrast(v: _View, ent: Entity, what: str) -> NodeVerdict:
    y0, y1, x0, x1 = v.rect(ent.region, pad=_pad(v, ent.region))
    frac = (v.dev[y0:y1, x0:x1] > DEV).sum() / v.area(ent.region)
    return _verdict(ent.id, "entity", frac, _CONTRAST_AREA, _CONTRAST_AREA, f"{what} found at the expected place",
                    f"no {what} at the expected place")


_GROUND_REFS: dict[str, list[tuple[int, int, int]]] = {
    "floor": [GROUND_RGB["wood"], GROUND_RGB["tiles"]], "grass": [GROUND_RGB["grass"]],
    "sand": [GROUND_RGB["sand"]], "water": [GROUND_RGB["water"]], "dirt": [GROUND_RGB["dirt"]],
}


# -- effects -------------------------------------------------------------------------------------
def _check_reflection(v: _View, eff: Effect) -> NodeVerdict:
    obj, surf = _ent(v.csg, eff.params.get("object")), _ent(v.csg, eff.params.get("surface"))
    if obj is None or surf is None or obj.region is None or surf.region is None:
        return _fail(eff.id, "effect", "reflection without an object or a surface in the graph")
    inside = _reflection_inside(v, eff, obj, surf)
    if inside is None:
        return NodeVerdict(eff.id, "effect", True, 0.5, f"reflection of the {obj.cls} too small to judge")
    spill, reach = _spill(v, obj, surf)
    if spill >= _SPILL_PX:
        return NodeVerdict(eff.id, "effect", False, float(np.clip(0.5 - spill / 40, 0, 0.5)),
                           f"reflection extends {reach} px beyond the {surf.cls}")
    return _verdict(eff.id, "effect", inside, _REFLECTION_AREA, _REFLECTION_AREA,
                    f"reflection of the {obj.cls} inside the {surf.cls}",
                    f"no reflection of the {obj.cls} inside the {surf.cls}")


def _reflection_inside(v: _View, eff: Effect, obj: Entity, surf: Entity) -> float | None:
    """Of the pixels where the flipped object should show (inside the surface, off its rim), the
    fraction that look like the object pixel mirrored onto them, attenuated towards the surface.
    None when too few such pixels can tell (a sliver of reflection, or one the colour of the surface)."""
    y0, y1, x0, x1 = v.rect(eff.region)
    sy0, sy1, sx0, sx1 = v.rect(surf.region, pad=-1)
    y0, y1, x0, x1 = max(y0, sy0), min(y1, sy1), max(x0, sx0), min(x1, sx1)
    if y1 - y0 < 1 or x1 - x0 < 1:
        y0, y1, x0, x1 = v.rect(eff.region)
    h = v.size[0]
    line = int(round(max(surf.region.y0, obj.region.y1) * h))
    src = np.clip(2 * line - 1 - np.arange(y0, y1), 0, h - 1)
    oy0, oy1, ox0, ox1 = v.rect(obj.region)
    on_obj = (src >= oy0) & (src < oy1)
    drawn = np.zeros((y1 - y0, x1 - x0), bool)
    c0, c1 = max(x0, ox0), min(x1, ox1)
    if c1 > c0:
        drawn[:, c0 - x0:c1 - x0] = (v.dev[src][:, c0:c1] > DEV) & on_obj[:, None]
    plain = v.bg[y0:y1, x0:x1] if surf.cls == "water" else np.broadcast_to(_glass(v, eff, surf), (y1 - y0, x1 - x0, 3))
    like, informative = _reflection_like(v.img[y0:y1, x0:x1], plain, v.img[src, x0:x1], surf.cls == "water",
                                         _shadowed(v, (y0, y1, x0, x1)))
    use = drawn & informative
    return float(like[use].mean()) if use.sum() >= 6 else None


def _shadowed(v: _View, rect: Rect) -> Array:
    """Pixels of ``rect`` inside a shadow the graph expects: darkness there is no evidence of anything else."""
    y0, y1, x0, x1 = rect
    out = np.zeros((y1 - y0, x1 - x0), bool)
    for eff in v.csg.effects(EffectType.SHADOW):
        a, b, c, d = v.rect(eff.region, pad=1)
        out[max(a - y0, 0):max(b - y0, 0), max(c - x0, 0):max(d - x0, 0)] = True
    return out


def _glass(v: _View, eff: Effect, surf: Entity) -> Array:
    """The mirror's plain glass: measured where the mirror shows no reflection, else the world's glass colour."""
    y0, y1, x0, x1 = v.rect(surf.region, pad=-1)
    free = np.ones((y1 - y0, x1 - x0), bool)
    ry0, ry1, rx0, rx1 = v.rect(eff.region, pad=1)
    free[max(ry0 - y0, 0):max(ry1 - y0, 0), max(rx0 - x0, 0):max(rx1 - x0, 0)] = False
    px = v.img[y0:y1, x0:x1][free]
    return np.median(px, axis=0) if len(px) >= 8 else _rgb(MIRROR_GLASS)


def _measured_colour(v: _View, ent: Entity) -> Array:
    """Median colour of the entity's drawn pixels (not background) in the core of its region."""
    name = _colour_of(ent)
    y0, y1, x0, x1 = v.rect(ent.region)
    hh, ww = y1 - y0, x1 - x0
    for a, b, c, d in ((y0 + hh // 5, y1 - hh // 4, x0 + ww // 4, x1 - ww // 4), (y0, y1, x0, x1)):
        sel = _named_in(v, (a, b, c, d), name) if name else v.dev[a:b, c:d] > DEV
        if sel.sum() >= 3:
            return np.median(v.raw[a:b, c:d][sel], axis=0).astype(np.float32)
    return _rgb(COLOURS[name]) if name else v.raw[y0:y1, x0:x1].reshape(-1, 3).mean(0)


def _reflection_like(px: Array, plain: Array, o: Array, water: bool, shadowed: Array) -> tuple[Array, Array]:
    """Per pixel: has the plain surface moved towards the object colour ``o`` mirrored there (its
    chromaticity where the two differ in colour, else its brightness)? And is that decidable at all
    (not by brightness inside an expected shadow)?"""
    chroma = lambda a: a / np.maximum(a.sum(-1, keepdims=True), 1e-3)  # noqa: E731
    cp, cs, co = chroma(px), chroma(plain), chroma(o)
    lp, ls, lo = px @ _LUMA, plain @ _LUMA, o @ _LUMA
    dc, dl = co - cs, lo - ls
    n2 = (dc ** 2).sum(-1)
    by_colour = n2 > 0.004
    tc = ((cp - cs) * dc).sum(-1) / np.maximum(n2, 1e-6)
    tl = (lp - ls) / np.where(np.abs(dl) > 1e-3, dl, 1.0)
    t_min = _WATER_MIX if water else _MIRROR_MIX
    like = np.where(by_colour, (tc >= t_min) & ((lp - ls) * dl >= -0.004), tl >= t_min)
    return like, by_colour | ((np.abs(dl) > 0.1) & ~shadowed)


def _spill(v: _View, obj: Entity, surf: Entity) -> tuple[int, int]:
    """Non-background pixels where the mirrored object would be but the surface is not: (count, reach)."""
    h, w = v.size
    o, s = obj.region, surf.region
    line = max(s.y0, o.y1)
    top, bottom = 2 * line - o.y1, min(2 * line - o.y0, 1.0)
    if bottom <= top:
        return 0, 0
    y0, y1, x0, x1 = v.rect(Region(o.x0, max(top, 0.0), o.x1, bottom))
    zone = np.zeros((h, w), bool)
    zone[y0:y1, x0:x1] = True
    sy0, sy1, sx0, sx1 = v.rect(s, pad=1)
    zone[sy0:sy1, sx0:sx1] = False
    for n in v.csg.nodes():
        if n.region is not None and n.id not in (obj.id, surf.id) and _blocks_spill(v.csg, n):
            ny0, ny1, nx0, nx1 = v.rect(n.region, pad=1)
            zone[ny0:ny1, nx0:nx1] = False
    hits = zone & (v.dev > 0.15)
    if not hits.any():
        return 0, 0
    ys, xs = np.nonzero(hits)
    reach = np.maximum(np.maximum(sy0 - ys, ys - (sy1 - 1)), np.maximum(sx0 - xs, xs - (sx1 - 1))).max()
    return int(hits.sum()), int(reach)


def _blocks_spill(csg: CSG, node: Any) -> bool:
    """Nodes drawn where a spill would be looked for: things and shadows, not ground bands."""
    if isinstance(node, Effect):
        return node.type == EffectType.SHADOW
    return category(node.cls) not in (Category.SURFACE, Category.SUBSTANCE) or bool(
        csg.parents(node.id, EdgeType.CONTAINS))


def _check_shadow(v: _View, eff: Effect) -> NodeVerdict:
    obj = _ent(v.csg, eff.params.get("object"))
    if obj is None or obj.region is None:
        return _fail(eff.id, "effect", "shadow without an object in the graph")
    side = eff.params.get("side") or "below"
    dark = _side_darkness(v, obj, eff)
    if dark is None:
        return NodeVerdict(eff.id, "effect", True, 0.5, f"too little ground beside the {obj.cls} to judge its shadow")
    left, right, below = dark
    lateral = right - left  # > 0: darker on the right
    if side in ("left", "right"):
        value = lateral if side == "right" else -lateral
    else:
        value = min(below, _SHADOW_DARK * 2 - abs(lateral))
    found = "right" if lateral >= _SHADOW_DARK else "left" if lateral <= -_SHADOW_DARK else None
    if found and found != side:
        bad = f"shadow on the {found}, expected {side}"
    else:
        bad = f"no shadow of the {obj.cls} {'below it' if side == 'below' else 'on the ' + side}"
    return _verdict(eff.id, "effect", value, _SHADOW_DARK, _SHADOW_DARK, f"shadow of the {obj.cls} on the {side}", bad)


def _side_darkness(v: _View, obj: Entity, eff: Effect) -> tuple[float, float, float] | None:
    """Relative darkening of the ground left of, right of and just under the object's base, each
    against the others; on a raised support only its own top counts (the shadow falls there).
    None when one side has no ground to look at."""
    h, w = v.size
    o, shadow = obj.region, eff.region
    rest = shadow.y0 + 0.01  # the line the object rests on (the ground under a flying bird)
    base = int(round(rest * h))
    y0, y1 = max(base - 1, 0), min(max(int(np.ceil(shadow.y1 * h)), base + 2), h)
    ox0, ox1 = int(np.floor(o.x0 * w)), int(np.ceil(o.x1 * w))
    reach = max(3, int(round(1.1 * o.height * h - 0.5 * o.width * w)))
    lo, hi = 0, w
    for sup in v.csg.parents(obj.id, EdgeType.SUPPORTS):
        if isinstance(sup, Entity) and sup.region is not None and _raised(v.csg, sup):
            lo, hi = int(np.floor(sup.region.x0 * w)), int(np.ceil(sup.region.x1 * w))
    lum = v.raw[y0:y1] @ _LUMA
    keep = ~_others(v, obj, eff, (y0, y1, 0, w))

    def mean(a: int, b: int, rows: slice = slice(None)) -> float | None:
        a, b = max(a, lo), min(b, hi)
        sel = keep[rows, a:b]
        return float(lum[rows, a:b][sel].mean()) if b - a >= 2 and sel.sum() >= 3 else None

    left, right = mean(ox0 - reach, ox0 - 1), mean(ox1 + 1, ox1 + reach)
    under_rows = slice(base - y0, base + 2 - y0)
    if left is None or right is None:  # a narrow support: compare the halves under the object instead
        cx = (ox0 + ox1) // 2
        left, right = mean(ox0, cx, under_rows), mean(cx + 1, ox1, under_rows)
        if left is None or right is None:
            return None
        ref = max(left, right, 1e-3)
        return 1 - left / ref, 1 - right / ref, 0.0
    q = max(1, (ox1 - ox0) // 4)
    first = int(np.ceil(rest * h))  # the first row wholly below the object's base
    under_rows = slice(first - y0, max(int(np.ceil(shadow.y1 * h)), first + 1) - y0)
    under = mean(ox0 + q, ox1 - q, under_rows)
    beside = [x for x in (mean(ox0 - reach, ox0 - 1, under_rows), mean(ox1 + 1, ox1 + reach, under_rows)) if x]
    ref = max(left, right, 1e-3)
    below = 1 - under / max(max(beside), 1e-3) if under is not None and beside else 0.0
    return 1 - left / ref, 1 - right / ref, below


def _raised(csg: CSG, sup: Entity) -> bool:
    """A support above the ground (table, cube): a shadow on it ends at its edges. Mirrors lie flat on the ground."""
    return not is_reflective(sup.cls) and sup not in _surfaces(csg)


def _others(v: _View, obj: Entity, shadow: Effect, rect: Rect) -> Array:
    """Pixels of ``rect`` inside other things' regions or other shadows (not grounds, not the object's supports)."""
    y0, y1, x0, x1 = rect
    out = np.zeros((y1 - y0, x1 - x0), bool)
    skip = {obj.id} | {p.id for p in v.csg.parents(obj.id, EdgeType.SUPPORTS)} | {e.id for e in _surfaces(v.csg)}
    others = [n for n in v.csg.entities() if n.id not in skip and category(n.cls) != Category.LIGHT]
    others += [e for e in v.csg.effects(EffectType.SHADOW) if e.id != shadow.id]
    for n in others:
        if n.region is not None:
            a, b, c, d = v.rect(n.region)
            out[max(a - y0, 0):max(b - y0, 0), max(c - x0, 0):max(d - x0, 0)] = True
    return out


def _check_contact(v: _View, eff: Effect) -> NodeVerdict:
    obj, sup = _ent(v.csg, eff.params.get("object")), _ent(v.csg, eff.params.get("support"))
    if obj is None or sup is None or obj.region is None or sup.region is None:
        return _fail(eff.id, "effect", "contact without an object or a support in the graph")
    if eff.params.get("part") == "mouth":
        return _check_mouth(v, eff, obj, sup)
    h, w = v.size
    o = obj.region
    x0, x1 = int(np.floor((o.x0 + 0.25 * o.width) * w)), int(np.ceil((o.x1 - 0.25 * o.width) * w))
    line = container_interior(sup.region).y1 if category(sup.cls) == Category.CONTAINER else sup.region.y0
    top = int(np.clip(round(line * h), 1, h))
    empty = (v.dev[:, x0:max(x1, x0 + 1)] <= DEV).mean(axis=1) >= 0.6  # rows showing background
    start = next((r for r in (top - 2, top - 3) if 0 <= r < h and empty[r]), None)  # past the blurred edge
    gap = 0
    while start is not None and start - gap >= 0 and gap < _MAX_GAP and empty[start - gap]:
        gap += 1
    return _verdict(eff.id, "effect", -gap, -_CONTACT_GAP, 2.0, f"{obj.cls} rests on the {sup.cls}",
                    f"{obj.cls} floats {gap} px above the {sup.cls}")


def _check_mouth(v: _View, eff: Effect, patient: Entity, agent: Entity) -> NodeVerdict:
    p_hit = _appearance(v, patient)(v.rect(eff.region, pad=2)).sum()
    a_hit = _appearance(v, agent)(v.rect(eff.region, pad=4)).sum()
    value = min(p_hit, a_hit) / 3.0
    return _verdict(eff.id, "effect", value, 1.0, 1.0, f"{patient.cls} at the {agent.cls}'s mouth",
                    f"{patient.cls} not at the {agent.cls}'s mouth")


def _check_fill(v: _View, eff: Effect) -> NodeVerdict:
    cont, sub = _ent(v.csg, eff.params.get("container")), _ent(v.csg, eff.params.get("substance"))
    if cont is None or sub is None or cont.region is None:
        return _fail(eff.id, "effect", "fill without a container or a substance in the graph")
    want = eff.params.get("level")
    want = 0.5 if want is None else float(want)
    level = _fill_level(v, cont, sub)
    if want >= 0.1 and level < 0.05:
        return _fail(eff.id, "effect", f"{cont.cls} is empty, expected filled to {want:.2f}")
    err = abs(level - want)
    return _verdict(eff.id, "effect", -err, -_FILL_TOL, _FILL_TOL,
                    f"{cont.cls} filled to {level:.2f} (expected {want:.2f})",
                    f"{cont.cls} filled to {level:.2f}, expected {want:.2f}")


def _fill_level(v: _View, cont: Entity, sub: Entity) -> float:
    """Fraction of the container's interior rows that show the substance, counted from the bottom."""
    inner = container_interior(cont.region)
    y0, y1, x0, x1 = v.rect(inner)
    name = _colour_of(sub)
    ref = _rgb(COLOURS[name]) if name else _rgb(SUBSTANCE_RGB.get(sub.cls, (128, 128, 128)))
    hit = [_near_colour(a[y0:y1, x0:x1], ref, (0.7, 1.45), 0.16) for a in (v.img, v.raw)]
    rows = (hit[0] | hit[1]).mean(axis=1)
    return float(np.clip(rows, 0.0, 1.0).sum() / max(inner.height * v.size[0], 1.0))


def _check_action(v: _View, eff: Effect) -> NodeVerdict:
    agent, patient = _ent(v.csg, eff.params.get("agent")), _ent(v.csg, eff.params.get("patient"))
    verb = eff.params.get("verb", "act")
    if agent is None or patient is None or agent.region is None or patient.region is None:
        return _fail(eff.id, "effect", f"{verb} without an agent or a patient in the graph")
    if eff.params.get("agent_larger") is None:
        return NodeVerdict(eff.id, "effect", True, 1.0, f"{agent.cls} and {patient.cls} both drawn for '{verb}'")
    rect = v.rect(eff.region, pad=4)
    a_size, p_size = _extent(_appearance(v, agent)(rect)), _extent(_appearance(v, patient)(rect))
    big, small = (a_size, p_size) if eff.params["agent_larger"] else (p_size, a_size)
    ratio = big / max(small, 1.0)
    larger = agent.cls if eff.params["agent_larger"] else patient.cls
    return _verdict(eff.id, "effect", ratio, _AGENT_RATIO, 0.5,
                    f"{agent.cls} {verb}s {patient.cls}: the {larger} is the larger",
                    f"roles look swapped: the {larger} is not the larger ({agent.cls} {a_size} px, "
                    f"{patient.cls} {p_size} px)")


def _extent(hit: Array) -> int:
    """Bounding-box area of a blob's pixels (robust to its shape: a snake is thin, a bird compact)."""
    if hit.sum() < 3:
        return 0
    ys, xs = np.nonzero(hit)
    y0, y1 = np.percentile(ys, (5, 95))
    x0, x1 = np.percentile(xs, (5, 95))
    return int((y1 - y0 + 1) * (x1 - x0 + 1))


_EFFECT_CHECKS: dict[EffectType, Callable[[_View, Effect], NodeVerdict]] = {
    EffectType.REFLECTION: _check_reflection, EffectType.SHADOW: _check_shadow, EffectType.CONTACT: _check_contact,
    EffectType.FILL: _check_fill, EffectType.ACTION: _check_action,
}


# -- relations -----------------------------------------------------------------------------------
_RELATION_TEST: dict[str, Callable[[tuple[float, float], tuple[float, float]], bool]] = {
    "left_of": lambda a, b: a[0] < b[0], "right_of": lambda a, b: a[0] > b[0],
    "above": lambda a, b: a[1] < b[1], "below": lambda a, b: a[1] > b[1], "under": lambda a, b: a[1] > b[1],
}


def _centroid(v: _View, ent: Entity) -> tuple[float, float] | None:
    """Where the entity is drawn, searched in a wide window around its region."""
    y0, y1, x0, x1 = v.rect(ent.region, pad=0.5 * max(ent.region.width, ent.region.height) * v.size[0])
    hit = _appearance(v, ent)((y0, y1, x0, x1)) & (v.dev[y0:y1, x0:x1] > DEV)
    if hit.sum() < 3:
        return None
    ys, xs = np.nonzero(hit)
    return float(xs.mean() + x0), float(ys.mean() + y0)


def _check_relation(v: _View, src: Entity, dst: Entity, rel: str) -> NodeVerdict:
    nid = f"{src.id}-{rel}->{dst.id}"
    test = _RELATION_TEST.get(rel)
    if test is None:  # on/in are judged by contact and fill; near/behind/in front by presence
        return NodeVerdict(nid, "relation", True, 1.0, f"{src.cls} {rel.replace('_', ' ')} {dst.cls}")
    a, b = _centroid(v, src), _centroid(v, dst)
    if a is None or b is None:
        return _fail(nid, "relation", f"cannot place {src.cls if a is None else dst.cls} to check '{rel}'")
    ok = test(a, b)
    words = rel.replace("_", " ")
    reason = f"{src.cls} {words} {dst.cls}" if ok else f"{src.cls} is not {words} {dst.cls}"
    return NodeVerdict(nid, "relation", ok, 1.0 if ok else 0.0, reason)


def _relations(v: _View) -> list[NodeVerdict]:
    out = []
    for e in v.csg.edges(EdgeType.LOCATED_AT):
        src, dst = _ent(v.csg, e.src), _ent(v.csg, e.dst)
        rel = e.params.get("relation")
        if src and dst and src.region and dst.region and rel in _RELATION_TEST and not _is_ground(v.csg, dst):
            out.append(_check_relation(v, src, dst, rel))
    return out


def _is_ground(csg: CSG, ent: Entity) -> bool:
    return ent in _surfaces(csg)


# -- entry point ---------------------------------------------------------------------------------
def judge(image: Any, csg: CSG) -> Verdict:
    """Score ``image`` against ``csg`` (laid out: every node needs its region)."""
    missing = [n.id for n in csg.nodes() if n.region is None]
    if missing:
        raise ValueError(f"judge needs a laid-out graph; no region for {missing} (run assign_layout first)")
    v = _view(image, csg)
    nodes = [_check_entity(v, e) for e in csg.entities()]
    nodes += [_EFFECT_CHECKS[e.type](v, e) for e in csg.effects()]
    nodes += _relations(v)
    ents = [n for n in nodes if n.kind == "entity"]
    phys = [n for n in nodes if n.kind != "entity"]
    texture = sum(n.passed for n in ents) / len(ents) if ents else 1.0
    physical = sum(n.passed for n in phys) / len(phys) if phys else 1.0
    return Verdict(nodes, physical, texture, all(n.passed for n in nodes))
