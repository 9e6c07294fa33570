"""The CSG data model and its JSON: round trips, typed queries, and errors that name the bad field."""
import json

import pytest

from lina_core.csg import CSG, CSGFormatError, EdgeType, Effect, EffectType, Entity, Region, from_dict, from_json, to_dict, to_json


def mirror_scene() -> CSG:
    g = CSG("a red ball on a small mirror")
    g.add(Entity("ball", "ball", colour="red", words=["red", "ball"], region=Region(0.4, 0.4, 0.6, 0.6)))
    g.add(Entity("mirror", "mirror", size="small", region=Region(0.35, 0.6, 0.65, 0.8)))
    g.add(Effect("reflection_ball", EffectType.REFLECTION, hop=2, params={"object": "ball", "surface": "mirror"}))
    g.add(Effect("contact_ball", "contact", params={"object": "ball", "support": "mirror"}))
    g.connect("mirror", "ball", EdgeType.SUPPORTS)
    g.connect("ball", "mirror", EdgeType.LOCATED_AT, relation="on")
    g.connect("ball", "reflection_ball", EdgeType.CAUSES)
    g.connect("mirror", "reflection_ball", EdgeType.REFLECTS)
    return g


def test_round_trip_is_lossless():
    g = mirror_scene()
    text = to_json(g)
    back = from_json(text)
    assert to_json(back) == text
    assert back.node("ball").region == Region(0.4, 0.4, 0.6, 0.6)
    assert back.node("reflection_ball").type is EffectType.REFLECTION
    assert back.relation("ball", "mirror") == "on"


def test_typed_queries():
    g = mirror_scene()
    assert [e.id for e in g.entities()] == ["ball", "mirror"]
    assert [e.id for e in g.effects(implied=True)] == ["reflection_ball", "contact_ball"]
    assert [e.id for e in g.effects("reflection")] == ["reflection_ball"]
    assert {n.id for n in g.parents("reflection_ball")} == {"ball", "mirror"}
    assert [n.id for n in g.parents("reflection_ball", EdgeType.REFLECTS)] == ["mirror"]
    assert [n.id for n in g.children("mirror", "supports")] == ["ball"]
    assert g.new_id("ball") == "ball_2" and g.new_id("cube") == "cube"
    assert "reflection (implied, hop 2)" in g.summary()


def test_building_errors():
    g = mirror_scene()
    with pytest.raises(ValueError, match="duplicate"):
        g.add(Entity("ball", "ball"))
    with pytest.raises(KeyError, match="nope"):
        g.connect("ball", "nope", EdgeType.CAUSES)
    with pytest.raises(ValueError, match="region"):
        Region(0.5, 0.1, 0.4, 0.2)
    with pytest.raises(ValueError):
        Effect("x", "explosion")


def test_region_geometry():
    a, b = Region(0.0, 0.0, 0.5, 0.5), Region(0.25, 0.25, 1.0, 1.0)
    assert a.intersection(b) == Region(0.25, 0.25, 0.5, 0.5)
    assert a.intersection(Region(0.6, 0.6, 0.9, 0.9)) is None
    assert b.contains(Region(0.3, 0.3, 0.4, 0.4)) and not a.contains(b)
    assert a.center == (0.25, 0.25)


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda d: d["nodes"][1]["region"].__setitem__("x1", 2), "nodes[1].region.x1"),
        (lambda d: d["nodes"][1]["region"].__setitem__("x1", 0.1), "nodes[1].region"),
        (lambda d: d["nodes"][2].__setitem__("type", "explosion"), "nodes[2].type"),
        (lambda d: d["nodes"][0].__setitem__("kind", "thing"), "nodes[0].kind"),
        (lambda d: d["nodes"][0].__setitem__("count", 0), "nodes[0].count"),
        (lambda d: d["nodes"][0].pop("cls"), "nodes[0]"),
        (lambda d: d["nodes"][0].__setitem__("colour", 5), "nodes[0].colour"),
        (lambda d: d["nodes"][1].__setitem__("id", "ball"), "nodes[1].id"),
        (lambda d: d["edges"][0].__setitem__("dst", "nope"), "edges[0].dst"),
        (lambda d: d["edges"][1]["params"].__setitem__("relation", "atop"), "edges[1].params.relation"),
        (lambda d: d["edges"][0].__setitem__("type", "pushes"), "edges[0].type"),
        (lambda d: d.__setitem__("version", "0.3"), "version"),
        (lambda d: d.pop("nodes"), "(root)"),
    ],
)
def test_malformed_json_names_the_field(edit, field):
    data = to_dict(mirror_scene())
    edit(data)
    with pytest.raises(CSGFormatError) as info:
        from_dict(json.loads(json.dumps(data)))
    assert info.value.field == field
    assert str(info.value).startswith(field)


def test_invalid_json_text():
    with pytest.raises(CSGFormatError, match="not valid JSON"):
        from_json("{bad")
