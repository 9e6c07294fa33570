"""The physics knowledge base: what follows from a scene that the prompt does not say.

A diffusion model fails exactly on these unstated, multi-hop consequences (paper, insight 1), so
they are made explicit as ``implied`` effect nodes that the layout, the judge and the
interventions act on. Every rule is a small function with one job; the facts it relies on are
data at the top of this module. ``apply_physics`` runs all rules and is idempotent: an effect
already in the graph (stated by the prompt, added by a user, or by an earlier run) is not added
twice. The ``add_*`` constructors are the one place that knows how each effect is wired into the
graph; the parser uses them for effects the prompt states.
"""
from __future__ import annotations

from typing import Any, Callable

from .graph import CSG, EdgeType, Effect, EffectType, Entity
from .vocab import FILLABLE, Category, category, is_reflective

# --------------------------------------------------------------------------------------------
# Facts

# Where a shadow falls for a light on each side; "below" is image-down, for a light overhead.
OPPOSITE_SIDE: dict[str, str] = {"left": "right", "right": "left", "top": "below", "below": "top"}

# A light whose side is not stated is assumed overhead (the default sun); its shadows then need
# one more inference step (hop 2 instead of 1).
DEFAULT_LIGHT_SIDE = "top"

# A container holding a substance with no stated level is drawn half full.
DEFAULT_FILL_LEVEL = 0.5

# Relations that put an object over a reflecting surface, so its mirror image appears in it.
# "on"/"in" (resting on or standing in it), "above" (directly over it) and "in_front_of" (seen in
# it). "near"/"next_to" are deliberately absent: a person near the water is beside it, not over
# it, so the water shows no reflection of them (paper prompt: "a person is close to the water and
# in the sand" must not be drawn standing in or over the water).
REFLECTING_RELATIONS = frozenset({"on", "in", "above", "in_front_of"})

# Things that stand up and block light. Supports and surfaces (table, mirror, sand, floor) are
# what shadows fall on; substances lie inside containers; lights do not shadow themselves.
SHADOW_CASTERS = frozenset({Category.OBJECT, Category.CONTAINER, Category.ANIMAL, Category.PERSON,
                            Category.UNKNOWN})

# Surfaces and substances are ground-like: "in the sand" means standing on it, not inside a box.
GROUND_LIKE = frozenset({Category.SURFACE, Category.SUBSTANCE})

# "X eats Y": the eater is larger than the eaten (a small bird cannot swallow a large snake).
EATING_VERBS = frozenset({"eat"})
# Verbs whose agent's mouth touches the patient (chasing does not touch).
MOUTH_CONTACT_VERBS = frozenset({"eat", "catch", "bite"})


def opposite_side(side: str) -> str:
    """The side a shadow falls on for a light on ``side`` ("left" -> "right", "top" -> "below")."""
    try:
        return OPPOSITE_SIDE[side]
    except KeyError:
        raise ValueError(f"unknown side {side!r}; expected one of {sorted(OPPOSITE_SIDE)}") from None


def is_fillable(cls: str) -> bool:
    """Can this class be poured into a container (dirt, sand, water)?"""
    return cls in FILLABLE or category(cls) == Category.SUBSTANCE


def structural_edge(relation: str, obj_cls: str, ref_cls: str) -> EdgeType | None:
    """The physical edge a spatial relation "obj <relation> ref" implies, drawn ref -> obj.

    "on" anything but a light: ref supports obj. "in" a container: ref contains obj. "in" sand,
    water, grass or dirt: ref supports obj (one stands in sand on its surface). Others: none.
    """
    ref_cat = category(ref_cls)
    if relation == "on" and ref_cat != Category.LIGHT:
        return EdgeType.SUPPORTS
    if relation == "in" and ref_cat == Category.CONTAINER:
        return EdgeType.CONTAINS
    if relation == "in" and ref_cat in GROUND_LIKE:
        return EdgeType.SUPPORTS
    return None


# --------------------------------------------------------------------------------------------
# Effect constructors (one per effect type: the wiring of the common graph conventions)


def _find_effect(csg: CSG, type: EffectType, **params: Any) -> Effect | None:
    for eff in csg.effects(type):
        if all(eff.params.get(k) == v for k, v in params.items()):
            return eff
    return None


def _new_effect(csg: CSG, type: EffectType, stem: str, *, implied: bool, hop: int,
                params: dict[str, Any], words: list[str] | None = None) -> Effect:
    eff = Effect(csg.new_id(f"{type.value}_{stem}"), type, implied=implied, hop=hop, params=params,
                 words=list(words or []))
    csg.add(eff)
    return eff


def add_contact(csg: CSG, obj: str, support: str) -> Effect:
    """``obj`` rests on ``support``: no gap, no floating."""
    eff = _new_effect(csg, EffectType.CONTACT, obj, implied=True, hop=1, params={"object": obj, "support": support})
    csg.connect(obj, eff.id, EdgeType.CAUSES)
    csg.connect(support, eff.id, EdgeType.SUPPORTS)
    return eff


def add_mouth_contact(csg: CSG, action: Effect) -> Effect:
    """The agent's mouth touches the patient: caused by the action, not by a support."""
    agent, patient = action.params["agent"], action.params["patient"]
    eff = _new_effect(csg, EffectType.CONTACT, patient, implied=True, hop=1,
                      params={"object": patient, "support": agent, "part": "mouth"})
    csg.connect(action.id, eff.id, EdgeType.CAUSES)
    return eff


def add_reflection(csg: CSG, obj: str, surface: str, hop: int = 2) -> Effect:
    """Mirror image of ``obj`` in ``surface``; the surface bounds it (reflects edge)."""
    eff = _new_effect(csg, EffectType.REFLECTION, obj, implied=True, hop=hop,
                      params={"object": obj, "surface": surface})
    csg.connect(obj, eff.id, EdgeType.CAUSES)
    csg.connect(surface, eff.id, EdgeType.REFLECTS)
    return eff


def add_shadow(csg: CSG, obj: str, light: str, side: str, hop: int = 1) -> Effect:
    """Shadow of ``obj`` on ``side`` (opposite the light)."""
    eff = _new_effect(csg, EffectType.SHADOW, obj, implied=True, hop=hop,
                      params={"object": obj, "light": light, "side": side})
    csg.connect(obj, eff.id, EdgeType.CASTS)
    csg.connect(light, eff.id, EdgeType.ILLUMINATES)
    return eff


def add_fill(csg: CSG, container: str, substance: str, level: float, comparison: str | None = None, *,
             stated: bool = False, words: list[str] | None = None) -> Effect:
    """``container`` holds ``substance`` up to ``level``; stated levels are hop 0, assumed ones hop 1."""
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"fill level must be in [0, 1], got {level}")
    eff = _new_effect(csg, EffectType.FILL, container, implied=not stated, hop=0 if stated else 1,
                      params={"container": container, "substance": substance, "level": level,
                              "comparison": comparison}, words=words)
    csg.connect(substance, eff.id, EdgeType.CAUSES)
    csg.connect(container, eff.id, EdgeType.CONTAINS)
    return eff


def add_action(csg: CSG, verb: str, agent: str, patient: str, words: list[str] | None = None) -> Effect:
    """A stated action ("a bird eats a snake"): agent -causes-> action -acts_on-> patient."""
    eff = _new_effect(csg, EffectType.ACTION, verb, implied=False, hop=0,
                      params={"verb": verb, "agent": agent, "patient": patient}, words=words)
    csg.connect(agent, eff.id, EdgeType.CAUSES, role="agent")
    csg.connect(eff.id, patient, EdgeType.ACTS_ON, role="patient")
    csg.connect(agent, patient, EdgeType.ACTS_ON, verb=verb)
    return eff


# --------------------------------------------------------------------------------------------
# Rules


def _entity_edges(csg: CSG, type: EdgeType) -> list[tuple[Entity, Entity]]:
    pairs = [(csg.node(e.src), csg.node(e.dst)) for e in csg.edges(type)]
    return [(a, b) for a, b in pairs if isinstance(a, Entity) and isinstance(b, Entity)]


def contact_from_supports(csg: CSG) -> None:
    """Every supported object touches its support (hop 1)."""
    for support, obj in _entity_edges(csg, EdgeType.SUPPORTS):
        if _find_effect(csg, EffectType.CONTACT, object=obj.id, support=support.id) is None:
            add_contact(csg, obj.id, support.id)


def action_facts(csg: CSG) -> None:
    """Eaters are larger than the eaten; eating, catching and biting put the mouth on the patient."""
    for action in csg.effects(EffectType.ACTION):
        verb = action.params.get("verb")
        if verb in EATING_VERBS:
            action.params["agent_larger"] = True
        if verb in MOUTH_CONTACT_VERBS and _find_effect(
                csg, EffectType.CONTACT, object=action.params["patient"], support=action.params["agent"],
                part="mouth") is None:
            add_mouth_contact(csg, action)


def fill_from_containers(csg: CSG) -> None:
    """A container holding a substance shows a fill level (assumed half when not stated)."""
    for container, substance in _entity_edges(csg, EdgeType.CONTAINS):
        if is_fillable(substance.cls) and _find_effect(
                csg, EffectType.FILL, container=container.id, substance=substance.id) is None:
            add_fill(csg, container.id, substance.id, DEFAULT_FILL_LEVEL)


def reflecting_surfaces(csg: CSG, obj: str, _seen: frozenset[str] = frozenset()) -> dict[str, int]:
    """Reflecting surfaces ``obj`` is over, with the hop of its reflection in each.

    Directly on/in/above/in front of a mirror or water: hop 2 (support -> contact line -> mirror
    image). Resting on something that is itself over one (a ball on a cube on a mirror) adds one
    hop per support in between: where the support goes, what it carries goes.
    """
    found: dict[str, int] = {}
    for edge in csg.graph.out_edges(obj, data="data"):
        e = edge[2]
        if e.type == EdgeType.LOCATED_AT and e.params.get("relation") in REFLECTING_RELATIONS:
            ref = csg.node(e.dst)
            if isinstance(ref, Entity) and is_reflective(ref.cls):
                found[ref.id] = 2
    for support in csg.parents(obj, EdgeType.SUPPORTS):
        if not isinstance(support, Entity) or support.id in _seen:
            continue
        if is_reflective(support.cls):
            found[support.id] = 2
        for surf, hop in reflecting_surfaces(csg, support.id, _seen | {obj}).items():
            if surf != obj:
                found.setdefault(surf, hop + 1)
    return found


def reflections(csg: CSG) -> None:
    """Objects over a mirror or water get a mirror image there, bounded by that surface."""
    for ent in csg.entities():
        if category(ent.cls) in (Category.LIGHT, Category.SURFACE):
            continue
        for surface, hop in reflecting_surfaces(csg, ent.id).items():
            if _find_effect(csg, EffectType.REFLECTION, object=ent.id, surface=surface) is None:
                add_reflection(csg, ent.id, surface, hop)


def shadows(csg: CSG) -> None:
    """With a light, every object that stands up casts a shadow on the side opposite the light."""
    for light in csg.entities("light"):
        side, hop = (light.side, 1) if light.side else (DEFAULT_LIGHT_SIDE, 2)
        for ent in csg.entities():
            if ent.id == light.id or category(ent.cls) not in SHADOW_CASTERS:
                continue
            if _find_effect(csg, EffectType.SHADOW, object=ent.id, light=light.id) is None:
                add_shadow(csg, ent.id, light.id, opposite_side(side), hop)


RULES: tuple[Callable[[CSG], None], ...] = (
    contact_from_supports, action_facts, fill_from_containers, reflections, shadows,
)


def apply_physics(csg: CSG) -> CSG:
    """Add every implied effect to ``csg`` (in place; idempotent) and return it."""
    for rule in RULES:
        rule(csg)
    return csg
