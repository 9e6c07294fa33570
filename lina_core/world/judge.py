"""The judge: scores an image against its CSG, node by node, as the paper's VLM judge does.

It reads only the pixels and the graph with its layout regions, never the renderer's masks, so it
scores a generated image exactly like a rendered one. A generator trained on jittered layouts draws
things only roughly where the canonical layout says (sometimes mirrored), so the judge first
*locates* every entity (``locate.py``: the blob of its colour nearest its expected place) and then
anchors every effect on the found boxes: a reflection is the found object flipped about the found
contact line and clipped by the found surface, a shadow is a darkening beside the found base, and
so on. Effects whose entities are not found fail. The reference colours (named colours, ground and
substance colours, mirror glass, default colours) are the world's appearance, shared with the renderer.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
from PIL import Image
from scipy import ndimage

from ..csg.graph import CSG, EdgeType, Effect, EffectType, Entity, Region
from ..csg.layout import GROUND_Y, container_interior
from ..csg.vocab import COLOURS, Category, canonical_colour, category, is_reflective
from .locate import Box, Found, Target, locate
from .render import DEFAULT_COLOUR, GROUND_RGB, SUBSTANCE_RGB, reflection_shift_beside
from .sprites import JAR_GLASS, MIRROR_GLASS, WHITE, mix, outline_of, shade

Array = np.ndarray

DEV = 0.12  # colour distance (RGB in [0, 1]) above which a pixel is not background
SUN_RGB = (255, 222, 60)
JAR_EDGE = (110, 140, 160)  # a jar's glass outline
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# Brightness range (scale of the named colour) a pixel may show and still count as that colour:
# shading darkens faces and outlines; achromatic colours split the grey axis between them.
_SCALE: dict[str, tuple[float, float]] = {"white": (0.8, 1.2), "gray": (0.55, 1.4), "black": (0.0, 2.6)}
_CHROMATIC_SCALE = (0.45, 1.3)
_NAMED_TOL = 0.2
# Fraction of its expected box an entity must show in its own look to count as drawn.
_NEED: dict[str, float] = {"jar": 0.12, "lamp": 0.08, "person": 0.07, "snake": 0.09, "bird": 0.08, "bottle": 0.2,
                           "cup": 0.18, "table": 0.12, "mirror": 0.45, "tray": 0.1, "light": 0.06}
_DEFAULT_NEED = 0.25
# How far an entity may be drawn from its canonical place: far sideways (jittered layouts move and
# mirror groups), little up or down (things stand on the ground line; a reflection is not the thing).
_REACH_X, _REACH_Y, _REACH_Y_OF_HEIGHT, _REACH_ACTION_Y = 0.4, 0.1, 0.5, 0.15
_SUPPORT_REACH = 0.15  # a mirror found under its found object
_GROUND_AREA = 0.4  # fraction of a ground band's pixels in its colour
_HORIZON_STEP = 0.06  # colour step between backdrop and ground that shows a ground at all
_FILL_TOL = 0.15
_SHADOW_DARK = 0.12  # relative darkening that counts as a shadow
_NARROW_SUPPORT = 0.6  # object width / support width above which its shadow cannot be seen on it
_REFLECTION_AREA = 0.2
# How far (0 = plain surface, 1 = the object itself) a reflection pixel moves towards the object:
# water shows a dark, rippled copy, a mirror a bright one.
_WATER_MIX, _MIRROR_MIX = 0.12, 0.35
_SPILL_PX = 6
_MIN_REFLECTION_PX = 6  # fewer decidable pixels of a reflection than this cannot be judged
# Slack (px sideways, px below) around the graph's mirror for drawn pixels under the mirrored object; none for
# pixels that look like its reflection or like glass when the graph's mirror is too small for the whole of it.
_SPAN_SLACK, _CLIP_SLACK = (1.0, 2.0), (0.0, 0.0)
_CONTACT_GAP = 1  # rows of background allowed between an object and its support
_MOUTH_PX = 4  # how close the patient must come to the agent's pixels
_ROUGH = 0.15  # difference between a pixel and its smoothed value that counts as pixel noise
_AGENT_RATIO = 0.7  # (agent scale / patient scale) relative to the layout's, below which roles look swapped


# -- results -------------------------------------------------------------------------------------
@dataclass
class NodeVerdict:
    node_id: str
    kind: str  # "entity" | "effect" | "relation"
    passed: bool
    score: float  # confidence in [0, 1] that the node is drawn right
    reason: str
    # False: the image cannot show it (a shadow on a thin support, in another shadow or with too little ground
    # beside it, a reflection too small to judge): left out of every score; ``passed`` is then True, never a fail
    judged: bool = True

    @property
    def verdict(self) -> bool | None:
        """Passed or failed, or None when not judgeable."""
        return self.passed if self.judged else None


def _unjudged(node_id: str, reason: str) -> NodeVerdict:
    """Left out of every score (counted neither as a pass nor as a fail) and shown as not judgeable."""
    return NodeVerdict(node_id, "effect", True, 0.5, reason, judged=False)


@dataclass
class Verdict:
    nodes: list[NodeVerdict]
    physical: float  # fraction of the judged effect and relation checks passing
    texture: float  # fraction of the judged entities present with the right colour
    passed: bool

    def by_id(self) -> dict[str, NodeVerdict]:
        return {n.node_id: n for n in self.nodes}

    def as_dict(self) -> dict[str, Any]:
        return {"physical": self.physical, "texture": self.texture, "passed": self.passed,
                "nodes": [asdict(n) for n in self.nodes]}


def _verdict(node_id: str, kind: str, value: float, threshold: float, spread: float, ok: str, bad: str) -> NodeVerdict:
    """Pass when ``value >= threshold``; the score says how far from the threshold it is."""
    score = float(np.clip(0.5 + (float(value) - threshold) / (2 * spread), 0.0, 1.0))
    passed = bool(value >= threshold)
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


def _rgb(c: tuple[int, ...]) -> Array:
    return np.asarray(c[:3], np.float32) / 255.0


def _near_colour(px: Array, c: Array, scale: tuple[float, float] = _CHROMATIC_SCALE, tol: float = 0.16) -> Array:
    """Pixels that look like colour ``c`` under shading: close to ``s * c`` for some s in ``scale``."""
    s = np.clip(px @ c / float(c @ c), *scale)
    return np.sqrt(((px - s[..., None] * c) ** 2).sum(-1)) <= tol * np.maximum(s, 0.5)


_NAMES = list(COLOURS)


_NAMED_RGB = np.stack([_rgb(COLOURS[n]) for n in _NAMES])  # [K, 3]
_NAMED_LO = np.array([_SCALE.get(n, _CHROMATIC_SCALE)[0] for n in _NAMES], np.float32)
_NAMED_CC = (_NAMED_RGB * _NAMED_RGB).sum(-1)
_NAMED_HI = np.array([_SCALE.get(n, _CHROMATIC_SCALE)[1] for n in _NAMES], np.float32)


def _nearest_named(px: Array) -> tuple[Array, Array]:
    """Per pixel: index into _NAMES of the nearest named colour under shading, and the distance to it."""
    cc = _NAMED_CC
    pc = px @ _NAMED_RGB.T  # [H, W, K]
    s = np.clip(pc / cc, _NAMED_LO, _NAMED_HI)
    d2 = ((px * px).sum(-1, keepdims=True) - 2 * s * pc + s * s * cc) / np.maximum(s, 0.5) ** 2
    best = d2.argmin(-1)
    return best.astype(np.int8), np.sqrt(np.maximum(np.take_along_axis(d2, best[..., None], -1)[..., 0], 0.0))


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


def _surfaces(csg: CSG) -> list[Entity]:
    """Ground bands: surfaces and substances not held by a container."""
    return [e for e in csg.entities() if category(e.cls) in (Category.SURFACE, Category.SUBSTANCE)
            and not csg.parents(e.id, EdgeType.CONTAINS) and e.region is not None]


def _colour_of(ent: Entity) -> str | None:
    return canonical_colour(ent.colour) if ent.colour else None


def _ground_refs(ent: Entity) -> list[Array]:
    name = _colour_of(ent)
    if name:
        return [_rgb(COLOURS[name])]
    kinds = ("wood", "tiles") if ent.cls == "floor" else (ent.cls,)
    return [_rgb(GROUND_RGB[k]) for k in kinds if k in GROUND_RGB]


@dataclass
class _View:
    """The image (raw and smoothed), a background estimate, the ground line and bands, and named colours."""

    csg: CSG
    raw: Array  # the image as given: medians over many pixels are read here
    img: Array  # smoothed: per-pixel tests are read here
    bg: Array
    dev: Array  # distance of each pixel from the background estimate
    lum: Array
    gain: Array  # per column: brightness from a side light, which a shadow test must not mistake for darkening
    horizon: int  # first ground row
    shift_y: float  # px the ground line moved from the canonical one
    ground_step: float  # colour step at the ground line (0 on a blank image)
    band: Array  # per column: index into grounds of the band there (-1: none)
    grounds: list[Entity]
    named: tuple[Array, ...]  # nearest named colour and distance: smoothed, raw, unmixed
    flat: Array  # pixels in a locally smooth neighbourhood: drawn things, not pixel noise
    found: dict[str, Found | None]

    @property
    def h(self) -> int:
        return self.img.shape[0]

    @property
    def w(self) -> int:
        return self.img.shape[1]

    def box(self, region: Region) -> Box:
        """A canonical region in pixels, moved with the ground line."""
        dy = self.shift_y
        return (region.x0 * self.w, region.y0 * self.h + dy, region.x1 * self.w, region.y1 * self.h + dy)

    def named_mask(self, name: str) -> Array:
        k = _NAMES.index(name)
        li, di, lr, dr, lu, du = self.named
        smooth = (li == k) & (di <= _NAMED_TOL) & (self.dev > DEV / 2)
        # single raw pixels and unmixed edges are noisier evidence: they must stand out more
        raw = ((lr == k) & (dr <= _NAMED_TOL) | (lu == k) & (du <= _NAMED_TOL)) & (self.dev > DEV)
        return (smooth | raw) & self.flat


def _flat(raw: Array, img: Array) -> Array:
    """Pixels whose 5x5 neighbourhood is mostly free of pixel-scale noise. Drawn shapes are flat
    with edges (a line of rough pixels); noise is rough everywhere and must never look like a thing."""
    rough = np.sqrt(((raw - img) ** 2).sum(-1)) > _ROUGH
    return ndimage.uniform_filter(rough.astype(np.float32), size=5, mode="nearest") < 0.6


def _horizon(raw: Array, expected: float) -> tuple[int, float]:
    """The row where the backdrop meets the ground (largest step of the row medians near the
    expected line) and the size of that step."""
    h = raw.shape[0]
    med = np.median(raw, axis=1)
    step = np.sqrt(((med[1:] - med[:-1]) ** 2).sum(-1))  # step[i]: between rows i and i + 1
    lo, hi = int(np.clip(expected - 7, 1, h - 2)), int(np.clip(expected + 7, 2, h - 1))
    i = lo + int(np.argmax(step[lo:hi]))
    above, below = np.median(med[max(i - 4, 0):i + 1], axis=0), np.median(med[i + 1:i + 6], axis=0)
    return i + 1, float(np.sqrt(((above - below) ** 2).sum()))


def _bands(raw: Array, horizon: int, grounds: list[Entity]) -> Array:
    """Which ground band each column shows: the band whose colour its ground pixels are nearest."""
    w = raw.shape[1]
    if not grounds:
        return np.full(w, -1, np.int64)
    if len(grounds) == 1:
        return np.zeros(w, np.int64)
    cols = np.median(raw[min(horizon + 2, raw.shape[0] - 1):], axis=0)
    dist = np.stack([np.min([np.sqrt(((cols - r) ** 2).sum(-1)) for r in _ground_refs(g)] or [np.full(w, 9.0)], axis=0)
                     for g in grounds])
    return ndimage.median_filter(dist.argmin(0), size=7, mode="nearest")


def _row_medians(img: Array, free: Array, segment: Array) -> Array:
    """The background per pixel: its row's median over the free pixels of its segment (backdrop,
    ground band)."""
    bg = np.empty_like(img)
    for k in np.unique(segment):
        where = segment == k
        keep = free & where
        med = _row_median(img, keep if keep.sum() >= 8 else where)
        bg[where] = np.broadcast_to(med[:, None, :], img.shape)[where]
    return bg


def _side_light(img: Array, bg: Array, free: Array) -> Array:
    """A light from one side brightens the whole scene towards it: the per-column gain that row
    medians miss, a line fitted to the per-column median ratio over the background pixels (each column
    weighs the same: columns far from the things have few free pixels but show the gain best)."""
    w = img.shape[1]
    # the brightened side clips at white, where the gain does not show: unclipped pixels only
    keep = free & (img.max(-1) < 0.97)
    cols = np.nonzero(keep.sum(0) >= 3)[0]
    if len(cols) < 8:
        return np.ones(w, np.float32)
    ratio = np.where(keep, (img @ _LUMA) / np.maximum(bg @ _LUMA, 1e-3), np.nan)
    med = np.nanmedian(ratio[:, cols], axis=0)
    k, a = np.polyfit(cols.astype(np.float32), med, 1)
    return (a + k * np.arange(w)).astype(np.float32)


def _ground_line(csg: CSG, grounds: list[Entity]) -> float:
    """Where the graph's layout puts the ground line: the top of the ground bands, else the base most
    free-standing things rest on (the renderer's rule)."""
    if grounds:
        return min(g.region.y0 for g in grounds)
    bases = [e.region.y0 if is_reflective(e.cls) else e.region.y1 for e in csg.entities()
             if _locatable(e) and category(e.cls) != Category.LIGHT and not csg.parents(e.id, EdgeType.SUPPORTS)
             and not csg.parents(e.id, EdgeType.CONTAINS) and not csg.parents(e.id, EdgeType.ACTS_ON)]
    return float(np.median(bases)) if bases else GROUND_Y


def _view(image: Any, csg: CSG) -> _View:
    raw = as_array(image)
    img = _smooth(raw)
    h, w = img.shape[:2]
    grounds = _surfaces(csg)
    expected = _ground_line(csg, grounds) * h
    horizon, step = _horizon(raw, expected)
    shift = float(horizon - expected)
    band = _bands(raw, horizon, grounds)
    # Background: per row (and per band below the ground line) median of the pixels outside the
    # canonical places of things, padded since things move a little.
    free = np.ones((h, w), bool)
    ground_ids = {g.id for g in grounds}
    pad = 0.06 * w
    for n in csg.nodes():
        light = isinstance(n, Entity) and category(n.cls) == Category.LIGHT
        if n.region is not None and n.id not in ground_ids and not light:
            r = n.region
            free[max(int(r.y0 * h + shift - pad), 0):int(r.y1 * h + shift + pad) + 1,
                 max(int(r.x0 * w - pad), 0):int(r.x1 * w + pad) + 1] = False
    segment = np.zeros((h, w), np.int64)
    segment[horizon:] = band[None, :] + 2
    # a side light's gain, fitted against the plain row medians, is divided out before the medians are
    # taken again: the free pixels of a row may all lie on one side of it
    gain = _side_light(img, _row_medians(img, free, segment), free)
    bg = np.clip(_row_medians(img / gain[None, :, None], free, segment) * gain[None, :, None], 0.0, 1.0)
    dev = np.sqrt(((img - bg) ** 2).sum(-1))
    # a thin thing blurred into the background is half its colour: unmix it
    unmixed = np.clip(2 * img - bg, 0.0, 1.0)
    named = (*_nearest_named(img), *_nearest_named(raw), *_nearest_named(unmixed))
    v = _View(csg, raw, img, bg, dev, img @ _LUMA, gain, horizon, shift, step, band, grounds, named,
              _flat(raw, img), {})
    v.found = _locate_all(v)
    return v


# -- where each entity is ------------------------------------------------------------------------
def _look(v: _View, ent: Entity) -> Array:
    """A pixel mask of what the entity looks like: its named (or default) colour, the jar's glass
    edge and rim, the mirror's glass and whatever lies on it, the sun's yellow."""
    name = _colour_of(ent) or DEFAULT_COLOUR.get(ent.cls)
    if category(ent.cls) == Category.LIGHT:
        return _near_colour(v.img, _rgb(SUN_RGB), (0.7, 1.2), 0.2) & v.flat
    if ent.cls == "jar":
        return (_near_colour(v.img, _rgb(JAR_EDGE), (0.7, 1.3), 0.12) & (v.dev > DEV / 2) & v.flat) | v.named_mask(name)
    if ent.cls == "mirror":
        below = np.zeros_like(v.dev, bool)
        below[max(v.horizon - 1, 0):] = True
        return (_glass(v) | (v.dev > DEV)) & below & v.flat
    return v.named_mask(name) if name else (v.dev > DEV) & v.flat


def _glass(v: _View) -> Array:
    """Pixels that look like a mirror's bare glass."""
    return _near_colour(v.img, _rgb(MIRROR_GLASS), (0.85, 1.15), 0.08)


def _locatable(ent: Entity) -> bool:
    return category(ent.cls) not in (Category.SURFACE, Category.SUBSTANCE) and ent.region is not None


def _group(ent: Entity) -> str:
    if ent.cls in ("jar", "mirror") or category(ent.cls) == Category.LIGHT:
        return ent.cls if ent.cls in ("jar", "mirror") else "light"
    return _colour_of(ent) or DEFAULT_COLOUR.get(ent.cls, "contrast")


def _locate_all(v: _View) -> dict[str, Found | None]:
    """Everything in wide windows, entities of one look jointly; then mirrors (whose look is
    "whatever lies flat on the ground") right under the things found on them."""
    csg = v.csg
    ents = [e for e in csg.entities() if _locatable(e)]
    mirrors = [e for e in ents if e.cls == "mirror"]
    found = locate([_target(v, e, v.box(e.region), _reach(v, e)) for e in ents if e not in mirrors])
    targets = []
    for e in mirrors:
        box = v.box(e.region)
        kids = [(c, found.get(c.id)) for c in csg.children(e.id, EdgeType.SUPPORTS) if isinstance(c, Entity)]
        dx = [f.centre[0] - (c.region.x0 + c.region.x1) / 2 * v.w for c, f in kids if f is not None and c.region]
        reach = _reach(v, e)
        if dx:
            box = (box[0] + float(np.mean(dx)), box[1], box[2] + float(np.mean(dx)), box[3])
            reach = (_SUPPORT_REACH * v.w, reach[1])
        targets.append(_target(v, e, box, reach))
    found.update(locate(targets))
    for eff in csg.effects(EffectType.REFLECTION):
        _cut_reflection(v, found, eff)
    return found


def _target(v: _View, e: Entity, box: Box, reach: tuple[float, float]) -> Target:
    return Target(e.id, _look(v, e), box, reach, _group(e), _NEED.get(e.cls, _DEFAULT_NEED))


def _cut_reflection(v: _View, found: dict[str, Found | None], eff: Effect) -> None:
    """An object's reflection has its colour and touches it: keep only what is above the surface."""
    obj, surf = _ent(v.csg, eff.params.get("object")), _ent(v.csg, eff.params.get("surface"))
    f = found.get(obj.id) if obj else None
    if f is None or surf is None or surf.region is None:
        return
    line = v.horizon if _is_ground(v, surf) else int(round(v.box(surf.region)[1]))
    found[obj.id] = _above(f, line)


def _above(f: Found, line: int) -> Found:
    """The found thing's pixels above row ``line`` (unchanged if it has none there)."""
    mask = f.mask.copy()
    mask[max(line, 0):] = False
    if not mask.any():
        return f
    ys, xs = np.nonzero(mask)
    return Found(f.id, (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)), mask, f.coverage)


def _reach(v: _View, ent: Entity) -> tuple[float, float]:
    ry = max(_REACH_Y * v.h, _REACH_Y_OF_HEIGHT * ent.region.height * v.h)
    if _in_action(v.csg, ent):  # who holds whom (and how big each is) moves the pair up and down
        ry = max(ry, _REACH_ACTION_Y * v.h)
    return _REACH_X * v.w, ry


def _in_action(csg: CSG, ent: Entity) -> bool:
    return any(ent.id in (e.params.get("agent"), e.params.get("patient")) for e in csg.effects(EffectType.ACTION))


def _present(v: _View, ent: Entity) -> Found | None:
    f = v.found.get(ent.id)
    return f if f is not None and f.coverage >= _NEED.get(ent.cls, _DEFAULT_NEED) else None


def _ent(csg: CSG, nid: Any) -> Entity | None:
    node = csg.node(nid) if isinstance(nid, str) and nid in csg else None
    return node if isinstance(node, Entity) else None


def _is_ground(v: _View, ent: Entity) -> bool:
    return any(g.id == ent.id for g in v.grounds)


# -- entities ------------------------------------------------------------------------------------
def _check_entity(v: _View, ent: Entity) -> NodeVerdict:
    name = _colour_of(ent)
    what = " ".join(x for x in (name, ent.cls) if x)
    cat = category(ent.cls)
    if cat in (Category.SURFACE, Category.SUBSTANCE):
        return _check_ground(v, ent, what) if _is_ground(v, ent) else _check_substance(v, ent, what)
    f = v.found.get(ent.id)
    cover = f.coverage if f else 0.0
    need = _NEED.get(ent.cls, _DEFAULT_NEED)
    if cover >= need and ent.cls == "jar" and name and not _rim_is(v, f, name):
        return _fail(ent.id, "entity", f"{ent.cls} is not {name}")
    off = _off_colour(v, ent, f, name) if cover >= need and name else None
    if off:
        return _fail(ent.id, "entity", f"{ent.cls} is {off}, not {name}")
    if cover >= need:
        return _verdict(ent.id, "entity", cover / need, 1.0, 1.0, f"{what} found", f"no {what} found")
    if name and _contrast_near(v, ent) >= 0.3:
        return _verdict(ent.id, "entity", cover, need, need, "", f"{ent.cls} is not {name}")
    return _verdict(ent.id, "entity", cover, need, need, "", f"no {what} found ({cover:.0%} of its box)")


# The rows of a sprite drawn in its stated colour, from its top, as a fraction of its height (a jar's
# rim, a lamp's shade); classes not listed carry much of other colours (a person's skin, hair and legs).
_COLOURED_ROWS = {"ball": 1.0, "cube": 1.0, "cup": 1.0, "bottle": 1.0, "bird": 1.0, "snake": 1.0, "lamp": 0.45,
                  "jar": 0.15}
_OFF_COLOUR = 1.5  # a thing with this many times more pixels in colours its stated one never shades to than in
# the stated one is drawn in another colour
_ACHROMATIC = frozenset(_NAMES.index(n) for n in ("white", "gray", "black"))


def _shades(name: str) -> frozenset[int]:
    """The named colours a sprite drawn in ``name`` shows: its shaded faces, outline and highlight."""
    c = COLOURS[name]
    variants = [shade(c, f) for f in (0.45, 0.55, 0.62, 0.68, 0.75, 1.0)]
    variants += [mix(c, WHITE, t) for t in (0.2, 0.35, 0.45, 0.6)] + [outline_of(c)]
    idx, _ = _nearest_named(np.asarray(variants, np.float32)[None] / 255.0)
    own = frozenset(idx.ravel().tolist()) | {_NAMES.index(name)}
    return own if own & _ACHROMATIC == own else own | _ACHROMATIC


_SHADES = {n: _shades(n) for n in _NAMES}
# Colours that fall in any thing's box without saying what colour it is: brown (wooden tables and floors, dirt,
# the dark shading of red and orange once blurred); a jar's glass and glint also read white, a bird's beak and
# legs orange or yellow, a snake's eye and tongue yellow or red.
_ANYWHERE = frozenset({_NAMES.index("brown")})
_ANYWHERE_BY_CLASS = {"jar": _ANYWHERE | {_NAMES.index("white")},
                      "bird": _ANYWHERE | {_NAMES.index(n) for n in ("orange", "yellow")},
                      "snake": _ANYWHERE | {_NAMES.index(n) for n in ("yellow", "red")}}


def _top_rows_end(box: Box, share: float) -> int:
    """The row past the top ``share`` of a found box's rows (at least two): a jar's rim, a lamp's shade."""
    y0, y1 = int(round(box[1])), int(round(box[3]))
    return y0 + max(2, int(round(share * (y1 - y0))))


def _off_colour(v: _View, ent: Entity, f: Found, name: str) -> str | None:
    """The colour the found thing is drawn in, when most of its own pixels show one its stated colour
    never shades to (a red flask whose dark rim alone reads gray); None when it is not outvoted."""
    rows = _COLOURED_ROWS.get(ent.cls)
    if rows is None:
        return None
    x0, y0, x1, _ = (int(round(c)) for c in f.box)
    y1 = _top_rows_end(f.box, rows)
    keep = np.zeros((v.h, v.w), bool)
    keep[max(y0 - 1, 0):y1 + 1, max(x0 - 1, 0):x1 + 1] = True
    for other, g in v.found.items():
        if other != ent.id and g is not None:
            gx0, gy0, gx1, gy1 = (int(round(c)) for c in g.box)
            keep[gy0:gy1, gx0:gx1] = False
    li, di = v.named[0], v.named[1]
    keep &= (v.dev > DEV) & v.flat & (di <= _NAMED_TOL)
    votes = np.bincount(li[keep].astype(np.int64), minlength=len(_NAMES))
    if votes.sum() < 4:
        return None
    own = _NAMES.index(name)
    neutral = (_SHADES[name] | _ANYWHERE_BY_CLASS.get(ent.cls, _ANYWHERE)) - {own}
    off = [k for k in range(len(_NAMES)) if k not in neutral and k != own]
    best = max(off, key=lambda k: votes[k])
    # only the stated name itself speaks for it: its shades (a black thing's gray outline) are no one's
    return _NAMES[best] if votes[off].sum() > _OFF_COLOUR * votes[own] else None


def _rim_is(v: _View, jar: Found, name: str) -> bool:
    """A jar's colour is its rim's: the top rows of the found jar show the named colour."""
    x0, y0, x1, _ = (int(round(c)) for c in jar.box)
    rows = slice(max(y0 - 1, 0), _top_rows_end(jar.box, _COLOURED_ROWS["jar"]))
    return int(v.named_mask(name)[rows, x0:x1].sum()) >= max(3, 0.3 * (x1 - x0))


def _contrast_near(v: _View, ent: Entity) -> float:
    """Fraction of the expected box, at the best place nearby, that stands out from the background."""
    f = locate([Target(ent.id, (v.dev > DEV) & v.flat, v.box(ent.region), _reach(v, ent), "contrast")])[ent.id]
    return f.coverage if f else 0.0


def _check_ground(v: _View, ent: Entity, what: str) -> NodeVerdict:
    """A ground band: its columns below the ground line mostly in its colour, and a ground line at all."""
    k = next(i for i, g in enumerate(v.grounds) if g.id == ent.id)
    cols = np.nonzero(v.band == k)[0]
    px = v.img[min(v.horizon + 1, v.h - 1):, cols]
    hit = np.zeros(px.shape[:2], bool)
    for r in _ground_refs(ent):
        hit |= _near_colour(px, r, (0.7, 1.3), 0.14)
    frac = hit.sum() / max(ent.region.width * v.w * (v.h - v.horizon), 1.0)
    if v.ground_step < _HORIZON_STEP:
        return _fail(ent.id, "entity", f"no ground line: no {what}")
    return _verdict(ent.id, "entity", frac, _GROUND_AREA, 0.2, f"{what} found",
                    f"no {what} where expected ({frac:.0%} of its area)")


def _substance_ref(ent: Entity) -> Array:
    name = _colour_of(ent)
    return _rgb(COLOURS[name]) if name else _rgb(SUBSTANCE_RGB.get(ent.cls, (128, 128, 128)))


def _interior(v: _View, jar: Found) -> tuple[int, int, int, int]:
    """Rows y0..y1 and columns x0..x1 inside a found container (walls, rim and bottom off)."""
    x0, y0, x1, y1 = jar.box
    r = container_interior(Region(x0 / v.w, y0 / v.h, min(x1 / v.w, 1.0), min(y1 / v.h, 1.0)))
    return (int(round(r.y0 * v.h)), int(round(r.y1 * v.h)), int(round(r.x0 * v.w)) + 1,
            max(int(round(r.x1 * v.w)) - 1, int(round(r.x0 * v.w)) + 2))


def _container_of(v: _View, ent: Entity) -> tuple[Entity, Found] | None:
    for p in v.csg.parents(ent.id, EdgeType.CONTAINS):
        if isinstance(p, Entity):
            f = _present(v, p)
            return (p, f) if f else None
    return None


def _substance_rows(v: _View, jar: Found, sub: Entity) -> Array:
    """Per interior row of the found container: the fraction of it showing the substance (or the
    lighter line on its top)."""
    y0, y1, x0, x1 = _interior(v, jar)
    ref = _substance_ref(sub)
    # the empty part: the background through the glass; a pale substance (sand by a pale wall) is told from
    # it by being nearer its own colour than that
    alpha = JAR_GLASS[3] / 255.0
    empty = (1 - alpha) * v.bg[y0:y1, x0:x1] + alpha * _rgb(JAR_GLASS)
    hit = np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), bool)
    for c in (ref, 0.8 * ref + 0.2):
        for a in (v.img, v.raw):
            px = a[y0:y1, x0:x1]
            nearer = ((px - c) ** 2).sum(-1) < ((px - empty) ** 2).sum(-1)
            hit |= _near_colour(px, c, (0.7, 1.45), 0.16) & nearer
    return hit.mean(axis=1) if hit.size else np.zeros(max(y1 - y0, 0))


def _level(rows: Array) -> float:
    """Fill level from the substance rows: from the interior's bottom up to the top of the lowest
    run of substance rows (rows at the very bottom may show the jar's rounded corners)."""
    full = np.nonzero(rows > 0.5)[0]
    if len(full) < 1:
        return 0.0
    top = full[-1]
    while top - 1 >= 0 and rows[top - 1] > 0.5:
        top -= 1
    return float((len(rows) - top) / max(len(rows), 1))


def _check_substance(v: _View, ent: Entity, what: str) -> NodeVerdict:
    held = _container_of(v, ent)
    if held is None:
        return _fail(ent.id, "entity", f"no container found to hold the {what}")
    rows = _substance_rows(v, held[1], ent)
    full = int((rows > 0.5).sum())
    return _verdict(ent.id, "entity", full, 1.0, 1.0, f"{what} found in the {held[0].cls}",
                    f"no {what} in the {held[0].cls}")


# -- effects -------------------------------------------------------------------------------------
def _support_line(v: _View, obj: Entity, sup: Entity) -> float | None:
    """The row the object rests on: the found support's top (a container's inner bottom), the ground line."""
    if _is_ground(v, sup):
        return float(v.horizon)
    f = _present(v, sup)
    if f is None:
        return None
    if category(sup.cls) == Category.CONTAINER:
        return float(_interior(v, f)[1])
    return _top(f)


def _top(f: Found) -> float:
    """The found thing's top row, robustly: the first row where a good part of its width shows
    (a few stray pixels of its colour, e.g. the shaded bottom of what stands on it, do not count)."""
    rows = f.mask.sum(axis=1)
    return float(np.nonzero(rows >= 0.3 * rows.max())[0][0])


def _check_contact(v: _View, eff: Effect) -> NodeVerdict:
    obj, sup = _ent(v.csg, eff.params.get("object")), _ent(v.csg, eff.params.get("support"))
    if obj is None or sup is None:
        return _fail(eff.id, "effect", "contact without an object or a support in the graph")
    if eff.params.get("part") == "mouth":
        return _check_mouth(v, eff, obj, sup)
    fo = _present(v, obj)
    holder = _holder(v.csg, obj)
    if fo is not None and holder is not None and holder.id != sup.id:  # the layout puts it in the agent's mouth
        return _unjudged(eff.id, f"{obj.cls} is held by the {holder.cls}: no image shows it on the {sup.cls}")
    line = _support_line(v, obj, sup)
    if fo is None or line is None:
        return _fail(eff.id, "effect", f"no {obj.cls if fo is None else sup.cls} found for the contact")
    gap = _gap(v, fo, int(round(line)), obj.region.height * v.h)
    return _verdict(eff.id, "effect", -gap, -_CONTACT_GAP, 2.0, f"{obj.cls} rests on the {sup.cls}",
                    f"{obj.cls} floats {gap} px above the {sup.cls}")


def _holder(csg: CSG, obj: Entity) -> Entity | None:
    """The agent of an action on ``obj``, if any."""
    for eff in csg.effects(EffectType.ACTION):
        if eff.params.get("patient") == obj.id:
            return _ent(csg, eff.params.get("agent"))
    return None


def _gap(v: _View, fo: Found, line: int, height: float) -> int:
    """Longest run of backdrop rows between the object's lowest pixels and the support line: rows
    whose pixels under the object look like the same row just beside it."""
    x0, _, x1, _ = (int(round(c)) for c in fo.box)
    cols = slice(x0, max(x1, x0 + 1))
    body = fo.mask[:, cols].sum(axis=1)
    bottom = int(np.nonzero(body >= 0.3 * body.max())[0].max()) if body.any() else int(fo.box[3]) - 1
    bottom = min(bottom, int(round(fo.box[1] + height)) - 1)  # stray pixels of its colour on the support below
    rows = slice(bottom + 1, min(line, v.h))
    if rows.start >= rows.stop:
        return 0
    side = np.zeros(v.w, bool)
    side[max(x0 - 10, 0):x0] = side[x1:x1 + 10] = True
    beside = v.img[rows][:, side]
    ref = np.median(beside, axis=1) if beside.shape[1] else v.bg[rows, x0]
    occupied = (np.sqrt(((v.img[rows, cols] - ref[:, None]) ** 2).sum(-1)) > DEV).sum(axis=1) >= 2
    run = best = 0
    for o in occupied:
        run = 0 if o else run + 1
        best = max(best, run)
    return best


def _check_mouth(v: _View, eff: Effect, patient: Entity, agent: Entity) -> NodeVerdict:
    fp, fa = _present(v, patient), _present(v, agent)
    if fp is None or fa is None:
        return _fail(eff.id, "effect", f"no {patient.cls if fp is None else agent.cls} found for the bite")
    near = ndimage.binary_dilation(fa.mask, iterations=_MOUTH_PX) & fp.mask
    return _verdict(eff.id, "effect", int(near.sum()), 1, 2, f"{patient.cls} at the {agent.cls}'s mouth",
                    f"{patient.cls} not at the {agent.cls}'s mouth")


def _check_fill(v: _View, eff: Effect) -> NodeVerdict:
    cont, sub = _ent(v.csg, eff.params.get("container")), _ent(v.csg, eff.params.get("substance"))
    if cont is None or sub is None:
        return _fail(eff.id, "effect", "fill without a container or a substance in the graph")
    fc = _present(v, cont)
    if fc is None:
        return _fail(eff.id, "effect", f"no {cont.cls} found to hold the {sub.cls}")
    want = eff.params.get("level")
    want = 0.5 if want is None else float(want)
    level = _level(_substance_rows(v, fc, sub))
    if want >= 0.1 and level < 0.05:
        return _fail(eff.id, "effect", f"{cont.cls} is empty, expected filled to {want:.2f}")
    return _verdict(eff.id, "effect", -abs(level - want), -_FILL_TOL, _FILL_TOL,
                    f"{cont.cls} filled to {level:.2f} (expected {want:.2f})",
                    f"{cont.cls} filled to {level:.2f}, expected {want:.2f}")


def _check_action(v: _View, eff: Effect) -> NodeVerdict:
    agent, patient = _ent(v.csg, eff.params.get("agent")), _ent(v.csg, eff.params.get("patient"))
    verb = eff.params.get("verb", "act")
    if agent is None or patient is None or agent.region is None or patient.region is None:
        return _fail(eff.id, "effect", f"{verb} without an agent or a patient in the graph")
    fa, fp = _present(v, agent), _present(v, patient)
    if fa is None or fp is None:
        return _fail(eff.id, "effect", f"no {agent.cls if fa is None else patient.cls} found for '{verb}'")
    larger = eff.params.get("agent_larger")
    if larger is None:
        return NodeVerdict(eff.id, "effect", True, 1.0, f"{agent.cls} and {patient.cls} both drawn for '{verb}'")
    # Each one's drawn size against its size in the layout: the ratio is ~1 when the roles are right
    # and far below when the larger one is drawn small and the smaller one large.
    ratio = _scale(v, fa, agent) / max(_scale(v, fp, patient), 1e-3)
    if not larger:
        ratio = 1 / max(ratio, 1e-3)
    big = agent.cls if larger else patient.cls
    return _verdict(eff.id, "effect", ratio, _AGENT_RATIO, 0.3,
                    f"{agent.cls} {verb}s {patient.cls}: the {big} is the larger",
                    f"roles look swapped: the {big} is not the larger")


def _scale(v: _View, f: Found, ent: Entity) -> float:
    """Drawn size relative to the layout's box: geometric mean over width and height."""
    return float(np.sqrt(f.width / max(ent.region.width * v.w, 1.0) * f.height / max(ent.region.height * v.h, 1.0)))


# -- shadows -------------------------------------------------------------------------------------
def _rest(v: _View, obj: Entity, shadow: Effect) -> float:
    """The row the object's shadow starts on: the canonical line moved with what it rests on."""
    line = (shadow.region.y0 + 0.01) * v.h + v.shift_y
    for sup in v.csg.parents(obj.id, EdgeType.SUPPORTS):
        if isinstance(sup, Entity) and not _is_ground(v, sup) and sup.region is not None:
            top = _support_line(v, obj, sup)
            if top is not None:
                held = category(sup.cls) == Category.CONTAINER
                canon = container_interior(sup.region).y1 if held else sup.region.y0
                return line + top - (canon * v.h + v.shift_y)
    return line


def _raised(v: _View, sup: Entity) -> bool:
    """A support above the ground (table, cube): a shadow on it ends at its edges. Mirrors lie flat."""
    return not is_reflective(sup.cls) and not _is_ground(v, sup)


def _others(v: _View, keep: set[str]) -> Array:
    """Pixels of found entities other than ``keep`` (slightly grown): no evidence for a shadow there."""
    out = np.zeros((v.h, v.w), bool)
    for nid, f in v.found.items():
        if f is not None and nid not in keep and category(v.csg.node(nid).cls) != Category.LIGHT:
            out |= f.mask
    return ndimage.binary_dilation(out) if out.any() else out


_Parts = dict[str, list[tuple[slice, slice]]]


def _shadow_side(eff: Effect) -> str:
    """"left", "right" or "below" (any other side, e.g. a light's "top", casts the shadow under the object)."""
    side = eff.params.get("side")
    return side if side in ("left", "right") else "below"


def _cast(v: _View, obj: Entity, fo: Found, rest: float) -> _Parts:
    """Where a found object's shadow may fall, as the layout places it, as pixel boxes per part: beside it
    on each side (as long as a side light's shadow) in the rows from its base ``rest`` down, and under each
    half of it (where a top light's shadow shows, and where a side light's starts)."""
    x0, x1 = int(np.floor(fo.box[0])), int(np.ceil(fo.box[2]))
    oh = max(fo.height, obj.region.height * v.h, 2.0)  # a person found by the shirt alone is taller than that
    base = int(round(rest))
    thick = max(0.03 * v.h, 0.18 * oh)
    length = int(round(0.85 * 1.1 * oh))  # the shortest side shadow the layout draws
    inset = int(round(0.1 * (x1 - x0)))
    cx = (x0 + x1) // 2
    rows = lambda a, b: slice(min(max(a, 0), v.h), min(max(b, a, 0), v.h))  # noqa: E731
    cols = lambda a, b: slice(min(max(a, 0), v.w), min(max(b, a, 0), v.w))  # noqa: E731  (never negative)
    beside = rows(base - 1, max(int(np.ceil(rest + thick)), base + 2))
    under = rows(base, max(int(np.ceil(rest + 0.6 * thick)), base + 2))
    tails = {"tail_left": (beside, cols(x0 - length, x0 - 1)), "tail_right": (beside, cols(x1 + 1, x1 + length))}
    halves = {"under_left": (under, cols(x0 + inset, cx)), "under_right": (under, cols(cx, x1 - inset))}
    parts = {k: [box] for k, box in {**tails, **halves}.items()}
    parts["left"] = [(beside, cols(x0 - length, x0)), (under, cols(x0, cx))]
    parts["right"] = [(beside, cols(x1, x1 + length)), (under, cols(cx, x1))]
    return parts


def _receiver(v: _View, obj: Entity, fo: Found, zones: Array, lum: Array) -> tuple[Array, Array, Array]:
    """Pixels a shadow of ``obj`` can darken: the bare ground and what the object stands on, without other
    things or the object itself; without (first) and with (second) the places of other shadows, since a
    neighbour's shadow is no evidence either way; and their unshadowed brightness (``zones``: every place
    the object's own shadow may lie)."""
    keep = {obj.id}
    on_support = np.zeros((v.h, v.w), bool)
    for sup in v.csg.parents(obj.id, EdgeType.SUPPORTS):
        fs = _present(v, sup) if isinstance(sup, Entity) and not _is_ground(v, sup) else None
        if fs is not None:
            keep.add(sup.id)
            on_support |= ndimage.binary_erosion(fs.mask, structure=np.ones((1, 3), bool))
    own = ndimage.binary_dilation(fo.mask)
    own[int(round(fo.box[3])) + 1:] = False  # what looks like the object below its base is its shadow
    recv = np.zeros((v.h, v.w), bool)
    recv[v.horizon:] = True
    recv = (recv & ~_others(v, keep) | on_support) & ~own
    whole = recv.copy()
    for other in v.csg.effects(EffectType.SHADOW):
        o = _ent(v.csg, other.params.get("object"))
        fother = _present(v, o) if o is not None and o.id != obj.id and o.region is not None else None
        if fother is not None:
            rest = _rest(v, o, other)
            parts = _cast(v, o, _above(fother, int(round(rest)) + 1), rest)
            side = _shadow_side(other)
            for part in (side,) if side != "below" else ("under_left", "under_right"):
                for box in parts[part]:
                    recv[box] = False
        elif o is not None and o.id != obj.id:  # not found: its shadow may still be drawn where the layout put it
            x0, y0, x1, y1 = v.box(other.region)
            recv[max(int(y0) - 1, 0):int(np.ceil(y1)) + 1, max(int(x0) - 2, 0):int(np.ceil(x1)) + 2] = False
    return recv, whole, _reference(v, recv, on_support, zones, lum)


def _reference(v: _View, recv: Array, on_support: Array, zones: Array, lum: Array) -> Array:
    """Unshadowed brightness per receiving pixel: the median of the same row's ground of the same band
    outside every place a shadow may lie, or the brightest stretch of the support it is on."""
    ref = (v.bg @ _LUMA) / np.maximum(v.gain, 0.5)[None, :]
    for y in np.nonzero((recv & zones).any(axis=1))[0]:
        on = on_support[y] & recv[y]
        if on.any():
            ref[y][on] = np.sort(lum[y][on])[int(0.8 * (on.sum() - 1))]
        for k in np.unique(v.band[zones[y]]):
            ground = recv[y] & ~on & (v.band == k)
            clear = ground & ~zones[y]
            pick = clear if clear.sum() >= 4 else ground
            if pick.sum() >= 4:
                ref[y][ground] = np.median(lum[y][pick])
    return ref


def _flat_lum(v: _View) -> Array:
    """Brightness with a side light's gradient taken out."""
    return (v.raw @ _LUMA) / np.maximum(v.gain, 0.5)[None, :]


def _part(shape: tuple[int, int], boxes: list[tuple[slice, slice]]) -> Array:
    mask = np.zeros(shape, bool)
    for box in boxes:
        mask[box] = True
    return mask


def _covered(alone: Array, whole: Array, part: Array) -> bool:
    """Most of the part lies inside other things' shadows: it shows nothing of this one's."""
    n = int((whole & part).sum())
    return n >= 3 and int((alone & part).sum()) < max(3, 0.4 * n)


def _darkening(lum: Array, alone: Array, ref: Array, part: Array) -> float | None:
    """Mean relative darkening of the part's receiving pixels; None when too few show."""
    sel = alone & part
    if sel.sum() < 3:
        return None
    return float(1.0 - lum[sel].mean() / max(float(ref[sel].mean()), 1e-3))


def _on_narrow_support(v: _View, obj: Entity, fo: Found) -> bool:
    """Stacked on another thing (a ball on a cube) or on a support hardly wider than itself: its shadow
    falls on that thing's thin top face and edges, where it cannot be told from their own shading."""
    for sup in v.csg.parents(obj.id, EdgeType.SUPPORTS):
        fs = _present(v, sup) if isinstance(sup, Entity) and _raised(v, sup) else None
        if fs is not None and (category(sup.cls) != Category.SUPPORT or fo.width >= _NARROW_SUPPORT * fs.width):
            return True
    return False


def _check_shadow(v: _View, eff: Effect) -> NodeVerdict:
    """The darkening where the layout's rule puts the shadow of the found object, against the same
    rule on the other side: a side light's shadow lies beside the object away from the light, a top
    light's under it with no tail to either side."""
    obj = _ent(v.csg, eff.params.get("object"))
    if obj is None or obj.region is None:
        return _fail(eff.id, "effect", "shadow without an object in the graph")
    fo = _present(v, obj)
    if fo is None:
        return _fail(eff.id, "effect", f"no {obj.cls} found to cast the shadow")
    side = _shadow_side(eff)
    unjudged = _unjudged(eff.id, f"too little ground beside the {obj.cls} to judge its shadow")
    if _on_narrow_support(v, obj, fo):
        return _unjudged(eff.id, f"the {obj.cls}'s shadow falls off its support's edge: not judgeable")
    rest = _rest(v, obj, eff)
    fo = _above(fo, int(round(rest)) + 1)  # a dark shadow may look like the object's colour
    parts = {p: _part((v.h, v.w), boxes) for p, boxes in _cast(v, obj, fo, rest).items()}
    lum = _flat_lum(v)
    alone, whole, ref = _receiver(v, obj, fo, np.logical_or.reduce(list(parts.values())), lum)
    covered = {p for p, m in parts.items() if _covered(alone, whole, m)}
    if covered & ({side} if side != "below" else {"under_left", "under_right"}):
        return _unjudged(eff.id, f"the {obj.cls}'s shadow would fall inside another shadow: not judgeable")
    dark = {p: None if p in covered else _darkening(lum, alone, ref, m) for p, m in parts.items()}
    if side in ("left", "right"):
        other = "left" if side == "right" else "right"
        here, there = dark[side], dark[other] or 0.0
        if here is None:
            return unjudged
        value = min(here, here - there)
        found = other if there >= _SHADOW_DARK and there > here else None
    else:
        halves = [d for d in (dark["under_left"], dark["under_right"]) if d is not None]
        if not halves:
            return unjudged
        tails = {k: dark[f"tail_{k}"] or 0.0 for k in ("left", "right")}
        value = min(min(halves), 2 * _SHADOW_DARK - max(tails.values()))
        found = max(tails, key=tails.get) if max(tails.values()) >= _SHADOW_DARK else None
    where = "below it" if side == "below" else f"on the {side}"
    bad = f"shadow on the {found}, expected {side}" if found else f"no shadow of the {obj.cls} {where}"
    return _verdict(eff.id, "effect", value, _SHADOW_DARK, _SHADOW_DARK, f"shadow of the {obj.cls} {where}", bad)


# -- reflections ---------------------------------------------------------------------------------
def _mirrored_box(o: Region, s: Region) -> Region:
    """The graph's object mirrored about its contact line with the surface (inside the image)."""
    line = max(s.y0, o.y1)
    return Region(o.x0, max(2 * line - o.y1, 0.0), o.x1, min(2 * line - o.y0, 1.0))


def _graph_room(v: _View, o: Region, s: Region) -> int:
    """Pixels of the surface's glass (its frame left out) the mirrored object covers in the graph's layout, when
    the object stands centred over it (beside its middle, the world shifts the reflection): a picture whose
    drawn surface leaves the reflection far less than this has drawn too little of it to pass unjudged (a
    surface drawn too small or not at all would otherwise escape the check)."""
    room = _mirrored_box(o, s).intersection(s)
    if room is None or not s.x0 <= (o.x0 + o.x1) / 2 <= s.x1:
        return 0
    return int(max(room.width * v.w - 2, 0) * max(room.height * v.h - 2, 0))


def _reflection_like(px: Array, plain: Array, o: Array, water: bool) -> tuple[Array, Array]:
    """Per pixel: has the plain surface moved towards the object colour ``o`` mirrored there (its
    chromaticity where the two differ in colour, else its brightness)? And is that decidable at all?"""
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
    return like, by_colour | (np.abs(dl) > 0.1)


@dataclass
class _Surface:
    """Where a reflection may show (bool mask), the line it mirrors about, the sideways shift."""

    area: Array
    line: int
    dx: int
    plain: Array  # [H, W, 3] the surface without a reflection
    water: bool


def _surface(v: _View, fo: Found, surf: Entity) -> _Surface | None:
    area = np.zeros((v.h, v.w), bool)
    if surf.cls == "water" or _is_ground(v, surf):
        k = next((i for i, g in enumerate(v.grounds) if g.id == surf.id), -1)
        area[v.horizon + 1:, v.band == k] = True
        return _Surface(area, v.horizon, 0, v.bg, True)
    fs = _present(v, surf)
    if fs is None:
        return None
    gx0, gy0, gx1, gy1 = (int(round(c)) for c in fs.box)
    area[gy0 + 1:gy1 - 1, gx0 + 1:gx1 - 1] = True
    # only the glass reflects: the frame's dark edge would read as the reflection of a dark thing
    glass = area & _glass(v)
    rows, cols = np.nonzero(glass.sum(1) >= 2)[0], np.nonzero(glass.sum(0) >= 2)[0]
    if len(rows) >= 2 and len(cols) >= 2:
        inner = np.zeros_like(area)
        inner[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = True
        area &= inner
    line = int(round(max(fs.box[1], fo.box[3])))
    dx = int(round(reflection_shift_beside(fo.box[0], fo.box[2], gx0 + 1, gx1 - 1)))
    return _Surface(area, line, dx, np.broadcast_to(_rgb(MIRROR_GLASS), v.img.shape), False)


def _silhouette(v: _View, fo: Found, line: int, keep: set[str]) -> Array:
    """Everything drawn between the found object's top and the line, in its columns: its colour and
    its other parts (a lamp's pole and base, legs), not other things."""
    x0, y0, x1, _ = (int(round(c)) for c in fo.box)
    out = np.zeros((v.h, v.w), bool)
    out[max(y0, 0):max(line, 0), max(x0, 0):max(x1, 0)] = True
    return (out & (v.dev > DEV) & ~_others(v, keep)) | fo.mask


def _mirrored(v: _View, src_mask: Array, s: _Surface) -> tuple[Array, Array, Array]:
    """The object's pixels flipped about the line (and shifted): target mask, source rows and columns."""
    ys, xs = np.arange(v.h), np.arange(v.w)
    src_y = 2 * s.line - 1 - ys
    src_x = xs - s.dx
    ok_y = (src_y >= 0) & (src_y < v.h) & (ys >= s.line)
    ok_x = (src_x >= 0) & (src_x < v.w)
    sy, sx = np.clip(src_y, 0, v.h - 1), np.clip(src_x, 0, v.w - 1)
    flipped = src_mask[sy][:, sx] & ok_y[:, None] & ok_x[None, :]
    if s.water:  # ripples shift rows sideways by about a pixel
        flipped = ndimage.binary_dilation(flipped, structure=np.ones((1, 3), bool))
    return flipped, sy, sx


def _check_reflection(v: _View, eff: Effect) -> NodeVerdict:
    obj, surf = _ent(v.csg, eff.params.get("object")), _ent(v.csg, eff.params.get("surface"))
    if obj is None or surf is None or obj.region is None or surf.region is None:
        return _fail(eff.id, "effect", "reflection without an object or a surface in the graph")
    fo = _present(v, obj)
    s = _surface(v, fo, surf) if fo is not None else None
    if fo is None or s is None:
        return _fail(eff.id, "effect", f"no {obj.cls if fo is None else surf.cls} found for the reflection")
    keep = {obj.id, surf.id}
    flipped, sy, sx = _mirrored(v, _silhouette(v, fo, s.line, keep), s)
    inside = flipped & s.area & ~_others(v, keep) & ~fo.mask
    src = v.img[sy][:, sx]
    like, decidable = _reflection_like(v.img, s.plain, src, s.water)
    use = inside & decidable
    if use.sum() < _MIN_REFLECTION_PX:
        shared = sum(e.params.get("surface") == surf.id for e in v.csg.effects(EffectType.REFLECTION)) > 1
        room = 0 if shared else _graph_room(v, obj.region, surf.region)  # neighbours' reflections crowd it
        if inside.sum() < _MIN_REFLECTION_PX <= room // 2:
            return _fail(eff.id, "effect", f"no room for the {obj.cls}'s reflection in the {surf.cls} as drawn "
                                           f"({int(inside.sum())} px; the graph's {surf.cls} holds {room})")
        return _unjudged(eff.id, f"reflection of the {obj.cls} too small to judge")
    if not s.water:
        spill = _spill(v, obj, surf, fo, flipped & ~fo.mask & ~_others(v, keep), like & decidable)
        if spill >= _SPILL_PX:
            return NodeVerdict(eff.id, "effect", False, float(np.clip(0.5 - spill / 40, 0, 0.5)),
                               f"reflection extends beyond the {surf.cls} ({spill} px)")
    value = float(like[use].mean())
    return _verdict(eff.id, "effect", value, _REFLECTION_AREA, _REFLECTION_AREA,
                    f"reflection of the {obj.cls} inside the {surf.cls}",
                    f"no reflection of the {obj.cls} inside the {surf.cls}")


def _spill(v: _View, obj: Entity, surf: Entity, fo: Found, flipped: Array, like: Array) -> int:
    """Drawn pixels where the mirrored object would be but a mirror of the graph's size would not:
    the mirror as big as the layout says (relative to its object), under the found object. When the graph's
    mirror must cut the reflection, reflection- or glass-like pixels just past its edge count too: a small
    mirror drawn large enough for the whole reflection (the paper's failure) spills only a few pixels."""
    o, s = obj.region, surf.region
    # a small mirror is sized from its object: scale the graph's mirror with the object as drawn
    sw = s.width * v.w * float(np.clip(fo.width / max(o.width * v.w, 1.0), 0.8, 1.25))
    fs = _present(v, surf)
    top = fs.box[1] if fs else fo.box[3]
    if s.x0 <= o.x0 + o.width / 2 <= s.x1:  # the object stands on the mirror: it is centred under it
        cx = (fo.box[0] + fo.box[2]) / 2 + (s.x0 + s.x1 - o.x0 - o.x1) / 2 * v.w
    else:
        cx = (fs.box[0] + fs.box[2]) / 2 if fs else (fo.box[0] + fo.box[2]) / 2

    def outside(tx: float, ty: float) -> Array:
        span = np.zeros((v.h, v.w), bool)
        x0, x1 = int(np.floor(cx - sw / 2 - tx)), int(np.ceil(cx + sw / 2 + tx))
        span[max(int(top) - 1, 0):int(np.ceil(top + s.height * v.h + ty)), max(x0, 0):max(x1, 0)] = True
        return flipped & ~span & (v.dev > 0.15)

    loose = int(outside(*_SPAN_SLACK).sum())
    if not _clipped(o, s):
        return loose
    glass = _glass(v)
    return max(loose, int((outside(*_CLIP_SLACK) & (like | glass)).sum()))


def _clipped(o: Region, s: Region) -> bool:
    """The graph's surface is too small for the whole mirrored object: the reflection must be cut."""
    return not s.contains(_mirrored_box(o, s), tol=0.03)


_EFFECT_CHECKS: dict[EffectType, Callable[[_View, Effect], NodeVerdict]] = {
    EffectType.REFLECTION: _check_reflection, EffectType.SHADOW: _check_shadow, EffectType.CONTACT: _check_contact,
    EffectType.FILL: _check_fill, EffectType.ACTION: _check_action,
}


# -- relations -----------------------------------------------------------------------------------
_RELATION_TEST: dict[str, Callable[[tuple[float, float], tuple[float, float]], bool]] = {
    "left_of": lambda a, b: a[0] < b[0], "right_of": lambda a, b: a[0] > b[0],
    "above": lambda a, b: a[1] < b[1], "below": lambda a, b: a[1] > b[1], "under": lambda a, b: a[1] > b[1],
}


def _check_relation(v: _View, src: Entity, dst: Entity, rel: str) -> NodeVerdict:
    nid = f"{src.id}-{rel}->{dst.id}"
    fa, fb = _present(v, src), _present(v, dst)
    if fa is None or fb is None:
        return _fail(nid, "relation", f"no {src.cls if fa is None else dst.cls} found to check '{rel}'")
    test = _RELATION_TEST.get(rel)
    words = rel.replace("_", " ")
    if test is None:  # on/in are judged by contact and fill; near/behind/in front by presence
        return NodeVerdict(nid, "relation", True, 1.0, f"{src.cls} {words} {dst.cls}")
    ok = bool(test(fa.centre, fb.centre))
    reason = f"{src.cls} {words} {dst.cls}" if ok else f"{src.cls} is not {words} {dst.cls}"
    return NodeVerdict(nid, "relation", ok, 1.0 if ok else 0.0, reason)


def _relations(v: _View) -> list[NodeVerdict]:
    out = []
    for e in v.csg.edges(EdgeType.LOCATED_AT):
        src, dst = _ent(v.csg, e.src), _ent(v.csg, e.dst)
        rel = e.params.get("relation")
        if src and dst and rel in _RELATION_TEST and _locatable(src) and _locatable(dst):
            out.append(_check_relation(v, src, dst, rel))
    return out


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
    ents = [n for n in nodes if n.kind == "entity" and n.judged]
    phys = [n for n in nodes if n.kind != "entity" and n.judged]
    texture = sum(n.passed for n in ents) / len(ents) if ents else 1.0
    physical = sum(n.passed for n in phys) / len(phys) if phys else 1.0
    return Verdict(nodes, float(physical), float(texture), bool(all(n.passed for n in nodes)))
