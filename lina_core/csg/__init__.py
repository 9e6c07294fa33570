"""Causal Scene Graph: data model, JSON, parser, physics knowledge base, layout and drawing."""
from .graph import CSG, RELATIONS, Edge, EdgeType, Effect, EffectType, Entity, Node, Region
from .serialize import SCHEMA, SCHEMA_VERSION, CSGFormatError, from_dict, from_json, to_dict, to_json

__all__ = [
    "CSG", "RELATIONS", "Edge", "EdgeType", "Effect", "EffectType", "Entity", "Node", "Region",
    "SCHEMA", "SCHEMA_VERSION", "CSGFormatError", "from_dict", "from_json", "to_dict", "to_json",
]
