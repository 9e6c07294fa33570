"""Optional LLM parser: prompt -> CSG JSON from an OpenAI-compatible endpoint or a local model.

Off by default (the rule-based parser is the default). The model is told the schema, the
world's vocabulary, the graph conventions and two worked examples, and its reply is validated
against the same schema as hand-edited JSON, so a bad reply is caught and named, never trusted.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Literal, get_args

from . import vocab
from .graph import CSG, RELATIONS, EdgeType, Effect, EffectType, Entity
from .serialize import SCHEMA, SCHEMA_VERSION, CSGFormatError, from_dict, to_dict

Backend = Literal["openai", "transformers"]
Message = dict[str, str]

_EXCERPT_CHARS = 300
_MAX_NEW_TOKENS = 2048


class LLMParseError(ValueError):
    """The model's reply was not a valid CSG, even after one retry; ``field`` names the bad field."""

    def __init__(self, field: str, error: str, raw: str) -> None:
        excerpt = raw.strip()[:_EXCERPT_CHARS]
        super().__init__(f"LLM reply is not a valid CSG after a retry: {error} (reply began: {excerpt!r})")
        self.field = field
        self.raw = raw


class LLMBackendError(RuntimeError):
    """The LLM could not be reached or loaded (missing package, bad model path, request failure)."""


@dataclass
class LLMConfig:
    base_url: str | None
    model: str
    api_key: str | None = None
    backend: Backend = "openai"
    temperature: float = 0.0
    timeout_s: float = 30.0

    @classmethod
    def from_env(cls) -> LLMConfig | None:
        """Config from LINA_LLM_* variables; None (parser off) unless LINA_LLM_MODEL is set."""
        model = os.environ.get("LINA_LLM_MODEL")
        if not model:
            return None
        backend = os.environ.get("LINA_LLM_BACKEND") or "openai"
        if backend not in get_args(Backend):
            raise ValueError(f"LINA_LLM_BACKEND must be one of {get_args(Backend)}, got {backend!r}")
        return cls(
            base_url=os.environ.get("LINA_LLM_BASE_URL") or None,
            model=model,
            api_key=os.environ.get("LINA_LLM_API_KEY") or None,
            backend=backend,  # type: ignore[arg-type]
        )


# -- the system prompt ---------------------------------------------------------------------------

_CONVENTIONS = """\
Graph conventions:
- Entities: one node per named thing; id = class name, then ball_2, ball_3 for more of the same class.
  "two red balls" is ONE node with count=2. "words" = the prompt words naming it (["red", "ball"]).
  Unknown nouns become an entity with cls=<the word>, known=false, and the word goes in unknown_words.
- A light ("light from the left", "sun on the right", "lit from above") is an entity cls="light",
  side "left" | "right" | "top"; its words include the side phrase (["sun", "on", "left"]).
- Entity edges: support -supports-> object ("O on S"); object -located_at-> reference with
  params {"relation": one of RELATIONS} for EVERY spatial relation, including "on" and "in" (so
  "ball on mirror" has both mirror -supports-> ball and ball -located_at{relation: on}-> mirror);
  container -contains-> substance; agent -acts_on{verb}-> patient.
- Effects: "implied": true unless the prompt states them; "hop" = inference depth.
  * contact, id "contact_<obj>": an object resting on a support. Edges obj -causes-> contact,
    support -supports-> contact. hop 1. params {"object": obj, "support": support}.
  * reflection, id "reflection_<obj>": object on/above/near a reflective surface (mirror, water).
    Edges obj -causes-> reflection, surface -reflects-> reflection (the reflection lies inside the
    surface). hop 2. params {"object": obj, "surface": surface}.
  * shadow, id "shadow_<obj>": only when a light entity exists. Edges obj -casts-> shadow,
    light -illuminates-> shadow. hop 1 (2 if the light itself was inferred).
    params {"object": obj, "light": light, "side": the side opposite the light
    ("right" for a light on the left, "left" for a light on the right, "below" for a light at the top)}.
  * fill, id "fill_<container>": a container holds a substance. Edges substance -causes-> fill,
    container -contains-> fill. params {"container", "substance", "level": number in [0, 1],
    "comparison": "more" | "less" | "equal" | null}. Stated levels (implied false, hop 0):
    "more X than empty space" 0.75, "less X than ..." 0.25, "half full" 0.5, "full" 0.95,
    "almost empty" / "a little" 0.15. Unstated: level 0.5, implied true, hop 1.
  * action, id "action_<verb>": "a bird eats a snake" gives agent -causes{role: agent}-> action,
    action -acts_on{role: patient}-> patient; implied false, hop 0;
    params {"verb": "eat", "agent", "patient"}, plus "agent_larger": true for eating. It implies a
    contact effect between the agent's mouth and the patient: action -causes-> contact_<patient>, hop 1,
    params {"object": patient, "support": agent, "part": "mouth"}.
- Leave every "region" null (the layout is computed afterwards). "unknown_words": words not understood;
  "notes": short messages for the user about what was assumed."""


def _vocabulary_text() -> str:
    classes = []
    for info in vocab.CLASSES.values():
        extras = [info.category.value] + (["reflective"] if info.reflective else [])
        syn = f"; synonyms: {', '.join(info.synonyms)}" if info.synonyms else ""
        classes.append(f"  {info.name} ({', '.join(extras)}{syn})")
    sizes = ", ".join(f"{word}->{canon}" for word, canon in vocab.SIZES.items())
    lines = [
        "Vocabulary (use these canonical names for cls, colour, size, material, side):",
        "classes:", *classes,
        f"substances that can fill a container: {', '.join(sorted(vocab.FILLABLE))}",
        f"colours: {', '.join(vocab.COLOURS)} (synonyms: "
        + ", ".join(f"{w}->{c}" for w, c in vocab.COLOUR_SYNONYMS.items()) + ")",
        f"sizes: {sizes}",
        f"materials: {', '.join(vocab.MATERIALS)}",
        f"light sides: {', '.join(vocab.SIDES)}",
        f"RELATIONS: {', '.join(RELATIONS)}",
        f"effect types: {', '.join(t.value for t in EffectType)}",
        f"edge types: {', '.join(t.value for t in EdgeType)}",
    ]
    return "\n".join(lines)


def _example_ball_on_mirror() -> CSG:
    """Support, contact and a two-hop reflection bounded by the mirror."""
    csg = CSG("a red ball on a small mirror")
    csg.add(Entity("ball", "ball", colour="red", words=["red", "ball"]))
    csg.add(Entity("mirror", "mirror", size="small", words=["small", "mirror"]))
    csg.connect("mirror", "ball", EdgeType.SUPPORTS)
    csg.connect("ball", "mirror", EdgeType.LOCATED_AT, relation="on")
    csg.add(Effect("contact_ball", EffectType.CONTACT, hop=1, params={"object": "ball", "support": "mirror"}))
    csg.connect("ball", "contact_ball", EdgeType.CAUSES)
    csg.connect("mirror", "contact_ball", EdgeType.SUPPORTS)
    csg.add(Effect("reflection_ball", EffectType.REFLECTION, hop=2, params={"object": "ball", "surface": "mirror"}))
    csg.connect("ball", "reflection_ball", EdgeType.CAUSES)
    csg.connect("mirror", "reflection_ball", EdgeType.REFLECTS)
    return csg


def _example_bird_eats_snake() -> CSG:
    """A stated action with its implied mouth contact, and shadows opposite a stated light."""
    csg = CSG("a bird eats a snake, sun on the left")
    csg.add(Entity("bird", "bird", words=["bird"]))
    csg.add(Entity("snake", "snake", words=["snake"]))
    csg.add(Entity("light", "light", side="left", words=["sun", "on", "left"]))
    csg.connect("bird", "snake", EdgeType.ACTS_ON, verb="eat")
    csg.add(Effect("action_eat", EffectType.ACTION, implied=False, hop=0,
                   params={"verb": "eat", "agent": "bird", "patient": "snake", "agent_larger": True},
                   words=["eats"]))
    csg.connect("bird", "action_eat", EdgeType.CAUSES, role="agent")
    csg.connect("action_eat", "snake", EdgeType.ACTS_ON, role="patient")
    csg.add(Effect("contact_snake", EffectType.CONTACT, hop=1,
                   params={"object": "snake", "support": "bird", "part": "mouth"}))
    csg.connect("action_eat", "contact_snake", EdgeType.CAUSES)
    for obj in ("bird", "snake"):
        shadow = csg.add(Effect(f"shadow_{obj}", EffectType.SHADOW, hop=1,
                                params={"object": obj, "light": "light", "side": "right"}))
        csg.connect(obj, shadow.id, EdgeType.CASTS)
        csg.connect("light", shadow.id, EdgeType.ILLUMINATES)
    return csg


def system_prompt() -> str:
    """Everything the model needs to emit a valid CSG: schema, vocabulary, conventions, examples."""
    examples = []
    for i, build in enumerate((_example_ball_on_mirror, _example_bird_eats_snake), start=1):
        csg = build()
        examples.append(f"Example {i}. Prompt: {csg.prompt!r}\nReply:\n{json.dumps(to_dict(csg))}")
    return "\n\n".join([
        "You turn an image prompt into a Causal Scene Graph (CSG): the things the prompt names and the "
        "physical effects that follow from them. Reply with ONE JSON object and nothing else.",
        f"JSON Schema (version must be {SCHEMA_VERSION!r}):\n{json.dumps(SCHEMA)}",
        _vocabulary_text(),
        _CONVENTIONS,
        *examples,
    ])


# -- reading the reply ---------------------------------------------------------------------------

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def extract_json(text: str) -> dict[str, Any]:
    """The first JSON object in a reply, inside a ``` fence or after leading prose."""
    decoder = json.JSONDecoder()
    for chunk in [*_FENCE.findall(text), text]:
        for match in re.finditer(r"\{", chunk):
            try:
                obj, _ = decoder.raw_decode(chunk, match.start())
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return obj
    raise CSGFormatError("(json)", "no JSON object found in the reply")


def _try_csg(reply: str, prompt: str) -> CSG | CSGFormatError:
    """The CSG in a reply, or the validation error to show the model (returned, not raised, to retry)."""
    try:
        data = extract_json(reply)
        data["prompt"] = prompt  # the user's prompt is authoritative, whatever the model echoed
        return from_dict(data)
    except CSGFormatError as exc:
        return exc


# -- backends ------------------------------------------------------------------------------------

ChatFn = Callable[[list[Message]], str]


def _openai_client(config: LLMConfig) -> Any:
    try:
        import openai
    except ImportError:
        raise LLMBackendError(
            "the LLM parser needs the 'openai' package for OpenAI-compatible endpoints: pip install openai"
        ) from None
    # Local servers (vLLM, llama.cpp, Ollama) ignore the key but the client insists on one.
    api_key = config.api_key or (None if config.base_url is None else "not-needed")
    return openai.OpenAI(base_url=config.base_url, api_key=api_key, timeout=config.timeout_s)


def _openai_chat(client: Any, config: LLMConfig) -> ChatFn:
    def chat(messages: list[Message]) -> str:
        response = client.chat.completions.create(
            model=config.model, messages=messages, temperature=config.temperature,
            response_format={"type": "json_object"},
        )
        return response.choices[0].message.content or ""
    return chat


def _transformers_chat(config: LLMConfig) -> ChatFn:
    try:
        from transformers import pipeline
    except ImportError:
        raise LLMBackendError("the 'transformers' LLM backend needs the package: pip install transformers") from None
    try:
        generator = pipeline("text-generation", model=config.model)
    except (OSError, ValueError) as exc:
        raise LLMBackendError(
            f"cannot load local model {config.model!r} (give a local folder or a cached model id): {exc}"
        ) from None
    sampling: dict[str, Any] = {"do_sample": config.temperature > 0}
    if config.temperature > 0:
        sampling["temperature"] = config.temperature

    def chat(messages: list[Message]) -> str:
        out = generator(messages, max_new_tokens=_MAX_NEW_TOKENS, **sampling)
        return out[0]["generated_text"][-1]["content"]
    return chat


# -- the parser ----------------------------------------------------------------------------------

class LLMParser:
    """Prompt -> CSG via an LLM; one retry that shows the model its validation error."""

    def __init__(self, config: LLMConfig, client: Any | None = None) -> None:
        self.config = config
        self._client = client
        self._chat: ChatFn | None = None

    def _get_chat(self) -> ChatFn:
        if self._chat is None:
            if self._client is None and self.config.backend == "transformers":
                self._chat = _transformers_chat(self.config)
            else:
                client = self._client if self._client is not None else _openai_client(self.config)
                self._chat = _openai_chat(client, self.config)
        return self._chat

    def _ask(self, messages: list[Message]) -> str:
        chat = self._get_chat()
        try:
            return chat(messages)
        except Exception as exc:  # any client's network/server error, reported as one line to the user
            where = self.config.base_url or self.config.model
            raise LLMBackendError(f"LLM request to {where} failed: {type(exc).__name__}: {exc}") from exc

    def parse(self, prompt: str) -> CSG:
        messages: list[Message] = [
            {"role": "system", "content": system_prompt()},
            {"role": "user", "content": prompt},
        ]
        reply = self._ask(messages)
        result = _try_csg(reply, prompt)
        if isinstance(result, CSGFormatError):
            messages = [
                *messages,
                {"role": "assistant", "content": reply},
                {"role": "user", "content": f"That reply is not a valid CSG: {result}. "
                                            "Reply again with only the corrected JSON object."},
            ]
            reply = self._ask(messages)
            result = _try_csg(reply, prompt)
        if isinstance(result, CSGFormatError):
            raise LLMParseError(result.field, str(result), reply)
        result.notes.append(f"parsed by LLM {self.config.model}")
        return result


__all__ = ["LLMConfig", "LLMParser", "LLMParseError", "LLMBackendError", "system_prompt", "extract_json"]
