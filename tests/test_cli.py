"""The command line, run in-process through ``main(argv)``."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lina_core import __version__
from lina_core.cli import main
from lina_core.csg.graph import CSG, Entity
from lina_core.csg.serialize import from_json, to_json

PROMPT = "a red ball on a small mirror"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_one_line_error(code: int, err: str) -> None:
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_csg_prints_the_graph_and_writes_loadable_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scene.json"
    assert main(["csg", PROMPT, "--json", str(out), "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    csg = from_json(out.read_text())
    assert csg.prompt == PROMPT
    assert {e.cls for e in csg.entities()} >= {"ball", "mirror"}
    assert csg.effects("reflection"), "the physics rules should add the ball's reflection"
    assert all(n.region is not None for n in csg.entities()), "the layout gives every entity a region"
    for node in csg.nodes():
        assert f" {node.id}:" in printed


def test_same_seed_gives_the_same_json(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for path in (a, b):
        assert main(["csg", PROMPT, "--json", str(path), "--seed", "7"]) == 0
    assert a.read_text() == b.read_text()


def test_csg_writes_png_figures(tmp_path: Path) -> None:
    graph, overlay = tmp_path / "graph.png", tmp_path / "layout.png"
    assert main(["csg", PROMPT, "--png", str(graph), "--overlay", str(overlay)]) == 0
    for path in (graph, overlay):
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > len(PNG_SIGNATURE)


def test_empty_prompt_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["csg", "   "])
    captured = capsys.readouterr()
    assert_one_line_error(code, captured.err)
    assert captured.out == ""


@pytest.mark.parametrize("flag", ["--json", "--png"])
def test_unwritable_output_is_a_one_line_error(flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "no-such-dir" / "out"
    code = main(["csg", PROMPT, flag, str(target)])
    assert_one_line_error(code, capsys.readouterr().err)
    assert not target.exists()


def test_llm_flag_without_configuration_is_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LINA_LLM_MODEL", raising=False)
    code = main(["csg", PROMPT, "--llm"])
    err = capsys.readouterr().err
    assert_one_line_error(code, err)
    assert "LINA_LLM_MODEL" in err


def fake_openai(monkeypatch: pytest.MonkeyPatch, *replies: str) -> list[dict[str, Any]]:
    """Install a stand-in ``openai`` module whose client answers with ``replies``; returns the client kwargs."""
    made: list[dict[str, Any]] = []
    queue = list(replies)

    def create(**kwargs: Any) -> Any:
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=queue.pop(0)))])

    def client(**kwargs: Any) -> Any:
        made.append(kwargs)
        return SimpleNamespace(chat=SimpleNamespace(completions=SimpleNamespace(create=create)))

    monkeypatch.setitem(sys.modules, "openai", SimpleNamespace(OpenAI=client))
    monkeypatch.setenv("LINA_LLM_MODEL", "fake-llm")
    monkeypatch.setenv("LINA_LLM_BASE_URL", "http://localhost:9/v1")
    monkeypatch.delenv("LINA_LLM_API_KEY", raising=False)
    monkeypatch.delenv("LINA_LLM_BACKEND", raising=False)
    return made


def test_llm_flag_uses_the_configured_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    reply = CSG("ignored")
    reply.add(Entity("cube", "cube", colour="blue", words=["blue", "cube"]))
    made = fake_openai(monkeypatch, to_json(reply))
    out = tmp_path / "llm.json"
    assert main(["csg", "a blue cube", "--llm", "--json", str(out)]) == 0
    assert made and made[0]["base_url"] == "http://localhost:9/v1"
    assert "note: parsed by LLM fake-llm" in capsys.readouterr().out
    csg = from_json(out.read_text())
    assert csg.prompt == "a blue cube" and [e.cls for e in csg.entities()] == ["cube"]


def test_llm_invalid_replies_are_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_openai(monkeypatch, "not json\nat all", "still\nnot json")
    code = main(["csg", PROMPT, "--llm"])
    err = capsys.readouterr().err
    assert_one_line_error(code, err)
    assert "(json)" in err


def test_version_and_missing_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out
    assert main([]) == 2


def test_python_dash_m_entry_point() -> None:
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "lina_core", "--version"], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0 and __version__ in done.stdout
