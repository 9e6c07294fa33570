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
from ..csg.vocab import COLOURS, Category, canonical_colour, category
from .render import GROUND_RGB, SUBSTANCE_RGB
from .sprites import MIRROR_GLASS

Array = np.ndarray
Rect = tuple[int, int, int, int]  # pixel box y0, y1, x0, x1 (half-open)

DEV = 0.12  # colour distance (RGB in [0, 1]) above which a pixel is not background
SUN_RGB = (255, 222, 60)
# Brightness range (scale of the named colour) a pixel may show and still count as that colour:
# shading darkens faces and outlines; achromatic colours split the grey axis between them.
_SCALE: dict[str, tuple[float, float]] = {"white": (0.8, 1.2), "gray": (0.55, 1.4), "black": (0.0, 2.6)}
_CHROMATIC_SCALE = (0.45, 1.3)
# Fraction of its box an entity shows in its own colour, below which it counts as missing.
_COLOUR_AREA: dict[str, float] = {"jar": 0.03, "lamp": 0.08, "person": 0.06, "snake": 0.08, "bird": 0.1,
                                  "table": 0.08, "mirror": 0.05}
_DEFAULT_COLOUR_AREA = 0.12
_CONTRAST_AREA = 0.1  # fraction of its box that must differ from the background
_GROUND_AREA = 0.4  # fraction of a ground band in its class colour
_FILL_TOL = 0.15
_SHADOW_DARK = 0.12  # relative darkening that counts as a shadow
_REFLECTION_AREA = 0.15
_SPILL_PX = 5
_CONTACT_GAP = 1
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
    """[1, 2, 1] / 4 separable blur: tames a generator's pixel noise before any threshold."""
    p = np.pad(a, ((1, 1), (1, 1), (0, 0)), mode="edge")
    a = (p[:-2] + 2 * p[1:-1] + p[2:]) / 4
    return (a[:, :-2] + 2 * a[:, 1:-1] + a[:, 2:]) / 4


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
    img: Array
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


def _surfaces(csg: CSG) -> list[Entity]:
    """Ground bands: surfaces and substances not held by a container."""
    return [e for e in csg.entities() if category(e.cls) in (Category.SURFACE, Category.SUBSTANCE)
            and not csg.parents(e.id, EdgeType.CONTAINS) and e.region is not None]


def _view(image: Any, csg: CSG) -> _View:
    img = _smooth(as_array(image))
    h, w = img.shape[:2]
    free = np.ones((h, w), bool)
    grounds = {e.id for e in _surfaces(csg)}
    tmp = _View(csg, img, img, img, img)
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
    dev = np.sqrt(((img - bg) ** 2).sum(-1))
    return _View(csg, img, bg, dev, img @ np.array([0.299, 0.587, 0.114], np.float32))


# -- colours -------------------------------------------------------------------------------------
def _rgb(c: tuple[int, ...]) -> Array:
    return np.asarray(c[:3], np.float32) / 255.0


def _near_colour(px: Array, c: Array, scale: tuple[float, float] = _CHROMATIC_SCALE, tol: float = 0.16) -> Array:
    """Pixels that look like colour ``c`` under shading: close to ``s * c`` for some s in ``scale``."""
    s = np.clip(px @ c / float(c @ c), *scale)
    return np.sqrt(((px - s[..., None] * c) ** 2).sum(-1)) <= tol * np.maximum(s, 0.5)


def _named(px: Array, name: str) -> Array:
    """Pixels of a named colour, rejecting pixels that are nearer another named colour."""
    best, best_d = None, None
    for other, c in COLOURS.items():
        cc = _rgb(c)
        s = np.clip(px @ cc / float(cc @ cc), *_SCALE.get(other, _CHROMATIC_SCALE))
        d = np.sqrt(((px - s[..., None] * cc) ** 2).sum(-1)) / np.maximum(s, 0.5)
        if best_d is None:
            best, best_d = np.zeros(d.shape, np.int8), d
        else:
            closer = d < best_d
            best[closer], best_d[closer] = list(COLOURS).index(other), d[closer]
    return (best == list(COLOURS).index(name)) & (best_d <= 0.2)


def _colour_of(ent: Entity) -> str | None:
    return canonical_colour(ent.colour) if ent.colour else None


def _ent(csg: CSG, nid: Any) -> Entity | None:
    node = csg.node(nid) if isinstance(nid, str) and nid in csg else None
    return node if isinstance(node, Entity) else None


def _appearance(v: _View, ent: Entity) -> Callable[[Array], Array]:
    """A pixel test for what the entity looks like: its named colour, else its measured colour."""
    name = _colour_of(ent)
    if name:
        return lambda px: _named(px, name)
    y0, y1, x0, x1 = v.rect(ent.region)
    hh, ww = y1 - y0, x1 - x0
    core = (slice(y0 + hh // 5, y1 - hh // 4 or y1), slice(x0 + ww // 4, x1 - ww // 4 or x1))
    px, dev = v.img[core].reshape(-1, 3), v.dev[core].reshape(-1)
    px = px[dev > DEV] if (dev > DEV).sum() >= 3 else px
    c = np.median(px, axis=0) if len(px) else v.img[y0:y1, x0:x1].reshape(-1, 3).mean(0)
    return lambda q: _near_colour(q, c.astype(np.float32))


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
        return _verdict(ent.id, "entity", frac, 0.15, 0.2, f"light found on the {ent.side or 'expected side'}",
                        "no light source where the light should be")
    if not name:
        return _contrast(v, ent, what)
    y0, y1, x0, x1 = v.rect(ent.region, pad=_pad(v, ent.region))
    area = v.area(ent.region)
    frac = _named(v.img[y0:y1, x0:x1], name).sum() / area
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
    spill, reach = _spill(v, obj, surf)
    if spill >= _SPILL_PX:
        return NodeVerdict(eff.id, "effect", False, float(np.clip(0.5 - spill / 40, 0, 0.5)),
                           f"reflection extends {reach} px beyond the {surf.cls}")
    return _verdict(eff.id, "effect", inside, _REFLECTION_AREA, _REFLECTION_AREA,
                    f"reflection of the {obj.cls} inside the {surf.cls}",
                    f"no reflection of the {obj.cls} inside the {surf.cls}")


def _reflection_inside(v: _View, eff: Effect, obj: Entity, surf: Entity) -> float:
    """Fraction of the reflection's region (its rim and the contact line left out) that shows it."""
    y0, y1, x0, x1 = v.rect(eff.region, pad=-1)
    if y1 - y0 < 2 or x1 - x0 < 2:
        y0, y1, x0, x1 = v.rect(eff.region)
    s = _rgb(GROUND_RGB["water"] if surf.cls == "water" else MIRROR_GLASS)
    o = _measured_colour(v, obj)
    return float(_reflection_like(v.img[y0:y1, x0:x1], s, o).mean())


def _measured_colour(v: _View, ent: Entity) -> Array:
    """Median colour of the entity's pixels that are not background (its drawn body)."""
    y0, y1, x0, x1 = v.rect(ent.region)
    px = v.img[y0:y1, x0:x1]
    name = _colour_of(ent)
    sel = _named(px, name) if name else v.dev[y0:y1, x0:x1] > DEV
    if sel.sum() < 3:
        return _rgb(COLOURS[name]) if name else px.reshape(-1, 3).mean(0)
    return np.median(px[sel], axis=0)


def _reflection_like(px: Array, s: Array, o: Array) -> Array:
    """Pixels nearer a blend of the plain surface ``s`` with the object colour ``o`` than to ``s`` shaded:
    an attenuated copy of the object, not the surface's own shading, frame or blur."""
    d = o - s
    n2 = max(float(d @ d), 1e-6)
    off = px - s
    t = np.clip(off @ d / n2, 0.0, 1.3)
    to_blend = np.sqrt(((off - t[..., None] * d) ** 2).sum(-1))
    k = np.clip(px @ s / float(s @ s), 0.3, 1.15)
    to_plain = np.sqrt(((px - k[..., None] * s) ** 2).sum(-1))
    return (t >= 0.2) & (to_blend + 0.03 < to_plain)


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
    dark = _side_darkness(v, obj, eff.region)
    found = max(dark, key=dark.get)
    if side in ("left", "right"):
        other = "left" if side == "right" else "right"
        value = dark[side] - max(dark[other], 0.0)
    else:
        value = dark["below"] - max(abs(dark["left"] - dark["right"]), 0.0)
    ok = f"shadow of the {obj.cls} on the {side}"
    if dark[found] >= _SHADOW_DARK and found != side:
        bad = f"shadow on the {found}, expected {side}"
    else:
        bad = f"no shadow of the {obj.cls} on the {side}"
    return _verdict(eff.id, "effect", value, _SHADOW_DARK, _SHADOW_DARK, ok, bad)


def _side_darkness(v: _View, obj: Entity, shadow: Region) -> dict[str, float]:
    """How much darker than its mirror image the ground is left of, right of and under the object's base."""
    h, w = v.size
    o = obj.region
    base = int(round(shadow.y0 * h + 0.01 * h))  # the line the object rests on
    y0, y1 = max(base - 1, 0), min(base + max(2, int(round((shadow.y1 - shadow.y0) * h))), h)
    ox0, ox1 = int(np.floor(o.x0 * w)), int(np.ceil(o.x1 * w))
    reach = max(3, int(round(0.6 * o.height * h)))
    lum = v.lum[y0:y1]

    def band(a: int, b: int) -> float:
        a, b = max(a, 0), min(b, w)
        return float(lum[:, a:b].mean()) if b > a else float("nan")

    left, right = band(ox0 - reach, ox0 - 1), band(ox1 + 1, ox1 + reach)
    half = max(1, (ox1 - ox0) // 4)
    under = band(ox0 + half, ox1 - half) if base + 1 < h else float("nan")
    ref = np.nanmax([left, right, under])
    out = {}
    for name, val in (("left", left), ("right", right), ("below", under)):
        out[name] = 0.0 if np.isnan(val) or ref <= 0 else float(1 - val / ref)
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
    top = int(np.clip(round(sup.region.y0 * h), 0, h - 1))
    y_mid = int(np.clip(round(o.center[1] * h), 0, h - 1))
    look = _appearance(v, obj)
    rows = look(v.img[y_mid:min(top + 4, h), x0:max(x1, x0 + 1)]).mean(axis=1) >= 0.25
    if not rows.any():
        return _fail(eff.id, "effect", f"{obj.cls} not found above the {sup.cls}")
    bottom = y_mid + int(np.nonzero(rows)[0].max())
    between = v.dev[bottom + 1:top, x0:max(x1, x0 + 1)] <= DEV
    gap = int((between.mean(axis=1) >= 0.6).sum()) if between.size else 0
    return _verdict(eff.id, "effect", -gap, -_CONTACT_GAP, 2.0, f"{obj.cls} rests on the {sup.cls}",
                    f"{obj.cls} floats {gap} px above the {sup.cls}")


def _check_mouth(v: _View, eff: Effect, patient: Entity, agent: Entity) -> NodeVerdict:
    y0, y1, x0, x1 = v.rect(eff.region, pad=2)
    px = v.img[y0:y1, x0:x1]
    p_hit = _appearance(v, patient)(px).sum()
    ay0, ay1, ax0, ax1 = v.rect(eff.region, pad=4)
    a_hit = _appearance(v, agent)(v.img[ay0:ay1, ax0:ax1]).sum()
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
    rows = _near_colour(v.img[y0:y1, x0:x1], ref, (0.7, 1.45), 0.16).mean(axis=1)
    return float(np.clip(rows, 0.0, 1.0).sum() / max(inner.height * v.size[0], 1.0))


def _check_action(v: _View, eff: Effect) -> NodeVerdict:
    agent, patient = _ent(v.csg, eff.params.get("agent")), _ent(v.csg, eff.params.get("patient"))
    verb = eff.params.get("verb", "act")
    if agent is None or patient is None or agent.region is None or patient.region is None:
        return _fail(eff.id, "effect", f"{verb} without an agent or a patient in the graph")
    if eff.params.get("agent_larger") is None:
        return NodeVerdict(eff.id, "effect", True, 1.0, f"{agent.cls} and {patient.cls} both drawn for '{verb}'")
    y0, y1, x0, x1 = v.rect(eff.region, pad=4)
    px = v.img[y0:y1, x0:x1]
    a_size, p_size = _appearance(v, agent)(px).sum(), _appearance(v, patient)(px).sum()
    big, small = (a_size, p_size) if eff.params["agent_larger"] else (p_size, a_size)
    ratio = big / max(small, 1.0)
    larger = "agent" if eff.params["agent_larger"] else "patient"
    return _verdict(eff.id, "effect", ratio, _AGENT_RATIO, 0.5,
                    f"{agent.cls} {verb}s {patient.cls}: the {larger} is the larger",
                    f"roles look swapped: the {larger} is not the larger ({a_size} vs {patient.cls} {p_size} px)")


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
    hit = _appearance(v, ent)(v.img[y0:y1, x0:x1]) & (v.dev[y0:y1, x0:x1] > DEV)
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
    text = f"{src.cls} {rel.replace('_', ' ')} {dst.cls}"
    return NodeVerdict(nid, "relation", ok, 1.0 if ok else 0.0, text if ok else f"{src.cls} is not {rel.replace('_', ' ')} {dst.cls}")


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
