"""The physics knowledge base on hand-built graphs (no parser involved)."""
from __future__ import annotations

import pytest

from lina_core.csg import CSG, EdgeType, EffectType, Entity, from_json, to_dict, to_json
from lina_core.csg import kb


def scene(*entities: tuple[str, str] | tuple[str, str, dict]) -> CSG:
    """A CSG with entities given as (id, cls[, attrs])."""
    csg = CSG("test")
    for spec in entities:
        eid, cls, attrs = (*spec, {}) if len(spec) == 2 else spec
        csg.add(Entity(eid, cls, **attrs))
    return csg


def place(csg: CSG, obj: str, relation: str, ref: str) -> None:
    """What the parser writes for "obj <relation> ref"."""
    csg.connect(obj, ref, EdgeType.LOCATED_AT, relation=relation)
    edge = kb.structural_edge(relation, csg.node(obj).cls, csg.node(ref).cls)
    if edge is not None:
        csg.connect(ref, obj, edge)


# --------------------------------------------------------------------------------------------
# facts


@pytest.mark.parametrize("side, shadow", [("left", "right"), ("right", "left"), ("top", "below"), ("below", "top")])
def test_opposite_side(side: str, shadow: str) -> None:
    assert kb.opposite_side(side) == shadow
    assert kb.opposite_side(kb.opposite_side(side)) == side


def test_opposite_side_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="unknown side"):
        kb.opposite_side("behind")


@pytest.mark.parametrize("relation, obj, ref, edge", [
    ("on", "ball", "mirror", EdgeType.SUPPORTS),
    ("on", "ball", "cube", EdgeType.SUPPORTS),
    ("on", "ball", "light", None),
    ("in", "dirt", "jar", EdgeType.CONTAINS),
    ("in", "ball", "jar", EdgeType.CONTAINS),
    ("in", "person", "sand", EdgeType.SUPPORTS),
    ("in", "person", "water", EdgeType.SUPPORTS),
    ("in", "bird", "dirt", EdgeType.SUPPORTS),
    ("in", "ball", "cube", None),
    ("near", "person", "water", None),
    ("above", "ball", "mirror", None),
    ("under", "ball", "table", None),
])
def test_structural_edge(relation: str, obj: str, ref: str, edge: EdgeType | None) -> None:
    assert kb.structural_edge(relation, obj, ref) == edge


def test_fillable() -> None:
    assert kb.is_fillable("dirt") and kb.is_fillable("water") and kb.is_fillable("sand")
    assert not kb.is_fillable("ball") and not kb.is_fillable("zorblax")


# --------------------------------------------------------------------------------------------
# contact


def test_contact_for_every_supported_object() -> None:
    csg = scene(("ball", "ball"), ("cube", "cube"), ("table", "table"))
    place(csg, "ball", "on", "table")
    place(csg, "cube", "on", "table")
    kb.apply_physics(csg)
    contacts = {c.params["object"]: c for c in csg.effects(EffectType.CONTACT)}
    assert set(contacts) == {"ball", "cube"}
    for obj, c in contacts.items():
        assert (c.id, c.implied, c.hop, c.params["support"]) == (f"contact_{obj}", True, 1, "table")
        assert csg.edge(obj, c.id).type == EdgeType.CAUSES
        assert csg.edge("table", c.id).type == EdgeType.SUPPORTS


def test_no_contact_without_support() -> None:
    csg = scene(("ball", "ball"), ("table", "table"))
    place(csg, "ball", "under", "table")
    assert not kb.apply_physics(csg).effects()


# --------------------------------------------------------------------------------------------
# reflection


@pytest.mark.parametrize("relation, expected", [
    ("on", True), ("above", True), ("in_front_of", True), ("near", False), ("next_to", False),
    ("behind", False), ("under", False),
])
def test_reflection_only_over_the_surface(relation: str, expected: bool) -> None:
    csg = scene(("ball", "ball"), ("mirror", "mirror"))
    place(csg, "ball", relation, "mirror")
    refl = kb.apply_physics(csg).effects(EffectType.REFLECTION)
    assert bool(refl) == expected
    if expected:
        [r] = refl
        assert (r.hop, r.implied, r.params) == (2, True, {"object": "ball", "surface": "mirror"})
        assert csg.edge("mirror", r.id).type == EdgeType.REFLECTS
        assert csg.edge("ball", r.id).type == EdgeType.CAUSES


def test_person_in_water_reflects_but_not_in_sand() -> None:
    csg = scene(("person", "person"), ("water", "water"), ("sand", "sand"))
    place(csg, "person", "in", "sand")
    place(csg, "person", "near", "water")
    assert not kb.apply_physics(csg).effects(EffectType.REFLECTION)
    csg = scene(("person", "person"), ("water", "water"))
    place(csg, "person", "in", "water")
    [r] = kb.apply_physics(csg).effects(EffectType.REFLECTION)
    assert r.params["surface"] == "water"


def test_reflection_through_a_support_chain_adds_hops() -> None:
    csg = scene(("ball", "ball"), ("cube", "cube"), ("tray", "tray"), ("mirror", "mirror"))
    place(csg, "ball", "on", "cube")
    place(csg, "cube", "on", "tray")
    place(csg, "tray", "on", "mirror")
    kb.apply_physics(csg)
    hops = {r.params["object"]: r.hop for r in csg.effects(EffectType.REFLECTION)}
    assert hops == {"tray": 2, "cube": 3, "ball": 4}
    assert all(r.params["surface"] == "mirror" for r in csg.effects(EffectType.REFLECTION))


def test_support_cycle_terminates() -> None:
    csg = scene(("a", "cube"), ("b", "cube"))
    csg.connect("a", "b", EdgeType.SUPPORTS)
    csg.connect("b", "a", EdgeType.SUPPORTS)
    kb.apply_physics(csg)
    assert len(csg.effects(EffectType.CONTACT)) == 2 and not csg.effects(EffectType.REFLECTION)


# --------------------------------------------------------------------------------------------
# shadow


def test_no_shadow_without_light() -> None:
    csg = scene(("ball", "ball"), ("table", "table"))
    place(csg, "ball", "on", "table")
    assert not kb.apply_physics(csg).effects(EffectType.SHADOW)


@pytest.mark.parametrize("light_side, shadow_side, hop", [
    ("left", "right", 1), ("right", "left", 1), ("top", "below", 1), (None, "below", 2)])
def test_shadow_opposite_the_light(light_side: str | None, shadow_side: str, hop: int) -> None:
    csg = scene(("ball", "ball"), ("table", "table"), ("sand", "sand"), ("light", "light", {"side": light_side}))
    place(csg, "ball", "on", "table")
    kb.apply_physics(csg)
    [s] = csg.effects(EffectType.SHADOW)  # the table and the sand are where shadows fall, not casters
    assert (s.id, s.hop, s.implied) == ("shadow_ball", hop, True)
    assert s.params == {"object": "ball", "light": "light", "side": shadow_side}
    assert csg.edge("ball", s.id).type == EdgeType.CASTS
    assert csg.edge("light", s.id).type == EdgeType.ILLUMINATES


def test_shadow_per_object_per_light() -> None:
    csg = scene(("ball", "ball"), ("bird", "bird"), ("zorblax", "zorblax", {"known": False}),
                ("light", "light", {"side": "left"}), ("light_2", "light", {"side": "right"}))
    kb.apply_physics(csg)
    got = {(s.params["object"], s.params["side"]) for s in csg.effects(EffectType.SHADOW)}
    assert got == {(o, side) for o in ("ball", "bird", "zorblax") for side in ("left", "right")}


# --------------------------------------------------------------------------------------------
# fill


def test_implied_fill_for_a_substance_in_a_container() -> None:
    csg = scene(("jar", "jar"), ("water", "water"), ("ball", "ball"), ("jar_2", "jar"))
    place(csg, "water", "in", "jar")
    place(csg, "ball", "in", "jar_2")  # an object in a jar is not a fill level
    kb.apply_physics(csg)
    [fill] = csg.effects(EffectType.FILL)
    assert (fill.id, fill.implied, fill.hop) == ("fill_jar", True, 1)
    assert fill.params == {"container": "jar", "substance": "water", "level": kb.DEFAULT_FILL_LEVEL,
                           "comparison": None}
    assert csg.edge("water", fill.id).type == EdgeType.CAUSES
    assert csg.edge("jar", fill.id).type == EdgeType.CONTAINS


def test_stated_fill_is_kept() -> None:
    csg = scene(("jar", "jar"), ("dirt", "dirt"))
    place(csg, "dirt", "in", "jar")
    kb.add_fill(csg, "jar", "dirt", 0.75, "more", stated=True)
    kb.apply_physics(csg)
    [fill] = csg.effects(EffectType.FILL)
    assert (fill.implied, fill.hop, fill.params["level"], fill.params["comparison"]) == (False, 0, 0.75, "more")


@pytest.mark.parametrize("level", [-0.1, 1.5])
def test_fill_level_bounds(level: float) -> None:
    csg = scene(("jar", "jar"), ("dirt", "dirt"))
    with pytest.raises(ValueError, match="fill level"):
        kb.add_fill(csg, "jar", "dirt", level)


# --------------------------------------------------------------------------------------------
# actions


@pytest.mark.parametrize("verb, larger, mouth", [
    ("eat", True, True), ("catch", False, True), ("bite", False, True), ("chase", False, False)])
def test_action_facts(verb: str, larger: bool, mouth: bool) -> None:
    csg = scene(("snake", "snake"), ("bird", "bird"))
    action = kb.add_action(csg, verb, "snake", "bird", words=[verb])
    kb.apply_physics(csg)
    assert action.params.get("agent_larger", False) is larger
    contacts = csg.effects(EffectType.CONTACT)
    assert bool(contacts) == mouth
    if mouth:
        [c] = contacts
        assert c.params == {"object": "bird", "support": "snake", "part": "mouth"}
        assert (c.implied, c.hop) == (True, 1)
        assert [p.id for p in csg.parents(c.id)] == [action.id]


def test_action_wiring() -> None:
    csg = scene(("snake", "snake"), ("bird", "bird"))
    action = kb.add_action(csg, "eat", "snake", "bird")
    assert (action.id, action.implied, action.hop) == ("action_eat", False, 0)
    assert csg.edge("snake", action.id).params == {"role": "agent"}
    assert csg.edge(action.id, "bird").params == {"role": "patient"}
    assert csg.edge("snake", "bird").type == EdgeType.ACTS_ON


# --------------------------------------------------------------------------------------------
# the whole knowledge base


def _rich_scene() -> CSG:
    csg = scene(("ball", "ball", {"colour": "red"}), ("mirror", "mirror", {"size": "small"}), ("jar", "jar"),
                ("dirt", "dirt"), ("bird", "bird"), ("snake", "snake"), ("light", "light", {"side": "left"}))
    place(csg, "ball", "on", "mirror")
    place(csg, "dirt", "in", "jar")
    kb.add_action(csg, "eat", "bird", "snake")
    return csg


def test_apply_physics_is_idempotent() -> None:
    csg = kb.apply_physics(_rich_scene())
    before = to_dict(csg)
    assert to_dict(kb.apply_physics(csg)) == before
    assert {e.type for e in csg.effects()} == set(EffectType)


def test_physics_output_round_trips_through_json() -> None:
    csg = kb.apply_physics(_rich_scene())
    assert to_dict(from_json(to_json(csg))) == to_dict(csg)
