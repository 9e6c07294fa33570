"""The synthetic world's vocabulary: the one list that the parser, the renderer and the judge share.

Keeping it in one place means a word the parser understands is always a word the renderer can
draw and the judge can check; anything outside it becomes a generic ("unknown") node.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Category(str, Enum):
    """What role a class plays in a scene; drives the physics rules and the layout."""

    OBJECT = "object"  # small rigid things that rest on supports
    SUPPORT = "support"  # things objects rest on (table, tray, mirror)
    CONTAINER = "container"  # holds a substance up to a fill level
    SURFACE = "surface"  # ground-like regions (sand, grass, water, floor)
    SUBSTANCE = "substance"  # fills containers (dirt, water, sand)
    ANIMAL = "animal"  # can act on others (eat, chase)
    PERSON = "person"
    LIGHT = "light"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ClassInfo:
    name: str
    category: Category
    reflective: bool = False  # mirrors and water reflect what is on or above them
    synonyms: tuple[str, ...] = ()


CLASSES: dict[str, ClassInfo] = {
    c.name: c
    for c in [
        ClassInfo("ball", Category.OBJECT, synonyms=("sphere", "orb", "marble")),
        ClassInfo("cube", Category.OBJECT, synonyms=("block", "box", "dice", "die")),
        ClassInfo("cup", Category.OBJECT, synonyms=("mug", "teacup")),
        ClassInfo("bottle", Category.OBJECT, synonyms=("flask",)),
        ClassInfo("lamp", Category.OBJECT, synonyms=("lantern",)),
        ClassInfo("jar", Category.CONTAINER, synonyms=("pot", "vase", "container", "beaker", "bucket", "bowl", "jug")),
        ClassInfo("table", Category.SUPPORT, synonyms=("desk", "bench", "shelf")),
        ClassInfo("tray", Category.SUPPORT, synonyms=("plate", "platter")),
        ClassInfo("mirror", Category.SUPPORT, reflective=True, synonyms=("looking glass",)),
        ClassInfo("floor", Category.SURFACE, synonyms=("ground",)),
        ClassInfo("grass", Category.SURFACE, synonyms=("lawn", "meadow")),
        ClassInfo("sand", Category.SURFACE, synonyms=("beach",)),
        ClassInfo("water", Category.SURFACE, reflective=True,
                  synonyms=("lake", "pond", "sea", "river", "pool", "ocean", "puddle", "stream")),
        ClassInfo("dirt", Category.SUBSTANCE, synonyms=("soil", "earth", "mud", "compost")),
        ClassInfo("bird", Category.ANIMAL,
                  synonyms=("sparrow", "eagle", "hawk", "crow", "robin", "owl", "pigeon", "parrot")),
        ClassInfo("snake", Category.ANIMAL, synonyms=("serpent", "viper", "python", "cobra", "rattlesnake", "adder")),
        ClassInfo("person", Category.PERSON, synonyms=(
            "man", "woman", "child", "boy", "girl", "people", "human", "kid", "lady", "guy", "adult")),
        ClassInfo("light", Category.LIGHT, synonyms=("sun", "sunlight", "lamplight", "spotlight", "light source")),
    ]
}

# Surfaces that can also be poured into a container ("a jar of sand", "water in the jar").
FILLABLE = frozenset({"dirt", "sand", "water"})

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 210, 40),
    "orange": (245, 140, 30),
    "purple": (140, 60, 190),
    "pink": (240, 120, 180),
    "white": (245, 245, 245),
    "black": (25, 25, 25),
    "gray": (130, 130, 130),
    "brown": (130, 85, 45),
    "cyan": (40, 200, 210),
}
COLOUR_SYNONYMS: dict[str, str] = {
    "grey": "gray", "violet": "purple", "crimson": "red", "scarlet": "red", "navy": "blue", "azure": "blue",
    "lime": "green", "magenta": "pink", "turquoise": "cyan", "teal": "cyan", "gold": "yellow", "golden": "yellow",
    "silver": "gray",
}

SIZES: dict[str, str] = {
    "small": "small", "little": "small", "tiny": "small", "mini": "small",
    "large": "large", "big": "large", "huge": "large", "giant": "large", "tall": "large",
}
MATERIALS: tuple[str, ...] = ("glass", "metal", "wooden", "plastic", "rubber", "stone", "ceramic")
MATERIAL_SYNONYMS: dict[str, str] = {
    "wood": "wooden", "metallic": "metal", "steel": "metal", "iron": "metal", "porcelain": "ceramic",
}

SIDES: tuple[str, ...] = ("left", "right", "top")


def canonical_class(word: str) -> str | None:
    """Class name for a (singular, lower-case) word or multi-word phrase, or None if unknown."""
    if word in CLASSES:
        return word
    for info in CLASSES.values():
        if word in info.synonyms:
            return info.name
    return None


def canonical_colour(word: str) -> str | None:
    word = COLOUR_SYNONYMS.get(word, word)
    return word if word in COLOURS else None


def canonical_material(word: str) -> str | None:
    word = MATERIAL_SYNONYMS.get(word, word)
    return word if word in MATERIALS else None


def category(cls: str) -> Category:
    info = CLASSES.get(cls)
    return info.category if info else Category.UNKNOWN


def is_reflective(cls: str) -> bool:
    info = CLASSES.get(cls)
    return bool(info and info.reflective)
