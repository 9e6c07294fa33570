"""Generated images kept beside an evaluation report (``evaluate --images DIR``), so that a changed judge
re-scores a whole run in seconds (``evaluate --rejudge REPORT.json``) instead of generating it again."""
from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import torch
from PIL import Image

from ..imaging import to_pil
from ..world.prompts import PromptSample
from .records import EvalRecord, build_report
from .run import canonical_graph, judge_image


def image_path(root: Path, method: str, prompt: str, seed: int) -> Path:
    """Where one record's image lives: a function of the record alone, so shards can share one folder."""
    key = hashlib.sha1(prompt.encode()).hexdigest()[:12]
    return Path(root) / method / f"{key}-s{seed}.png"


class ImageStore:
    """An ``on_images`` callback that writes every generated image as a PNG (what the judge reads anyway)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __call__(self, sample: PromptSample, method: str, seeds: Sequence[int], images: torch.Tensor) -> None:
        for seed, image in zip(seeds, images):
            path = image_path(self.root, method, sample.prompt, seed)
            path.parent.mkdir(parents=True, exist_ok=True)
            to_pil(image).save(path)


def images_setting(images: Path, report: Path | None) -> str:
    """The images folder as the report records it: relative to the report's folder, so that the two can move
    together (as given when there is no report file)."""
    return os.path.relpath(images, report.parent) if report is not None else str(images)


def images_root(report: dict, report_path: Path, given: Path | None = None) -> Path:
    """The folder a report's images were written to: ``given``, else the report's own setting (relative to
    the report's folder)."""
    if given is not None:
        return given
    stored = report["config"].get("images")
    if not stored:
        raise ValueError(f"{report_path} keeps no images (it was not run with --images); "
                         "re-run the evaluation with --images DIR to make it re-judgeable")
    return Path(report_path).parent / stored


def rejudge(report: dict, root: Path) -> dict:
    """The report with every record scored again by the current judge from its stored image (timings kept)."""
    records = [EvalRecord.from_dict(d) for d in report["records"]]
    missing: dict[str, int] = {}
    for r in records:
        if not image_path(root, r.method, r.prompt, r.seed).is_file():
            missing[r.method] = missing.get(r.method, 0) + 1
    if missing:
        counts = ", ".join(f"{m}: {n}" for m, n in missing.items())
        raise ValueError(f"no stored image in {root} for some records ({counts}); re-run those methods with --images")
    graphs: dict = {}
    out = []
    for r in records:
        csg = graphs.setdefault(r.prompt, canonical_graph(r.prompt))
        with Image.open(image_path(root, r.method, r.prompt, r.seed)) as im:
            verdict = judge_image(im.convert("RGB"), csg)
        out.append(replace(r, texture=verdict.texture, physical=verdict.physical, passed=verdict.passed,
                           nodes=[vars(n) for n in verdict.nodes]))
    return build_report(out, report["config"])
