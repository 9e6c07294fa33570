"""Prompt templates and the train/OOD split: templates parse to the graph they describe, the
split rules are predicates on that graph, and no held-out composition reaches training."""
import random
from collections import Counter

import pytest

from lina_core.csg import CSG, EdgeType, Effect, EffectType, Entity
from lina_core.csg.parser import parse_prompt
from lina_core.world.prompts import (
    CATEGORIES, TEMPLATES, PromptSample, ood_prompts, sample_prompt, train_prompts_examples,
)
from lina_core.world.splits import OOD_RULES, ood_rules, split_of

DRAWS_PER_FORM = 12


def _slot_classes(meta: dict) -> set[str]:
    """Every class a template's slots name (objects, supports, grounds, substances)."""
    found: set[str] = set()
    for key, value in meta.items():
        if isinstance(value, dict):
            found |= _slot_classes(value)
        elif key == "cls" or (key in ("support", "ground", "substance") and isinstance(value, str)):
            found.add(value)
    return found


def _check_graph_matches_slots(sample: PromptSample) -> list[str]:
    """What the parsed graph gets wrong about the slots that wrote the prompt (empty = right)."""
    csg = parse_prompt(sample.prompt)
    slots = sample.metadata["slots"]
    problems = [f"unknown words {csg.unknown_words}"] if csg.unknown_words else []
    classes = {e.cls for e in csg.entities()}
    if missing := _slot_classes(slots) - classes:
        problems.append(f"missing classes {sorted(missing)} (got {sorted(classes)})")
    if "light" in slots and slots["light"] not in {e.side for e in csg.entities("light")}:
        problems.append(f"light side {slots['light']} not parsed")
    if "level" in slots:
        levels = [f.params.get("level") for f in csg.effects(EffectType.FILL)]
        if levels != [pytest.approx(slots["level"])]:
            problems.append(f"fill levels {levels}, expected {slots['level']}")
    if "agent" in slots:
        roles = [(csg.node(a.params["agent"]).cls, csg.node(a.params["patient"]).cls)
                 for a in csg.effects(EffectType.ACTION)]
        if roles != [(slots["agent"]["cls"], slots["patient"]["cls"])]:
            problems.append(f"actions {roles}, expected {slots['agent']['cls']} -> {slots['patient']['cls']}")
    return problems


def test_every_template_form_parses_to_the_graph_its_slots_describe():
    rng = random.Random(0)
    failures = []
    for template in TEMPLATES:
        for form in range(len(template.forms)):
            for _ in range(DRAWS_PER_FORM):
                sample = template.sample(rng, form)
                if problems := _check_graph_matches_slots(sample):
                    failures.append(f"{template.id}[{form}] {sample.prompt!r}: {'; '.join(problems)}")
    assert not failures, "\n".join(failures[:30])


@pytest.mark.parametrize("split", ["any", "train"])
def test_every_subcategory_is_reachable(split):
    rng = random.Random(1)
    for category, subcategories in CATEGORIES.items():
        seen = Counter(sample_prompt(rng, split, category).subcategory for _ in range(120))
        assert set(seen) == set(subcategories), (category, seen)
    assert {sample_prompt(rng, split).category for _ in range(200)} == set(CATEGORIES)


def test_train_samples_never_match_an_ood_rule():
    rng = random.Random(2)
    leaks = [s.prompt for s in (sample_prompt(rng, "train") for _ in range(2000))
             if ood_rules(parse_prompt(s.prompt))]
    assert leaks == []


def test_balanced_train_sampling_evens_out_the_subcategories_the_ood_split_thins():
    """Plain rejection sampling halves "eat" in the train split (half its prompts are OOD); balanced
    sampling draws every subcategory about equally often, and still never an OOD prompt."""
    n = 2800
    plain = Counter(sample_prompt(random.Random(4), "train").subcategory for _ in range(n))
    rng = random.Random(4)
    samples = [sample_prompt(rng, "train", balanced=True) for _ in range(n)]
    balanced = Counter(s.subcategory for s in samples)
    fair = n / len(balanced)
    assert plain["eat"] < 0.6 * fair
    assert all(0.8 * fair <= c <= 1.2 * fair for c in balanced.values()), balanced
    assert not [s.prompt for s in samples if ood_rules(parse_prompt(s.prompt))]


def test_ood_samples_always_match_a_rule_and_cover_every_rule():
    rng = random.Random(3)
    matched = Counter()
    for _ in range(400):
        sample = sample_prompt(rng, "ood")
        rules = ood_rules(parse_prompt(sample.prompt))
        assert rules, sample.prompt
        assert sample.metadata["ood_rules"] == rules
        matched.update(rules)
    assert set(matched) == set(OOD_RULES), matched


def test_sampling_is_deterministic_per_seed():
    def draw(seed):
        rng = random.Random(seed)
        return [(s.prompt, s.metadata) for s in (sample_prompt(rng, "train") for _ in range(50))]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


def test_fixed_lists_are_split_correctly_and_exercise_every_rule():
    ood, train = ood_prompts(), train_prompts_examples()
    assert 20 <= len(ood) <= 40 and 20 <= len(train) <= 40
    for sample in ood:
        assert ood_rules(parse_prompt(sample.prompt)), sample.prompt
    for sample in train:
        assert ood_rules(parse_prompt(sample.prompt)) == [], sample.prompt
    assert {rule for s in ood for rule in s.metadata["ood_rules"]} == set(OOD_RULES)
    for sample in ood + train:
        assert sample.subcategory in CATEGORIES[sample.category]
        assert parse_prompt(sample.prompt).unknown_words == [], sample.prompt


@pytest.mark.parametrize("prompt, rule", [
    ("A red ball on a small mirror", "reflection_on_small_mirror"),
    ("a person is close to the water and in the sand", "person_in_sand_near_water"),
    ("a bird eats a snake", "bird_eats_snake"),
    ("there is more dirt than empty space in the jar", "jar_high_fill"),
])
def test_paper_prompts_are_ood_for_the_right_reason(prompt, rule):
    assert ood_rules(parse_prompt(prompt)) == [rule]
    assert prompt in {s.prompt for s in ood_prompts()}


@pytest.mark.parametrize("prompt", [
    "a snake eats a bird", "a red ball on a large mirror", "there is less dirt than empty space in the jar",
    "a person on the grass near the water", "a person in the sand",
])
def test_paper_counterparts_are_train(prompt):
    assert split_of(parse_prompt(prompt)) == "train"
    assert prompt in {s.prompt for s in train_prompts_examples()}


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="category"):
        sample_prompt(random.Random(0), "train", "acoustics")
    with pytest.raises(ValueError, match="split"):
        sample_prompt(random.Random(0), "test")


# -- the rules on hand-built graphs (independent of the parser) ---------------------------------

def _reflection_scene(mirror_size):
    g = CSG()
    g.add(Entity("ball", "ball"))
    g.add(Entity("mirror", "mirror", size=mirror_size))
    g.add(Effect("reflection_ball", EffectType.REFLECTION, params={"object": "ball", "surface": "mirror"}))
    g.connect("ball", "reflection_ball", EdgeType.CAUSES)
    g.connect("mirror", "reflection_ball", EdgeType.REFLECTS)
    return g


def _eat_scene(agent, patient):
    g = CSG()
    g.add(Entity(agent, agent))
    g.add(Entity(patient, patient))
    g.add(Effect("action_eat", EffectType.ACTION, implied=False, hop=0,
                 params={"verb": "eat", "agent": agent, "patient": patient}))
    return g


def _lit_scene(obj, side):
    g = CSG()
    g.add(Entity(obj, obj))
    g.add(Entity("light", "light", side=side))
    return g


def _cube_shadow_scene(shadow_side):
    g = CSG()
    g.add(Entity("cube", "cube"))
    g.add(Entity("light", "light"))  # side not stated: only the shadow says where the light is
    g.add(Effect("shadow_cube", EffectType.SHADOW, params={"object": "cube", "light": "light", "side": shadow_side}))
    g.connect("cube", "shadow_cube", EdgeType.CASTS)
    g.connect("light", "shadow_cube", EdgeType.ILLUMINATES)
    return g


def _fill_scene(level):
    g = CSG()
    g.add(Entity("jar", "jar"))
    g.add(Entity("dirt", "dirt"))
    g.add(Effect("fill_jar", EffectType.FILL, params={"container": "jar", "substance": "dirt", "level": level}))
    return g


def _person_scene(ground, relation, water):
    g = CSG()
    g.add(Entity("person", "person"))
    g.add(Entity(ground, ground))
    g.connect("person", ground, EdgeType.LOCATED_AT, relation=relation)
    if water:
        g.add(Entity("water", "water"))
    return g


@pytest.mark.parametrize("graph, expected", [
    (_reflection_scene("small"), ["reflection_on_small_mirror"]),
    (_reflection_scene(None), []),
    (_reflection_scene("large"), []),
    (_eat_scene("bird", "snake"), ["bird_eats_snake"]),
    (_eat_scene("snake", "bird"), []),
    (_lit_scene("cube", "right"), ["shadow_light_right_on_cube"]),
    (_lit_scene("cube", "left"), []),
    (_lit_scene("ball", "right"), []),
    (_cube_shadow_scene("left"), ["shadow_light_right_on_cube"]),
    (_cube_shadow_scene("right"), []),
    (_fill_scene(0.75), ["jar_high_fill"]),
    (_fill_scene(0.5), []),
    (_person_scene("sand", "in", water=True), ["person_in_sand_near_water"]),
    (_person_scene("sand", "on", water=False), []),
    (_person_scene("grass", "on", water=True), []),
    (_person_scene("sand", "near", water=True), []),
])
def test_rules_on_hand_built_graphs(graph, expected):
    assert ood_rules(graph) == expected
    assert split_of(graph) == ("ood" if expected else "train")
