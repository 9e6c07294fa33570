"""Templated natural prompts for the synthetic world, one family per PAP-style category.

A template only writes prompt *text* (several paraphrases, random colours, sizes, synonyms and an
optional light clause); the parser turns that text into the graph, and the split is decided on
the graph (see ``splits.py``). ``sample_prompt(split="train")`` is therefore the "any"
distribution conditioned on matching no held-out rule, and ``split="ood"`` the same distribution
conditioned on matching at least one.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Callable, Literal

from ..csg import vocab
from ..csg.parser import parse_prompt
from .splits import ood_rules

SplitRequest = Literal["train", "ood", "any"]
Meta = dict[str, Any]
Draw = Callable[[random.Random], tuple[dict[str, str], Meta]]

CATEGORIES: dict[str, tuple[str, ...]] = {
    "optics": ("reflection_mirror", "reflection_water", "shadow"),
    "mechanics": ("support", "contact", "stacking"),
    "quantity": ("fill_level", "more_less"),
    "agency": ("eat", "chase"),
    "spatial": ("left_right", "above_below", "near", "in_front_behind"),
}
_CATEGORY_OF = {sub: cat for cat, subs in CATEGORIES.items() for sub in subs}

# Rejection sampling gives up after this many draws (a category that cannot reach a split).
MAX_TRIES = 2000

OBJECTS = ("ball", "cube", "cup", "bottle", "lamp")
TOPPABLE = ("ball", "cube", "cup", "bottle")  # small things that sit on a cube or float on water
# Words for what fills a jar: the water synonyms (lake, sea, ...) name places, not a jarful.
SUBSTANCE_WORDS = {"dirt": ("dirt", "soil", "earth", "mud"), "sand": ("sand",), "water": ("water",)}
COLOURS = tuple(vocab.COLOURS)
SIZE_WORDS = {"small": ("small", "little", "tiny"), "large": ("large", "big", "huge")}
# Synonyms a prompt may use instead of the class name (single words, singular, unambiguous).
_SYNONYM_P = 0.2
_EXCLUDED_SYNONYMS = frozenset({"dice", "die", "people", "human", "looking glass", "light source", "lamplight"})

_LIGHT_PHRASES: dict[str, tuple[str, ...]] = {
    "left": ("with light from the left", "lit from the left", "the sun on the left", "light coming from the left"),
    "right": ("with light from the right", "lit from the right", "the sun on the right",
              "light coming from the right"),
    "top": ("lit from above", "with light from above", "the sun overhead"),
}


@dataclass(frozen=True)
class PromptSample:
    """One prompt with its PAP category and the slots that wrote it (stored by the PAP export)."""

    prompt: str
    category: str
    subcategory: str
    metadata: dict = field(default_factory=dict)


# -- phrase helpers -----------------------------------------------------------------------------

def _word(rng: random.Random, cls: str) -> str:
    synonyms = [s for s in vocab.CLASSES[cls].synonyms if s not in _EXCLUDED_SYNONYMS]
    return rng.choice(synonyms) if synonyms and rng.random() < _SYNONYM_P else cls


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _size_word(rng: random.Random, size: str) -> str:
    return rng.choice(SIZE_WORDS[size])


def _thing(rng: random.Random, classes: tuple[str, ...], colour_p: float = 0.8,
           size_p: float = 0.25) -> tuple[str, Meta]:
    """"a small red ball": a class from ``classes`` with an optional colour and size."""
    cls = rng.choice(classes)
    colour = rng.choice(COLOURS) if rng.random() < colour_p else None
    size = rng.choice(tuple(SIZE_WORDS)) if rng.random() < size_p else None
    words = [_size_word(rng, size) if size else None, colour, _word(rng, cls)]
    return _article(" ".join(w for w in words if w)), {"cls": cls, "colour": colour, "size": size}


def _objects(rng: random.Random, classes: tuple[str, ...], second_p: float = 0.25) -> tuple[str, Meta]:
    """One object, or with probability ``second_p`` two joined by "and" ("a red ball and a blue cup")."""
    text, obj = _thing(rng, classes)
    if rng.random() >= second_p:
        return text, {"obj": obj}
    second_text, second = _thing(rng, classes)
    return f"{text} and {second_text}", {"obj": obj, "second": second}


def _ground(rng: random.Random, cls: str) -> str:
    return "the " + _word(rng, cls)


def _light(rng: random.Random) -> tuple[str, str]:
    """A light clause and its side ("lit from the left", "left")."""
    side = rng.choice(vocab.SIDES)
    return rng.choice(_LIGHT_PHRASES[side]), side


# -- templates ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Template:
    """Paraphrases (``str.format`` forms) over the slots that ``draw`` picks.

    ``light`` is the probability of appending a light clause; a template whose draw already
    states the light sets it to 0.
    """

    id: str
    subcategory: str
    forms: tuple[str, ...]
    draw: Draw
    light: float = 0.3

    def sample(self, rng: random.Random, form: int | None = None) -> PromptSample:
        """A prompt from fresh slots; ``form`` picks the paraphrase (random when None)."""
        text_slots, meta = self.draw(rng)
        form = rng.randrange(len(self.forms)) if form is None else form
        prompt = self.forms[form].format(**text_slots)
        if rng.random() < self.light:
            clause, side = _light(rng)
            prompt, meta = f"{prompt}, {clause}", {**meta, "light": side}
        metadata = {"template": self.id, "form": form, "slots": meta}
        return PromptSample(prompt, _CATEGORY_OF[self.subcategory], self.subcategory, metadata)


def _draw_on_mirror(rng: random.Random) -> tuple[dict[str, str], Meta]:
    obj_text, objs = _objects(rng, OBJECTS)
    size = rng.choice(tuple(SIZE_WORDS))
    return {"obj": obj_text, "mirror": _article(f"{_size_word(rng, size)} mirror")}, {**objs, "mirror_size": size}


def _draw_on_water(rng: random.Random) -> tuple[dict[str, str], Meta]:
    obj_text, obj = _thing(rng, TOPPABLE)
    return {"obj": obj_text, "water": _ground(rng, "water")}, {"obj": obj}


def _draw_bird_over_water(rng: random.Random) -> tuple[dict[str, str], Meta]:
    bird_text, bird = _thing(rng, ("bird",), colour_p=0.5, size_p=0.0)
    return {"bird": bird_text, "water": _ground(rng, "water")}, {"obj": bird}


def _draw_shadow(rng: random.Random) -> tuple[dict[str, str], Meta]:
    obj_text, objs = _objects(rng, TOPPABLE)
    ground = rng.choice(("floor", "grass", "table"))
    where = _article(_word(rng, ground)) if ground == "table" else _ground(rng, ground)
    light, side = _light(rng)
    return {"obj": obj_text, "ground": where, "light": light}, {**objs, "ground": ground, "light": side}


def _draw_support(rng: random.Random) -> tuple[dict[str, str], Meta]:
    obj_text, objs = _objects(rng, OBJECTS)
    support = rng.choice(("table", "tray"))
    material = rng.choice(("wooden", "metal", None))
    words = " ".join(w for w in (material, _word(rng, support)) if w)
    return {"obj": obj_text, "support": _article(words)}, {**objs, "support": support, "material": material}


def _draw_contact(rng: random.Random) -> tuple[dict[str, str], Meta]:
    obj_text, objs = _objects(rng, OBJECTS)
    ground = rng.choice(("floor", "grass", "sand"))
    return {"obj": obj_text, "ground": _ground(rng, ground)}, {**objs, "ground": ground}


def _draw_stack(rng: random.Random) -> tuple[dict[str, str], Meta]:
    top_text, top = _thing(rng, TOPPABLE)
    base_text, base = _thing(rng, ("cube",))
    return {"top": top_text, "base": base_text}, {"top": top, "base": base}


def _draw_jar(rng: random.Random) -> tuple[dict[str, str], Meta]:
    """A jar (optionally coloured) and a substance; the level is in the template's words."""
    colour = rng.choice(COLOURS) if rng.random() < 0.4 else None
    jar = " ".join(w for w in (colour, _word(rng, "jar")) if w)
    sub = rng.choice(tuple(SUBSTANCE_WORDS))
    return ({"jar": jar, "a_jar": _article(jar), "sub": rng.choice(SUBSTANCE_WORDS[sub])},
            {"jar": {"cls": "jar", "colour": colour}, "substance": sub})


def _draw_fill(level_name: str, level: float) -> Draw:
    def draw(rng: random.Random) -> tuple[dict[str, str], Meta]:
        text, meta = _draw_jar(rng)
        return text, {**meta, "fill": level_name, "level": level}
    return draw


def _draw_more_less(rng: random.Random) -> tuple[dict[str, str], Meta]:
    text, meta = _draw_jar(rng)
    comparison = rng.choice(("more", "less"))
    level = 0.75 if comparison == "more" else 0.25
    return {**text, "cmp": comparison}, {**meta, "comparison": comparison, "level": level}


def _draw_roles(pairs: tuple[tuple[str, str], ...]) -> Draw:
    def draw(rng: random.Random) -> tuple[dict[str, str], Meta]:
        agent, patient = rng.choice(pairs)
        a_text, a = _thing(rng, (agent,), colour_p=0.4, size_p=0.0)
        p_text, p = _thing(rng, (patient,), colour_p=0.4, size_p=0.0)
        return {"agent": a_text, "patient": p_text}, {"agent": a, "patient": p}
    return draw


def _draw_spatial(classes: tuple[str, ...]) -> Draw:
    def draw(rng: random.Random) -> tuple[dict[str, str], Meta]:
        a_text, a = _thing(rng, classes)
        b_text, b = _thing(rng, classes)
        return {"a": a_text, "b": b_text}, {"a": a, "b": b}
    return draw


def _draw_beside_mirror(rng: random.Random) -> tuple[dict[str, str], Meta]:
    obj_text, obj = _thing(rng, OBJECTS)
    size = rng.choice(tuple(SIZE_WORDS))
    mirror = _article(f"{_size_word(rng, size)} mirror")
    return {"a": obj_text, "b": mirror}, {"a": obj, "b": {"cls": "mirror", "size": size}}


def _draw_person(grounds: tuple[str, ...], near_water: bool) -> Draw:
    """A person on sand or grass or in water; with ``near_water``, water beside them too."""
    def draw(rng: random.Random) -> tuple[dict[str, str], Meta]:
        ground = rng.choice(grounds)
        prep = "in" if ground == "water" else rng.choice(("on", "in"))
        person_text, person = _thing(rng, ("person",), colour_p=0.0, size_p=0.0)
        text = {"person": person_text, "where": f"{prep} {_ground(rng, ground)}"}
        if near_water:
            text["near"] = f"{rng.choice(('near', 'close to', 'next to'))} {_ground(rng, 'water')}"
        return text, {"person": person, "ground": ground, "near_water": near_water}
    return draw


_OBJ_ON = ("{obj} on {%s}", "{obj} resting on {%s}", "{obj} sitting on {%s}", "{obj} on top of {%s}",
           "{%s} with {obj} on it")

TEMPLATES: tuple[Template, ...] = (
    Template("mirror_on", "reflection_mirror", tuple(f % "mirror" for f in _OBJ_ON), _draw_on_mirror),
    Template("water_on", "reflection_water",
             ("{obj} floating on {water}", "{obj} on {water}", "{obj} floating in {water}"), _draw_on_water),
    Template("water_above", "reflection_water",
             ("{bird} above {water}", "{bird} hovering above {water}", "{bird} over {water}"),
             _draw_bird_over_water),
    Template("shadow_lit", "shadow",
             ("{obj} on {ground}, {light}", "{light}, {obj} on {ground}",
              "{obj} casting a shadow on {ground}, {light}"),
             _draw_shadow, light=0.0),
    Template("support_on", "support", tuple(f % "support" for f in _OBJ_ON), _draw_support),
    Template("contact_ground", "contact", ("{obj} lying on {ground}", "{obj} resting on {ground}", "{obj} on {ground}"),
             _draw_contact),
    Template("person_ground", "contact", ("{person} {where}", "{person} standing {where}"),
             _draw_person(("sand", "grass", "water"), near_water=False)),
    Template("stack_on", "stacking", ("{top} on top of {base}", "{top} resting on top of {base}", "{top} on {base}",
                                      "{top} placed on {base}"), _draw_stack),
    Template("fill_full", "fill_level", ("{a_jar} filled to the top with {sub}", "a full {jar} of {sub}",
                                         "{a_jar} full of {sub}"), _draw_fill("full", 0.95)),
    Template("fill_half", "fill_level", ("{a_jar} half full of {sub}", "a half full {jar} of {sub}"),
             _draw_fill("half", 0.5)),
    Template("fill_low", "fill_level", ("an almost empty {jar} of {sub}", "{a_jar} with a little {sub} in it",
                                        "{a_jar} with a little {sub}"), _draw_fill("low", 0.15)),
    Template("fill_compare", "more_less",
             ("there is {cmp} {sub} than empty space in the {jar}", "the {jar} holds {cmp} {sub} than empty space",
              "{a_jar} with {cmp} {sub} than empty space"), _draw_more_less),
    Template("eat", "eat",
             ("{agent} eats {patient}", "{agent} eating {patient}", "{agent} is eating {patient}",
              "{patient} is eaten by {agent}", "{patient} being eaten by {agent}"),
             _draw_roles((("snake", "bird"), ("bird", "snake")))),
    Template("chase", "chase",
             ("{agent} chases {patient}", "{agent} chasing {patient}", "{agent} is hunting {patient}",
              "{patient} is hunted by {agent}"),
             _draw_roles((("bird", "snake"), ("snake", "bird"), ("person", "bird"), ("person", "snake")))),
    Template("left_right", "left_right",
             ("{a} to the left of {b}", "{a} left of {b}", "{a} to the right of {b}", "{a} right of {b}"),
             _draw_spatial(OBJECTS + ("jar",))),
    Template("beside_mirror", "left_right", ("{a} to the left of {b}", "{a} to the right of {b}"),
             _draw_beside_mirror),
    Template("above_below", "above_below", ("{a} above {b}", "{a} below {b}", "{a} under {b}"),
             _draw_spatial(OBJECTS + ("jar",))),
    Template("near", "near", ("{a} near {b}", "{a} next to {b}", "{a} beside {b}", "{a} close to {b}"),
             _draw_spatial(OBJECTS + ("jar",))),
    Template("person_near_water", "near", ("{person} {where} {near}", "{person} is {near} and {where}",
                                           "{person} standing {where} {near}"),
             _draw_person(("sand", "grass"), near_water=True)),
    Template("front_behind", "in_front_behind", ("{a} in front of {b}", "{a} behind {b}"),
             _draw_spatial(OBJECTS + ("jar",))),
)


# -- sampling -----------------------------------------------------------------------------------

_BY_SUBCATEGORY: dict[str, tuple[Template, ...]] = {
    sub: tuple(t for t in TEMPLATES if t.subcategory == sub) for sub in _CATEGORY_OF
}


@lru_cache(maxsize=100_000)
def prompt_ood_rules(prompt: str) -> tuple[str, ...]:
    """The held-out rules the parsed prompt matches (cached: the trainer asks for the same texts often)."""
    return tuple(ood_rules(parse_prompt(prompt)))


def _subcategories(category: str | None) -> tuple[str, ...]:
    if category is None:
        return tuple(_CATEGORY_OF)
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; expected one of {sorted(CATEGORIES)}")
    return CATEGORIES[category]


def sample_prompt(rng: random.Random, split: SplitRequest = "any", category: str | None = None,
                  balanced: bool = False) -> PromptSample:
    """Draw a subcategory, a template, its slots and a paraphrase; keep it if it belongs to ``split``.

    Rejection sampling re-draws everything on a miss, so "train" and "ood" are the "any"
    distribution conditioned on the split. That thins out the subcategories a split carves most of
    ("eat": half its prompts are OOD); ``balanced`` keeps the subcategory drawn first and re-draws only
    the rest, so every subcategory is equally frequent in the split. ``metadata["ood_rules"]`` records
    the rules matched.
    """
    if split not in ("train", "ood", "any"):
        raise ValueError(f"split must be 'train', 'ood' or 'any', got {split!r}")
    subcategories = _subcategories(category)
    first = rng.choice(subcategories) if balanced else None  # drawn only when used: seeded streams stay as they were
    for _ in range(MAX_TRIES):
        template = rng.choice(_BY_SUBCATEGORY[first or rng.choice(subcategories)])
        sample = template.sample(rng)
        rules = prompt_ood_rules(sample.prompt)
        if split == "any" or (split == "ood") == bool(rules):
            return replace(sample, metadata={**sample.metadata, "ood_rules": list(rules)})
    raise RuntimeError(f"no {split!r} prompt in category {category!r} after {MAX_TRIES} draws")


# -- fixed evaluation lists ---------------------------------------------------------------------

# (prompt, subcategory). The first entries are the paper's showcase prompts.
_OOD_FIXED: tuple[tuple[str, str], ...] = (
    ("A red ball on a small mirror", "reflection_mirror"),
    ("a person is close to the water and in the sand", "near"),
    ("a bird eats a snake", "eat"),
    ("there is more dirt than empty space in the jar", "more_less"),
    ("a blue cube on a small mirror", "reflection_mirror"),
    ("a green cup resting on a tiny mirror", "reflection_mirror"),
    ("a yellow bottle on top of a small mirror", "reflection_mirror"),
    ("a white lamp on a little mirror, lit from the left", "reflection_mirror"),
    ("a snake is eaten by a bird", "eat"),
    ("a brown bird eating a green snake", "eat"),
    ("an eagle eats a snake on the grass", "eat"),
    ("a red cube on a table, lit from the right", "shadow"),
    ("a blue cube on the floor, the sun on the right", "shadow"),
    ("a small yellow cube on the grass, with light from the right", "shadow"),
    ("a green ball on top of a red cube, lit from the right", "stacking"),
    ("a jar filled to the top with sand", "fill_level"),
    ("a full jar of water", "fill_level"),
    ("a blue jar full of dirt", "fill_level"),
    ("the jar holds more water than empty space", "more_less"),
    ("there is more sand than empty space in the jar", "more_less"),
    ("a person on the sand near the water", "near"),
    ("a woman in the sand close to the lake", "near"),
    ("a man standing on the beach next to the sea", "near"),
    ("a person is near the water and on the sand", "near"),
)

_TRAIN_FIXED: tuple[tuple[str, str], ...] = (
    ("a red ball on a large mirror", "reflection_mirror"),
    ("a snake eats a bird", "eat"),
    ("there is less dirt than empty space in the jar", "more_less"),
    ("a person on the grass near the water", "near"),
    ("a person in the sand", "contact"),
    ("a person in the water", "contact"),
    ("a blue cube on a large mirror", "reflection_mirror"),
    ("a red ball to the left of a small mirror", "left_right"),
    ("a green cup to the right of a small mirror", "left_right"),
    ("a bird is eaten by a snake", "eat"),
    ("a green snake eating a brown bird", "eat"),
    ("a red cube on a table, lit from the left", "shadow"),
    ("a blue cube on the floor, lit from above", "shadow"),
    ("a red ball on a table, lit from the right", "shadow"),
    ("a yellow cup on the grass, the sun on the right", "shadow"),
    ("a jar half full of sand", "fill_level"),
    ("an almost empty jar of water", "fill_level"),
    ("a jar with a little dirt in it", "fill_level"),
    ("there is less sand than empty space in the jar", "more_less"),
    ("a red ball floating on the water", "reflection_water"),
    ("a bird hovering above the lake", "reflection_water"),
    ("a cup on a wooden table", "support"),
    ("a green ball on top of a red cube", "stacking"),
    ("a bird chases a snake", "chase"),
)


def _fixed(entries: tuple[tuple[str, str], ...], list_name: str) -> list[PromptSample]:
    return [
        PromptSample(prompt, _CATEGORY_OF[sub], sub,
                     {"template": list_name, "ood_rules": list(prompt_ood_rules(prompt))})
        for prompt, sub in entries
    ]


def ood_prompts() -> list[PromptSample]:
    """Held-out evaluation prompts: the paper's showcase prompts plus variants of every OOD rule."""
    return _fixed(_OOD_FIXED, "fixed_ood")


def train_prompts_examples() -> list[PromptSample]:
    """In-distribution counterparts of the OOD list (same scenes with the held-out factor flipped)."""
    return _fixed(_TRAIN_FIXED, "fixed_train")
