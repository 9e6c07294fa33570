"""The Causal Scene Graph: a typed API over ``networkx.DiGraph``.

Nodes are entities (what the prompt names) and effects (what follows physically: reflections,
shadows, contact, fill levels, actions), each effect flagged ``implied`` when the prompt does
not state it. Edges carry a causal type. Every node may hold a layout region, which later
becomes the mask the method acts on. The graph is the single object that flows from the parser
to the layout, the renderer, the judge and the interventions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterator

import networkx as nx


class EffectType(str, Enum):
    REFLECTION = "reflection"  # mirrored copy of an object, clipped to the reflecting surface
    SHADOW = "shadow"  # darkening on the side opposite the light
    CONTACT = "contact"  # an object rests on / touches another: no floating, no gap
    FILL = "fill"  # a container holds a substance up to ``params["level"]`` in [0, 1]
    ACTION = "action"  # agent acts on patient (``params["verb"]``)


class EdgeType(str, Enum):
    SUPPORTS = "supports"  # support -> object resting on it (and support -> contact effect)
    LOCATED_AT = "located_at"  # object -> reference, ``params["relation"]`` in RELATIONS
    CONTAINS = "contains"  # container -> substance (and container -> fill effect)
    REFLECTS = "reflects"  # reflecting surface -> reflection effect (the surface bounds it)
    CASTS = "casts"  # object -> its shadow
    ILLUMINATES = "illuminates"  # light -> shadow
    ACTS_ON = "acts_on"  # agent -> patient, and action effect -> patient
    CAUSES = "causes"  # generic parent -> effect (object -> its reflection, agent -> action, ...)


RELATIONS: tuple[str, ...] = (
    "on", "in", "under", "above", "below", "left_of", "right_of", "near", "next_to", "behind", "in_front_of",
)


@dataclass
class Region:
    """Axis-aligned box in normalised image coordinates (x right, y down), 0 <= x0 < x1 <= 1."""

    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self) -> None:
        if not (0.0 <= self.x0 < self.x1 <= 1.0 and 0.0 <= self.y0 < self.y1 <= 1.0):
            raise ValueError(f"region must satisfy 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, got {self.as_tuple()}")

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)

    def intersection(self, other: Region) -> Region | None:
        x0, y0 = max(self.x0, other.x0), max(self.y0, other.y0)
        x1, y1 = min(self.x1, other.x1), min(self.y1, other.y1)
        return Region(x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None

    def contains(self, other: Region, tol: float = 1e-6) -> bool:
        return (other.x0 >= self.x0 - tol and other.y0 >= self.y0 - tol
                and other.x1 <= self.x1 + tol and other.y1 <= self.y1 + tol)


@dataclass
class Entity:
    """Something the prompt names (or an unknown word kept as a generic node, ``known=False``)."""

    id: str
    cls: str
    colour: str | None = None
    size: str | None = None  # "small" | "large" | None
    material: str | None = None
    count: int = 1
    side: str | None = None  # where a light (or a placed thing) sits: "left" | "right" | "top"
    known: bool = True
    words: list[str] = field(default_factory=list)  # prompt words that name it (for token alignment)
    region: Region | None = None

    kind = "entity"


@dataclass
class Effect:
    """A physical consequence; ``implied`` when the prompt does not state it, ``hop`` = inference depth."""

    id: str
    type: EffectType
    implied: bool = True
    hop: int = 1
    params: dict[str, Any] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)
    region: Region | None = None

    kind = "effect"

    def __post_init__(self) -> None:
        self.type = EffectType(self.type)


Node = Entity | Effect


@dataclass
class Edge:
    src: str
    dst: str
    type: EdgeType
    params: dict[str, Any] = field(default_factory=dict)


class CSG:
    """A Causal Scene Graph for one prompt.

    ``unknown_words`` lists the words the parser could not place; ``notes`` are messages for the
    user (what was understood, what was assumed).
    """

    def __init__(self, prompt: str = "") -> None:
        self.prompt = prompt
        self.graph = nx.DiGraph()
        self.unknown_words: list[str] = []
        self.notes: list[str] = []

    # -- building -----------------------------------------------------------------------------
    def add(self, node: Node) -> Node:
        if node.id in self.graph:
            raise ValueError(f"duplicate node id {node.id!r}")
        self.graph.add_node(node.id, data=node)
        return node

    def connect(self, src: str, dst: str, type: EdgeType, **params: Any) -> Edge:
        for end in (src, dst):
            if end not in self.graph:
                raise KeyError(f"edge {src!r} -> {dst!r}: no node {end!r}")
        edge = Edge(src, dst, EdgeType(type), dict(params))
        self.graph.add_edge(src, dst, data=edge)
        return edge

    def new_id(self, stem: str) -> str:
        """First free id of the form ``stem``, ``stem_2``, ``stem_3``..."""
        if stem not in self.graph:
            return stem
        k = 2
        while f"{stem}_{k}" in self.graph:
            k += 1
        return f"{stem}_{k}"

    def remove(self, node_id: str) -> None:
        self.graph.remove_node(node_id)

    # -- reading ------------------------------------------------------------------------------
    def node(self, node_id: str) -> Node:
        return self.graph.nodes[node_id]["data"]

    def __contains__(self, node_id: str) -> bool:
        return node_id in self.graph

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def nodes(self) -> Iterator[Node]:
        for _, data in self.graph.nodes(data="data"):
            yield data

    def entities(self, cls: str | None = None) -> list[Entity]:
        return [n for n in self.nodes() if isinstance(n, Entity) and (cls is None or n.cls == cls)]

    def effects(self, type: EffectType | str | None = None, implied: bool | None = None) -> list[Effect]:
        want = EffectType(type) if type is not None else None
        return [
            n for n in self.nodes()
            if isinstance(n, Effect) and (want is None or n.type == want) and (implied is None or n.implied == implied)
        ]

    def edges(self, type: EdgeType | str | None = None) -> list[Edge]:
        want = EdgeType(type) if type is not None else None
        return [e for _, _, e in self.graph.edges(data="data") if want is None or e.type == want]

    def edge(self, src: str, dst: str) -> Edge | None:
        data = self.graph.get_edge_data(src, dst)
        return data["data"] if data else None

    def parents(self, node_id: str, type: EdgeType | str | None = None) -> list[Node]:
        want = EdgeType(type) if type is not None else None
        return [
            self.node(u) for u, _, e in self.graph.in_edges(node_id, data="data") if want is None or e.type == want
        ]

    def children(self, node_id: str, type: EdgeType | str | None = None) -> list[Node]:
        want = EdgeType(type) if type is not None else None
        return [
            self.node(v) for _, v, e in self.graph.out_edges(node_id, data="data") if want is None or e.type == want
        ]

    def relation(self, src: str, dst: str) -> str | None:
        """The spatial relation ``src`` has to ``dst`` (from a located_at edge), if any."""
        edge = self.edge(src, dst)
        return edge.params.get("relation") if edge and edge.type == EdgeType.LOCATED_AT else None

    def summary(self) -> str:
        """One line per node, for CLI output and messages."""
        lines = []
        for n in self.nodes():
            if isinstance(n, Entity):
                attrs = " ".join(a for a in (n.size, n.colour, n.material) if a)
                where = f" (side: {n.side})" if n.side else ""
                count = f"{n.count}x " if n.count != 1 else ""
                flag = "" if n.known else "  (unknown word: generic node)"
                lines.append(f"entity {n.id}: {count}{attrs + ' ' if attrs else ''}{n.cls}{where}{flag}")
            else:
                tag = f"implied, hop {n.hop}" if n.implied else "stated"
                params = ", ".join(f"{k}={v}" for k, v in n.params.items())
                lines.append(f"effect {n.id}: {n.type.value} ({tag}){' ' + params if params else ''}")
        for e in self.edges():
            rel = f" [{e.params['relation']}]" if "relation" in e.params else ""
            lines.append(f"edge   {e.src} -{e.type.value}{rel}-> {e.dst}")
        return "\n".join(lines)
