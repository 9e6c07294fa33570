"""The judge scores renders against their graphs: correct renders pass, counterfactual ones fail the right node."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from lina_core.csg import Region
from lina_core.csg.layout import assign_layout
from lina_core.csg.parser import parse_prompt
import lina_core.world.judge as J
from lina_core.world.judge import Verdict, as_array, judge
from lina_core.world.prompts import ood_prompts, train_prompts_examples
from lina_core.world.render import render

_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "validate_judge.py"
_spec = importlib.util.spec_from_file_location("validate_judge", _SCRIPT)
vj = sys.modules.setdefault("validate_judge", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(vj)


MODES = vj.MODES  # "matched": judged against its own layout; "jitter": training jitter vs the canonical layout


@pytest.fixture(scope="module")
def fixed_scenes() -> dict[str, list]:
    """The 48 fixed train/OOD prompts, one seed each, in both layout modes (about 250 images each)."""
    prompts = [p.prompt for p in ood_prompts() + train_prompts_examples()]
    return {mode: [vj.scene(p, seed, mode) for seed, p in enumerate(prompts)] for mode in MODES}


@pytest.fixture(scope="module")
def tallies(fixed_scenes) -> dict[str, tuple]:
    return {mode: vj.validate(scenes, seed=0) for mode, scenes in fixed_scenes.items()}


def _case(prompt: str, seed: int, kind: str, mode: str = "matched", target: str | None = None) -> "vj.Case":
    return next(c for c in vj.cases(vj.scene(prompt, seed, mode)) if c.kind == kind and target in (None, c.target))


@pytest.mark.parametrize("mode", MODES)
def test_correct_renders_pass(tallies, mode: str) -> None:
    """Pooled over every node check; the per-type mean is reported by the script (one white lamp on a
    pale wall is a whole node type in this small sample)."""
    clean, noisy, _ = tallies[mode]
    assert clean.node_rate() >= 0.95, vj.table({"clean": clean})
    assert noisy.node_rate() >= 0.9, vj.table({"noisy": noisy})
    assert_few_abstentions(clean)


def assert_few_abstentions(t: "vj.Tally") -> None:
    """Checks the judge calls not judgeable are left out of the rates: they must stay rare."""
    checks = sum(n for _, n in t.node_pass.values())
    targets = sum(n for _, n in t.caught.values())
    assert sum(t.abstained.values()) <= 0.05 * checks, t.abstained
    assert sum(t.abstained_targets.values()) <= 0.08 * targets, t.abstained_targets


@pytest.mark.parametrize("mode", MODES)
def test_counterfactuals_fail_the_right_node(tallies, mode: str) -> None:
    clean, noisy, _ = tallies[mode]
    for kind in ("removed", "unclipped", "side", "swapped", "level", "floating", "colour"):
        assert clean.caught[kind][1] > 0, f"no {kind} counterfactual was built"
    assert clean.catch_rate() >= 0.95, vj.table({"clean": clean})
    assert noisy.catch_rate() >= 0.9, vj.table({"noisy": noisy})


@pytest.mark.parametrize("mode", MODES)
def test_at_the_tiny_models_resolution_the_judge_is_less_sure_but_still_right_mostly(mode: str) -> None:
    """The tiny model draws 32x32 pictures, enlarged for the judge. The world's own renders at that size, in
    both layouts (jittered ones judged against the canonical layout, as the model's samples are): measured
    0.962 / 0.978 of node checks passed and 0.973 / 0.965 of counterfactuals caught on the fixed lists (matched /
    jitter; 64x64 gives 0.97 / 0.97). Enlarged bilinearly rather than in pixel blocks, matched renders passed
    0.934. This guards the level that the README's "world" rows (the ceiling under this judge) rest on."""
    prompts = [p.prompt for p in ood_prompts() + train_prompts_examples()]
    clean, _, _ = vj.validate([vj.scene(p, seed, mode, size=32) for seed, p in enumerate(prompts)], seed=0)
    assert clean.node_rate() >= 0.95, vj.table({"clean": clean})
    assert clean.catch_rate() >= 0.95, vj.table({"clean": clean})
    assert clean.caught["unclipped"][1] > 0, "no small-mirror counterfactual at 32x32"


@pytest.mark.slow
def test_random_sample_targets() -> None:
    """The script's random sample (50 train + 50 OOD prompts and the fixed lists, seed 0; minutes). Measured
    0.970 / 0.973 correct and 0.983 / 0.971 caught clean (matched / jitter), 0.92-0.94 degraded: asserted a
    little below as a guard against regressions, with the checks called not judgeable kept rare."""
    for mode in MODES:
        clean, noisy, _ = vj.validate(vj.scenes(50, 0, mode), seed=0)
        assert clean.node_rate() >= 0.96 and noisy.node_rate() >= 0.91, vj.table({"clean": clean, "noisy": noisy})
        assert clean.catch_rate() >= 0.96 and noisy.catch_rate() >= 0.93, vj.table({"clean": clean, "noisy": noisy})
        assert sum(clean.dropped.values()) <= 0.05 * sum(n for _, n in clean.caught.values()), clean.dropped
        assert_few_abstentions(clean)


def test_meaningless_images_score_nothing(fixed_scenes) -> None:
    """Pixel noise (an untrained model's output) and a blank image show no object and no effect."""
    scores = vj.null_scores([s.judged for s in fixed_scenes["jitter"][:12]])
    for name in ("uniform noise", "gaussian noise", "blank"):
        texture, physical = scores[name]
        assert texture <= 0.1 and physical <= 0.1, (name, texture, physical)


def test_mirrored_layout_is_found() -> None:
    """A jittered layout that puts the patient on the other side of the agent (the agent faces the
    other way) still passes the action and the bite, judged against the canonical layout."""
    canon = vj.scene("a bird eats a snake", 0, "jitter").judged
    side = np.sign(canon.node("snake").region.center[0] - canon.node("bird").region.center[0])
    seed = next(s for s in range(200) if np.sign(
        (g := vj.scene("a bird eats a snake", s, "jitter").csg).node("snake").region.center[0]
        - g.node("bird").region.center[0]) != side)
    case = _case("a bird eats a snake", seed, "correct", "jitter")
    nodes = judge(case.image, case.csg).by_id()
    assert nodes["action_eat"].passed and nodes["contact_snake"].passed and nodes["bird"].passed


@pytest.mark.parametrize("kind, target, reason", [
    ("correct", "reflection_ball", "reflection of the ball inside the mirror"),
    ("removed", "reflection_ball", "no reflection"),
    ("unclipped", "reflection_ball", "beyond the mirror"),
    ("floating", "contact_ball", "floats"),
    ("colour", "ball", "not red"),
])
def test_small_mirror_showcase(kind: str, target: str, reason: str) -> None:
    """The paper's first failure: the reflection must stay inside the small mirror."""
    case = _case("A red ball on a small mirror", 0, kind)
    node = judge(case.image, case.csg).by_id()[target]
    assert node.passed == (kind == "correct")
    assert reason in node.reason


def test_unclipped_reflection_on_a_tiny_mirror_is_caught() -> None:
    """A tiny mirror drawn big enough for the whole reflection changes only a few columns past the graph's
    mirror: the judge must still see the reflection spill."""
    case = _case("a green cup resting on a tiny mirror", 0, "unclipped")
    node = judge(case.image, case.csg).by_id()["reflection_cup"]
    assert not node.passed and "beyond the mirror" in node.reason


def test_a_reflection_with_no_room_in_the_mirror_as_drawn_fails_instead_of_going_unjudged() -> None:
    """A model sample (the searched oracle's, which passed through this gap): a large mirror under a cube drawn as
    a column down to it, so the flipped cube lands on 2 px of glass. Too little to judge used to mean left out of
    the score; where the graph's mirror holds many pixels of the reflection, it is a failure to draw it."""
    from PIL import Image

    from lina_core.evaluation.run import at_judge_size, canonical_graph

    image = Image.open(Path(__file__).parent / "data" / "cube_over_a_large_mirror_for_a_small_one.png")
    node = judge(at_judge_size(image.convert("RGB")), canonical_graph("a blue cube on a small mirror")).by_id()
    assert node["reflection_cube"].judged and not node["reflection_cube"].passed
    assert node["reflection_cube"].reason.startswith("no room for the cube's reflection in the mirror as drawn")
    correct = _case("a blue cube on a small mirror", 0, "correct")
    assert judge(correct.image, correct.csg).by_id()["reflection_cube"].passed


@pytest.mark.parametrize("prompt, seed, target, drawn", [
    ("a white bird eats a snake", 0, "bird", "black"),  # its gray outline alone once passed as white
    ("a gray bottle on a table", 10, "bottle", "red"),  # its dark neck alone once passed as gray
    ("a white lamp behind a red bottle, the sun on the right", 1, "lamp", "black"),
])
def test_a_thing_drawn_in_another_colour_fails_its_colour(prompt: str, seed: int, target: str, drawn: str) -> None:
    """A thing of another colour may still show a few pixels near the stated one (an outline, a shaded face):
    when its own pixels are mostly in a colour the stated one never shades to, it is that colour."""
    right = _case(prompt, seed, "correct")
    assert judge(right.image, right.csg).by_id()[target].passed
    wrong = _case(prompt, seed, "colour", target=target)
    node = judge(wrong.image, wrong.csg).by_id()[target]
    assert not node.passed and f"is {drawn}, not" in node.reason, node.reason


def test_a_pale_wall_by_the_light_is_not_a_white_thing() -> None:
    """The light's side of a pale wall clips at white: the background there must not be taken for a white lamp
    (the black lamp drawn instead is no white lamp either)."""
    case = _case("a white lamp behind a red bottle, the sun on the right", 0, "colour", target="lamp")
    assert not judge(case.image, case.csg).by_id()["lamp"].passed


@pytest.mark.parametrize("seed", [2, 3])
def test_a_small_mirrors_frame_is_no_reflection(seed: int) -> None:
    """Only the glass reflects: with the reflection removed, the frame's dark edge must not pass for one."""
    right = _case("a yellow bottle on top of a small mirror", seed, "correct")
    assert judge(right.image, right.csg).by_id()["reflection_bottle"].passed
    case = _case("a yellow bottle on top of a small mirror", seed, "removed", target="reflection_bottle")
    assert not judge(case.image, case.csg).by_id()["reflection_bottle"].passed


def test_side_light_is_not_a_shadow() -> None:
    """A light from one side darkens the far side of the whole image: with the shadow removed, that gradient
    alone must not pass for a shadow."""
    case = _case("a jar full of sand, light coming from the left", 0, "removed", target="shadow_jar")
    assert not judge(case.image, case.csg).by_id()["shadow_jar"].passed


def test_shadow_side_is_named() -> None:
    case = _case("a red ball on a table, lit from the right", 0, "side")
    node = judge(case.image, case.csg).by_id()["shadow_ball"]
    assert not node.passed and node.reason == "shadow on the right, expected left"


def test_a_neighbours_shadow_is_no_evidence_either_way() -> None:
    """Two cups side by side, lit from the right: the right cup's shadow falls beside the left one, where the
    left cup's shadow would be if the light were on the other side; the left cup's shadow still passes."""
    case = _case("a cup right of a pink cup, with light from the right", 0, "correct")
    nodes = judge(case.image, case.csg).by_id()
    assert nodes["shadow_cup"].passed and nodes["shadow_cup_2"].passed, (nodes["shadow_cup"], nodes["shadow_cup_2"])


def test_a_shadow_no_image_could_show_is_left_out_of_the_score() -> None:
    """A ball on a cube of its width casts its shadow on the cube's thin top and edge: the judge says it cannot
    judge it, so drawing that shadow or not cannot change the score; the cube's own shadow is still judged."""
    verdicts = {}
    for kind in ("correct", "removed"):
        case = _case("a green ball on top of a red cube, lit from the right", 0, kind,
                     target=None if kind == "correct" else "shadow_ball")
        verdicts[kind] = v = judge(case.image, case.csg)
        node = v.by_id()["shadow_ball"]
        assert not node.judged and node.verdict is None and "not judgeable" in node.reason
        assert v.by_id()["shadow_cube"].judged
    assert verdicts["correct"].physical == verdicts["removed"].physical == 1.0


@pytest.mark.parametrize("light, side", [("from above", "below it"), ("from the right", "on the left")])
def test_a_shadow_at_the_image_edge(light: str, side: str) -> None:
    """A ball moved to the left edge: the shadow's parts are clipped to the image (a part past the edge is
    empty, not the whole row), and the shadow drawn there is still seen."""
    g = assign_layout(parse_prompt(f"a red ball on the floor, lit {light}"), seed=0, jitter=0.0)
    ball, shadow = g.node("ball"), g.node("shadow_ball")
    dx = -ball.region.x0
    ball.region = Region(0.0, ball.region.y0, ball.region.x1 + dx, ball.region.y1)
    r = shadow.region
    shadow.region = Region(max(r.x0 + dx, 0.0), r.y0, max(r.x1 + dx, 0.02), r.y1)
    image = render(g, size=64, seed=0).image
    node = judge(image, g).by_id()["shadow_ball"]
    assert node.passed and node.judged and node.reason == f"shadow of the ball {side}", node
    v = J._view(image, g)
    found = J._present(v, ball)
    reach = found.box[2] + 1.1 * max(found.height, ball.region.height * 64)
    for part, boxes in J._cast(v, ball, found, J._rest(v, ball, shadow)).items():
        assert all(0 <= c.start <= c.stop <= reach for _, c in boxes), (part, boxes)


def test_fill_level_is_estimated() -> None:
    good = _case("there is more dirt than empty space in the jar", 2, "correct")
    wrong = _case("there is more dirt than empty space in the jar", 2, "level")  # drawn at 0.15
    ok, bad = judge(good.image, good.csg).by_id()["fill_jar"], judge(wrong.image, wrong.csg).by_id()["fill_jar"]
    assert ok.passed and "expected 0.75" in ok.reason
    assert not bad.passed and "expected 0.75" in bad.reason
    assert float(bad.reason.split("filled to ")[1].split(",")[0]) < 0.35


def test_swapped_roles_fail_the_action() -> None:
    good = _case("a bird eats a snake", 3, "correct")
    swapped = _case("a bird eats a snake", 3, "swapped")
    assert judge(good.image, good.csg).by_id()["action_eat"].passed
    node = judge(swapped.image, swapped.csg).by_id()["action_eat"]
    assert not node.passed and "roles look swapped" in node.reason


def test_input_formats_agree() -> None:
    case = _case("a green ball on top of a red cube, lit from the right", 0, "correct")
    hwc = np.asarray(case.image, np.float32) / 255.0
    verdicts = [judge(x, case.csg) for x in (case.image, hwc, hwc.transpose(2, 0, 1), np.asarray(case.image))]
    assert len({tuple((n.node_id, n.passed) for n in v.nodes) for v in verdicts}) == 1
    assert as_array(hwc.transpose(2, 0, 1)).shape == (64, 64, 3)


def test_verdict_scores_and_summary() -> None:
    case = _case("a red cube on a table, lit from the right", 5, "removed")
    v = judge(case.image, case.csg)
    assert isinstance(v, Verdict) and all(0.0 <= n.score <= 1.0 for n in v.nodes)
    assert all(type(n.passed) is bool and type(n.score) is float for n in v.nodes)
    assert type(v.passed) is bool and type(v.physical) is float and type(v.texture) is float
    assert json.loads(json.dumps(v.as_dict()))["nodes"][0]["node_id"] == v.nodes[0].node_id
    ents = [n for n in v.nodes if n.kind == "entity"]
    phys = [n for n in v.nodes if n.kind != "entity"]
    assert v.texture == pytest.approx(sum(n.passed for n in ents) / len(ents))
    assert v.physical == pytest.approx(sum(n.passed for n in phys) / len(phys))
    assert v.passed == all(n.passed for n in v.nodes)
    d = v.as_dict()
    assert set(d) == {"physical", "texture", "passed", "nodes"} and len(d["nodes"]) == len(v.nodes)


def test_needs_a_laid_out_graph() -> None:
    with pytest.raises(ValueError, match="assign_layout"):
        judge(np.zeros((64, 64, 3), np.float32), parse_prompt("a red ball on a small mirror"))


def test_blank_image_fails_everything_drawn() -> None:
    """Nothing drawn: no entity is found and no effect passes (the judge reads the image, not the graph)."""
    case = _case("a red ball on a table, lit from the right", 1, "correct")
    grey = np.full((64, 64, 3), 0.6, np.float32)
    v = judge(grey, case.csg)
    assert v.texture == 0.0 and not v.by_id()["shadow_ball"].passed
