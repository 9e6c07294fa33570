"""Find each entity in an image: the blob of its look nearest to where the layout expects it.

A generated image follows the prompt's canonical layout only roughly (the model is trained on
jittered layouts, some mirrored), so every check of the judge reads the entity where it is drawn,
not where the layout put it. An entity is a box of its expected size slid over a pixel mask of its
look (colour) within a wide window around the expected place; the position covering most of the
mask wins, with a small pull towards the expected centre. Entities of the same look are placed
jointly so that two of them never claim the same blob.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

Array = np.ndarray
Box = tuple[float, float, float, float]  # pixels x0, y0, x1, y1 (x1, y1 exclusive)

DIST_WEIGHT = 0.15  # score lost per image width between a candidate's centre and the expected one
OVERLAP_PENALTY = 1.0  # per pixel of the smaller box: two entities of one look may not claim one blob
CANDIDATES = 3
GROW = 0.4  # an entity's pixels may reach this far (fraction of its expected size) past its best box
MAX_OVERLAP = 0.15  # of the smaller box: a cup on a cube of its colour is not the cube


@dataclass
class Target:
    """What to look for: the look's pixel mask, the expected box and how far from it to search."""

    id: str
    mask: Array  # bool [H, W]
    expected: Box
    reach: tuple[float, float]  # px the centre may move from the expected centre, sideways and up/down
    group: str  # entities of one look are placed jointly
    need: float = 0.0  # coverage below which it does not count as drawn: a weaker claim on a blob


@dataclass
class Found:
    """Where an entity is drawn: its pixels (the blobs its best box covers) and their bounding box."""

    id: str
    box: Box
    mask: Array  # bool [H, W]
    coverage: float  # fraction of the expected box showing the look

    @property
    def centre(self) -> tuple[float, float]:
        ys, xs = np.nonzero(self.mask)
        return float(xs.mean() + 0.5), float(ys.mean() + 0.5)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


@dataclass
class _Candidate:
    box: Box
    coverage: float
    score: float


def _candidates(t: Target) -> list[_Candidate]:
    """The best few placements of the expected box (non-maximum suppressed)."""
    h, w = t.mask.shape
    x0, y0, x1, y1 = t.expected
    bw, bh = int(np.clip(round(x1 - x0), 2, w)), int(np.clip(round(y1 - y0), 2, h))
    ii = np.pad(t.mask.astype(np.float32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = ii[bh:, bw:] - ii[:-bh, bw:] - ii[bh:, :-bw] + ii[:-bh, :-bw]
    cover = sums / (bw * bh)
    ys, xs = np.mgrid[0:cover.shape[0], 0:cover.shape[1]]
    ecx, ecy = (x0 + x1) / 2, (y0 + y1) / 2
    dx, dy = xs + bw / 2 - ecx, ys + bh / 2 - ecy
    dist = np.hypot(dx, dy)
    inside = (np.abs(dx) <= t.reach[0]) & (np.abs(dy) <= t.reach[1])
    score = np.where(inside, cover - t.need / 2 - DIST_WEIGHT * dist / w, -np.inf)
    out: list[_Candidate] = []
    for _ in range(CANDIDATES):
        k = int(np.argmax(score))
        if not np.isfinite(score.flat[k]):
            break
        cy, cx = divmod(k, score.shape[1])
        # scored in pixels: when two entities of one look compete for a blob, the one it fills more wins
        out.append(_Candidate((cx, cy, cx + bw, cy + bh), float(cover[cy, cx]), float(score[cy, cx]) * bw * bh))
        score[max(cy - bh // 2, 0):cy + bh // 2 + 1, max(cx - bw // 2, 0):cx + bw // 2 + 1] = -np.inf
    return out


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))


def _area(b: Box) -> float:
    return (b[2] - b[0]) * (b[3] - b[1])


def _assign(options: list[list[_Candidate]]) -> list[_Candidate | None]:
    """The joint choice (one candidate or none each) with the best total score, overlaps penalised: an entity
    whose look shows nowhere of its own stays unfound rather than claim part of another's blob."""
    best, best_score = [None] * len(options), -np.inf
    for combo in itertools.product(*[opts + [None] for opts in options]):
        score = sum(c.score for c in combo if c is not None)
        for a, b in itertools.combinations([c for c in combo if c is not None], 2):
            if _overlap(a.box, b.box) > MAX_OVERLAP:
                score -= OVERLAP_PENALTY * min(_area(a.box), _area(b.box))
        if score > best_score:
            best, best_score = list(combo), score
    return best


def _pixels(mask: Array, box: Box) -> Array:
    """The look's blobs that the box covers: connected pieces mostly inside it (a jar or a table is
    hollow in the middle) or filling much of it."""
    x0, y0, x1, y1 = (int(v) for v in box)
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    total = np.bincount(labels.ravel(), minlength=n + 1)
    inside = np.bincount(labels[y0:y1, x0:x1].ravel(), minlength=n + 1)
    # mostly inside the box, or filling a good part of it (a thing drawn larger than expected)
    ids = np.nonzero(((inside >= 0.3 * total) | (inside >= 0.3 * (x1 - x0) * (y1 - y0))) & (inside > 0))[0]
    ids = ids[ids > 0]
    out = np.isin(labels, ids) if len(ids) else np.zeros_like(mask)
    # a blob may run far past the box (a floor of the table's colour): keep it near the box
    gx, gy = int(GROW * (x1 - x0)) + 1, int(GROW * (y1 - y0)) + 1
    keep = np.zeros_like(mask)
    keep[max(y0 - gy, 0):y1 + gy, max(x0 - gx, 0):x1 + gx] = True
    return out & keep


def locate(targets: list[Target]) -> dict[str, Found | None]:
    """Place every target; None where its look shows nowhere in its window."""
    found: dict[str, Found | None] = {}
    groups: dict[str, list[Target]] = {}
    for t in targets:
        groups.setdefault(t.group, []).append(t)
    for members in groups.values():
        for t, c in zip(members, _assign([_candidates(t) for t in members])):
            if c is None or c.coverage <= 0:
                found[t.id] = None
                continue
            px = _pixels(t.mask, c.box)
            if not px.any():
                found[t.id] = None
                continue
            ys, xs = np.nonzero(px)
            box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
            found[t.id] = Found(t.id, box, px, c.coverage)
    return found
