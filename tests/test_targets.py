"""`evaluate` says whether the project's targets are met, from the report it prints."""
from __future__ import annotations

from pathlib import Path

import pytest

from lina_core.cli import main
from lina_core.evaluation.targets import check_targets

ROOT = Path(__file__).resolve().parents[1]


def _summary(**physical: float) -> dict:
    return {m: {"texture": 0.9, "physical": p} for m, p in physical.items()}


def test_the_embedded_models_targets_are_checked_on_the_train_split_only_for_it():
    summary = {"baseline": {"texture": 0.86, "physical": 0.70}}
    checks = check_targets({"backend": "tiny", "prompts": "split:train"}, summary)
    assert [(c.what, c.met) for c in checks] == [("baseline texture in distribution", True),
                                                 ("baseline physical in distribution", False)]
    assert checks[1].line() == "target: baseline physical in distribution 0.700 (>= 0.75): NOT met"
    assert check_targets({"backend": "sd15", "prompts": "split:train"}, summary) == []
    assert check_targets({"backend": "tiny", "prompts": "mine.txt"}, summary) == []


def test_linas_targets_compare_it_with_the_methods_the_report_holds():
    config = {"backend": "tiny", "prompts": "split:ood"}
    checks = check_targets(config, _summary(baseline=0.5, peer=0.7, lina=0.88))
    assert [c.what for c in checks] == ["LINA physical out of distribution", "LINA physical over the baseline",
                                        "LINA physical over the peer"]
    assert [c.met for c in checks] == [True, False, False]
    assert checks[1].value == pytest.approx(0.38) and checks[1].line().endswith("+0.380 (>= +0.40): NOT met")
    assert [c.what for c in check_targets(config, _summary(baseline=0.5, lina=0.9))][-1].endswith("baseline")
    assert check_targets(config, _summary(baseline=0.5, peer=0.6)) == []


def test_evaluate_prints_that_the_committed_model_meets_its_targets(capsys):
    assert main(["evaluate", "--merge", str(ROOT / "assets" / "eval" / "train.json")]) == 0
    out = capsys.readouterr().out
    assert "target: baseline texture in distribution" in out and "target: baseline physical in distribution" in out
    assert "NOT met" not in out
