"""The diagnostics on mechanics (a randomly initialised tiny model, a few steps): the inpainting blend keeps the
known region on the ground truth's noising path and gives the truth back exactly; the tables count what they
say; the embedding edits touch only their tokens; the timing bookkeeping; the `diagnose` command end to end
and its bad-input errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lina_core.backends.tiny.model import build
from lina_core.backends.tiny.tokenizer import words_of
from lina_core.cli import main
from lina_core.evaluation.run import canonical_graph
from lina_core.lina.diagnostics import embedding_probe as emb
from lina_core.lina.diagnostics.inpaint import (
    Case, KnownRegionBlend, blanked, encode_images, group_of, inpaint, latent_keep, tables,
)
from lina_core.lina.diagnostics.report import ProbeReport, Table
from lina_core.lina.diagnostics.timing import Trajectory, settle_step, spread_prompts, windows
from lina_core.lina.embedding import estimate_directions, physics_pairs, texture_prompts, token_positions
from lina_core.sampling import StepState
from lina_core.world.judge import NodeVerdict, Verdict
from lina_core.world.pap import make_row
from lina_core.world.prompts import ood_prompts, train_prompts_examples
from lina_core.world.render import render

from sd_tiny import tiny_sd_pipeline
from test_cli import assert_one_line_error

MIRROR = "a red ball on a large mirror"
STEPS = 3


def vocabulary() -> set[str]:
    prompts = [s.prompt for s in ood_prompts() + train_prompts_examples()] + [p for p, _ in emb.EDIT_PROMPTS]
    prompts += [p for pairs in physics_pairs().values() for q in pairs for p in (q.with_factor, q.without_factor)]
    prompts += [p for p, _, _ in texture_prompts()] + [make_row(i, size=32)["prompt"] for i in range(2)]
    return words_of(prompts)


@pytest.fixture(scope="module")
def components():
    return build(vocabulary(), seed=0)


@pytest.fixture(scope="module")
def backend(components):
    return components.backend()


@pytest.fixture(scope="module")
def model_dir(components, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny")
    components.save(path)
    return path


class Recorder:
    """Runs after the blend: what the model is given at each step, and the sampler's sigma."""

    def __init__(self) -> None:
        self.latents: list[torch.Tensor] = []
        self.sigmas: list[float] = []

    def before_model(self, state: StepState) -> None:
        self.latents.append(state.latents.clone())
        self.sigmas.append(state.sigma)

    def after_step(self, state: StepState) -> None:
        return None


def truth(size: int = 32) -> tuple[torch.Tensor, np.ndarray]:
    csg = canonical_graph(MIRROR)
    r = render(csg, size=size, seed=0)
    return torch.from_numpy(np.asarray(r.image, np.float32) / 255).permute(2, 0, 1), r.masks["ball"]


# -- inpainting ------------------------------------------------------------------------------------

def test_a_latent_cell_is_known_only_when_none_of_its_pixels_is_hidden():
    hidden = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    hidden[0, 0, 3, 4] = True  # one pixel of cell (1, 2) of a 2x2 fold
    keep = latent_keep(hidden, (4, 4))
    assert not keep[0, 0, 1, 2]
    assert keep.sum() == 15


def test_the_blend_keeps_the_known_region_on_the_noised_truth_and_returns_the_truth(backend, monkeypatch):
    image, mask = truth()
    hidden = torch.from_numpy(mask)[None]
    recorder = Recorder()
    captured: dict = {}
    original_init = KnownRegionBlend.__init__

    def spy(self, known, keep, noise, scheduler):
        original_init(self, known, keep, noise, scheduler)
        captured.update(known=known, keep=keep, noise=noise)

    import lina_core.lina.diagnostics.inpaint as inpaint_module

    monkeypatch.setattr(KnownRegionBlend, "__init__", spy)
    real_sample = inpaint_module.sample
    monkeypatch.setattr(inpaint_module, "sample",
                        lambda *a, hooks=(), **k: real_sample(*a, hooks=[*hooks, recorder], **k))
    out = inpaint(backend, MIRROR, image[None], hidden, [3], steps=STEPS)
    keep, known, noise = captured["keep"].expand_as(captured["known"]), captured["known"], captured["noise"]
    assert len(recorder.latents) == STEPS
    for latents, sigma in zip(recorder.latents, recorder.sigmas):  # Euler: x_t = x0 + sigma * eps
        assert torch.allclose(latents[keep], (known + sigma * noise)[keep], rtol=1e-5, atol=1e-3 * max(1.0, sigma))
        assert not torch.allclose(latents[~keep], (known + sigma * noise)[~keep])
    grown = ~latent_keep(hidden[:, None], keep.shape[-2:]).repeat_interleave(2, -1).repeat_interleave(2, -2)[0, 0]
    assert torch.allclose(out[0][:, ~grown], image[:, ~grown], atol=1e-5), "outside the mask: the truth"
    assert (out[0][:, torch.from_numpy(mask)] - image[:, torch.from_numpy(mask)]).abs().max() > 0.05


def test_the_vae_path_encodes_into_the_backends_latent_grid():
    from lina_core.backends.unet import UNetBackend

    sd = UNetBackend.from_pipeline(tiny_sd_pipeline(), name="sd-tiny")
    image = torch.rand(1, 3, sd.image_size, sd.image_size)
    latents = encode_images(sd, image)
    assert latents.shape == sd.latent_shape(1)
    hidden = torch.zeros(1, sd.image_size, sd.image_size, dtype=torch.bool)
    hidden[:, :8, :8] = True
    assert inpaint(sd, "a ball", image, hidden, [0], steps=2, guidance=1.0).shape == (1, 3, sd.image_size,
                                                                                      sd.image_size)


def test_blanking_fills_only_the_hidden_pixels_with_the_known_median():
    image, mask = truth()
    out = blanked(image, mask)
    m = torch.from_numpy(mask)
    assert torch.equal(out[:, ~m], image[:, ~m])
    assert torch.allclose(out[:, m], image[:, ~m].median(dim=1).values[:, None].expand(-1, int(m.sum())))


def test_groups_follow_the_graph():
    csg = canonical_graph(MIRROR)
    assert group_of(csg, "ball") == ("explicit: entity", 0)
    assert group_of(csg, "reflection_ball") == ("implied: hop 2", 2)
    assert group_of(canonical_graph("a jar half full of sand"), "fill_jar")[0] == "explicit: stated effect"


def case(group: str, hop: int, gt: bool, blank: bool, restored: bool, node_type: str = "entity") -> Case:
    return Case("r", "p", "n", node_type, group, hop, 0, gt, blank, restored)


def test_restore_rate_counts_only_informative_cases():
    cases = [case("explicit: entity", 0, True, False, True), case("explicit: entity", 0, True, False, False),
             case("explicit: entity", 0, False, False, True),  # the judge misses it on the truth
             case("explicit: entity", 0, True, True, True),  # blanking does not remove it
             case("implied: hop 2", 2, True, False, False, "reflection")]
    by_group = {r[0]: r for r in tables(cases)[0].rows}
    assert list(by_group) == ["explicit: entity", "implied: hop 2", "all explicit", "all implied"]
    assert by_group["explicit: entity"][1:] == [4, 3, 1, 2, 1, 0.5]
    assert by_group["implied: hop 2"][-1] == 0.0
    assert by_group["all implied"][4] == 1


# -- reports -----------------------------------------------------------------------------------------

def test_report_writes_markdown_json_and_png(tmp_path):
    import matplotlib.pyplot as plt

    table = Table("t", ["a", "b"], [["x", 0.25], ["y", None]])
    report = ProbeReport("demo", "q?", {"k": 1}, [table], {"s": 0.5}, [{"case": 1}])
    paths = report.write(tmp_path, plt.figure())
    assert [p.name for p in paths] == ["demo.md", "demo.json", "demo.png"]
    md = paths[0].read_text()
    assert "| x | 0.250 |" in md and "| y | – |" in md
    data = json.loads(paths[1].read_text())
    assert data["tables"][0]["rows"] == [{"a": "x", "b": 0.25}, {"a": "y", "b": None}]
    assert paths[2].read_bytes()[:4] == b"\x89PNG"


# -- embedding probe ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def directions(backend):
    return estimate_directions(backend)


def test_structure_table_has_a_row_per_effect_with_shares_in_range(backend, directions):
    struct, cos = emb.structure_tables(backend, directions)
    rows = {r[0]: r for r in struct[0].rows}
    assert set(rows) == set(physics_pairs())
    for r in rows.values():
        assert 0.0 <= r[3] <= 1.0 and -1.0 <= r[5] <= 1.0
    assert np.allclose(np.diag(cos), 1.0, atol=1e-5)
    assert len(struct[1].rows) == len(directions.physics)


def test_colour_edit_moves_only_the_parent_tokens_towards_the_new_colour(backend, directions):
    csg = canonical_graph(MIRROR)
    hook = emb.colour_edit(backend, csg, "reflection", directions, 1.0)
    cond = backend.encode_prompt([MIRROR])
    state = StepState(0, 1, torch.tensor(999), 1.0, torch.zeros(1), cond)
    hook.before_model(state)
    changed = (state.cond.embeds != cond.embeds).any(-1)[0].nonzero().flatten().tolist()
    assert changed == token_positions(cond, ["red", "ball"])
    blue = backend.encode_prompt(["a blue ball on a table"])
    red = backend.encode_prompt(["a red ball on a table"])
    assert emb.flipped_colour("red") == "blue"
    step = (blue.embeds[0, token_positions(blue, ["blue", "ball"])]
            - red.embeds[0, token_positions(red, ["red", "ball"])]).mean(0)
    moved = state.cond.embeds[0, changed] - cond.embeds[0, changed]
    assert torch.allclose(moved, step.expand(len(changed), -1), atol=1e-5)


def test_physics_edit_pushes_against_the_stated_effect(backend, directions):
    csg = canonical_graph(MIRROR)
    (words, vec), = emb.physics_edit(csg, "reflection", directions, 2.0).edits()
    assert words == csg.node("ball").words
    expected = -2.0 * directions.magnitude["reflection"] * directions.physics["reflection"]
    assert torch.allclose(vec, expected)


def test_a_changed_verdict_is_counted_on_its_own_side():
    def verdict(entity_ok: bool, effect_ok: bool) -> Verdict:
        nodes = [NodeVerdict("ball", "entity", entity_ok, 1.0, ""), NodeVerdict("r", "effect", effect_ok, 1.0, "")]
        return Verdict(nodes, float(effect_ok), float(entity_ok), entity_ok and effect_ok)

    c = emb.compare("p", "reflection", 0, "physics", verdict(True, True), verdict(True, False))
    assert (c.physics_changed, c.texture_changed, c.d_physical, c.d_texture) == (True, False, -1.0, 0.0)


# -- timing probe -------------------------------------------------------------------------------------

def test_windows_tile_the_steps():
    assert windows(20, 4) == [(0, 5), (5, 10), (10, 15), (15, 20)]
    spans = windows(7, 3)
    assert spans[0][0] == 0 and spans[-1][1] == 7 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    with pytest.raises(ValueError, match="--windows"):
        windows(3, 4)


def test_settle_step_is_where_the_verdict_stops_changing():
    t, f = (True,), (False,)
    assert settle_step([f, t, f, t, t], t) == 3
    assert settle_step([t, t], t) == 0
    assert settle_step([t, f], t) == 2

    def v(ok: bool) -> Verdict:
        return Verdict([NodeVerdict("a", "entity", True, 1, ""), NodeVerdict("e", "effect", ok, 1, "")],
                       float(ok), 1.0, ok)

    traj = Trajectory("p", 0, [v(False), v(True), v(True)], v(True))
    assert (traj.settle(None), traj.settle(True), traj.settle(False)) == (1, 1, 0)
    assert traj.agreement() == [0.5, 1.0, 1.0]


def test_prompts_are_spread_over_subcategories():
    picked = spread_prompts(ood_prompts(), 4)
    assert len({s.subcategory for s in picked}) == 4


# -- the command ----------------------------------------------------------------------------------------

def without_loading_bar(err: str) -> str:
    """transformers' own "Loading weights" bar, drawn when an error comes after the model was loaded."""
    return "\n".join(line for line in err.split("\n") if not line.startswith("\rLoading weights"))


@pytest.mark.parametrize("probe,extra", [
    ("inpaint", ["--n", "1"]),
    pytest.param("embedding", ["--n", "1"], marks=pytest.mark.slow),  # measures the directions: ~20-40 s here
    ("timing", ["--n", "1", "--windows", "2"]),
])
def test_diagnose_writes_its_three_files(probe, extra, model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LINA_TINY_PATH", str(model_dir))
    code = main(["diagnose", probe, "--seeds", "1", "--steps", "2", "--out", str(tmp_path), *extra])
    assert code == 0, capsys.readouterr().err
    data = json.loads((tmp_path / f"{probe}.json").read_text())
    assert data["probe"] == probe and data["tables"] and data["records"]
    assert f"python -m lina_core diagnose {probe}" in data["config"]["command"]
    assert (tmp_path / f"{probe}.png").read_bytes()[:4] == b"\x89PNG"
    assert data["tables"][0]["title"] in (tmp_path / f"{probe}.md").read_text()
    if probe == "timing":
        windows_run = [r["window [a, b)"] for r in data["tables"][0]["rows"]]
        assert windows_run == ["baseline", "[0, 1)", "[1, 2)", "all"]


@pytest.mark.parametrize("argv,needle", [
    (["timing", "--pap", "x"], "--pap applies to the inpaint probe only"),
    (["inpaint", "--windows", "2"], "--windows applies to the timing probe only"),
    (["inpaint", "--strength", "1"], "--strength applies to the embedding and timing probe only"),
    (["inpaint", "--seeds", "0"], "--seeds must be between 1 and 64"),
    (["timing", "--steps", "4", "--windows", "5"], "--windows must be between 1 and --steps (4)"),
    (["timing", "--strength", "4"], "--strength must be in (0, 3.0]"),
    (["embedding", "--n", "9"], "--n must be between 1 and 5"),
    (["inpaint", "--n", "0"], "--n must be at least 1"),
    (["inpaint", "--backend", "nope"], "unknown backend 'nope'"),
])
def test_bad_input_is_a_one_line_error(argv, needle, model_dir, monkeypatch, capsys):
    monkeypatch.setenv("LINA_TINY_PATH", str(model_dir))
    code = main(["diagnose", *argv, "--steps", "2"] if "--steps" not in argv else ["diagnose", *argv])
    err = without_loading_bar(capsys.readouterr().err)
    assert_one_line_error(code, err)
    assert needle in err


def test_missing_weights_and_missing_pap_folders_are_one_line_errors(tmp_path, model_dir, monkeypatch, capsys):
    monkeypatch.setenv("LINA_TINY_PATH", str(tmp_path / "none"))
    assert_one_line_error(main(["diagnose", "timing"]), capsys.readouterr().err)
    monkeypatch.setenv("LINA_TINY_PATH", str(model_dir))
    code = main(["diagnose", "inpaint", "--pap", str(tmp_path / "no-such-dir"), "--steps", "2"])
    err = without_loading_bar(capsys.readouterr().err)
    assert_one_line_error(code, err)
    assert "no-such-dir" in err
