"""The LLM parser with a fake OpenAI-compatible client: no network, no model."""
from __future__ import annotations

import json
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from lina_core.csg import vocab
from lina_core.csg.graph import CSG, EdgeType, Effect, EffectType, Entity
from lina_core.csg.llm import LLMBackendError, LLMConfig, LLMParseError, LLMParser, extract_json
from lina_core.csg.serialize import SCHEMA, to_dict, to_json

PROMPT = "two green cubes on a table"
CONFIG = LLMConfig(base_url="http://localhost:9/v1", model="fake-model")


class FakeClient:
    """Mimics ``client.chat.completions.create`` and records every request."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        self.chat = SimpleNamespace(completions=self)

    def create(self, **kwargs: Any) -> Any:
        self.requests.append(kwargs)
        message = SimpleNamespace(content=self.replies.pop(0))
        return SimpleNamespace(choices=[SimpleNamespace(message=message)])


def expected_csg(prompt: str = PROMPT) -> CSG:
    csg = CSG(prompt)
    csg.add(Entity("cube", "cube", colour="green", count=2, words=["green", "cubes"]))
    csg.add(Entity("table", "table", words=["table"]))
    csg.connect("table", "cube", EdgeType.SUPPORTS)
    csg.connect("cube", "table", EdgeType.LOCATED_AT, relation="on")
    csg.add(Effect("contact_cube", EffectType.CONTACT, params={"object": "cube", "support": "table"}))
    csg.connect("cube", "contact_cube", EdgeType.CAUSES)
    csg.connect("table", "contact_cube", EdgeType.SUPPORTS)
    return csg


def bad_relation_reply() -> tuple[str, str]:
    """A reply whose located_at relation is not in RELATIONS, and the path of that field."""
    data = to_dict(expected_csg())
    i = next(i for i, e in enumerate(data["edges"]) if e["type"] == "located_at")
    data["edges"][i]["params"]["relation"] = "atop"
    return json.dumps(data), f"edges[{i}].params.relation"


def parse_with(*replies: str) -> tuple[CSG, FakeClient]:
    client = FakeClient(*replies)
    return LLMParser(CONFIG, client=client).parse(PROMPT), client


def with_note(csg: CSG) -> dict[str, Any]:
    data = to_dict(csg)
    data["notes"].append("parsed by LLM fake-model")
    return data


def test_valid_reply_gives_the_csg_with_user_prompt_and_note() -> None:
    reply = to_json(expected_csg(prompt="something the model echoed wrongly"))
    csg, client = parse_with(reply)
    assert to_dict(csg) == with_note(expected_csg())
    assert len(client.requests) == 1
    request = client.requests[0]
    assert request["model"] == "fake-model" and request["temperature"] == 0.0
    assert request["response_format"] == {"type": "json_object"}
    assert request["messages"][-1] == {"role": "user", "content": PROMPT}


def test_fenced_reply_after_prose_is_accepted() -> None:
    reply = f"Sure! Here is the graph {{as asked}}:\n```json\n{to_json(expected_csg())}\n```\nAnything else?"
    csg, _ = parse_with(reply)
    assert to_dict(csg) == with_note(expected_csg())


def test_extract_json_skips_braces_in_leading_text() -> None:
    assert extract_json('I think {this} is it: {"a": {"b": 1}} done') == {"a": {"b": 1}}


def test_invalid_reply_is_retried_with_the_error_shown_to_the_model() -> None:
    bad, field = bad_relation_reply()
    csg, client = parse_with(bad, to_json(expected_csg()))
    assert to_dict(csg) == with_note(expected_csg())
    assert len(client.requests) == 2
    second = client.requests[1]["messages"]
    assert second[:2] == client.requests[0]["messages"]
    assert second[2] == {"role": "assistant", "content": bad}
    assert second[3]["role"] == "user"
    assert field in second[3]["content"] and "atop" in second[3]["content"]


def test_invalid_twice_raises_naming_the_field_and_quoting_the_reply() -> None:
    bad, field = bad_relation_reply()
    with pytest.raises(LLMParseError) as info:
        parse_with(bad, bad)
    assert isinstance(info.value, ValueError)
    assert info.value.field == field
    assert field in str(info.value)
    assert bad[:40] in str(info.value)


def test_reply_without_json_is_a_parse_error_on_the_json_field() -> None:
    with pytest.raises(LLMParseError) as info:
        parse_with("I cannot help with that.", "Still no.")
    assert info.value.field == "(json)"
    assert "Still no." in str(info.value)


def test_system_prompt_holds_schema_vocabulary_and_examples() -> None:
    _, client = parse_with(to_json(expected_csg()))
    system = client.requests[0]["messages"][0]
    assert system["role"] == "system"
    text = system["content"]
    assert json.dumps(SCHEMA) in text
    for word in [*vocab.CLASSES, *vocab.COLOURS, *vocab.MATERIALS, *vocab.SIDES]:
        assert word in text, word
    assert "a red ball on a small mirror" in text and '"reflection_ball"' in text


def test_client_failure_is_a_backend_error() -> None:
    class Down(FakeClient):
        def create(self, **kwargs: Any) -> Any:
            raise ConnectionError("connection refused")

    with pytest.raises(LLMBackendError, match="connection refused"):
        LLMParser(CONFIG, client=Down()).parse(PROMPT)


def test_from_env_is_off_unless_a_model_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LINA_LLM_BASE_URL", "LINA_LLM_MODEL", "LINA_LLM_API_KEY", "LINA_LLM_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LINA_LLM_BASE_URL", "http://localhost:8000/v1")
    assert LLMConfig.from_env() is None
    monkeypatch.setenv("LINA_LLM_MODEL", "qwen")
    monkeypatch.setenv("LINA_LLM_API_KEY", "k")
    assert LLMConfig.from_env() == LLMConfig(base_url="http://localhost:8000/v1", model="qwen", api_key="k")
    monkeypatch.setenv("LINA_LLM_BACKEND", "transformers")
    assert LLMConfig.from_env().backend == "transformers"
    monkeypatch.setenv("LINA_LLM_BACKEND", "ollama")
    with pytest.raises(ValueError, match="LINA_LLM_BACKEND"):
        LLMConfig.from_env()


def test_missing_openai_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)  # makes `import openai` raise ImportError
    with pytest.raises(LLMBackendError, match="pip install openai"):
        LLMParser(CONFIG).parse(PROMPT)


def test_transformers_backend_with_missing_model_fails_clearly(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = LLMConfig(base_url=None, model=str(tmp_path / "no-such-model"), backend="transformers")
    with pytest.raises(LLMBackendError, match="cannot load local model"):
        LLMParser(config).parse(PROMPT)
