"""The paper's scenes built by hand with the CSG API, following the shared graph conventions.

Layout and drawing tests use these instead of the parser so that they test one module each.
"""
from __future__ import annotations

from lina_core.csg import CSG, EdgeType, Effect, EffectType, Entity


def _rest_on(g: CSG, obj: str, support: str) -> None:
    """``obj`` on ``support``: support edge, relation edge and the implied contact effect."""
    g.connect(support, obj, EdgeType.SUPPORTS)
    g.connect(obj, support, EdgeType.LOCATED_AT, relation="on")
    g.add(Effect(f"contact_{obj}", EffectType.CONTACT, hop=1, params={"object": obj, "support": support}))
    g.connect(obj, f"contact_{obj}", EdgeType.CAUSES)
    g.connect(support, f"contact_{obj}", EdgeType.SUPPORTS)


def _reflect(g: CSG, obj: str, surface: str) -> None:
    g.add(Effect(f"reflection_{obj}", EffectType.REFLECTION, hop=2, params={"object": obj, "surface": surface}))
    g.connect(obj, f"reflection_{obj}", EdgeType.CAUSES)
    g.connect(surface, f"reflection_{obj}", EdgeType.REFLECTS)


def _shadow(g: CSG, obj: str, light: str) -> None:
    side = {"left": "right", "right": "left", "top": "below"}[g.node(light).side]
    g.add(Effect(f"shadow_{obj}", EffectType.SHADOW, hop=1, params={"object": obj, "light": light, "side": side}))
    g.connect(obj, f"shadow_{obj}", EdgeType.CASTS)
    g.connect(light, f"shadow_{obj}", EdgeType.ILLUMINATES)


def ball_on_mirror(size: str | None = "small", light: str | None = None) -> CSG:
    g = CSG(f"a red ball on a {size + ' ' if size else ''}mirror" + (f" with light from the {light}" if light else ""))
    g.add(Entity("ball", "ball", colour="red", words=["red", "ball"]))
    g.add(Entity("mirror", "mirror", size=size, words=[w for w in (size, "mirror") if w]))
    _rest_on(g, "ball", "mirror")
    _reflect(g, "ball", "mirror")
    if light:
        g.add(Entity("light", "light", side=light, words=["light"]))
        _shadow(g, "ball", "light")
    return g


def person_sand_water() -> CSG:
    g = CSG("a person close to the water and in the sand")
    g.add(Entity("person", "person", words=["person"]))
    g.add(Entity("water", "water", words=["water"]))
    g.add(Entity("sand", "sand", words=["sand"]))
    g.connect("person", "water", EdgeType.LOCATED_AT, relation="near")
    g.connect("person", "sand", EdgeType.LOCATED_AT, relation="in")
    g.connect("sand", "person", EdgeType.SUPPORTS)
    g.add(Effect("contact_person", EffectType.CONTACT, hop=1, params={"object": "person", "support": "sand"}))
    g.connect("person", "contact_person", EdgeType.CAUSES)
    g.connect("sand", "contact_person", EdgeType.SUPPORTS)
    _reflect(g, "person", "water")
    return g


def eats(agent: str, patient: str) -> CSG:
    g = CSG(f"a {agent} eats a {patient}")
    g.add(Entity(agent, agent, words=[agent]))
    g.add(Entity(patient, patient, words=[patient]))
    g.connect(agent, patient, EdgeType.ACTS_ON, verb="eat")
    g.add(Effect("action_eat", EffectType.ACTION, implied=False, hop=0,
                 params={"verb": "eat", "agent": agent, "patient": patient, "agent_larger": True}, words=["eats"]))
    g.connect(agent, "action_eat", EdgeType.CAUSES, role="agent")
    g.connect("action_eat", patient, EdgeType.ACTS_ON, role="patient")
    g.add(Effect(f"contact_{patient}", EffectType.CONTACT, hop=1,
                 params={"object": patient, "support": agent, "part": "mouth"}))
    g.connect("action_eat", f"contact_{patient}", EdgeType.CAUSES)
    return g


def dirt_in_jar(level: float = 0.75, comparison: str | None = "more") -> CSG:
    g = CSG("there is more dirt than empty space in the jar")
    g.add(Entity("jar", "jar", words=["jar"]))
    g.add(Entity("dirt", "dirt", words=["dirt"]))
    g.connect("jar", "dirt", EdgeType.CONTAINS)
    g.connect("dirt", "jar", EdgeType.LOCATED_AT, relation="in")
    g.add(Effect("fill_jar", EffectType.FILL, implied=False, hop=0, words=["more", "than", "empty", "space"],
                 params={"container": "jar", "substance": "dirt", "level": level, "comparison": comparison}))
    g.connect("dirt", "fill_jar", EdgeType.CAUSES)
    g.connect("jar", "fill_jar", EdgeType.CONTAINS)
    return g


def cup_on_table(light: str = "left") -> CSG:
    g = CSG(f"a blue cup on a table with light from the {light}")
    g.add(Entity("cup", "cup", colour="blue", words=["blue", "cup"]))
    g.add(Entity("table", "table", words=["table"]))
    g.add(Entity("light", "light", side=light, words=["light"]))
    _rest_on(g, "cup", "table")
    _shadow(g, "cup", "light")
    return g


def two_balls(relation: str = "left_of") -> CSG:
    """Two distinct balls related by ``relation`` (left_of, right_of, near, next_to, above ...)."""
    g = CSG(f"a red ball {relation.replace('_', ' ')} a green ball")
    g.add(Entity("ball", "ball", colour="red", words=["red", "ball"]))
    g.add(Entity("ball_2", "ball", colour="green", words=["green", "ball"]))
    g.connect("ball", "ball_2", EdgeType.LOCATED_AT, relation=relation)
    return g


def ball_pair() -> CSG:
    g = CSG("two yellow balls side by side")
    g.add(Entity("ball", "ball", colour="yellow", count=2, words=["two", "yellow", "balls"]))
    return g


def unknown_thing() -> CSG:
    g = CSG("a zorblax next to a cube")
    g.add(Entity("zorblax", "zorblax", known=False, words=["zorblax"]))
    g.add(Entity("cube", "cube", words=["cube"]))
    g.connect("zorblax", "cube", EdgeType.LOCATED_AT, relation="next_to")
    g.unknown_words.append("zorblax")
    return g


def all_scenes() -> dict[str, CSG]:
    return {
        "small_mirror": ball_on_mirror("small"), "large_mirror": ball_on_mirror("large"),
        "mirror_light": ball_on_mirror("small", light="left"), "person": person_sand_water(),
        "bird_eats_snake": eats("bird", "snake"), "snake_eats_bird": eats("snake", "bird"),
        "jar": dirt_in_jar(), "cup_table": cup_on_table(), "cup_table_right": cup_on_table("right"),
        "cup_table_top": cup_on_table("top"), "two_balls": two_balls(), "near": two_balls("near"),
        "above": two_balls("above"), "behind": two_balls("behind"), "pair": ball_pair(), "unknown": unknown_thing(),
    }
