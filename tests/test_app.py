"""The app end to end through its API (gradio_client), as a script or a Space user would call it."""
from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from app_server import running_app
from demo.examples import SHOWCASE
from demo.gpu import GPU_MAX_S, gpu_seconds, on_gpu
from demo.ui import DEFAULTS, example_row, manual_settings, node_weights
from lina_core.engine import Engine
from lina_core.lina.interventions import InterventionSettings

ALL_NODES = {"headers": ["weight", "id"], "data": []}
SEED, CONTROLS, TABLE = 7, slice(8, 12), 14  # output positions: seed used, the four θ controls, node table


@pytest.fixture(scope="module")
def client():
    with running_app() as url:
        yield Client(url, verbose=False)


def generate(client, prompt="A red ball on a small mirror", json_text="", table=ALL_NODES, seed=3, steps=6,
             embedding=0.5, latent=1.0, latent_end=3, gamma=1.5, predicted=False, latent_mode="projection"):
    return client.predict(prompt, json_text, table, seed, False, steps, 5.0, embedding, latent, latent_end, gamma,
                          predicted, latent_mode, api_name="/generate")


def weighted(table: dict, **weights: float) -> dict:
    """The node table with some nodes' weights changed."""
    return {"headers": table["headers"], "data": [[weights.get(r[1], r[0])] + r[1:] for r in table["data"]]}


def pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_parse_endpoint(client):
    graph, layout, table, json_text, notes = client.predict("a bird eats a snake", api_name="/parse")
    data = json.loads(json_text)
    assert {n["id"] for n in data["nodes"]} >= {"bird", "snake"}
    assert [r[1] for r in table["data"]] == [n["id"] for n in data["nodes"]]
    assert "implied" in notes.lower()
    assert Image.open(graph).width > 200


def test_generate_same_seed_same_baseline_and_interventions_change_lina(client):
    first = generate(client)
    again = generate(client)
    assert np.array_equal(pixels(first[0][0]), pixels(again[0][0]))  # reproducible baseline
    assert np.array_equal(pixels(first[0][1]), pixels(again[0][1]))  # reproducible LINA
    assert first[SEED] == 3  # the seed used is returned
    stronger = generate(client, latent=2.5, gamma=3.0)
    assert np.array_equal(pixels(first[0][0]), pixels(stronger[0][0]))  # same baseline
    assert not np.array_equal(pixels(first[0][1]), pixels(stronger[0][1]))  # toggled interventions: other LINA
    by_gradient = generate(client, latent_mode="gradient")
    assert np.array_equal(pixels(first[0][0]), pixels(by_gradient[0][0]))
    assert not np.array_equal(pixels(first[0][1]), pixels(by_gradient[0][1]))  # the latent mode is used
    assert "by gradient" in by_gradient[3] and "by projection" in first[3]
    rows = first[4]["data"]
    assert {r[0] for r in rows} >= {"ball", "mirror", "reflection_ball"}
    assert all(r[2][0] in "✓✗–" and r[3][0] in "✓✗–" for r in rows)


def test_all_interventions_off_reproduces_the_baseline(client):
    out = generate(client, embedding=0.0, latent=0.0, latent_end=0, gamma=1.0)
    assert np.array_equal(pixels(out[0][0]), pixels(out[0][1]))


def test_edited_graph_and_node_toggles_are_used(client):
    _, _, table, json_text, _ = client.predict("A red ball on a small mirror", api_name="/parse")
    base = generate(client, json_text=json_text, embedding=0.0, gamma=1.0)
    assert {r[0] for r in table["data"]} == {1.0}  # a fresh parse guides every node at weight 1
    only_ball = weighted(table, **{r[1]: 0.0 for r in table["data"] if r[1] != "ball"})  # the ball's colour pull
    toggled = generate(client, json_text=json_text, table=only_ball, embedding=0.0, gamma=1.0)
    assert not np.array_equal(pixels(base[0][1]), pixels(toggled[0][1]))
    data = json.loads(json_text)
    data["nodes"] = [n for n in data["nodes"] if n["id"] != "reflection_ball"]
    data["edges"] = [e for e in data["edges"] if "reflection_ball" not in (e["src"], e["dst"])]
    edited = generate(client, json_text=json.dumps(data))
    assert "reflection_ball" not in {r[0] for r in edited[4]["data"]}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"prompt": "   "}, "empty"),
        ({"prompt": "x" * 10_000}, "500"),
        ({"prompt": "一个红色的球"}, "understood"),
        ({"steps": 500}, "maximum value 50"),  # the slider checks its own range
        ({"latent": 9.0}, "maximum value 3"),
        ({"json_text": '{"version": "1.0", "prompt": "A red ball on a small mirror", "nodes": 3, "edges": []}'},
         "nodes"),
    ],
)
def test_bad_input_gives_a_clear_message(client, kwargs, message):
    with pytest.raises(AppError) as info:
        generate(client, **kwargs)
    assert message in str(info.value)
    assert "Traceback" not in str(info.value)
    assert generate(client)[SEED] == 3  # and the app keeps serving


# -- node weights --------------------------------------------------------------------------------------

def test_weight_zero_is_the_node_switched_off_and_a_changed_weight_changes_only_lina(client):
    _, _, table, _, _ = client.predict("A red ball on a small mirror", api_name="/parse")
    as_switches = {"headers": ["on", *table["headers"][1:]],
                   "data": [[r[1] != "reflection_ball"] + r[1:] for r in table["data"]]}  # the old on/off table
    off = generate(client, table=weighted(table, reflection_ball=0.0))
    assert np.array_equal(pixels(off[0][1]), pixels(generate(client, table=as_switches)[0][1]))
    assert {r[1]: r[0] for r in off[TABLE]["data"]}["reflection_ball"] == 0.0  # the table keeps the weights used
    one, two = generate(client, table=table), generate(client, table=weighted(table, reflection_ball=2.0))
    for a, b in ((off, one), (one, two)):
        assert np.array_equal(pixels(a[0][0]), pixels(b[0][0]))  # same baseline
        assert not np.array_equal(pixels(a[0][1]), pixels(b[0][1]))  # another LINA
    assert "reflection_ball ×2" in two[3]


def test_bad_weights_name_their_node(client):
    _, _, table, _, _ = client.predict("A red ball on a small mirror", api_name="/parse")
    with pytest.raises(AppError, match=r"reflection_ball.*\[0.0, 3.0\]"):
        generate(client, table=weighted(table, reflection_ball=4.0))
    csg = Engine.parse("A red ball on a small mirror")
    with pytest.raises(ValueError, match="weight of 'ball' must be a number"):
        node_weights(weighted(table, ball="lots"), csg)
    assert node_weights(ALL_NODES, csg) == {n.id: 1.0 for n in csg.nodes()}  # not this graph's table: defaults


# -- predicted θ ---------------------------------------------------------------------------------------

def test_predicted_interventions_replace_the_manual_controls_and_show_what_was_used(client, monkeypatch):
    theta = InterventionSettings(embedding={"reflection": 1.0, "contact": 1.0, "shadow": 1.0, "fill": 1.0,
                                            "action": 1.0}, latent_strength=2.0, latent_window=(0, 4), gamma=2.0)
    monkeypatch.setattr(Engine, "predicted_settings", staticmethod(lambda csg: theta))
    out = generate(client, embedding=0.0, latent=0.0, latent_end=0, gamma=1.0, predicted=True)
    assert list(out[CONTROLS]) == [1.0, 2.0, 4, 2.0]
    used = theta.node_weights(Engine.parse("A red ball on a small mirror"))
    assert {r[1]: r[0] for r in out[TABLE]["data"]} == {r[1]: used.get(r[1], 0.0) for r in out[TABLE]["data"]}
    assert used["reflection_ball"] == 1.0  # the table shows θ's default nodes (every effect, at weight 1)
    assert "θ (predicted)" in out[3]
    again = generate(client, table=out[TABLE], embedding=1.0, latent=2.0, latent_end=4, gamma=2.0)
    assert np.array_equal(pixels(out[0][1]), pixels(again[0][1]))  # the shown controls reproduce the run
    assert np.array_equal(pixels(out[0][0]), pixels(again[0][0]))


# -- cached examples and ZeroGPU --------------------------------------------------------------------------

def test_a_cached_example_is_the_run_at_the_default_settings(client):
    cached = client.predict(0, api_name="/showcase_example")
    fresh = client.predict(*example_row(SHOWCASE[0]), api_name="/generate")
    assert cached[SEED] == fresh[SEED] == DEFAULTS.seed
    for i in (0, 1):
        assert np.array_equal(pixels(cached[0][i]), pixels(fresh[0][i]))
    assert f"{DEFAULTS.steps} steps" in cached[3]


def test_without_spaces_the_gpu_decorator_is_a_no_op_and_with_it_the_duration_follows_the_steps(monkeypatch):
    def fn(prompt, steps=20, progress=None, latent_mode="projection"):
        return prompt, steps

    monkeypatch.setitem(sys.modules, "spaces", None)  # what `import spaces` sees when it is not installed
    assert on_gpu(fn) is fn
    asked = {}

    def gpu(duration):
        def wrap(f):
            asked["duration"] = duration
            return f
        return wrap

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=gpu))
    assert on_gpu(fn)("a ball", 5) == ("a ball", 5)
    assert asked["duration"]("a ball", 40) == gpu_seconds(40) > asked["duration"]("a ball") == gpu_seconds(20)
    assert asked["duration"]("a ball", steps=10) == gpu_seconds(10)
    assert asked["duration"]("a ball", 10, latent_mode="gradient") == gpu_seconds(10, "gradient") > gpu_seconds(10)
    assert gpu_seconds(10_000) == GPU_MAX_S


def test_a_latent_window_past_the_step_count_means_every_step():
    assert manual_settings(0.5, 2.5, 20, 1.5, {}, steps=6).windows(6)[1] == (0, 6)
    assert manual_settings(0.5, 2.5, 4, 1.5, {}, steps=6).windows(6)[1] == (0, 4)
    assert manual_settings(0.5, 2.5, 0, 1.5, {}, steps=6).latent_strength == 0.0
