"""train-tiny end to end on a few steps: checkpoint, resume, sample grid + judge log, loadable output."""
from __future__ import annotations

import json

import pytest
import torch

from lina_core.backends.errors import MissingWeightsError
from lina_core.backends.tiny.model import load
from lina_core.cli import main


def test_train_resume_and_load(tmp_path, capsys):
    out = tmp_path / "tiny"
    assert main(["train-tiny", "--out", str(out), "--steps", "2", "--batch", "4", "--sample-every", "2"]) == 0
    assert (out / "samples" / "step_00002.png").exists()
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert any("judge_ood_physical" in r for r in log)
    first = load(out)
    assert main(["train-tiny", "--out", str(out), "--steps", "3", "--batch", "4", "--sample-every", "100",
                 "--resume"]) == 0
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 3
    second = load(out)
    changed = any(not torch.equal(a, b) for a, b in zip(first.unet.parameters(), second.unet.parameters()))
    assert changed, "resuming trained one more step"
    assert "after 3 steps" in capsys.readouterr().out


def test_by_default_the_unet_has_no_attention_at_16x16_and_resumes_only_as_started(tmp_path):
    out = tmp_path / "tiny"
    args = ["train-tiny", "--out", str(out), "--steps", "1", "--batch", "2", "--sample-every", "100"]
    assert main(args) == 0
    unet = load(out).unet
    assert unet.config.down_block_types[0] == "DownBlock2D" and unet.config.up_block_types[-1] == "UpBlock2D"
    assert unet.config.down_block_types[1] == "CrossAttnDownBlock2D"  # text still conditions at 8x8
    with pytest.raises(RuntimeError, match="resume with --no-top-attention"):
        main(args[:4] + ["2"] + args[5:] + ["--top-attention", "--resume"])
    with pytest.raises(RuntimeError, match="--top-attention must match"):
        main(["train-tiny", "--out", str(tmp_path / "other"), "--steps", "1", "--batch", "2", "--init-from", str(out),
              "--top-attention"])
    with_top = tmp_path / "with-top"
    assert main(["train-tiny", "--out", str(with_top), "--steps", "1", "--batch", "2", "--sample-every", "100",
                 "--top-attention"]) == 0
    assert load(with_top).unet.config.down_block_types[0] == "CrossAttnDownBlock2D"
    with pytest.raises(RuntimeError, match="resume with --top-attention"):
        main(["train-tiny", "--out", str(with_top), "--steps", "2", "--batch", "2", "--resume"])


def test_missing_weights_say_how_to_rebuild(tmp_path):
    with pytest.raises(MissingWeightsError, match="train-tiny --out"):
        load(tmp_path / "nothing")
    (tmp_path / "broken" / "unet").mkdir(parents=True)
    with pytest.raises(MissingWeightsError, match="could not be read"):
        load(tmp_path / "broken")
