"""Per-class drawing: a ``Pen`` and one small function per thing the world can draw.

Every sprite is a pure function of (pen, box, look): no randomness inside, so the same call
draws an object and, through a flipping/tinting pen, its reflection pixel for pixel. The pen
also paints node labels into label planes, which is how the renderer gets occlusion-correct
masks without a second drawing pass.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Callable, Protocol

from PIL import ImageDraw

RGB = tuple[int, int, int]
Colour = tuple[int, ...]  # RGB or RGBA (alpha blends onto what is below)
Box = tuple[float, float, float, float]  # canvas pixels, x right, y down
Point = tuple[float, float]
Tint = Callable[[tuple[int, int, int]], tuple[int, int, int]]

WHITE: RGB = (255, 255, 255)
INK: RGB = (20, 20, 24)
BEAK: RGB = (245, 165, 35)
SKIN_TONES: tuple[RGB, ...] = ((241, 194, 160), (224, 172, 128), (176, 120, 85), (120, 80, 55))


# -- colour helpers ------------------------------------------------------------------------------
def clamp(v: float) -> int:
    return max(0, min(255, int(round(v))))


def shade(c: Colour, f: float) -> RGB:
    """Scale brightness (f < 1 darker); used for outlines, faces and attenuation."""
    return (clamp(c[0] * f), clamp(c[1] * f), clamp(c[2] * f))


def mix(a: Colour, b: Colour, t: float) -> RGB:
    return (clamp(a[0] + (b[0] - a[0]) * t), clamp(a[1] + (b[1] - a[1]) * t), clamp(a[2] + (b[2] - a[2]) * t))


def jitter(c: RGB, rng: random.Random, amount: float = 0.05) -> RGB:
    """Small seeded tint variation that keeps the colour name recognisable."""
    gain = rng.uniform(1 - amount, 1 + amount)
    return tuple(clamp(v * gain * rng.uniform(1 - amount / 2, 1 + amount / 2)) for v in c)  # type: ignore[return-value]


def outline_of(c: Colour) -> RGB:
    """Dark edge that separates a sprite from any background, even a black object."""
    return shade(c, 0.5) if sum(c[:3]) > 120 else mix(c, WHITE, 0.35)


# -- the pen -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pen:
    """Draws shapes into an RGB image and the same shapes, as a label value, into label planes.

    ``flip`` mirrors every y about that line and ``dx`` shifts every x (reflections); ``tint`` maps
    every colour (reflection attenuation). ``labels`` is a list of (plane, value) pairs: a solid object
    writes its id into the base plane and 0 into the overlay plane (it hides shadows and reflections
    behind it).
    """

    draw: ImageDraw.ImageDraw
    labels: tuple[tuple[ImageDraw.ImageDraw, int], ...] = ()
    flip: float | None = None
    dx: float = 0.0
    tint: Tint | None = None
    make_labels: Callable[[int | None], tuple[tuple[ImageDraw.ImageDraw, int], ...]] | None = None

    def relabel(self, label: int | None) -> Pen:
        """Same pen, painting another node's label (a jar's fill is its own node)."""
        return replace(self, labels=self.make_labels(label)) if self.make_labels else self

    def plain(self) -> Pen:
        """Same pen without labels: texture details that do not change who owns a pixel."""
        return replace(self, labels=())

    def _ink(self, c: Colour | None) -> Colour | None:
        if c is None or self.tint is None:
            return c
        rgb = self.tint((c[0], c[1], c[2]))
        return rgb + tuple(c[3:])

    def _box(self, b: Box) -> Box:
        x0, y0, x1, y1 = b
        if self.flip is not None:
            y0, y1 = 2 * self.flip - y1, 2 * self.flip - y0
        return (x0 + self.dx, y0, x1 + self.dx, y1)

    def _pts(self, pts: list[Point]) -> list[Point]:
        if self.flip is None:
            return [(x + self.dx, y) for x, y in pts] if self.dx else pts
        return [(x + self.dx, 2 * self.flip - y) for x, y in pts]

    def ellipse(self, box: Box, fill: Colour | None = None, outline: Colour | None = None, width: int = 1) -> None:
        b = self._box(box)
        self.draw.ellipse(b, fill=self._ink(fill), outline=self._ink(outline), width=width)
        for plane, v in self.labels:
            plane.ellipse(b, fill=v if fill is not None else None, outline=v if outline is not None else None,
                          width=width)

    def rect(self, box: Box, fill: Colour | None = None, outline: Colour | None = None, width: int = 1,
             radius: float = 0) -> None:
        b = self._box(box)
        self.draw.rounded_rectangle(b, radius=radius, fill=self._ink(fill), outline=self._ink(outline), width=width)
        for plane, v in self.labels:
            plane.rounded_rectangle(b, radius=radius, fill=v if fill is not None else None,
                                    outline=v if outline is not None else None, width=width)

    def polygon(self, pts: list[Point], fill: Colour | None = None, outline: Colour | None = None,
                width: int = 1) -> None:
        p = self._pts(pts)
        self.draw.polygon(p, fill=self._ink(fill), outline=self._ink(outline), width=width)
        for plane, v in self.labels:
            plane.polygon(p, fill=v if fill is not None else None, outline=v if outline is not None else None,
                          width=width)

    def line(self, pts: list[Point], fill: Colour, width: int, curve: bool = False) -> None:
        p = self._pts(pts)
        joint = "curve" if curve else None
        self.draw.line(p, fill=self._ink(fill), width=width, joint=joint)
        for plane, v in self.labels:
            plane.line(p, fill=v, width=width, joint=joint)


# -- what a sprite needs to know -----------------------------------------------------------------
@dataclass(frozen=True)
class Look:
    """Everything random about one node, drawn once so object and reflection agree."""

    colour: RGB
    facing: int = 1  # +1 looks right, -1 looks left
    light: int = 0  # -1 light from the left, +1 from the right, 0 from the top / none
    accent: RGB = (0, 0, 0)  # skin tone, substance colour, ...


@dataclass(frozen=True)
class Fill:
    """A container's content: colour, level in [0, 1] of ``interior`` (canvas box), and its pixels' label."""

    colour: RGB
    level: float
    interior: Box
    label: int | None


class Sprite(Protocol):
    def __call__(self, pen: Pen, box: Box, look: Look, target: Point | None = None,
                 fill: Fill | None = None) -> None: ...


def fit(box: Box, aspect: float) -> Box:
    """Largest box of aspect w/h inside ``box``, bottom-centred: things rest on their base."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if w / h > aspect:
        w = h * aspect
    else:
        h = w / aspect
    cx = (x0 + x1) / 2
    return (cx - w / 2, y1 - h, cx + w / 2, y1)


def edge_width(box: Box) -> int:
    return max(2, int(round(min(box[2] - box[0], box[3] - box[1]) * 0.06)))


# -- objects -------------------------------------------------------------------------------------
def ball(pen: Pen, box: Box, look: Look, target: Point | None = None, fill: Fill | None = None) -> None:
    x0, y0, x1, y1 = fit(box, 1.0)
    d = x1 - x0
    c = look.colour
    pen.ellipse((x0, y0, x1, y1), fill=shade(c, 0.62))
    lx = look.light if look.light else -1
    off = 0.07 * d
    pen.plain().ellipse((x0 + 0.06 * d + lx * off, y0 + 0.03 * d, x1 - 0.06 * d + lx * off, y1 - 0.11 * d), fill=c)
    hx, hy = x0 + d * (0.5 + 0.2 * lx), y0 + 0.28 * d
    pen.plain().ellipse((hx - 0.12 * d, hy - 0.09 * d, hx + 0.12 * d, hy + 0.09 * d), fill=mix(c, WHITE, 0.6))
    pen.ellipse((x0, y0, x1, y1), outline=outline_of(c), width=edge_width((x0, y0, x1, y1)))


def cube(pen: Pen, box: Box, look: Look, target: Point | None = None, fill: Fill | None = None) -> None:
    x0, y0, x1, y1 = fit(box, 1.0)
    f = (x1 - x0) / 1.25
    d = 0.25 * f
    c, e = look.colour, outline_of(look.colour)
    w = edge_width((x0, y0, x1, y1))
    fx0, fy0, fx1, fy1 = x0, y1 - f, x0 + f, y1
    pen.polygon([(fx0, fy0), (fx0 + d, fy0 - d), (fx1 + d, fy0 - d), (fx1, fy0)], fill=mix(c, WHITE, 0.35),
                outline=e, width=w)
    pen.polygon([(fx1, fy0), (fx1 + d, fy0 - d), (fx1 + d, fy1 - d), (fx1, fy1)], fill=shade(c, 0.68),
                outline=e, width=w)
    pen.rect((fx0, fy0, fx1, fy1), fill=c, outline=e, width=w)


def cup(pen: Pen, box: Box, look: Look, target: Point | None = None, fill: Fill | None = None) -> None:
    x0, y0, x1, y1 = fit(box, 1.2)
    c, e = look.colour, outline_of(look.colour)
    w = edge_width((x0, y0, x1, y1))
    h = y1 - y0
    s = look.facing
    bw = (x1 - x0) * 0.72
    bx0 = x0 + 0.14 * (x1 - x0) - s * 0.1 * (x1 - x0)
    bx1 = bx0 + bw
    hx = bx1 - 0.06 * bw if s > 0 else bx0 - 0.34 * bw
    pen.ellipse((hx, y0 + 0.22 * h, hx + 0.4 * bw, y0 + 0.72 * h), outline=c, width=max(w + 1, int(0.1 * bw)))
    pen.polygon([(bx0, y0 + 0.08 * h), (bx1, y0 + 0.08 * h), (bx1 - 0.12 * bw, y1), (bx0 + 0.12 * bw, y1)],
                fill=c, outline=e, width=w)
    pen.ellipse((bx0, y0, bx1, y0 + 0.16 * h), fill=shade(c, 0.55), outline=e, width=w)


def bottle(pen: Pen, box: Box, look: Look, target: Point | None = None, fill: Fill | None = None) -> None:
    x0, y0, x1, y1 = fit(box, 0.42)
    c, e = look.colour, outline_of(look.colour)
    w = edge_width((x0, y0, x1, y1))
    h, bw = y1 - y0, x1 - x0
    cx = (x0 + x1) / 2
    nw = 0.38 * bw
    pen.rect((cx - nw / 2, y0, cx + nw / 2, y0 + 0.12 * h), fill=shade(c, 0.45))
    pen.polygon([(cx - nw / 2, y0 + 0.1 * h), (cx + nw / 2, y0 + 0.1 * h), (cx + nw / 2, y0 + 0.3 * h),
                 (x1, y0 + 0.45 * h), (x1, y1), (x0, y1), (x0, y0 + 0.45 * h), (cx - nw / 2, y0 + 0.3 * h)],
                fill=c, outline=e, width=w)
    pen.plain().line([(x0 + 0.25 * bw, y0 + 0.5 * h), (x0 + 0.25 * bw, y1 - 0.1 * h)], fill=mix(c, WHITE, 0.45),
                     width=max(1, int(0.12 * bw)))


def jar(pen: Pen, box: Box, look: Look, target: Point | None = None, fill: Fill | None = None) -> None:
    """Transparent glass with a coloured rim; the fill (its own labelled node) is a clean block up to
    its level, and the glint only crosses the empty glass, so the level reads unambiguously."""
    x0, y0, x1, y1 = box
    w = edge_width(box)
    bw, h = x1 - x0, y1 - y0
    body = (x0, y0 + 0.06 * h, x1, y1)
    r = 0.2 * bw
    pen.rect(body, fill=JAR_GLASS, radius=r)
    glint_end = y1 - 0.15 * h
    if fill is not None and fill.level > 0:
        ix0, iy0, ix1, iy1 = fill.interior
        top = iy1 - fill.level * (iy1 - iy0)
        fp = pen.relabel(fill.label)
        fp.rect((ix0, top, ix1, iy1), fill=fill.colour, radius=min(0.3 * r, (iy1 - top) / 2))
        fp.plain().rect((ix0, top, ix1, min(iy1, top + max(2, 0.03 * h))), fill=mix(fill.colour, WHITE, 0.2))
        glint_end = min(glint_end, top - 0.04 * h)
    pen.rect(body, outline=(110, 140, 160), width=w, radius=r)
    glint_start = body[1] + 0.15 * h
    if glint_end > glint_start:
        pen.plain().line([(x0 + 0.22 * bw, glint_start), (x0 + 0.22 * bw, glint_end)],
                         fill=(255, 255, 255, 150), width=max(1, int(0.07 * bw)))
    pen.rect((x0, y0, x1, y0 + 0.09 * h), fill=look.colour,
             outline=outline_of(look.colour), width=max(1, w - 1))


def lamp(pen: Pen, box: Box, look: Look, target: Point | None = None, fill: Fill | None = None) -> None:
    x0, y0, x1, y1 = fit(box, 0.7)
    c, e = look.colour, outline_of(look.colour)
    w = edge_width((x0, y0, x1, y1))
    bw, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    pen.ellipse((cx - 0.16 * bw, y0 + 0.42 * h, cx + 0.16 * bw, y0 + 0.62 * h), fill=(255, 240, 150))
    pen.line([(cx, y0 + 0.45 * h), (cx, y1 - 0.06 * h)], fill=(70, 70, 75), width=max(2, int(0.08 * bw)))
    pen.rect((x0 + 0.2 * bw, y1 - 0.1 * h, x1 - 0.2 * bw, y1), fill=(70, 70, 75), radius=0.04 * h)
    pen.polygon([(x0 + 0.28 * bw, y0), (x1 - 0.28 * bw, y0), (x1, y0 + 0.45 * h), (x0, y0 + 0.45 * h)],
                fill=c, outline=e, width=w)


# -- animals and people --------------------------------------------------------------------------
BIRD_ASPECT = 1.35


def bird_head(box: Box, look: Look) -> tuple[float, float, float]:
    """Centre and radius of a standing bird's head (also where a predator bites it)."""
    x0, y0, x1, y1 = fit(box, BIRD_ASPECT)
    r = 0.17 * (y1 - y0)
    return ((x0 + x1) / 2 + look.facing * 0.22 * (x1 - x0), y0 + r * 1.05, r)


def bird(pen: Pen, box: Box, look: Look, target: Point | None = None, fill: Fill | None = None) -> None:
    """Body, head, beak, wing, tail and legs; when eating, the beak tip sits on ``target``."""
    x0, y0, x1, y1 = fit(box, BIRD_ASPECT)
    c, e, s = look.colour, outline_of(look.colour), look.facing
    bw, h = x1 - x0, y1 - y0
    w = edge_width((x0, y0, x1, y1))
    cx = (x0 + x1) / 2 - s * 0.08 * bw
    by0, by1 = y0 + 0.28 * h, y1 - 0.2 * h
    bx0, bx1 = cx - 0.3 * bw, cx + 0.3 * bw
    hx, hy, r = bird_head(box, look)
    beak = 0.16 * bw
    if target is None:
        tip = (hx + s * (r + beak), hy + 0.15 * r)
    else:  # the beak closes over the target: its tip goes a little past it
        tip = (target[0] + s * 0.4 * beak, target[1])
        hx, hy = tip[0] - s * (beak + 0.75 * r), tip[1] - 0.35 * r
    for lx in (cx - 0.08 * bw, cx + 0.08 * bw):
        pen.line([(lx, by1 - 0.05 * h), (lx, y1)], fill=BEAK, width=max(2, int(0.035 * bw)))
    back = cx - s * 0.3 * bw
    pen.polygon([(back + s * 0.05 * bw, (by0 + by1) / 2 - 0.05 * h), (back - s * 0.22 * bw, by0 - 0.02 * h),
                 (back - s * 0.22 * bw, by0 + 0.22 * h)], fill=shade(c, 0.75), outline=e, width=w)
    neck = (cx + s * 0.2 * bw, by0 + 0.15 * h)
    pen.line([neck, (hx, hy)], fill=c, width=int(1.3 * r))
    pen.ellipse((bx0, by0, bx1, by1), fill=c, outline=e, width=w)
    pen.ellipse((hx - r, hy - r, hx + r, hy + r), fill=c, outline=e, width=w)
    pen.polygon([(hx + s * 0.7 * r, hy - 0.45 * r), tip, (hx + s * 0.7 * r, hy + 0.45 * r)], fill=BEAK,
                outline=shade(BEAK, 0.6), width=max(1, w // 2))
    er = 0.28 * r
    pen.plain().ellipse((hx + s * 0.3 * r - er, hy - 0.35 * r - er, hx + s * 0.3 * r + er, hy - 0.35 * r + er),
                        fill=INK)
    wx = cx - s * 0.02 * bw
    pen.polygon([(wx + s * 0.18 * bw, by0 + 0.12 * h), (wx - s * 0.26 * bw, by0 + 0.02 * h),
                 (wx - s * 0.1 * bw, by1 - 0.12 * h)], fill=shade(c, 0.6), outline=e, width=max(1, w // 2))


def _snake_thickness(box: Box) -> float:
    return min(0.34 * (box[3] - box[1]), 0.13 * (box[2] - box[0]))


def snake_head(box: Box, look: Look) -> tuple[float, float, float]:
    """Centre and half-length of a resting snake's head."""
    x0, y0, x1, y1 = box
    t = _snake_thickness(box)
    hl, hh = 1.7 * t, 1.25 * t
    return (x1 - hl / 2 if look.facing > 0 else x0 + hl / 2, y1 - hh / 2 - 0.1 * (y1 - y0), hl / 2)


def snake(pen: Pen, box: Box, look: Look, target: Point | None = None, fill: Fill | None = None) -> None:
    """Thick sinuous body with a head and an eye; when eating, open jaws close around ``target``."""
    x0, y0, x1, y1 = box
    c, e, s = look.colour, outline_of(look.colour), look.facing
    bw, h = x1 - x0, y1 - y0
    t = _snake_thickness(box)
    hl, hh = 1.7 * t, 1.25 * t
    cy = (y0 + y1) / 2
    amp = max(0.0, (h - t) / 2 * 0.75)
    tail_x = x1 - 0.02 * bw if s < 0 else x0 + 0.02 * bw
    if target is None:
        head_c = snake_head(box, look)[:2]
    else:
        head_c = (target[0] - s * 0.55 * hl, target[1])
    neck_x = head_c[0] - s * 0.75 * hl
    n = 16
    pts = [(tail_x + (neck_x - tail_x) * i / n,
            cy + amp * math.sin(math.pi * 2.2 * i / n + 0.6)) for i in range(n + 1)]
    pts.append(head_c)
    ew = max(2, int(0.2 * t))
    pen.line(pts, fill=e, width=int(t + 2 * ew), curve=True)
    pen.line(pts, fill=c, width=int(t), curve=True)
    for px, py in pts[2:-2:3]:
        pen.plain().ellipse((px - 0.18 * t, py - 0.18 * t, px + 0.18 * t, py + 0.18 * t), fill=shade(c, 0.6))
    hx, hy = head_c
    if target is not None:
        jaw = [(hx, hy), (target[0] + s * 0.25 * hl, target[1] - 0.75 * hh), (target[0] + s * 0.1 * hl, hy)]
        low = [(hx, hy), (target[0] + s * 0.1 * hl, hy), (target[0] + s * 0.25 * hl, target[1] + 0.75 * hh)]
        pen.polygon([(hx, hy), jaw[1], low[2]], fill=(150, 30, 40))
        pen.polygon(jaw, fill=c, outline=e, width=ew)
        pen.polygon(low, fill=c, outline=e, width=ew)
    pen.ellipse((hx - hl / 2, hy - hh / 2, hx + hl / 2, hy + hh / 2), fill=c, outline=e, width=ew)
    er = 0.18 * hh
    ex, ey = hx + s * 0.12 * hl, hy - 0.18 * hh
    pen.plain().ellipse((ex - er * 1.4, ey - er * 1.4, ex + er * 1.4, ey + er * 1.4), fill=(250, 230, 80))
    pen.plain().ellipse((ex - er * 0.7, ey - er, ex + er * 0.7, ey + er), fill=INK)
    if target is None:
        tx = hx + s * hl / 2
        pen.line([(tx, hy + 0.1 * hh), (tx + s * 0.5 * hl, hy + 0.1 * hh)], fill=(210, 30, 40), width=ew)


def person(pen: Pen, box: Box, look: Look, target: Point | None = None, fill: Fill | None = None) -> None:
    """Head, body (clothes colour), arms and legs; when acting, one arm reaches ``target``."""
    x0, y0, x1, y1 = fit(box, 0.45)
    c, e, s, skin = look.colour, outline_of(look.colour), look.facing, look.accent
    bw, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    r = 0.11 * h
    w = max(2, int(0.13 * bw))
    hip = y0 + 0.62 * h
    for dx in (-0.16, 0.16):
        pen.line([(cx + dx * bw * 0.6, hip - 0.02 * h), (cx + dx * bw, y1 - 0.02 * h)], fill=(50, 55, 80), width=w)
        pen.line([(cx + dx * bw, y1 - 0.02 * h), (cx + dx * bw + s * 0.12 * bw, y1 - 0.02 * h)], fill=INK, width=w)
    shoulder = y0 + 2.3 * r
    reach = target if target is not None else (cx + s * 0.45 * bw, hip + 0.02 * h)
    pen.line([(cx - s * 0.3 * bw, shoulder + 0.02 * h), (cx - s * 0.45 * bw, hip)], fill=skin, width=w)
    pen.polygon([(cx - 0.32 * bw, shoulder - 0.03 * h), (cx + 0.32 * bw, shoulder - 0.03 * h),
                 (cx + 0.26 * bw, hip), (cx - 0.26 * bw, hip)], fill=c, outline=e, width=max(1, w // 3))
    pen.line([(cx + s * 0.3 * bw, shoulder + 0.02 * h), reach], fill=skin, width=w)
    hy = y0 + r * 1.05
    pen.ellipse((cx - r, hy - r, cx + r, hy + r), fill=skin, outline=shade(skin, 0.6), width=max(1, w // 3))
    pen.plain().polygon([(cx - r * 1.05, hy - 0.1 * r), (cx - r, hy - r * 0.7), (cx, hy - r * 1.05),
                         (cx + r, hy - r * 0.7), (cx + r * 1.05, hy - 0.1 * r), (cx - s * 0.2 * r, hy - 0.55 * r)],
                        fill=(60, 40, 25))
    er = 0.16 * r
    ex = cx + s * 0.45 * r
    pen.plain().ellipse((ex - er, hy - er, ex + er, hy + er), fill=INK)
    if target is not None:
        mx = cx + s * 0.6 * r
        pen.plain().ellipse((mx - 0.2 * r, hy + 0.35 * r, mx + 0.2 * r, hy + 0.65 * r), fill=(120, 30, 30))


# -- supports ------------------------------------------------------------------------------------
def table(pen: Pen, box: Box, look: Look, target: Point | None = None, fill: Fill | None = None) -> None:
    x0, y0, x1, y1 = box
    c = look.colour
    bw, h = x1 - x0, y1 - y0
    tt = max(4.0, min(0.2 * h, 0.12 * bw))
    lw = max(3.0, 0.07 * bw)
    for lx in (x0 + 0.12 * bw, x1 - 0.12 * bw - lw):
        pen.rect((lx, y0 + tt, lx + lw, y1 - 0.08 * h), fill=shade(c, 0.5))
    for lx in (x0 + 0.03 * bw, x1 - 0.03 * bw - lw):
        pen.rect((lx, y0 + tt, lx + lw, y1), fill=shade(c, 0.75), outline=shade(c, 0.45), width=2)
    pen.rect((x0, y0, x1, y0 + tt), fill=c, outline=shade(c, 0.5), width=2)
    pen.plain().rect((x0 + 2, y0 + 2, x1 - 2, y0 + max(2.0, tt * 0.3)), fill=mix(c, WHITE, 0.25))


def tray(pen: Pen, box: Box, look: Look, target: Point | None = None, fill: Fill | None = None) -> None:
    x0, y0, x1, y1 = box
    c = look.colour
    bw = x1 - x0
    pen.polygon([(x0, y0), (x1, y0), (x1 - 0.08 * bw, y1), (x0 + 0.08 * bw, y1)], fill=c, outline=shade(c, 0.5),
                width=2)
    pen.plain().line([(x0 + 2, y0 + 1), (x1 - 2, y0 + 1)], fill=mix(c, WHITE, 0.45), width=max(2, int(0.2 * (y1 - y0))))


def mirror_glass(box: Box) -> Box:
    """The reflecting part of a mirror (inside its frame): where reflections may appear."""
    x0, y0, x1, y1 = box
    side = min(x1 - x0, y1 - y0)
    f = min(max(4.0, 0.06 * side), 0.25 * side)  # a tiny mirror (small images) keeps some glass inside its frame
    return (x0 + f, y0 + f, x1 - f, y1 - f)


MIRROR_GLASS: RGB = (206, 226, 246)
JAR_GLASS = (215, 235, 245, 80)  # RGBA: the background shows through a jar's empty glass


def mirror(pen: Pen, box: Box, look: Look, target: Point | None = None, fill: Fill | None = None) -> None:
    """Silver frame, pale blue glass; the sheen goes on after reflections (``mirror_sheen``)."""
    x0, y0, x1, y1 = box
    pen.rect(box, fill=mix(look.colour, WHITE, 0.4), outline=shade(look.colour, 0.55), width=2,
             radius=0.04 * min(x1 - x0, y1 - y0))
    pen.rect(mirror_glass(box), fill=MIRROR_GLASS)


def mirror_sheen(pen: Pen, box: Box) -> None:
    """Two faint diagonal glints across the glass, over any reflection: what makes glass read as glass."""
    gx0, gy0, gx1, gy1 = mirror_glass(box)
    gw, gh = gx1 - gx0, gy1 - gy0
    for a, b in ((0.12, 0.24), (0.42, 0.5)):
        pen.polygon([(gx0 + a * gw + 0.2 * gh, gy0), (gx0 + b * gw + 0.2 * gh, gy0),
                     (gx0 + b * gw - 0.1 * gw, gy1), (gx0 + a * gw - 0.1 * gw, gy1)], fill=(255, 255, 255, 60))


# -- ground-like regions -------------------------------------------------------------------------
def ground(pen: Pen, box: Box, kind: str, colour: RGB, rng: random.Random, unit: float) -> None:
    """A flat ground patch with a texture (planks, tiles, blades, grains, ripples)."""
    x0, y0, x1, y1 = box
    pen.rect(box, fill=colour)
    tex = pen.plain()
    w, h = x1 - x0, y1 - y0

    def at() -> Point:
        return (rng.uniform(x0, x1), rng.uniform(y0, y1))

    if kind == "wood":
        step = rng.uniform(3.5, 5.0) * unit
        y = y0 + step
        while y < y1:
            tex.line([(x0, y), (x1, y)], fill=shade(colour, 0.82), width=max(1, int(unit * 0.4)))
            jx = rng.uniform(x0, x1)
            tex.line([(jx, y - step), (jx, y)], fill=shade(colour, 0.85), width=max(1, int(unit * 0.4)))
            y += step
    elif kind == "tiles":
        step = rng.uniform(7, 10) * unit
        grout, thin = shade(colour, 0.88), max(1, int(unit * 0.4))
        for k in range(1, int(w / step) + 1):
            tex.line([(x0 + k * step, y0), (x0 + k * step, y1)], fill=grout, width=thin)
        for k in range(1, int(h / step) + 1):
            tex.line([(x0, y0 + k * step), (x1, y0 + k * step)], fill=grout, width=thin)
    elif kind == "grass":
        for _ in range(int(w * h / (unit * unit * 12)) + 4):
            x, y = rng.uniform(x0, x1), rng.uniform(min(y0 + 2.2 * unit, y1), y1)  # blades stay inside
            tex.line([(x, y), (x + rng.uniform(-0.6, 0.6) * unit, y - rng.uniform(1.2, 2.2) * unit)],
                     fill=shade(colour, rng.choice((0.75, 1.2))), width=max(1, int(unit * 0.4)))
    elif kind in ("sand", "dirt"):
        for _ in range(int(w * h / (unit * unit * 10)) + 4):
            x, y = at()
            r = rng.uniform(0.2, 0.45) * unit
            tex.ellipse((x - r, y - r, x + r, y + r), fill=shade(colour, rng.choice((0.82, 1.1))))
    elif kind == "water":
        for _ in range(int(w * h / (unit * unit * 40)) + 3):
            x, y = at()
            tex.line([(x, y), (x + rng.uniform(2, 5) * unit, y)], fill=mix(colour, WHITE, 0.35),
                     width=max(1, int(unit * 0.4)))


def sun(pen: Pen, box: Box, unit: float) -> None:
    """A small yellow glow: halo rings (unlabelled), rays and a bright disc."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    r = min(x1 - x0, y1 - y0) / 2 * 0.8
    for k, a in ((1.9, 40), (1.45, 70)):
        pen.plain().ellipse((cx - k * r, cy - k * r, cx + k * r, cy + k * r), fill=(255, 240, 150, a))
    for i in range(8):
        ang = i * math.pi / 4
        pen.plain().line([(cx + 1.2 * r * math.cos(ang), cy + 1.2 * r * math.sin(ang)),
                          (cx + 1.65 * r * math.cos(ang), cy + 1.65 * r * math.sin(ang))],
                         fill=(255, 200, 40), width=max(1, int(unit * 0.6)))
    pen.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 222, 60), outline=(255, 190, 30),
                width=max(1, int(unit * 0.5)))


HEADS: dict[str, Callable[[Box, Look], tuple[float, float, float]]] = {"bird": bird_head, "snake": snake_head}
SPRITES: dict[str, Sprite] = {
    "ball": ball, "cube": cube, "cup": cup, "bottle": bottle, "jar": jar, "lamp": lamp,
    "bird": bird, "snake": snake, "person": person, "table": table, "tray": tray, "mirror": mirror,
}
