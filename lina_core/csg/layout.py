"""Layout: one box per CSG node, the scene geometry that the renderer draws and the method masks.

The scene is a side view at small resolution (64x64). A ground line splits it into a backdrop
and the ground; surfaces (floor, grass, sand, water) are bands below that line, side by side.
Standing things (tables, jars, objects, animals, people) rest with their bottom edge on their
support's top. Flat reflective supports (mirrors) lie on whatever holds them: their box is the
visible plane *below* their top edge, so an object resting on a mirror has its reflection inside
the mirror's box. Effects are computed from their parents' boxes, never placed freely, so that a
reflection is always the mirrored object clipped to its surface, a shadow always falls on the side
opposite the light, and so on. ``jitter`` varies sizes and positions from a seed while keeping
those constraints, so that the synthetic world never repeats an image.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .graph import CSG, RELATIONS, EdgeType, Effect, EffectType, Entity, Region
from .vocab import Category, category, is_reflective

GROUND_Y = 0.66  # canonical ground line (y grows downward)
MARGIN = 0.03  # kept free at the image borders
GAP = 0.03  # smallest gap between things that must not touch ("near", separate groups)
ABOVE_GAP = 0.08  # clearance under something that floats above another thing
FLOAT_H = 0.16  # how high a thing "above" a surface floats over the ground line
CONTACT_HALF = 0.015  # half-thickness of a contact box
MIN_VISIBLE = 0.02  # a reflection thinner than this (about a pixel at 64x64) is moved onto its surface
FRONT_SHIFT = 0.045  # base offset of things behind / in front (depth shows as height in a side view)
WALL = 0.12  # container wall thickness as a fraction of its width (see container_interior)

# Nominal (width, height) of each class, for a canonical medium-sized instance.
_SIZE: dict[str, tuple[float, float]] = {
    "ball": (0.18, 0.18), "cube": (0.17, 0.17), "cup": (0.13, 0.14), "bottle": (0.10, 0.24),
    "lamp": (0.13, 0.26), "jar": (0.24, 0.34), "table": (0.50, 0.24), "tray": (0.40, 0.05),
    "mirror": (0.34, 0.20), "bird": (0.20, 0.14), "snake": (0.34, 0.10), "person": (0.14, 0.42),
}
_GENERIC_SIZE = (0.18, 0.18)
_SIZE_SCALE = {"small": 0.65, "large": 1.4}
_SIDE_RELATIONS = ("left_of", "right_of", "near", "next_to")
_OPPOSITE = {"left": "right", "right": "left", "top": "below"}


@dataclass
class _Box:
    """Unclipped float box; a group is laid out around x=0 before it is moved into the image."""

    x0: float
    y0: float
    x1: float
    y1: float

    @classmethod
    def standing(cls, cx: float, base: float, w: float, h: float) -> _Box:
        return cls(cx - w / 2, base - h, cx + w / 2, base)

    @property
    def w(self) -> float:
        return self.x1 - self.x0

    @property
    def h(self) -> float:
        return self.y1 - self.y0

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    def moved(self, dx: float = 0.0, dy: float = 0.0) -> _Box:
        return _Box(self.x0 + dx, self.y0 + dy, self.x1 + dx, self.y1 + dy)

    def clip(self, other: _Box) -> _Box | None:
        b = _Box(max(self.x0, other.x0), max(self.y0, other.y0), min(self.x1, other.x1), min(self.y1, other.y1))
        return b if b.w > 0 and b.h > 0 else None

    def union(self, other: _Box) -> _Box:
        return _Box(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))

    def to_region(self, min_size: float = 0.005) -> Region:
        """Clip to the image; a box squeezed at a border keeps ``min_size`` so every node stays drawable."""
        x0, x1 = _clip_span(self.x0, self.x1, min_size)
        y0, y1 = _clip_span(self.y0, self.y1, min_size)
        return Region(x0, y0, x1, y1)


_IMAGE = _Box(0.0, 0.0, 1.0, 1.0)


def _clip_span(a: float, b: float, min_size: float) -> tuple[float, float]:
    a, b = min(max(a, 0.0), 1.0), min(max(b, 0.0), 1.0)
    if b - a < min_size:
        a = min(max(a, 0.0), 1.0 - min_size)
        b = a + min_size
    return a, b


def _box(region: Region) -> _Box:
    return _Box(*region.as_tuple())


def _interior(box: _Box) -> _Box:
    return _Box(box.x0 + WALL * box.w, box.y0 + 0.10 * box.h, box.x1 - WALL * box.w, box.y1 - 0.06 * box.h)


def container_interior(region: Region) -> Region:
    """The inside of a container box (walls, bottom and rim removed); fills and contents live here."""
    inner = _interior(_box(region))
    return Region(inner.x0, inner.y0, inner.x1, inner.y1)


def _lies_flat(ent: Entity) -> bool:
    return category(ent.cls) == Category.SUPPORT and is_reflective(ent.cls)


@dataclass
class _Group:
    """A root entity on the ground with everything placed relative to it, laid out around x=0."""

    root: str
    ids: list[str]
    lo: float  # leftmost x of the group relative to the root's centre
    hi: float
    root_w: float
    allowed: tuple[float, float] = (0.0, 1.0)  # where the root's own box may lie (surface constraints)
    pref: float | None = None  # preferred root centre
    cx: float = 0.0


@dataclass
class _Plan:
    """Who is placed relative to whom: one layout parent per entity (a tree), plus surface constraints."""

    lights: list[Entity]
    surfaces: list[Entity]
    placed: list[Entity]
    parent: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (relation, parent id)
    on_surface: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))

    def children(self, nid: str) -> list[tuple[str, str]]:
        return [(rel, c) for c, (rel, p) in self.parent.items() if p == nid]


def _plan(csg: CSG) -> _Plan:
    ents = csg.entities()
    held = {e.id for e in ents for p in csg.parents(e.id, EdgeType.CONTAINS) if isinstance(p, Entity)}
    lights = [e for e in ents if category(e.cls) == Category.LIGHT]
    surfaces = [e for e in ents if e.id not in held and category(e.cls) in (Category.SURFACE, Category.SUBSTANCE)]
    taken = {e.id for e in lights + surfaces}
    plan = _Plan(lights, surfaces, [e for e in ents if e.id not in taken])
    surface_ids = {e.id for e in surfaces}
    placed_ids = {e.id for e in plan.placed}
    for ent in plan.placed:
        for rel, ref in _candidates(csg, ent.id):
            if ref in surface_ids:
                plan.on_surface[ent.id].append((rel, ref))
            elif ref in placed_ids and ent.id not in plan.parent and not _is_ancestor(plan.parent, ent.id, ref):
                plan.parent[ent.id] = (rel, ref)
    return plan


def _candidates(csg: CSG, nid: str) -> list[tuple[str, str]]:
    """(relation, reference) pairs for an entity, strongest first: held > in > on > stated relations."""
    out = [("held", e.params["agent"]) for e in csg.effects(EffectType.ACTION)
           if e.params.get("patient") == nid and e.params.get("agent") in csg]
    out += [("held", p.id) for p in csg.parents(nid, EdgeType.ACTS_ON) if isinstance(p, Entity)]
    out += [("in", p.id) for p in csg.parents(nid, EdgeType.CONTAINS) if isinstance(p, Entity)]
    out += [("on", p.id) for p in csg.parents(nid, EdgeType.SUPPORTS) if isinstance(p, Entity)]
    located = [(csg.relation(nid, c.id) or "near", c.id) for c in csg.children(nid, EdgeType.LOCATED_AT)]
    located = [(rel, ref) for rel, ref in located if not _lifted(csg, rel, ref)]
    located += [("above", p.id) for p in csg.parents(nid, EdgeType.LOCATED_AT)
                if _lifted(csg, csg.relation(p.id, nid) or "near", nid)]
    rank = {r: i for i, r in enumerate(RELATIONS)}
    out += sorted(located, key=lambda rc: rank.get(rc[0], len(rank)))
    return out


def _lifted(csg: CSG, rel: str, ref: str) -> bool:
    """"X under Y" with Y standing free reads as "Y above X": drawn at Y's foot, one would hide the other.
    Under a table (a support) stays between its legs; Y on, in or held by something stays where it is."""
    if rel not in ("under", "below"):
        return False
    node = csg.node(ref)
    return (isinstance(node, Entity) and category(node.cls) != Category.SUPPORT
            and not any(csg.parents(ref, t) for t in (EdgeType.SUPPORTS, EdgeType.CONTAINS, EdgeType.ACTS_ON))
            and not any(e.params.get("patient") == ref for e in csg.effects(EffectType.ACTION)))


def _is_ancestor(parent: dict[str, tuple[str, str]], nid: str, ref: str) -> bool:
    """Would making ``ref`` the parent of ``nid`` close a cycle?"""
    while ref is not None:
        if ref == nid:
            return True
        ref = parent.get(ref, (None, None))[1]
    return False


class _Layout:
    """One layout computation; retried at a smaller scale when the scene does not fit."""

    def __init__(self, csg: CSG, rng: np.random.Generator, jitter: float) -> None:
        self.csg, self.rng, self.jitter = csg, rng, jitter
        self.plan = _plan(csg)
        self._noise: dict[str, float] = {}
        self.notes: list[str] = []
        self.boxes: dict[str, _Box] = {}
        self.rest: dict[str, float] = {}  # the line each entity (or its shadow) rests on
        self.mouth: dict[str, _Box] = {}

    def noise(self, key: str) -> float:
        """Seeded value in [-jitter, jitter], cached per key so retries reuse the same draw."""
        if key not in self._noise:
            self._noise[key] = float(self.rng.uniform(-1.0, 1.0))
        return self._noise[key] * self.jitter

    def flip(self, key: str) -> bool:
        """Seeded mirror-image choice (which side, which way an agent faces), with probability jitter / 4:
        rare at the modest jitter the model trains with, so its scenes mostly follow the canonical layout
        that the judge and the method's masks use."""
        return self.noise(key) < self.jitter * (-1.0 + self.jitter / 2)

    # -- driver ---------------------------------------------------------------------------------
    def run(self) -> dict[str, _Box]:
        self.ground = GROUND_Y + 0.04 * self.noise("ground")
        self._surface_bands()
        scale, fits = 1.0, False
        for _ in range(10):
            fits = self._place_entities(scale)
            if fits:
                break
            scale *= 0.85
        if not fits:
            self.notes.append("layout: the scene is crowded; some things overlap or touch the border")
        self._lights()
        for eff in self.csg.effects():
            self.boxes[eff.id] = self._effect(eff)
        return self.boxes

    # -- surfaces and lights --------------------------------------------------------------------
    def _surface_bands(self) -> None:
        """Bands below the ground line, side by side; water goes to one side (right unless told)."""
        surfs = self.plan.surfaces
        if not surfs:
            return
        water_left = any(s.side == "left" for s in surfs if s.cls == "water") or (
            not any(s.side for s in surfs) and self.flip("water_side"))
        key = (lambda s: s.cls != "water") if water_left else (lambda s: s.cls == "water")
        ordered = sorted(surfs, key=key)
        cuts = [i / len(ordered) + (0.08 * self.noise(f"cut{i}") if 0 < i < len(ordered) else 0.0)
                for i in range(len(ordered) + 1)]
        for s, a, b in zip(ordered, cuts, cuts[1:]):
            self.boxes[s.id] = _Box(a, self.ground, b, 1.0)

    def _lights(self) -> None:
        for light in self.plan.lights:
            side = light.side or "left"
            dy = 0.04 * self.noise(f"light:{light.id}")
            if side == "top":
                cx = 0.5 + 0.2 * self.noise(f"light_x:{light.id}")
                self.boxes[light.id] = _Box(cx - 0.05, 0.0, cx + 0.05, 0.07)
            elif side == "right":
                self.boxes[light.id] = _Box(0.91, 0.05 + dy, 0.99, 0.15 + dy)
            else:
                self.boxes[light.id] = _Box(0.01, 0.05 + dy, 0.09, 0.15 + dy)

    # -- entity sizes -----------------------------------------------------------------------------
    def _sizes(self, scale: float) -> dict[str, tuple[float, float]]:
        sizes = {}
        for e in self.plan.placed:
            w, h = _SIZE.get(e.cls, _GENERIC_SIZE)
            f = _SIZE_SCALE.get(e.size or "", 1.0) * (1 + 0.15 * self.noise(f"size:{e.id}")) * scale
            w, h = w * f, h * f
            if e.count > 1:
                w = w * (e.count + 0.25 * (e.count - 1))
                if w > 0.8:
                    w, h = 0.8, h * 0.8 / w
            sizes[e.id] = (w, h)
        self._action_sizes(sizes)
        for nid in sorted(sizes, key=self._depth, reverse=True):  # children before their holders
            self._fit_holder(nid, sizes)
        return sizes

    def _depth(self, nid: str) -> int:
        depth = 0
        while nid in self.plan.parent:
            nid, depth = self.plan.parent[nid][1], depth + 1
        return depth

    def _action_sizes(self, sizes: dict[str, tuple[float, float]]) -> None:
        """The larger role (the agent, unless ``agent_larger`` is False) is clearly larger in both dimensions."""
        for eff in self.csg.effects(EffectType.ACTION):
            agent, patient = eff.params.get("agent"), eff.params.get("patient")
            if agent not in sizes or patient not in sizes:
                continue
            big, small = (agent, patient) if eff.params.get("agent_larger", True) else (patient, agent)
            bw, bh = sizes[big][0] * 1.25, sizes[big][1] * 1.25
            sw, sh = sizes[small]
            s = min(np.sqrt(bw * bh / (2.5 * sw * sh)), 0.8 * bw / sw, 0.8 * bh / sh)
            sizes[big], sizes[small] = (bw, bh), (sw * s, sh * s)

    def _fit_holder(self, nid: str, sizes: dict[str, tuple[float, float]]) -> None:
        """Supports grow to hold what is on them, containers shrink their contents; small mirrors stay small."""
        ent = self.csg.node(nid)
        holds = self._is_container(nid)
        kids = [c for rel, c in self.plan.children(nid) if rel == "on" or (rel == "in" and not holds)]
        inside = [c for rel, c in self.plan.children(nid) if rel == "in" and holds]
        w, h = sizes[nid]
        if kids:
            cw, ch = max(sizes[c][0] for c in kids), max(sizes[c][1] for c in kids)
            total = sum(sizes[c][0] for c in kids) + GAP * (len(kids) - 1)
            if _lies_flat(ent) and ent.size == "small":  # clearly narrower than the reflection: clipping shows
                w, h = min(w, 0.6 * cw), min(h, 0.6 * ch)
                narrowest = min(sizes[c][0] for c in kids)
                w = max(w, total - 1.2 * narrowest)  # yet every object in a row still stands 40% on it
            elif _lies_flat(ent) and ent.size == "large":
                w, h = max(w, 1.7 * total), max(h, 1.25 * ch)
            elif _lies_flat(ent):
                w, h = max(w, 1.25 * total), max(h, 1.05 * ch)
            else:
                w = max(w, total + 2 * GAP)
        sizes[nid] = (w, h)
        if inside:
            room = _interior(_Box(0.0, 0.0, w, h))
            for c in inside:
                cw, ch = sizes[c]
                s = min(1.0, 0.8 * room.w / cw, 0.7 * room.h / ch)
                sizes[c] = (cw * s, ch * s)

    # -- entity placement -------------------------------------------------------------------------
    def _place_entities(self, scale: float) -> bool:
        """Lay out every group around x=0, then pack the groups along the ground; False if it overflows."""
        for e in self.plan.placed:  # forget an earlier, larger attempt
            self.boxes.pop(e.id, None)
        self.mouth.clear()
        self.sizes = self._sizes(scale)
        groups = []
        for ent in self.plan.placed:
            if ent.id in self.plan.parent:
                continue
            start = len(self.boxes)
            floating = any(rel == "above" for rel, _ in self.plan.on_surface.get(ent.id, []))
            base = self.ground - FLOAT_H if floating else self.ground
            self.rest[ent.id] = self.ground
            self._place(ent.id, self._root_box(ent, base))
            ids = list(self.boxes)[start:]
            groups.append(_Group(ent.id, ids, min(self.boxes[i].x0 for i in ids),
                                 max(self.boxes[i].x1 for i in ids), self.boxes[ent.id].w))
        for g in groups:
            self._surface_constraint(g)
        fits = self._pack(groups)
        for g in groups:
            for i in g.ids:
                self.boxes[i] = self.boxes[i].moved(dx=g.cx)
                if i in self.mouth:
                    self.mouth[i] = self.mouth[i].moved(dx=g.cx)
        top = min((self.boxes[e.id].y0 for e in self.plan.placed), default=1.0)
        return fits and top >= MARGIN

    def _root_box(self, ent: Entity, base: float) -> _Box:
        w, h = self.sizes[ent.id]
        if _lies_flat(ent):
            return _Box(-w / 2, base, w / 2, base + h)
        return _Box.standing(0.0, base, w, h)

    def _child_box(self, cid: str, cx: float, base: float, shrink: float = 1.0) -> _Box:
        w, h = self.sizes[cid]
        if _lies_flat(self.csg.node(cid)):
            return _Box(cx - w * shrink / 2, base, cx + w * shrink / 2, base + h * shrink)
        return _Box.standing(cx, base, w * shrink, h * shrink)

    def _base(self, nid: str) -> float:
        """The line an entity stands on: the bottom of a standing thing, the top edge of a flat one."""
        box = self.boxes[nid]
        return box.y0 if _lies_flat(self.csg.node(nid)) else box.y1

    def _subtree_span(self, nid: str) -> _Box:
        span = self.boxes[nid]
        for _, c in self.plan.children(nid):
            if c in self.boxes:
                span = span.union(self._subtree_span(c))
        return span

    def _put(self, cid: str, box: _Box, rest: float) -> None:
        self.rest[cid] = rest
        self._place(cid, box)

    def _place(self, nid: str, box: _Box) -> None:
        self.boxes[nid] = box
        kids = defaultdict(list)
        for rel, c in self.plan.children(nid):
            kids[rel].append(c)
        self._place_on(nid, kids.pop("on", []) + ([] if self._is_container(nid) else kids.pop("in", [])))
        self._place_in(nid, kids.pop("in", []))
        for c in kids.pop("held", []):
            self._place_held(nid, c)
        span = self._subtree_span(nid)
        left, right, top = span.x0, span.x1, span.y0
        for rel, cs in kids.items():
            for c in cs:
                w, h = self.sizes[c]
                if rel in _SIDE_RELATIONS:
                    gap = GAP * (1.0 + abs(self.noise(f"gap:{c}")))
                    go_left = rel == "left_of" or (rel != "right_of" and self.flip(f"side:{c}"))
                    cx = left - gap - w / 2 if go_left else right + gap + w / 2
                    self._put(c, self._child_box(c, cx, self._base(nid)), self.rest[nid])
                    sub = self._subtree_span(c)
                    left, right = min(left, sub.x0), max(right, sub.x1)
                elif rel == "above":
                    self._put(c, self._child_box(c, box.cx, top - ABOVE_GAP), box.y0)
                    top = self._subtree_span(c).y0
                elif rel in ("under", "below"):
                    base = self._base(nid) if self.rest[nid] <= self._base(nid) + 1e-9 else min(
                        self.rest[nid], box.y1 + ABOVE_GAP + h)
                    self._put(c, self._child_box(c, box.cx, base), base)
                elif rel == "behind":
                    self._put(c, self._child_box(c, box.cx + 0.4 * box.w, self._base(nid) - FRONT_SHIFT, 0.9),
                              self.rest[nid] - FRONT_SHIFT)
                else:  # in_front_of, and any relation we do not model: in front, overlapping
                    self._put(c, self._child_box(c, box.cx - 0.35 * box.w, self._base(nid) + FRONT_SHIFT),
                              self.rest[nid] + FRONT_SHIFT)

    def _is_container(self, nid: str) -> bool:
        return category(self.csg.node(nid).cls) == Category.CONTAINER

    def _place_on(self, nid: str, kids: list[str]) -> None:
        """Side by side across the support's top edge, the row centred with seeded slack."""
        if not kids:
            return
        box = self.boxes[nid]
        total = sum(self.sizes[c][0] for c in kids) + GAP * (len(kids) - 1)
        x = box.cx - total / 2 + max(box.w - total, 0.0) / 2 * self.noise(f"on:{nid}")
        for c in kids:
            w = self.sizes[c][0]
            self._put(c, self._child_box(c, x + w / 2, box.y0), box.y0)
            x += w + GAP

    def _place_in(self, nid: str, kids: list[str]) -> None:
        """Substances fill the interior from the bottom up to their level; objects rest on the bottom."""
        if not kids:
            return
        inner = _interior(self.boxes[nid])
        solids = []
        for c in kids:
            if category(self.csg.node(c).cls) in (Category.SUBSTANCE, Category.SURFACE):
                level = self._fill_level(nid, c)
                self.rest[c] = inner.y1
                self._place(c, _Box(inner.x0, inner.y1 - level * inner.h, inner.x1, inner.y1))
            else:
                solids.append(c)
        total = sum(self.sizes[c][0] for c in solids) + GAP * (len(solids) - 1)
        x = inner.cx - total / 2
        for c in solids:
            w = self.sizes[c][0]
            self._put(c, self._child_box(c, x + w / 2, inner.y1), inner.y1)
            x += w + GAP

    def _fill_level(self, container: str, substance: str | None = None) -> float:
        for eff in self.csg.effects(EffectType.FILL):
            if eff.params.get("container") == container and (substance is None or eff.params.get("substance") in (
                    None, substance)):
                level = eff.params.get("level")
                return float(min(max(0.5 if level is None else level, 0.02), 1.0))
        return 0.5

    def _place_held(self, agent: str, patient: str) -> None:
        """The patient overlaps the agent's mouth: the agent's head side, facing the patient."""
        box = self.boxes[agent]
        w, h = self.sizes[patient]
        faces_left = self.flip(f"facing:{agent}")
        mouth_y = box.y0 + 0.3 * box.h
        if faces_left:
            self.mouth[agent] = _Box(box.x0, box.y0, box.x0 + 0.3 * box.w, box.y0 + 0.55 * box.h)
            x1 = box.x0 + 0.18 * box.w
            pbox = _Box(x1 - w, mouth_y - h / 2, x1, mouth_y + h / 2)
        else:
            self.mouth[agent] = _Box(box.x1 - 0.3 * box.w, box.y0, box.x1, box.y0 + 0.55 * box.h)
            x0 = box.x1 - 0.18 * box.w
            pbox = _Box(x0, mouth_y - h / 2, x0 + w, mouth_y + h / 2)
        self._put(patient, pbox, self.rest[agent])

    # -- packing groups along the ground ----------------------------------------------------------
    def _surface_constraint(self, g: _Group) -> None:
        """Turn relations to surface bands into an allowed x-range and a preferred centre for the root."""
        lo, hi, pref = 0.0, 1.0, None
        half = g.root_w / 2
        for rel, sid in self.plan.on_surface.get(g.root, []):
            band = self.boxes[sid]
            if rel in _SIDE_RELATIONS:
                go_left = rel == "left_of" or (rel != "right_of" and band.x0 >= 1.0 - band.x1)
                if go_left:
                    hi = min(hi, band.x0 - GAP)
                    pref = band.x0 - GAP - half
                else:
                    lo = max(lo, band.x1 + GAP)
                    pref = band.x1 + GAP + half
            else:  # on / in / above / under ... a surface: stand (or float) over that band
                lo, hi = max(lo, band.x0), min(hi, band.x1)
                if pref is None:
                    slack = max(band.w - (g.hi - g.lo), 0.0)
                    pref = band.cx + slack / 2 * self.noise(f"band:{g.root}")
        if hi - lo < g.root_w:
            self.notes.append(f"layout: the places asked for {g.root} conflict; kept the first one")
            lo, hi = 0.0, 1.0
        g.allowed, g.pref = (lo, hi), pref

    def _pack(self, groups: list[_Group]) -> bool:
        """Order groups by preferred centre, sweep right then left to remove overlaps; False if impossible."""
        free = [g for g in groups if g.pref is None]
        span = sum(g.hi - g.lo for g in free) + GAP * max(len(free) - 1, 0)
        for i, g in enumerate(free):  # free slots: spread the free groups evenly over the width
            g.pref = 0.5 + (i + 0.5 - len(free) / 2) * (span / max(len(free), 1) + 0.12) + 0.06 * self.noise(
                f"slot:{g.root}")
        limits = {}
        for g in groups:
            a = max(MARGIN - g.lo, g.allowed[0] + g.root_w / 2)
            b = min(1.0 - MARGIN - g.hi, g.allowed[1] - g.root_w / 2)
            limits[g.root] = (a, b)
        order = sorted(groups, key=lambda g: g.pref)
        edge = -np.inf
        for g in order:
            g.cx = max(g.pref, limits[g.root][0], edge + GAP - g.lo)
            edge = g.cx + g.hi
        edge = np.inf
        for g in reversed(order):
            g.cx = min(g.cx, limits[g.root][1], edge - GAP - g.hi)
            edge = g.cx + g.lo
        right = -np.inf
        for g in order:
            a, b = limits[g.root]
            if g.cx < a - 1e-9 or g.cx > b + 1e-9 or g.cx + g.lo < right + GAP - 1e-9:
                return False
            right = g.cx + g.hi
        return True

    # -- effects ----------------------------------------------------------------------------------
    def _effect(self, eff: Effect) -> _Box:
        p = eff.params
        try:
            if eff.type == EffectType.REFLECTION:
                return self._reflection(eff, p.get("object") or self._parent(eff, EdgeType.CAUSES),
                                        p.get("surface") or self._parent(eff, EdgeType.REFLECTS))
            if eff.type == EffectType.SHADOW:
                return self._shadow(eff, p.get("object") or self._parent(eff, EdgeType.CASTS),
                                    p.get("light") or self._parent(eff, EdgeType.ILLUMINATES))
            if eff.type == EffectType.CONTACT:
                return self._contact(p.get("object") or self._parent(eff, EdgeType.CAUSES), p.get("support"),
                                     p.get("part"))
            if eff.type == EffectType.FILL:
                return self._fill(p.get("container") or self._parent(eff, EdgeType.CONTAINS))
            if eff.type == EffectType.ACTION:
                return self.boxes[p["agent"]].union(self.boxes[p["patient"]])
        except KeyError:
            pass
        return self._fallback(eff)

    def _parent(self, eff: Effect, type: EdgeType) -> str:
        for node in self.csg.parents(eff.id, type):
            if node.id in self.boxes:
                return node.id
        raise KeyError(eff.id)

    def _fallback(self, eff: Effect) -> _Box:
        """An effect whose parents cannot be read: cover its placed parents (or the image) and say so."""
        self.notes.append(f"layout: {eff.id} has unusable parameters; its region covers its parents")
        boxes = [self.boxes[n.id] for n in self.csg.parents(eff.id) if n.id in self.boxes]
        box = _IMAGE
        if boxes:
            box = boxes[0]
            for b in boxes[1:]:
                box = box.union(b)
        return box

    def _reflection(self, eff: Effect, obj: str, surf: str) -> _Box:
        """The object mirrored about the surface line (below the object), clipped to the surface."""
        o, s = self.boxes[obj], self.boxes[surf].clip(_IMAGE) or self.boxes[surf]
        line = max(s.y0, o.y1)
        mirrored = _Box(o.x0, 2 * line - o.y1, o.x1, 2 * line - o.y0)
        clipped = mirrored.clip(s)
        if clipped is None or min(clipped.w, clipped.h) < MIN_VISIBLE:
            self.notes.append(f"layout: {eff.id} would fall outside {surf}; placed on the nearest strip of it")
            clipped = _nearest_strip(mirrored, s)
        return clipped

    def _shadow(self, eff: Effect, obj: str, light: str) -> _Box:
        """On the ground at the object's base, away from the light; long for a side light, short for a top one."""
        o, rest = self.boxes[obj], self.rest.get(obj, self.boxes[obj].y1)
        side = eff.params.get("side") or _OPPOSITE.get(self.csg.node(light).side or "left", "right")
        thick = max(0.03, 0.18 * o.h)
        if side in ("left", "right"):
            length = 1.1 * o.h * (1 + 0.15 * self.noise(f"shadow:{eff.id}"))
            if side == "right":
                return _Box(o.cx, rest - 0.01, o.x1 + length, rest + thick)
            return _Box(o.x0 - length, rest - 0.01, o.cx, rest + thick)
        return _Box(o.x0 + 0.1 * o.w, rest - 0.01, o.x1 - 0.1 * o.w, rest + 0.6 * thick)

    def _contact(self, obj: str, support: str | None, part: str | None) -> _Box:
        """A thin box where the object meets its support (or, for an action, the agent's mouth)."""
        o = self.boxes[obj]
        if part == "mouth" and support in self.mouth:
            return o.clip(self.mouth[support]) or _Box(o.x0, o.y0, o.x0 + 0.02, o.y1)
        base = self.rest.get(obj, o.y1)
        box = _Box(o.x0 + 0.15 * o.w, base - CONTACT_HALF, o.x1 - 0.15 * o.w, base + CONTACT_HALF)
        if support in self.boxes:
            s = self.boxes[support]
            box = box.clip(_Box(s.x0, -np.inf, s.x1, np.inf)) or box
        return box

    def _fill(self, container: str) -> _Box:
        inner = _interior(self.boxes[container])
        level = self._fill_level(container)
        return _Box(inner.x0, inner.y1 - level * inner.h, inner.x1, inner.y1)


def _slide(lo: float, hi: float, s_lo: float, s_hi: float) -> float:
    """Shift that makes [lo, hi] overlap [s_lo, s_hi] by at least half the smaller of the two."""
    need = min(hi - lo, s_hi - s_lo) / 2
    if hi - s_lo < need:
        return s_lo + need - hi
    if s_hi - lo < need:
        return s_hi - need - lo
    return 0.0


def _nearest_strip(box: _Box, surf: _Box) -> _Box:
    """Slide ``box`` the least distance that puts half of it on ``surf``, then clip: never empty or a sliver."""
    dx, dy = _slide(box.x0, box.x1, surf.x0, surf.x1), _slide(box.y0, box.y1, surf.y0, surf.y1)
    return box.moved(dx, dy).clip(surf) or surf


def assign_layout(csg: CSG, seed: int | None = None, jitter: float = 0.0) -> CSG:
    """Fill ``region`` for every node, in place, and return ``csg``.

    Deterministic for a seed (``None`` draws fresh entropy); ``jitter`` in [0, 1] scales the seeded variation of
    sizes and positions, 0 giving the canonical layout. Physical constraints hold at any jitter.
    """
    if not 0.0 <= jitter <= 1.0:
        raise ValueError(f"jitter must be in [0, 1], got {jitter}")
    layout = _Layout(csg, np.random.default_rng(seed), jitter)
    for nid, box in layout.run().items():
        csg.node(nid).region = box.to_region()
    for note in layout.notes:
        if note not in csg.notes:
            csg.notes.append(note)
    return csg


def region_mask(region: Region, height: int, width: int) -> np.ndarray:
    """Boolean mask of the pixels whose centres lie in the box; at least one pixel for a tiny box."""
    ys = (np.arange(height) + 0.5) / height
    xs = (np.arange(width) + 0.5) / width
    rows = (ys >= region.y0) & (ys < region.y1)
    cols = (xs >= region.x0) & (xs < region.x1)
    if not rows.any():
        rows[min(int(region.center[1] * height), height - 1)] = True
    if not cols.any():
        cols[min(int(region.center[0] * width), width - 1)] = True
    return rows[:, None] & cols[None, :]


def masks(csg: CSG, height: int, width: int) -> dict[str, np.ndarray]:
    """A mask per node that has a region (all of them after ``assign_layout``)."""
    return {n.id: region_mask(n.region, height, width) for n in csg.nodes() if n.region is not None}
