"""Evaluation: the method registry, paired (Winoground-style) scores, shards, and the `evaluate` command.

Generation runs a randomly initialised tiny model saved to a temporary folder (the CLI loads it through
LINA_TINY_PATH), at a few steps: the checks are about bookkeeping, not image quality.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from lina_core.backends.tiny.model import build
from lina_core.backends.tiny.tokenizer import words_of
from lina_core.cli import main
from lina_core.csg.parser import parse_prompt
from lina_core.evaluation import methods as methods_module
from lina_core.evaluation.images import image_path
from lina_core.evaluation.methods import (
    LINA_VARIANTS, METHOD_NAMES, LinaMethod, lina_settings_for, make_methods, parse_method_names, world_renders,
)
from lina_core.evaluation.paired import PARTNER_OF, find_pairs, is_swapped_pair, paired_scores, partner_samples
from lina_core.evaluation.prompts import evaluation_prompts
from lina_core.evaluation.records import EvalRecord, merge_reports, summarize
from lina_core.evaluation.run import (
    JUDGE_SIZE, Shard, _partial_state, at_judge_size, baseline, canonical_graph, judge_image,
)
from lina_core.lina.embedding import physics_pairs, texture_prompts
from lina_core.lina.interventions import InterventionSettings
from lina_core.world.prompts import PromptSample, ood_prompts, train_prompts_examples

EATS, EATEN = "a bird eats a snake", "a snake eats a bird"
MIRROR = "a red ball on a small mirror"
STEPS = 2


# -- a saved random model (shared with test_bench) ------------------------------------------------

def save_random_model(path: Path) -> Path:
    """Random weights with a vocabulary covering the world's prompts and the direction-measuring pairs."""
    prompts = [s.prompt for s in ood_prompts() + train_prompts_examples()]
    prompts += [p for pairs in physics_pairs().values() for q in pairs for p in (q.with_factor, q.without_factor)]
    prompts += [p for p, _, _ in texture_prompts()]
    build(words_of(prompts), seed=0).save(path)
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_model(tmp_path_factory.mktemp("lina-tiny-random"))


@pytest.fixture
def tiny_env(model_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LINA_TINY_PATH", str(model_path))
    monkeypatch.delenv("LINA_BACKEND", raising=False)
    return model_path


def record(prompt: str, seed: int, passed: bool, method: str = "m", pair_only: bool = False,
           score: float = 0.5) -> EvalRecord:
    return EvalRecord(prompt, "agency", "eat", seed, method, texture=score, physical=score, passed=passed,
                      seconds=0.1, pair_only=pair_only)


# -- methods ------------------------------------------------------------------------------------

def test_unknown_or_repeated_methods_are_errors_that_name_the_valid_ones() -> None:
    with pytest.raises(ValueError) as err:
        parse_method_names("baseline, magic")
    assert "'magic'" in str(err.value) and all(name in str(err.value) for name in METHOD_NAMES)
    for bad in ("", " , ", "lina,lina"):
        with pytest.raises(ValueError):
            parse_method_names(bad)
    assert parse_method_names(" baseline,lina-latent ") == ["baseline", "lina-latent"]


def test_each_ablation_keeps_only_its_own_intervention_of_linas_theta() -> None:
    csg = parse_prompt(EATS)
    theta, off = lina_settings_for(csg), InterventionSettings.off()
    # Otherwise "keeps only X" could not be told apart from "switches everything off".
    assert any(v > 0 for v in theta.embedding.values()) and theta.latent_strength > 0 and theta.gamma > 1
    emb, lat, sched = (LINA_VARIANTS[f"lina-{p}"](csg) for p in ("embedding", "latent", "schedule"))
    assert (emb.embedding, emb.latent_strength, emb.gamma) == (theta.embedding, off.latent_strength, off.gamma)
    assert (lat.embedding, lat.latent_strength, lat.gamma) == (off.embedding, theta.latent_strength, off.gamma)
    assert (sched.embedding, sched.latent_strength, sched.gamma) == (off.embedding, off.latent_strength, theta.gamma)
    assert LINA_VARIANTS["lina"](csg) == theta


def test_lina_and_its_ablations_follow_lina_settings_for_but_the_fixed_theta_does_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    predicted = InterventionSettings(embedding={"action": 2.0}, latent_strength=0.25, gamma=3.0)
    monkeypatch.setattr(methods_module, "lina_settings_for", lambda csg: predicted)
    csg = parse_prompt(EATS)
    assert LINA_VARIANTS["lina"](csg) == predicted
    assert LINA_VARIANTS["lina-embedding"](csg).embedding == {"action": 2.0}
    assert LINA_VARIANTS["lina-latent"](csg).latent_strength == 0.25
    assert LINA_VARIANTS["lina-schedule"](csg).gamma == 3.0
    assert LINA_VARIANTS["lina-fixed"](csg) == InterventionSettings()
    gradient = LINA_VARIANTS["lina-gradient"](csg)
    assert gradient == replace(predicted, latent_mode="gradient")


def test_directions_are_measured_once_per_backend_for_all_lina_variants(monkeypatch: pytest.MonkeyPatch) -> None:
    measured = []

    def fake_estimate(backend):
        measured.append(backend)
        return object()

    class FakeBackend:
        pass

    monkeypatch.setattr(methods_module, "estimate_directions", fake_estimate)
    methods = make_methods(["baseline", "lina", "lina-embedding", "lina-latent"])
    assert methods["baseline"] is baseline
    assert all(isinstance(methods[n], LinaMethod) for n in ("lina", "lina-embedding", "lina-latent"))
    first, second = FakeBackend(), FakeBackend()
    for backend in (first, first, second):
        for name in ("lina", "lina-embedding", "lina-latent"):
            methods[name].prepare(backend)
    assert measured == [first, second]


def test_help_lists_every_method(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # argparse would wrap "lina-embedding" at its hyphen
    assert main(["evaluate", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert all(name in out for name in METHOD_NAMES)


def test_unknown_method_on_the_command_line_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--methods", "baseline,peer-x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "lina-schedule" in err


# -- paired scores ------------------------------------------------------------------------------

def test_swapped_pairs_are_the_same_words_in_another_order() -> None:
    spatial = ("a red ball to the left of a blue cube", "a blue ball to the left of a red cube")
    prompts = [EATS, MIRROR, EATEN, "A bird eats a snake.", *spatial, "a bird eats the snake"]
    assert find_pairs(prompts) == [(EATS, EATEN), (EATEN, "A bird eats a snake."), spatial]
    assert not is_swapped_pair(EATS, "A bird eats a snake.")  # same order: the same prompt
    assert not is_swapped_pair(EATS, "a bird eats the snake")  # different words


def test_ood_agency_prompts_get_their_swapped_partner_from_the_train_list() -> None:
    ood = ood_prompts()
    partners = partner_samples(ood, train_prompts_examples())
    by_prompt = {p.prompt: p.metadata[PARTNER_OF] for p in partners}
    assert by_prompt == {
        "a snake eats a bird": "a bird eats a snake",
        "a bird is eaten by a snake": "a snake is eaten by a bird",
        "a green snake eating a brown bird": "a brown bird eating a green snake",
    }
    assert {p.category for p in partners} == {"agency"}
    assert not {p.prompt for p in partners} & {s.prompt for s in ood}


def test_partners_come_only_for_the_paired_categories() -> None:
    left, right = "a red ball to the left of a blue cube", "a blue ball to the left of a red cube"
    samples = [PromptSample(left, "spatial", "left_right"), PromptSample(EATS, "agency", "eat")]
    pool = [PromptSample(right, "spatial", "left_right"), PromptSample(EATEN, "agency", "eat")]
    assert [p.prompt for p in partner_samples(samples, pool)] == [EATEN]
    assert [p.prompt for p in partner_samples(samples, pool, categories=("spatial",))] == [right]


def test_a_pair_counts_only_when_both_images_pass_at_the_same_seed() -> None:
    records = [record(EATS, 0, True), record(EATEN, 0, True),  # right
               record(EATS, 1, True), record(EATEN, 1, False),  # half right: wrong
               record(EATS, 2, False), record(EATEN, 2, True),  # half right: wrong
               record(EATS, 3, True),  # no partner image at seed 3: not a trial
               record(MIRROR, 0, True)]
    records += [record(p, s, True, method="good") for p in (EATS, EATEN) for s in (0, 1)]
    scores = paired_scores(records)
    assert scores["m"] == {"pairs": 1, "trials": 3, "accuracy": pytest.approx(1 / 3)}
    assert scores["good"] == {"pairs": 1, "trials": 2, "accuracy": 1.0}


def test_pair_only_prompts_count_towards_the_paired_score_alone() -> None:
    records = [record(EATS, 0, True, score=1.0), record(EATEN, 0, True, pair_only=True, score=0.0),
               record(MIRROR, 0, False, score=0.5)]
    s = summarize(records)["m"]
    assert s["images"] == 2 and s["physical"] == pytest.approx(0.75) and s["all_nodes_pass"] == 0.5
    assert s["paired"] == {"pairs": 1, "trials": 1, "accuracy": 1.0}


# -- shards and merging -------------------------------------------------------------------------

def test_shards_cover_every_item_exactly_once_in_near_equal_contiguous_slices() -> None:
    for total in range(8):
        items = list(range(total))
        for n in range(1, 5):
            parts = [Shard(k, n).take(items) for k in range(n)]
            assert [i for part in parts for i in part] == items
            assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_shard_flag_must_be_k_of_n() -> None:
    assert Shard.parse("1/3") == Shard(1, 3)
    for bad in ("2/2", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ValueError):
            Shard.parse(bad)


def test_one_process_under_accelerate_is_the_main_and_only_one() -> None:
    state = _partial_state()
    assert state is not None and state.num_processes == 1 and state.is_main_process


def _report(shard: tuple[int, int], records: list[EvalRecord], steps: int = 3, methods: tuple[str, ...] = ("m",)
            ) -> dict:
    return {"config": {"steps": steps, "methods": list(methods), "shard": list(shard)},
            "records": [r.as_dict() for r in records]}


def test_merge_refuses_shards_of_different_runs_missing_shards_and_overlaps() -> None:
    a, b = [record(EATS, 0, True)], [record(EATEN, 0, False)]
    merged = merge_reports([_report((1, 2), b), _report((0, 2), a)])
    assert merged["summary"]["m"]["paired"]["accuracy"] == 0.0 and merged["config"]["merged_shards"] == 2
    bad_sets = {
        "differ in steps": [_report((0, 2), a), _report((1, 2), b, steps=4)],
        "0..1": [_report((0, 2), a)],
        "each once": [_report((0, 2), a), _report((0, 2), b), _report((1, 2), b)],
        "split the work differently": [_report((0, 2), a), _report((1, 3), b)],
        "overlap": [_report((0, 2), a), _report((1, 2), a)],
    }
    for message, reports in bad_sets.items():
        with pytest.raises(ValueError, match=message):
            merge_reports(reports)


def test_merge_joins_runs_of_different_methods_on_the_same_items_only() -> None:
    peer = [record(EATS, 0, True, "peer"), record(EATEN, 0, True, "peer")]
    whole = _report((0, 1), peer, methods=("peer",))
    halves = [_report((0, 2), [record(EATS, 0, True)]), _report((1, 2), [record(EATEN, 0, True)])]
    merged = merge_reports([*halves, whole])
    assert merged["config"]["methods"] == ["m", "peer"] and set(merged["summary"]) == {"m", "peer"}
    assert merged["config"]["merged_shards"] == [2, 1] and len(merged["records"]) == 4
    with pytest.raises(ValueError, match="share a method"):
        merge_reports([*halves, _report((0, 1), [record(EATS, 0, True, "peer")], methods=("m", "peer"))])
    with pytest.raises(ValueError, match="different prompts or seeds"):
        merge_reports([_report((0, 1), [record(EATS, 0, True)]), whole])
    with pytest.raises(ValueError, match="differ in steps"):
        merge_reports([*halves, _report((0, 1), peer, steps=4, methods=("peer",))])


def _comparable(report: dict) -> tuple[list[str], dict]:
    """Records (order-free) and summary without wall times, which differ between any two runs."""
    records = sorted(json.dumps({k: v for k, v in r.items() if k != "seconds"}, sort_keys=True)
                     for r in report["records"])
    summary = {m: {k: v for k, v in s.items() if k != "seconds_per_image"} for m, s in report["summary"].items()}
    return records, summary


def test_two_shards_merged_equal_one_run(tiny_env: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(f"{EATS}\n{MIRROR}\n{EATEN}\n")
    # One seed per prompt: every batch holds one image in both runs (CPU kernels are not bitwise invariant
    # to the batch size, so a split inside a prompt's seeds may move scores in the last digits).
    common = ["evaluate", "--prompts", str(prompts), "--methods", "baseline,lina-latent", "--seeds", "1",
              "--steps", str(STEPS)]
    single, shards = tmp_path / "single.json", [tmp_path / f"shard{k}.json" for k in range(2)]
    assert main(common + ["--json", str(single)]) == 0
    for k, path in enumerate(shards):
        assert main(common + ["--shard", f"{k}/2", "--json", str(path)]) == 0
    merged = tmp_path / "merged.json"
    capsys.readouterr()
    assert main(["evaluate", "--merge", str(shards[1]), str(shards[0]), "--json", str(merged)]) == 0
    assert "pairs both right" in capsys.readouterr().out

    one, parts = json.loads(single.read_text()), [json.loads(p.read_text()) for p in shards]
    assert [len(p["records"]) for p in parts] == [4, 2]  # 3 items split 2 + 1, two methods each
    assert _comparable(json.loads(merged.read_text())) == _comparable(one)
    assert {m: s["paired"]["pairs"] for m, s in one["summary"].items()} == {"baseline": 1, "lina-latent": 1}
    assert all(r["seconds"] > 0 for r in one["records"])


def test_stored_images_are_rejudged_by_the_current_judge(tiny_env: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """``--images`` keeps every image; ``--rejudge`` scores them again without generating: unchanged images
    give the same records, an image made blank is scored as blank, and a missing image is named."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(f"{MIRROR}\n{EATS}\n")
    report, images = tmp_path / "run.json", tmp_path / "images"
    assert main(["evaluate", "--prompts", str(prompts), "--methods", "baseline,lina-latent", "--seeds", "2",
                 "--steps", str(STEPS), "--images", str(images), "--json", str(report)]) == 0
    assert len(list(images.glob("*/*.png"))) == 8
    again = tmp_path / "again.json"
    assert main(["evaluate", "--rejudge", str(report), "--json", str(again)]) == 0
    assert _comparable(json.loads(again.read_text())) == _comparable(json.loads(report.read_text()))
    elsewhere = tmp_path / "sub" / "moved.json"  # written elsewhere, the report still finds the images
    elsewhere.parent.mkdir()
    assert main(["evaluate", "--rejudge", str(report), "--json", str(elsewhere)]) == 0
    assert json.loads(elsewhere.read_text())["config"]["images"] == "../images"
    assert main(["evaluate", "--rejudge", str(elsewhere)]) == 0

    run = json.loads(report.read_text())
    assert run["config"]["images"] == "images"  # beside the report: the two move together
    blank = next(r for r in run["records"] if r["method"] == "baseline" and r["prompt"] == MIRROR and r["seed"] == 1)
    path = image_path(images, "baseline", MIRROR, 1)
    Image.new("RGB", Image.open(path).size, (150, 150, 150)).save(path)
    assert main(["evaluate", "--rejudge", str(report), "--json", str(again)]) == 0
    rescored = {(r["method"], r["prompt"], r["seed"]): r for r in json.loads(again.read_text())["records"]}
    assert rescored["baseline", MIRROR, 1]["texture"] == 0.0 != blank["texture"]
    assert rescored["baseline", MIRROR, 1]["seconds"] == blank["seconds"]
    assert rescored["baseline", MIRROR, 0]["nodes"] == next(
        r for r in run["records"] if r["method"] == "baseline" and r["prompt"] == MIRROR and r["seed"] == 0)["nodes"]

    path.unlink()
    capsys.readouterr()
    assert main(["evaluate", "--rejudge", str(report)]) == 2
    assert "baseline: 1" in capsys.readouterr().err
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({**run, "config": {k: v for k, v in run["config"].items() if k != "images"}}))
    assert main(["evaluate", "--rejudge", str(bare)]) == 2
    assert "re-run the evaluation with --images" in capsys.readouterr().err


def test_evaluate_runs_the_peer_beside_the_baseline_on_the_same_seeds(tiny_env: Path, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(f"{MIRROR}\n")
    out, grid = tmp_path / "peer.json", tmp_path / "grid.png"
    assert main(["evaluate", "--prompts", str(prompts), "--methods", "baseline,peer", "--seeds", "2",
                 "--steps", str(STEPS), "--json", str(out), "--grid", str(grid)]) == 0
    report = json.loads(out.read_text())
    assert set(report["summary"]) == {"baseline", "peer"}
    assert sorted((r["method"], r["seed"]) for r in report["records"]) == [
        ("baseline", 0), ("baseline", 1), ("peer", 0), ("peer", 1)]
    assert grid.is_file()


AT_32 = SimpleNamespace(image_size=32)  # all the world row reads of a backend


def test_the_world_row_is_the_renderers_picture_at_the_backends_resolution_and_scores_near_the_top() -> None:
    """A right picture at the backend's size, one training-jitter layout per seed: the judge passes it (the row
    is the ceiling every method is read against), and two seeds are two different layouts."""
    csg = canonical_graph("a red ball on a table, lit from the left")
    images = world_renders(AT_32, csg, [0, 1], steps=20, guidance=3.0)
    assert images.shape == (2, 3, 32, 32) and 0.0 <= float(images.min()) and float(images.max()) <= 1.0
    assert not torch.equal(images[0], images[1])
    assert all(judge_image(im, csg).physical == 1.0 for im in images)


def test_a_small_picture_reaches_the_judge_in_whole_pixel_blocks_and_a_large_one_averaged_down() -> None:
    """A two-pixel bird must keep its colour: blended with its neighbours it is a colour the judge does not know."""
    small = Image.new("RGB", (32, 32), (230, 225, 210))
    small.putpixel((10, 20), (120, 70, 30))
    big = at_judge_size(small)
    assert big.size == (JUDGE_SIZE, JUDGE_SIZE)
    block = [big.getpixel((20 + dx, 40 + dy)) for dx in (0, 1) for dy in (0, 1)]
    assert block == [(120, 70, 30)] * 4
    assert big.getpixel((22, 40)) == (230, 225, 210)
    large = Image.new("RGB", (128, 128), (0, 0, 0))
    for x in range(0, 128, 2):  # one-pixel stripes: averaged to grey, not sampled to black or white
        for y in range(128):
            large.putpixel((x, y), (255, 255, 255))
    assert 100 <= at_judge_size(large).getpixel((31, 31))[0] <= 155


def test_the_world_row_names_a_graph_the_renderer_cannot_draw() -> None:
    csg = canonical_graph("a red ball on a table")
    csg.node(csg.entities("ball")[0].id).cls = "unicorn"
    with pytest.raises(ValueError, match="leave 'world' out of --methods"):
        world_renders(AT_32, csg, [0], steps=20, guidance=3.0)


def test_a_prompt_file_is_checked_line_by_line_before_any_model_loads(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A refused line names its line number; words the parser cannot read are warned about (a French prompt
    parsed to a lone table would otherwise score as if it were drawn right)."""
    good = tmp_path / "good.txt"
    good.write_text("# my prompts\n\na red ball on a small mirror\nun chat sur une table\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=r"line 4 \('un chat sur une table'\): Words not understood: 'un', 'chat'"):
        samples = evaluation_prompts(prompts_file=good)
    assert [s.prompt for s in samples] == ["a red ball on a small mirror", "un chat sur une table"]
    huge = tmp_path / "huge.txt"
    huge.write_text("a red ball on a small mirror\n" + "a red ball " * 100 + "\n", encoding="utf-8")
    assert main(["evaluate", "--backend", "no-such-backend", "--prompts", str(huge)]) == 2
    assert "huge.txt, line 2: The prompt is" in capsys.readouterr().err
