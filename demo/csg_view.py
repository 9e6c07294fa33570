"""Turn a CSG into what the UI shows: a node table, a notes panel and the parse outputs."""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
from PIL import Image

from lina_core.csg import CSG, Effect, Entity, to_json
from lina_core.csg.draw import draw_csg, figure_to_image, overlay_regions

NODE_COLUMNS = ["weight", "id", "kind", "class / effect", "attributes", "stated or implied", "region (x0, y0, x1, y1)"]


def node_rows(csg: CSG, weights: dict[str, float] | None = None) -> list[list]:
    """One row per node, its guidance weight first (every node at 1 unless ``weights`` says; missing = 0)."""
    rows = []
    for n in csg.nodes():
        weight = 1.0 if weights is None else weights.get(n.id, 0.0)
        region = ", ".join(f"{v:.2f}" for v in n.region.as_tuple()) if n.region else ""
        if isinstance(n, Entity):
            attrs = [a for a in (n.size, n.colour, n.material) if a]
            if n.count != 1:
                attrs.append(f"count={n.count}")
            if n.side:
                attrs.append(f"side={n.side}")
            status = "stated" if n.known else "stated (unknown word)"
            rows.append([weight, n.id, "entity", n.cls, " ".join(attrs), status, region])
        else:
            assert isinstance(n, Effect)
            attrs = ", ".join(f"{k}={v}" for k, v in n.params.items())
            status = f"implied (hop {n.hop})" if n.implied else "stated"
            rows.append([weight, n.id, "effect", n.type.value, attrs, status, region])
    return rows


def notes_markdown(csg: CSG) -> str:
    implied = csg.effects(implied=True)
    lines = [f"**{len(csg.entities())} entities, {len(csg.effects())} effects ({len(implied)} implied).**"]
    if implied:
        lines.append("Implied by physics: " + ", ".join(f"{e.type.value} ({e.id}, hop {e.hop})" for e in implied) + ".")
    if csg.unknown_words:
        lines.append("Not understood: " + ", ".join(f"`{w}`" for w in csg.unknown_words) + ".")
    lines += [f"- {note}" for note in csg.notes]
    return "\n\n".join(lines)


@dataclass
class ParseView:
    graph_image: Image.Image
    layout_image: Image.Image
    rows: list[list]
    json_text: str
    notes: str


def layout_canvas(size: int = 64) -> Image.Image:
    """A plain sky/ground canvas so the layout regions can be seen before any model has drawn."""
    img = Image.new("RGB", (size, size), (205, 220, 235))
    img.paste((190, 180, 160), (0, int(size * 0.62), size, size))
    return img


def view(csg: CSG, background: Image.Image | None = None, weights: dict[str, float] | None = None) -> ParseView:
    fig = draw_csg(csg)
    graph_image = figure_to_image(fig)
    plt.close(fig)
    return ParseView(
        graph_image=graph_image,
        layout_image=overlay_regions(background or layout_canvas(), csg),
        rows=node_rows(csg, weights),
        json_text=to_json(csg),
        notes=notes_markdown(csg),
    )
