"""The `evaluate` command: judge scores per category as a table, a JSON summary and a sample grid."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..backends.errors import MissingWeightsError
from ..command import Command


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default=None, help="backend name (default: $LINA_BACKEND or tiny)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--split", choices=("train", "ood"), default="ood", help="the world's fixed prompt list")
    source.add_argument("--prompts", type=Path, metavar="FILE", help="one prompt per line (parsed, then judged)")
    p.add_argument("--seeds", type=int, default=4, help="seeds per prompt (0..K-1)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=5.0)
    p.add_argument("--json", type=Path, metavar="OUT.json", help="write the summary and every record")
    p.add_argument("--grid", type=Path, metavar="OUT.png", help="write a grid of the generated images")


def _run(args: argparse.Namespace) -> int:
    from ..backends.registry import load_backend
    from ..imaging import grid, to_pil
    from .prompts import evaluation_prompts
    from .records import markdown_table, summarize
    from .run import baseline, evaluate

    if not 1 <= args.seeds <= 64:
        raise ValueError(f"--seeds must be between 1 and 64, got {args.seeds}")
    samples = evaluation_prompts(None if args.prompts else args.split, args.prompts)
    backend = load_backend(args.backend)
    rows, captions = [], []

    def keep(sample, method, images):
        rows.append([to_pil(im) for im in images])
        captions.append(f"{method}: {sample.prompt}")

    records = evaluate(backend, samples, list(range(args.seeds)), {"baseline": baseline}, steps=args.steps,
                       guidance=args.guidance, on_images=keep)
    summary = summarize(records)
    print(markdown_table(summary))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "records": [r.as_dict() for r in records]}, indent=1))
    if args.grid:
        grid(rows, scale=2, captions=captions).save(args.grid)
    return 0


EVALUATE_COMMAND = Command(
    name="evaluate",
    help="generate images for a prompt set and score them with the world's judge (texture, physical alignment)",
    configure=_configure,
    run=_run,
    user_errors=(ValueError, MissingWeightsError),
)
