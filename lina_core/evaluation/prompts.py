"""Which prompts an evaluation runs on: a world split's fixed list, or a user's file (one prompt per line)."""
from __future__ import annotations

from pathlib import Path

from ..world.prompts import PromptSample, ood_prompts, train_prompts_examples

SPLITS = {"train": train_prompts_examples, "ood": ood_prompts}


def load_prompt_file(path: str | Path) -> list[PromptSample]:
    lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    prompts = [p for p in lines if p and not p.startswith("#")]
    if not prompts:
        raise ValueError(f"{path} holds no prompts (one per line; lines starting with # are ignored)")
    return [PromptSample(p, "custom", "custom", {"source": str(path), "line": i}) for i, p in enumerate(prompts)]


def evaluation_prompts(split: str | None = None, prompts_file: str | Path | None = None) -> list[PromptSample]:
    if prompts_file is not None:
        return load_prompt_file(prompts_file)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    return SPLITS[split]()
