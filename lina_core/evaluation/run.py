"""Generate images for each prompt and seed with each method, and score them with the world's judge."""
from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Callable, Sequence, TypeVar

import torch
from PIL import Image
from tqdm.auto import tqdm

from ..backends.base import Backend
from ..csg import CSG
from ..csg.layout import assign_layout
from ..csg.parser import parse_prompt
from ..defaults import DEFAULT_GUIDANCE
from ..imaging import to_pil
from ..sampling import sample
from ..world.judge import Verdict, judge
from ..world.prompts import PromptSample
from .paired import PARTNER_OF
from .records import EvalRecord

JUDGE_SIZE = 64  # the judge is validated on 64x64 renders; smaller generations are upsampled to it first

T = TypeVar("T")

# A method turns a laid-out graph and seeds into images [B, 3, H, W] in [0, 1]. One that needs a one-off
# set-up may also have ``prepare(backend)``; evaluation calls it before timing anything.
Method = Callable[[Backend, CSG, Sequence[int], int, float], torch.Tensor]
# Called with each batch a method generated: the prompt, the method's name, the seeds and the images.
OnImages = Callable[[PromptSample, str, Sequence[int], torch.Tensor], None]


def baseline(backend: Backend, csg: CSG, seeds: Sequence[int], steps: int, guidance: float) -> torch.Tensor:
    return sample(backend, [csg.prompt] * len(seeds), seeds, steps=steps, guidance_scale=guidance).images


def judge_image(image: torch.Tensor | Image.Image, csg: CSG) -> Verdict:
    """Judge a generated image ([3, H, W] in [0, 1], or as stored) against its graph, at the judge's resolution."""
    return judge(at_judge_size(image if isinstance(image, Image.Image) else to_pil(image)), csg)


def at_judge_size(image: Image.Image) -> Image.Image:
    """The image as the judge reads it, at its resolution. A smaller generation is enlarged into blocks of
    whole pixels: bilinear blending smeared a two-pixel bird or a small mirror's reflection into colours the
    judge does not know, and it was surer of both correct and wrong pictures this way (``validate_judge.py
    --size 32``). A larger one is averaged down."""
    if image.size == (JUDGE_SIZE, JUDGE_SIZE):
        return image
    enlarge = image.width < JUDGE_SIZE and image.height < JUDGE_SIZE
    return image.resize((JUDGE_SIZE, JUDGE_SIZE), Image.NEAREST if enlarge else Image.BILINEAR)


def canonical_graph(prompt: str) -> CSG:
    """The graph the judge scores against: the parsed prompt with its canonical (jitter 0) layout."""
    return assign_layout(parse_prompt(prompt), seed=0, jitter=0.0)


@dataclass(frozen=True)
class WorkItem:
    """One unit of evaluation work: a prompt at one seed (every method runs on it)."""

    sample: PromptSample
    seed: int


def work_items(samples: Sequence[PromptSample], seeds: Sequence[int]) -> list[WorkItem]:
    """Prompt-major: a prompt's seeds are adjacent, so a contiguous share keeps them in one batch."""
    return [WorkItem(s, int(seed)) for s in samples for seed in seeds]


@dataclass(frozen=True)
class Shard:
    """Slice ``index`` of ``count`` contiguous, near-equal slices (the first ones one item longer, the
    split ``accelerate``'s ``split_between_processes`` makes): shards 0..N-1 cover every item once."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= K < N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """"K/N" (K counted from 0)."""
        try:
            k, n = (int(part) for part in text.split("/"))
        except ValueError:
            raise ValueError(f"--shard expects K/N with integers, e.g. 0/2; got {text!r}") from None
        return cls(k, n)

    def take(self, items: Sequence[T]) -> list[T]:
        size, extra = divmod(len(items), self.count)
        start = self.index * size + min(self.index, extra)
        return list(items[start:start + size + (self.index < extra)])


def timed(fn: Callable[[], torch.Tensor], device: torch.device) -> tuple[torch.Tensor, float]:
    """(result, wall seconds), waiting for the GPU to finish so queued kernels are counted."""
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out, time.perf_counter() - start


def warm_up(backend: Backend, methods: dict[str, Method], csg: CSG, seed: int, steps: int, guidance: float) -> None:
    """Untimed: each method's one-off set-up (``prepare(backend)``, e.g. measuring directions) and one image
    each, so that first-call costs (allocations, kernel selection on a GPU) land on no method's timing."""
    for method in methods.values():
        prepare = getattr(method, "prepare", None)
        if prepare is not None:
            prepare(backend)
    for method in methods.values():
        method(backend, csg, [seed], steps, guidance)


def evaluate_items(
    backend: Backend,
    items: Sequence[WorkItem],
    methods: dict[str, Method],
    steps: int = 20,
    guidance: float = DEFAULT_GUIDANCE,
    on_images: OnImages | None = None,
) -> list[EvalRecord]:
    """Judge every method on every item; consecutive items of one prompt are generated as one batch."""
    records: list[EvalRecord] = []
    batches = [list(group) for _, group in groupby(items, key=lambda it: it.sample)]
    if batches:
        warm_up(backend, methods, canonical_graph(items[0].sample.prompt), items[0].seed, steps, guidance)
    for batch in tqdm(batches, desc="evaluate"):
        s, seeds = batch[0].sample, [it.seed for it in batch]
        csg = canonical_graph(s.prompt)
        for name, method in methods.items():
            images, seconds = timed(lambda: method(backend, csg, seeds, steps, guidance), backend.device)
            if on_images:
                on_images(s, name, seeds, images)
            for seed, image in zip(seeds, images):
                verdict = judge_image(image, csg)
                records.append(EvalRecord(
                    prompt=s.prompt, category=s.category, subcategory=s.subcategory, seed=seed, method=name,
                    texture=verdict.texture, physical=verdict.physical, passed=verdict.passed,
                    seconds=seconds / len(seeds), nodes=[vars(n) for n in verdict.nodes],
                    pair_only=PARTNER_OF in s.metadata,
                ))
    return records


def evaluate(
    backend: Backend,
    samples: Sequence[PromptSample],
    seeds: Sequence[int],
    methods: dict[str, Method],
    steps: int = 20,
    guidance: float = DEFAULT_GUIDANCE,
    on_images: OnImages | None = None,
) -> list[EvalRecord]:
    """Every method on every prompt at every seed (all seeds of a prompt in one batch)."""
    return evaluate_items(backend, work_items(samples, seeds), methods, steps, guidance, on_images)


def _partial_state() -> Any | None:
    """accelerate's process state, or None when accelerate is not installed."""
    try:
        from accelerate import PartialState
    except ImportError:
        return None
    return PartialState()


def evaluate_distributed(
    backend: Backend,
    items: Sequence[WorkItem],
    methods: dict[str, Method],
    steps: int = 20,
    guidance: float = DEFAULT_GUIDANCE,
    on_images: OnImages | None = None,
) -> tuple[list[EvalRecord], bool]:
    """(all records, whether this is the main process). Under ``accelerate launch`` with several processes
    each evaluates its contiguous share (``split_between_processes``) and the records are gathered on every
    process; with one process (or without accelerate) this is ``evaluate_items`` on all the items."""
    state = _partial_state()
    if state is None or state.num_processes == 1:
        return evaluate_items(backend, items, methods, steps, guidance, on_images), True
    from accelerate.utils import gather_object

    with state.split_between_processes(list(items)) as mine:
        local = evaluate_items(backend, mine, methods, steps, guidance, on_images)
    return gather_object(local), state.is_main_process
