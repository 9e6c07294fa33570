"""Lossless JSON for the CSG, with a JSON Schema and a version field.

Users edit this JSON in the app and an LLM parser emits it, so loading must reject anything
malformed with a message that names the offending field (``nodes[2].region.x1``), not a traceback.
"""
from __future__ import annotations

import json
from typing import Any

import jsonschema

from .graph import CSG, RELATIONS, EdgeType, Effect, EffectType, Entity, Node, Region

SCHEMA_VERSION = "1.0"

_REGION = {
    "type": ["object", "null"],
    "required": ["x0", "y0", "x1", "y1"],
    "additionalProperties": False,
    "properties": {k: {"type": "number", "minimum": 0, "maximum": 1} for k in ("x0", "y0", "x1", "y1")},
}
_WORDS = {"type": "array", "items": {"type": "string"}}
_OPT_STR = {"type": ["string", "null"]}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "LINA Causal Scene Graph",
    "type": "object",
    "required": ["version", "prompt", "nodes", "edges"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": SCHEMA_VERSION},
        "prompt": {"type": "string"},
        "unknown_words": _WORDS,
        "notes": _WORDS,
        "nodes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kind"],
                "properties": {"kind": {"enum": ["entity", "effect"]}},
                "allOf": [
                    {"if": {"properties": {"kind": {"const": "entity"}}}, "then": {
                        "type": "object",
                        "required": ["kind", "id", "cls"],
                        "additionalProperties": False,
                        "properties": {
                            "kind": {"const": "entity"},
                            "id": {"type": "string", "minLength": 1},
                            "cls": {"type": "string", "minLength": 1},
                            "colour": _OPT_STR,
                            "size": {"enum": ["small", "large", None]},
                            "material": _OPT_STR,
                            "count": {"type": "integer", "minimum": 1, "maximum": 20},
                            "side": {"enum": ["left", "right", "top", None]},
                            "known": {"type": "boolean"},
                            "words": _WORDS,
                            "region": _REGION,
                        },
                    }},
                    {"if": {"properties": {"kind": {"const": "effect"}}}, "then": {
                        "type": "object",
                        "required": ["kind", "id", "type"],
                        "additionalProperties": False,
                        "properties": {
                            "kind": {"const": "effect"},
                            "id": {"type": "string", "minLength": 1},
                            "type": {"enum": [t.value for t in EffectType]},
                            "implied": {"type": "boolean"},
                            "hop": {"type": "integer", "minimum": 0, "maximum": 10},
                            "params": {"type": "object"},
                            "words": _WORDS,
                            "region": _REGION,
                        },
                    }},
                ],
            },
        },
        "edges": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["src", "dst", "type"],
                "additionalProperties": False,
                "properties": {
                    "src": {"type": "string"},
                    "dst": {"type": "string"},
                    "type": {"enum": [t.value for t in EdgeType]},
                    "params": {
                        "type": "object",
                        "properties": {"relation": {"enum": list(RELATIONS)}},
                    },
                },
            },
        },
    },
}


class CSGFormatError(ValueError):
    """Malformed CSG JSON; ``field`` is the path of the bad field, e.g. ``nodes[2].region.x1``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(root)"


def _region_to_json(r: Region | None) -> dict[str, float] | None:
    return None if r is None else {"x0": r.x0, "y0": r.y0, "x1": r.x1, "y1": r.y1}


def _node_to_json(n: Node) -> dict[str, Any]:
    if isinstance(n, Entity):
        return {
            "kind": "entity", "id": n.id, "cls": n.cls, "colour": n.colour, "size": n.size,
            "material": n.material, "count": n.count, "side": n.side, "known": n.known,
            "words": list(n.words), "region": _region_to_json(n.region),
        }
    return {
        "kind": "effect", "id": n.id, "type": n.type.value, "implied": n.implied, "hop": n.hop,
        "params": dict(n.params), "words": list(n.words), "region": _region_to_json(n.region),
    }


def to_dict(csg: CSG) -> dict[str, Any]:
    return {
        "version": SCHEMA_VERSION,
        "prompt": csg.prompt,
        "unknown_words": list(csg.unknown_words),
        "notes": list(csg.notes),
        "nodes": [_node_to_json(n) for n in csg.nodes()],
        "edges": [{"src": e.src, "dst": e.dst, "type": e.type.value, "params": dict(e.params)} for e in csg.edges()],
    }


def to_json(csg: CSG, indent: int | None = 2) -> str:
    return json.dumps(to_dict(csg), indent=indent)


def _validate(data: Any) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return
    err = errors[0]
    raise CSGFormatError(_path(err.absolute_path), err.message)


def _region(data: dict[str, float] | None, field: str) -> Region | None:
    if data is None:
        return None
    try:
        return Region(data["x0"], data["y0"], data["x1"], data["y1"])
    except ValueError as exc:
        raise CSGFormatError(field, str(exc)) from None


def from_dict(data: Any) -> CSG:
    """Build a CSG from parsed JSON, raising ``CSGFormatError`` naming the first bad field."""
    _validate(data)
    csg = CSG(data["prompt"])
    csg.unknown_words = list(data.get("unknown_words", []))
    csg.notes = list(data.get("notes", []))
    for i, nd in enumerate(data["nodes"]):
        where = f"nodes[{i}]"
        if nd["id"] in csg:
            raise CSGFormatError(f"{where}.id", f"duplicate node id {nd['id']!r}")
        region = _region(nd.get("region"), f"{where}.region")
        node: Node
        if nd["kind"] == "entity":
            node = Entity(
                id=nd["id"], cls=nd["cls"], colour=nd.get("colour"), size=nd.get("size"),
                material=nd.get("material"), count=nd.get("count", 1), side=nd.get("side"),
                known=nd.get("known", True), words=list(nd.get("words", [])), region=region,
            )
        else:
            node = Effect(
                id=nd["id"], type=EffectType(nd["type"]), implied=nd.get("implied", True), hop=nd.get("hop", 1),
                params=dict(nd.get("params", {})), words=list(nd.get("words", [])), region=region,
            )
        csg.add(node)
    for i, ed in enumerate(data["edges"]):
        for end in ("src", "dst"):
            if ed[end] not in csg:
                raise CSGFormatError(f"edges[{i}].{end}", f"no node with id {ed[end]!r}")
        csg.connect(ed["src"], ed["dst"], EdgeType(ed["type"]), **ed.get("params", {}))
    return csg


def from_json(text: str) -> CSG:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CSGFormatError("(json)", f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    return from_dict(data)


__all__ = ["SCHEMA", "SCHEMA_VERSION", "CSGFormatError", "to_dict", "to_json", "from_dict", "from_json"]
