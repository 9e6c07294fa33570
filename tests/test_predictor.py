"""The learned intervention predictor: graph features, the label search, the fit, cross-validation, the command.

The fit is checked on score tables whose best θ depends on the kind of prompt (mirror scenes vs lit scenes),
so that a predictor that ignored the graph — one fixed θ — could not pass; the search and the command run
the randomly initialised tiny model of test_evaluation at two steps (bookkeeping, not image quality).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_evaluation import model_path, tiny_env  # noqa: F401  (fixtures)

from lina_core.backends.registry import load_backend
from lina_core.cli import main
from lina_core.defaults import DEFAULT_GUIDANCE
from lina_core.evaluation.methods import ORACLE, PREDICTOR_ENV, fixed_settings, lina_settings_for, make_methods
from lina_core.evaluation.run import baseline, canonical_graph, judge_image
from lina_core.lina import search as search_module
from lina_core.lina.interventions import InterventionSettings
from lina_core.lina.predictor import FEATURE_NAMES, PREDICTOR_FILE, Predictor, csg_features, latent_groups, pooled
from lina_core.lina.predictor_command import LATENT_ORACLE, cross_validate
from lina_core.lina.search import SearchTable, best_of, judge_candidates, objective, predictor_prompts, search
from lina_core.world.prompts import ood_prompts, prompt_ood_rules, train_prompts_examples

MIRRORS = ["a red ball on a large mirror", "a blue cube on a small mirror", "a green cup on a mirror",
           "a yellow bottle on a big mirror", "a white ball on a tiny mirror", "a red cube on a mirror"]
SHADOWS = ["a red cube on a table, lit from the left", "a blue ball on the floor, lit from the right",
           "a green cup on the grass, the sun on the left", "a yellow cube on a table, lit from the right",
           "a white ball on the sand, lit from the left", "a red cup on the floor, light from the right"]
CANDIDATES = [InterventionSettings.off(), InterventionSettings(latent_strength=2.0, gamma=1.0),
              InterventionSettings(latent_strength=0.0, gamma=2.5)]


def feature(csg_prompt: str, name: str) -> float:
    return float(csg_features(canonical_graph(csg_prompt))[FEATURE_NAMES.index(name)])


def kind_table() -> tuple[list, SearchTable]:
    """Candidate 1 is best on mirror scenes, candidate 2 on lit scenes; the baseline is mediocre on both."""
    prompts = MIRRORS + SHADOWS
    physical = np.array([[0.4, 0.9, 0.3]] * len(MIRRORS) + [[0.4, 0.2, 0.8]] * len(SHADOWS))
    table = SearchTable("tiny", prompts, [0], CANDIDATES, physical, np.ones_like(physical))
    return [canonical_graph(p) for p in prompts], table


# -- features -----------------------------------------------------------------------------------

def test_features_describe_the_factors_the_failures_follow() -> None:
    assert feature("a red ball on a small mirror", "surface_area") < feature("a red ball on a large mirror",
                                                                             "surface_area")
    assert feature("a red ball on a small mirror", "effect:reflection") == 1
    assert feature("a red ball on a table", "effect:reflection") == 0
    assert feature("a cube on a table, lit from the left", "light:left") == 1
    assert feature("a cube on a table, lit from the left", "light:right") == 0
    assert feature("a jar filled to the top with sand", "fill_level") > feature("a jar half full of sand",
                                                                               "fill_level")
    assert len(csg_features(canonical_graph("a bird eats a snake"))) == len(FEATURE_NAMES)


# -- the fit ------------------------------------------------------------------------------------

def test_the_predictor_picks_the_theta_that_suits_the_kind_of_prompt_on_unseen_prompts() -> None:
    graphs, table = kind_table()
    model = Predictor.fit(graphs, table.scores(), CANDIDATES)
    assert model.predict(canonical_graph("a green ball on a small mirror")) == CANDIDATES[1]
    assert model.predict(canonical_graph("a blue cup on a table, lit from the left")) == CANDIDATES[2]


def test_scores_are_pooled_over_the_variants_of_one_latent_setting() -> None:
    """Candidates 0 and 2 share a latent setting (off): which of them won on a prompt is not learnt, only their
    mean over it and each one's offset over all prompts; a candidate alone in its setting keeps its scores."""
    scores = np.array([[0.5, 0.9, 0.3], [0.3, 0.2, 0.5]])
    got = pooled(scores, CANDIDATES)
    assert got[:, 1] == pytest.approx(scores[:, 1])
    assert got[:, 0] - got[:, 2] == pytest.approx([0.0, 0.0])  # equal means over the prompts: no offset
    assert got[:, 0] == pytest.approx(scores[:, [0, 2]].mean(1))
    assert latent_groups(CANDIDATES) == [[0, 2], [1]]


def test_cross_validation_shows_predicted_beating_one_fixed_theta_and_never_beating_the_oracle() -> None:
    graphs, table = kind_table()
    report = cross_validate(graphs, table, folds=3, seed=0)
    assert report["baseline"]["physical"] == pytest.approx(0.4)
    assert report["oracle"]["physical"] == pytest.approx(0.85)
    assert report["predicted"]["physical"] == pytest.approx(0.85)  # every held-out prompt gets its kind's θ
    assert report["fixed"]["physical"] < 0.7  # one θ for both kinds loses on one of them
    assert all(r["objective"] <= report["oracle"]["objective"] + 1e-9 for r in report.values())
    # candidates 0 and 2 share a latent setting (off): averaged, mirrors get 0.9 and lit scenes 0.6
    assert report[LATENT_ORACLE]["physical"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="folds"):
        cross_validate(graphs, table, folds=1, seed=0)


def test_objective_charges_texture_lost_against_the_baseline_only() -> None:
    got = objective(np.array([0.8, 0.8]), np.array([0.5, 1.0]), np.array([1.0, 0.9]))
    assert got[0] < 0.8 and got[1] == pytest.approx(0.8)


def test_save_load_round_trip_and_clear_errors(tmp_path: Path) -> None:
    graphs, table = kind_table()
    model = Predictor.fit(graphs, table.scores(), CANDIDATES, meta={"fixed": 1})
    model.save(tmp_path)
    loaded = Predictor.load(tmp_path)
    assert [loaded.choose(g) for g in graphs] == [model.choose(g) for g in graphs]
    assert loaded.meta == {"fixed": 1}
    d = json.loads((tmp_path / PREDICTOR_FILE).read_text())
    d["features"] = d["features"][:-1]
    (tmp_path / PREDICTOR_FILE).write_text(json.dumps(d))
    with pytest.raises(ValueError, match="other features"):
        Predictor.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="train-predictor"):
        Predictor.load(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="prompts"):
        Predictor.fit(graphs[:3], table.scores(), CANDIDATES)


def test_search_table_keeps_the_sampling_settings_it_was_judged_at(tmp_path: Path) -> None:
    _, table = kind_table()
    table.steps, table.guidance = 12, 2.5
    table.save(tmp_path / "search.json")
    loaded = SearchTable.load(tmp_path / "search.json")
    assert (loaded.steps, loaded.guidance) == (12, 2.5)
    assert np.array_equal(loaded.physical, table.physical) and loaded.candidates == table.candidates
    d = json.loads((tmp_path / "search.json").read_text())
    del d["steps"], d["guidance"]  # a table from before the settings were stored: all were made at 20 and 5
    (tmp_path / "old.json").write_text(json.dumps(d))
    old = SearchTable.load(tmp_path / "old.json")
    assert (old.steps, old.guidance) == (20, 5.0)


# -- the prompts and the search -------------------------------------------------------------------

def test_predictor_prompts_are_distinct_mostly_held_out_and_never_evaluation_prompts() -> None:
    prompts = predictor_prompts(12, seed=3)
    fixed = {s.prompt.lower() for s in ood_prompts() + train_prompts_examples()}
    assert len(set(prompts)) == 12 and not fixed & {p.lower() for p in prompts}
    assert sum(bool(prompt_ood_rules(p)) for p in prompts) == 8
    assert predictor_prompts(12, seed=3) == prompts


def test_search_scores_every_candidate_and_its_first_column_is_the_baseline(tiny_env: Path) -> None:
    backend = load_backend()
    prompts = ["a red ball on a small mirror", "a cube on a table, lit from the left"]
    table = search(backend, prompts, [0, 1], CANDIDATES[:2], steps=2)
    assert table.physical.shape == table.texture.shape == (2, 2)
    for p, prompt in enumerate(prompts):
        csg = canonical_graph(prompt)
        verdicts = [judge_image(im, csg) for im in baseline(backend, csg, [0, 1], 2, 5.0)]
        assert table.physical[p, 0] == pytest.approx(np.mean([v.physical for v in verdicts]))
    with pytest.raises(ValueError, match="off"):
        search(backend, prompts, [0], CANDIDATES[1:], steps=2)


def test_train_predictor_command_searches_fits_and_refits_from_its_table(
        tiny_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_module, "candidate_grid", lambda: CANDIDATES[:2])  # the full grid: same code, slower
    out = tmp_path / "pred"
    assert main(["train-predictor", "--out", str(out), "--prompts", "4", "--seeds", "1", "--steps", "2",
                 "--folds", "2"]) == 0
    assert "| predicted |" in capsys.readouterr().out
    table = SearchTable.load(out / "search.json")
    assert len(table.prompts) == 4 and table.candidates[0] == InterventionSettings.off()
    model = Predictor.load(out)
    assert model.candidates == table.candidates and set(model.meta["cross_validation"]) == {
        "baseline", "fixed", "predicted", "oracle", LATENT_ORACLE}
    assert "Cross-validation" in (out / "README.md").read_text()
    again = tmp_path / "again"
    assert main(["train-predictor", "--out", str(again), "--table", str(out / "search.json"), "--folds", "2"]) == 0
    assert Predictor.load(again).weights == pytest.approx(model.weights)
    capsys.readouterr()
    assert main(["train-predictor", "--out", str(again), "--seeds", "0"]) == 2
    assert "--seeds" in capsys.readouterr().err


# -- where LINA uses it ---------------------------------------------------------------------------

def test_lina_uses_the_saved_predictor_and_lina_fixed_its_best_global_theta(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graphs, table = kind_table()
    Predictor.fit(graphs, table.scores(), CANDIDATES, meta={"fixed": 2}).save(tmp_path)
    mirror = canonical_graph("a green ball on a small mirror")
    assert lina_settings_for(mirror) == InterventionSettings()  # conftest: no predictor saved
    monkeypatch.setenv(PREDICTOR_ENV, str(tmp_path))
    assert lina_settings_for(mirror) == CANDIDATES[1]
    assert lina_settings_for(canonical_graph("a cube on a table, lit from the left")) == CANDIDATES[2]
    assert fixed_settings(mirror) == CANDIDATES[2]


def test_the_oracle_returns_the_images_of_the_candidate_the_judge_scores_best(
        tiny_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graphs, table = kind_table()
    Predictor.fit(graphs, table.scores()[:, :2], CANDIDATES[:2], meta={"fixed": 0}).save(tmp_path)  # its candidates
    monkeypatch.setenv(PREDICTOR_ENV, str(tmp_path))
    backend, csg = load_backend(), canonical_graph("a red ball on a small mirror")
    judged = judge_candidates(backend, csg, [0], CANDIDATES[:2], steps=2, guidance=DEFAULT_GUIDANCE)
    images = make_methods([ORACLE])[ORACLE](backend, csg, [0], 2, DEFAULT_GUIDANCE)
    assert torch.equal(images, judged[best_of(judged)].images)
