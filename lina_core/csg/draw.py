"""Pictures of a CSG: the graph as a causal diagram, and its layout regions over an image.

The diagram reads left to right as causation: entities first (supports before what they hold),
then effects by inference depth, so that an implied multi-hop effect (a reflection, hop 2) sits
visibly further from the prompt than what the prompt states. Implied effects are dashed, which is
what the app's users need to see at a glance: what the model must infer on its own.
"""
from __future__ import annotations

import math
import textwrap
from collections import defaultdict

import networkx as nx
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from PIL import Image, ImageDraw, ImageFont

from .graph import CSG, Edge, EdgeType, EffectType, Entity, Node
from .vocab import COLOURS

# Node styles: (face colour, edge colour, line style). Entities with a known colour use that colour.
_ENTITY = ("#dde8f5", "#1f3b5c", "-")
_UNKNOWN = ("#d9d9d9", "#6e6e6e", "--")
_STATED = ("#fff1c1", "#a36b00", "-")
_IMPLIED = ("#ffffff", "#7b3fa0", "--")

_EDGE_COLOURS = {
    EdgeType.SUPPORTS: "#8c5a2b", EdgeType.LOCATED_AT: "#7f7f7f", EdgeType.CONTAINS: "#6b8e23",
    EdgeType.REFLECTS: "#1a9cb0", EdgeType.CASTS: "#333333", EdgeType.ILLUMINATES: "#e0a100",
    EdgeType.ACTS_ON: "#c0392b", EdgeType.CAUSES: "#000000",
}
# Overlay colours per node type (entities vs each effect type).
_OVERLAY = {
    "entity": (30, 144, 255), "unknown": (160, 160, 160), "light": (255, 215, 0), EffectType.REFLECTION: (0, 225, 225),
    EffectType.SHADOW: (230, 0, 230), EffectType.CONTACT: (255, 140, 0), EffectType.FILL: (140, 230, 0),
    EffectType.ACTION: (255, 40, 40),
}
_CAUSAL_ENTITY_EDGES = (EdgeType.SUPPORTS, EdgeType.CONTAINS, EdgeType.ACTS_ON)
_MIN_OVERLAY_PX = 384


# -- layering ---------------------------------------------------------------------------------
def _longest_path_depth(graph: nx.DiGraph, start: dict[str, int]) -> dict[str, int]:
    """Depth = longest chain of predecessors, at least ``start``; falls back to ``start`` if cyclic."""
    if not nx.is_directed_acyclic_graph(graph):
        return dict(start)
    depth = dict(start)
    for n in nx.topological_sort(graph):
        for p in graph.predecessors(n):
            depth[n] = max(depth[n], depth[p] + 1)
    return depth


def _columns(csg: CSG) -> dict[str, int]:
    """Entities by support/containment/action depth, then effects by hop (and after any effect they follow)."""
    ents = [n.id for n in csg.entities()]
    sub = nx.DiGraph()
    sub.add_nodes_from(ents)
    sub.add_edges_from((e.src, e.dst) for e in csg.edges()
                       if e.type in _CAUSAL_ENTITY_EDGES and e.src in sub and e.dst in sub)
    column = _longest_path_depth(sub, dict.fromkeys(ents, 0))
    first = max(column.values(), default=-1) + 1
    effects = csg.effects()
    esub = nx.DiGraph()
    esub.add_nodes_from(e.id for e in effects)
    esub.add_edges_from((e.src, e.dst) for e in csg.edges() if e.src in esub and e.dst in esub)
    column.update(_longest_path_depth(esub, {e.id: first + max(e.hop, 1) - 1 for e in effects}))
    return column


def _positions(csg: CSG, column: dict[str, int]) -> dict[str, tuple[float, float]]:
    """Order each column by the mean height of its neighbours in earlier columns (fewer crossings)."""
    by_col: dict[int, list[str]] = defaultdict(list)
    for nid in csg.graph.nodes:
        by_col[column[nid]].append(nid)
    y: dict[str, float] = {}
    for c in sorted(by_col):
        def barycentre(nid: str) -> float:
            ys = [y[m] for m in nx.all_neighbors(csg.graph, nid) if m in y]
            return -float(np.mean(ys)) if ys else 0.0
        ordered = sorted(by_col[c], key=barycentre) if c else by_col[c]
        for i, nid in enumerate(ordered):
            y[nid] = (len(ordered) - 1) / 2 - i
    return {nid: (float(column[nid]), y[nid]) for nid in csg.graph.nodes}


# -- node and edge text -------------------------------------------------------------------------
def _node_label(node: Node) -> str:
    if isinstance(node, Entity):
        attrs = [a for a in (node.size, node.colour, node.material) if a]
        if node.count > 1:
            attrs.append(f"x{node.count}")
        if node.side:
            attrs.append(f"from {node.side}" if node.cls == "light" else node.side)
        if not node.known:
            attrs.append("unknown word")
        return "\n".join([node.id] + ([", ".join(attrs)] if attrs else []))
    tag = f"implied, hop {node.hop}" if node.implied else "stated"
    keys = ("level", "comparison", "verb", "side", "part")
    detail = ", ".join(f"{k}={node.params[k]}" for k in keys if node.params.get(k) is not None)
    return "\n".join([node.id, f"{node.type.value} ({tag})"] + ([detail] if detail else []))


def _node_style(node: Node) -> tuple[str, str, str]:
    if isinstance(node, Entity):
        if not node.known:
            return _UNKNOWN
        rgb = COLOURS.get(node.colour or "")
        return (_hex(rgb), _ENTITY[1], "-") if rgb else _ENTITY
    return _IMPLIED if node.implied else _STATED


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % rgb


def _is_dark(rgb: tuple[int, int, int]) -> bool:
    return (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255 < 0.5


def _text_colour(face: str) -> str:
    return "white" if _is_dark(tuple(int(face[i:i + 2], 16) for i in (1, 3, 5))) else "black"


def _edge_label(edge: Edge) -> str:
    extra = [str(edge.params[k]) for k in ("relation", "verb", "role") if k in edge.params]
    return edge.type.value + (f" [{', '.join(extra)}]" if extra else "")


# -- the diagram ------------------------------------------------------------------------------
def _new_axes(n_cols: int, n_rows: int) -> Axes:
    fig = Figure(figsize=(max(6.0, 2.5 * n_cols + 0.8), max(3.8, 1.05 * n_rows + 2.0)), dpi=100)
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def draw_csg(csg: CSG, ax: Axes | None = None) -> Figure:
    """The CSG as a layered causal diagram: one boxed label per node, labelled arrows, legend, prompt as title."""
    column = _columns(csg)
    pos = _positions(csg, column)
    n_cols = max(column.values(), default=0) + 1
    n_rows = max((sum(1 for c in column.values() if c == k) for k in range(n_cols)), default=1)
    ax = ax or _new_axes(n_cols, n_rows)
    texts = {}
    for node in csg.nodes():
        face, edge, style = _node_style(node)
        texts[node.id] = ax.text(
            *pos[node.id], _node_label(node), ha="center", va="center", fontsize=8.5, zorder=2, gid=node.id,
            color=_text_colour(face),
            bbox=dict(boxstyle="round,pad=0.45", facecolor=face, edgecolor=edge, linestyle=style, linewidth=1.6))
    _finish_axes(ax, csg, n_cols, n_rows)
    _draw_edges(ax, csg, pos, texts)
    return ax.figure


def _edge_bends(csg: CSG, pos: dict[str, tuple[float, float]]) -> dict[tuple[str, str], float]:
    """Curve edges that would hide behind others: same column, backwards, two-way pairs, and long jumps
    along a row (alternating sides per source, further for longer jumps, so parallel arcs separate)."""
    bends, long_from = {}, defaultdict(int)
    for e in csg.edges():
        (x0, y0), (x1, y1) = pos[e.src], pos[e.dst]
        if x0 == x1:
            bends[e.src, e.dst] = 0.45
        elif x1 < x0 or csg.graph.has_edge(e.dst, e.src):
            bends[e.src, e.dst] = 0.25
        elif x1 - x0 > 1 and y0 == y1:
            sign = -1 if long_from[e.src] % 2 else 1
            long_from[e.src] += 1
            bends[e.src, e.dst] = sign * (0.1 + 0.08 * (x1 - x0 - 1))
        else:
            bends[e.src, e.dst] = 0.0
    return bends


def _half_sizes(ax: Axes, texts: dict) -> dict[str, tuple[float, float]]:
    """Half width and height of each node's box in data units (text extent plus the box padding)."""
    to_data = ax.transData.inverted()
    out = {}
    for nid, text in texts.items():
        (x0, y0), (x1, y1) = to_data.transform(text.get_window_extent().get_points())
        pad = text.get_fontsize() * 0.45 * ax.figure.dpi / 72
        (px, py), (qx, qy) = to_data.transform([(0, 0), (pad, pad)])
        out[nid] = ((x1 - x0) / 2 + abs(qx - px), (y1 - y0) / 2 + abs(qy - py))
    return out


def _label_pos(src: str, dst: str, pos: dict[str, tuple[float, float]], half: dict[str, tuple[float, float]],
               col_half: dict[float, float]) -> float:
    """networkx ``label_pos`` (curve parameter from the source): the middle of the visible part of the edge,
    or, for an edge jumping columns, the free gap just before its target (no node box sits there)."""
    (x0, y0), (x1, y1) = pos[src], pos[dst]
    dx, dy = abs(x1 - x0), abs(y1 - y0)
    if x1 - x0 > 1:
        left, right = x1 - 1 + col_half[x1 - 1], x1 - half[dst][0]
        if left < right:
            return ((left + right) / 2 - x0) / (x1 - x0)

    def inside(nid: str) -> float:  # fraction of the centre-to-centre segment hidden by this node's box
        hw, hh = half[nid]
        return min(hw / dx if dx else np.inf, hh / dy if dy else np.inf, 0.45)

    return (inside(src) + 1 - inside(dst)) / 2


def _draw_edges(ax: Axes, csg: CSG, pos: dict[str, tuple[float, float]], texts: dict) -> None:
    half = _half_sizes(ax, texts)
    col_half: dict[float, float] = defaultdict(float)
    for nid, (x, _) in pos.items():
        col_half[x] = max(col_half[x], half[nid][0])
    bends = _edge_bends(csg, pos)
    for edge in csg.edges():
        colour = _EDGE_COLOURS[edge.type]
        style = f"arc3,rad={bends[edge.src, edge.dst]:.3f}"
        ax.annotate("", xy=pos[edge.dst], xytext=pos[edge.src], zorder=3, gid=f"edge:{edge.src}->{edge.dst}",
                    arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.3, mutation_scale=12, connectionstyle=style,
                                    patchA=texts[edge.src].get_bbox_patch(), patchB=texts[edge.dst].get_bbox_patch(),
                                    shrinkA=1, shrinkB=1))
        labels = nx.draw_networkx_edge_labels(
            csg.graph, pos, edge_labels={(edge.src, edge.dst): _edge_label(edge)}, ax=ax, font_size=6.5,
            label_pos=_label_pos(edge.src, edge.dst, pos, half, col_half),
            font_color=colour, rotate=False, connectionstyle=style, node_size=0, hide_ticks=False,
            bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.85))
        for text in labels.values():
            text.set_zorder(4)


def _finish_axes(ax: Axes, csg: CSG, n_cols: int, n_rows: int) -> None:
    ax.set_xlim(-0.65, n_cols - 0.35)
    ax.set_ylim(-n_rows / 2 - 0.2, n_rows / 2 + 0.2)
    ax.set_axis_off()
    title = textwrap.fill(csg.prompt or "(no prompt)", 70)
    ax.set_title(title if len(csg) else title + "\n(empty graph)", fontsize=11)
    handles = [Patch(facecolor=f, edgecolor=e, linestyle=s, linewidth=1.6, label=label) for (f, e, s), label in (
        (_ENTITY, "entity (filled in its colour)"), (_UNKNOWN, "unknown word (generic)"),
        (_STATED, "stated effect"), (_IMPLIED, "implied effect (hop k)"))]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4, fontsize=7.5, frameon=False)
    ax.figure.tight_layout()


def figure_to_image(fig: Figure) -> Image.Image:
    """Render a figure to an RGB PIL image (Agg), whatever canvas it was made with."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())


# -- regions over an image ----------------------------------------------------------------------
def _overlay_colour(node: Node) -> tuple[int, int, int]:
    if isinstance(node, Entity):
        return _OVERLAY["light" if node.cls == "light" else "entity" if node.known else "unknown"]
    return _OVERLAY[node.type]


def _dashed_rectangle(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], colour, width: int,
                      dash: int) -> None:
    x0, y0, x1, y1 = box
    for (ax_, ay), (bx, by) in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        length = max(abs(bx - ax_), abs(by - ay))
        for s in range(0, length, 2 * dash):
            e = min(s + dash, length)
            f0, f1 = s / max(length, 1), e / max(length, 1)
            draw.line([(ax_ + (bx - ax_) * f0, ay + (by - ay) * f0), (ax_ + (bx - ax_) * f1, ay + (by - ay) * f1)],
                      fill=colour, width=width)


def _label_spot(box: tuple[int, int, int, int], w: int, h: int, taken: list[tuple[int, int, int, int]],
                size: tuple[int, int]) -> tuple[int, int]:
    """Just above the box, else inside its top, else below it, else the nearest clear height to the box."""
    W, H = size
    x = min(max(box[0], 0), W - w)
    scan = sorted(range(0, H - h + 1, max(h // 2, 1)), key=lambda top: abs(top - box[1]))
    for top in [box[1] - h, box[1], box[3] + 1] + scan:
        top = min(max(top, 0), H - h)
        if not any(x < t[2] and t[0] < x + w and top < t[3] and t[1] < top + h for t in taken):
            return x, top
    return x, min(max(box[1], 0), H - h)


def overlay_regions(image: Image.Image, csg: CSG) -> Image.Image:
    """Each node's region on the (upscaled) image: entities solid, effects dashed, labelled with the node id."""
    img = image.convert("RGB")
    k = max(1, math.ceil(_MIN_OVERLAY_PX / min(img.size)))
    img = img.resize((img.width * k, img.height * k), Image.Resampling.NEAREST)
    W, H = img.size
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=max(10, min(W, H) // 34))
    lw = max(2, min(W, H) // 160)
    nodes = [n for n in csg.entities() + csg.effects() if n.region is not None]  # effects on top
    boxes = {}
    for node in nodes:
        r = node.region
        x0, y0 = round(r.x0 * W), round(r.y0 * H)
        boxes[node.id] = box = (x0, y0, max(round(r.x1 * W) - 1, x0), max(round(r.y1 * H) - 1, y0))
        if isinstance(node, Entity):
            draw.rectangle(box, outline=_overlay_colour(node), width=lw)
        else:
            _dashed_rectangle(draw, box, _overlay_colour(node), lw, dash=3 * lw + 2)
    taken: list[tuple[int, int, int, int]] = []
    for node in nodes:  # labels after all outlines, so no outline hides a label
        colour = _overlay_colour(node)
        l, t, rt, b = draw.textbbox((0, 0), node.id, font=font)
        w, h = rt - l + 4, b - t + 4
        x, y = _label_spot(boxes[node.id], w, h, taken, (W, H))
        taken.append((x, y, x + w, y + h))
        draw.rectangle((x, y, x + w - 1, y + h - 1), fill=colour, outline=(0, 0, 0))
        draw.text((x + 2 - l, y + 2 - t), node.id, fill=(255, 255, 255) if _is_dark(colour) else (0, 0, 0), font=font)
    return img
