"""Generate images for each prompt and seed with each method, and score them with the world's judge."""
from __future__ import annotations

import time
from typing import Callable, Sequence

import torch
from PIL import Image
from tqdm.auto import tqdm

from ..backends.base import Backend
from ..csg import CSG
from ..csg.layout import assign_layout
from ..csg.parser import parse_prompt
from ..imaging import to_pil
from ..sampling import sample
from ..world.judge import Verdict, judge
from ..world.prompts import PromptSample
from .records import EvalRecord

JUDGE_SIZE = 64  # the judge is validated on 64x64 renders; smaller generations are upsampled to it first

# A method turns a laid-out graph and seeds into images [B, 3, H, W] in [0, 1].
Method = Callable[[Backend, CSG, Sequence[int], int, float], torch.Tensor]


def baseline(backend: Backend, csg: CSG, seeds: Sequence[int], steps: int, guidance: float) -> torch.Tensor:
    return sample(backend, [csg.prompt] * len(seeds), seeds, steps=steps, guidance_scale=guidance).images


def judge_image(image: torch.Tensor, csg: CSG) -> Verdict:
    """Judge a generated image [3, H, W] in [0, 1] against its graph, at the judge's resolution."""
    pil = to_pil(image)
    if pil.size != (JUDGE_SIZE, JUDGE_SIZE):
        pil = pil.resize((JUDGE_SIZE, JUDGE_SIZE), Image.BILINEAR)
    return judge(pil, csg)


def canonical_graph(prompt: str) -> CSG:
    """The graph the judge scores against: the parsed prompt with its canonical (jitter 0) layout."""
    return assign_layout(parse_prompt(prompt), seed=0, jitter=0.0)


def evaluate(
    backend: Backend,
    samples: Sequence[PromptSample],
    seeds: Sequence[int],
    methods: dict[str, Method],
    steps: int = 20,
    guidance: float = 5.0,
    on_images: Callable[[PromptSample, str, torch.Tensor], None] | None = None,
) -> list[EvalRecord]:
    records: list[EvalRecord] = []
    for s in tqdm(samples, desc="evaluate"):
        csg = canonical_graph(s.prompt)
        for name, method in methods.items():
            start = time.perf_counter()
            images = method(backend, csg, seeds, steps, guidance)
            per_image = (time.perf_counter() - start) / len(seeds)
            if on_images:
                on_images(s, name, images)
            for seed, image in zip(seeds, images):
                verdict = judge_image(image, csg)
                records.append(EvalRecord(
                    prompt=s.prompt, category=s.category, subcategory=s.subcategory, seed=int(seed), method=name,
                    texture=verdict.texture, physical=verdict.physical, passed=verdict.passed, seconds=per_image,
                    nodes=[vars(n) for n in verdict.nodes],
                ))
    return records
