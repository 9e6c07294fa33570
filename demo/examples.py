"""The example prompts as cached ``gr.Examples``: a click shows a finished baseline | LINA pair at once.

Three of the paper's showcase prompts are computed when the app starts, so the first visitor sees results
without waiting; the paper's other prompts and the world's other out-of-distribution prompts are computed
on their first click and then served to everyone. A pair costs ~2.4 s of CPU on the tiny model, so
computing all ~30 at start would blow the 15 s start-up budget (scripts/time_click.py measures both).
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import gradio as gr

from lina_core.world.prompts import ood_prompts

SHOWCASE = ["A red ball on a small mirror", "a bird eats a snake", "there is more dirt than empty space in the jar"]
PAPER_PROMPTS = [
    *SHOWCASE,
    "a person is close to the water and in the sand",
    "a snake eats a bird",
    "a blue cube on a table with light from the right",
]
CACHE_ENV = "GRADIO_EXAMPLES_CACHE"


def more_examples() -> list[str]:
    """The paper's other prompts, then the world's held-out prompts that are not among the paper's."""
    paper = {p.lower() for p in PAPER_PROMPTS}
    return PAPER_PROMPTS[len(SHOWCASE):] + [s.prompt for s in ood_prompts() if s.prompt.lower() not in paper]


@contextmanager
def fresh_cache_folder() -> Iterator[None]:
    """Examples built inside cache into a new folder, removed at exit. Cached outputs depend on the loaded
    model and on the code, so a folder left by an earlier run (another checkpoint, a test's random model)
    must never be served; a folder the user names in GRADIO_EXAMPLES_CACHE is used as it is."""
    if os.environ.get(CACHE_ENV):
        yield
        return
    folder = tempfile.mkdtemp(prefix="lina-examples-")
    atexit.register(shutil.rmtree, folder, True)
    os.environ[CACHE_ENV] = folder
    try:
        yield
    finally:
        del os.environ[CACHE_ENV]


def add_examples(fn: Callable | None, inputs: Sequence[gr.components.Component],
                 outputs: Sequence[gr.components.Component], row: Callable[[str], list],
                 eager: bool = True, embedded: bool = True) -> list[gr.Examples]:
    """Both example sets; ``row(prompt)`` gives every input's value (only the prompt is shown). Without
    ``fn`` (no model loaded) a click only fills the inputs. ``eager=False`` (or GRADIO_CACHE_MODE=lazy)
    defers the showcase too: for tests, whose random model nobody needs to see at once. ``embedded``: the
    model is our tiny one, for which the paper's prompts are out of distribution (the labels say so)."""
    cache = fn is not None
    with fresh_cache_folder():
        return [
            gr.Examples([row(p) for p in SHOWCASE], inputs, outputs, fn, cache_examples=cache,
                        cache_mode=None if eager else "lazy", visible_columns=[0], preload=False,
                        api_name="showcase_example",
                        label="The paper's prompts" + (" (out of distribution for our model)" if embedded else "")
                        + ": cached results"),
            gr.Examples([row(p) for p in more_examples()], inputs, outputs, fn, cache_examples=cache,
                        cache_mode="lazy", visible_columns=[0], examples_per_page=8, api_name="more_example",
                        label=("More held-out prompts" if embedded else "More prompts of the synthetic world")
                        + " (computed on first click, then cached for everyone)"),
        ]
