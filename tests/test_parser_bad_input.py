"""Bad and odd prompts: a clear PromptError or a graph with the unknown words reported; never a traceback."""
from __future__ import annotations

import random

import pytest

from lina_core.csg import from_json, to_dict, to_json
from lina_core.csg.parser import MAX_PROMPT_CHARS, PromptError, parse_prompt


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t  \r\n"])
def test_empty_prompt(prompt: str) -> None:
    with pytest.raises(PromptError, match="The prompt is empty: describe a scene, e.g. 'a red ball on a small mirror'"):
        parse_prompt(prompt)


def test_too_long_prompt_states_length_and_limit() -> None:
    prompt = ("a red ball on a small mirror " * 400)[:10_000]
    with pytest.raises(PromptError) as err:
        parse_prompt(prompt)
    assert "10000" in str(err.value) and str(MAX_PROMPT_CHARS) in str(err.value)


def test_limit_is_inclusive() -> None:
    base = "a red ball on a small mirror"
    assert MAX_PROMPT_CHARS == 500
    assert parse_prompt(base.ljust(MAX_PROMPT_CHARS)).entities()
    with pytest.raises(PromptError, match="501"):
        parse_prompt(base.ljust(MAX_PROMPT_CHARS + 1))


def test_not_a_string() -> None:
    with pytest.raises(PromptError, match="must be text"):
        parse_prompt(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("prompt, shown", [
    ("桌子上有一个红球", ["桌子上有一个红球"]),  # Chinese
    ("كرة حمراء على مرآة صغيرة", ["كرة", "حمراء", "مرآة"]),  # Arabic
    ("🔴 🪞 ✨", ["🔴", "🪞", "✨"]),  # emoji only
    ("asdkjh qwpoeiru zxmcnb", ["asdkjh", "qwpoeiru", "zxmcnb"]),  # gibberish
    ("una pelota roja", ["una", "pelota", "roja"]),  # another language in Latin script
])
def test_nothing_understood_lists_what_was_not(prompt: str, shown: list[str]) -> None:
    with pytest.raises(PromptError) as err:
        parse_prompt(prompt)
    msg = str(err.value)
    assert msg.startswith("No English words understood")
    assert all(f"'{w}'" in msg for w in shown)


def test_punctuation_only() -> None:
    with pytest.raises(PromptError, match="only punctuation"):
        parse_prompt("?!... ,;")


@pytest.mark.parametrize("prompt", ["on the left", "the and of", "is there"])
def test_understood_but_nothing_to_draw(prompt: str) -> None:
    with pytest.raises(PromptError, match="names nothing to draw"):
        parse_prompt(prompt)


def test_prompt_error_is_a_value_error() -> None:
    assert issubclass(PromptError, ValueError)


@pytest.mark.parametrize("mixed, unknown", [
    ("a red ball 🔴 on a small mirror 🪞", ["🔴", "🪞"]),
    ("a red ball 在桌子上 on a small mirror", ["在桌子上"]),
    ("a red ball on a small mirror, très joli", ["très", "joli"]),
])
def test_mixed_foreign_text_is_reported_and_the_rest_parsed(mixed: str, unknown: list[str]) -> None:
    plain = parse_prompt("a red ball on a small mirror")
    csg = parse_prompt(mixed)
    assert csg.summary() == plain.summary()  # same nodes, params and edges
    assert csg.unknown_words == unknown
    [note] = csg.notes
    assert all(w in note for w in unknown) and "red ball" in note and "small mirror" in note


def test_unknown_noun_becomes_generic_node() -> None:
    csg = parse_prompt("a red zorblax on a table")
    z = csg.node("zorblax")
    assert (z.cls, z.known, z.colour) == ("zorblax", False, "red")
    assert [c.params for c in csg.effects("contact")] == [{"object": "zorblax", "support": "table"}]
    assert csg.unknown_words == ["zorblax"]
    assert "Words not understood: 'zorblax'" in csg.notes[0] and "generic" in csg.notes[0]


def test_unknown_words_outside_entity_slots_make_no_nodes() -> None:
    csg = parse_prompt("a red ball on a mirror beautifully rendered")
    assert sorted(e.cls for e in csg.entities()) == ["ball", "mirror"]
    assert csg.unknown_words == ["beautifully", "rendered"]
    assert csg.notes and "reflection" in csg.notes[0]


def test_count_is_clipped_with_a_note() -> None:
    csg = parse_prompt("100 balls on a table")
    assert csg.node("ball").count == 20
    assert any("100" in n for n in csg.notes)


def test_negation_is_noted_not_silently_dropped() -> None:
    csg = parse_prompt("a ball not on a mirror")
    assert any("Negation" in n for n in csg.notes)


def test_fill_level_without_substance_is_noted() -> None:
    csg = parse_prompt("a half full jar on a table")
    assert not csg.effects("fill")
    assert any("fill level" in n for n in csg.notes)


_FRAGMENTS = ["a", "the", "red", "ball", "on", "mirror", "zorblax", "🔴", "桌子", ",", ".", "and", "eats", "by",
              "is", "more", "than", "in", "jar", "dirt", "light", "from", "left", "3", "two", "of", "with", "lit",
              "'s", "-", "?", "snake", "bird", "half", "full", "there", "above", "lamp", "right", "not", "\u200d"]


def test_random_fragment_soup_never_crashes() -> None:
    """Any mix of known, unknown and foreign fragments gives a valid graph or a PromptError."""
    rng = random.Random(0)
    parsed = 0
    for _ in range(400):
        prompt = " ".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(1, 14)))
        try:
            csg = parse_prompt(prompt)
        except PromptError as err:
            assert str(err)
            continue
        parsed += 1
        assert csg.entities()
        assert to_dict(from_json(to_json(csg))) == to_dict(csg)  # valid against the schema
    assert parsed > 100
