"""The `evaluate` command: judge scores per category and method as a table, a JSON report and a sample grid;
``--shard K/N`` runs one slice of the work and ``--merge`` joins the slices' reports; ``--images DIR`` keeps
every image so that ``--rejudge`` can score the run again with a changed judge."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..backends.errors import MissingWeightsError
from ..command import Command
from ..defaults import DEFAULT_GUIDANCE


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default=None, help="backend name (default: $LINA_BACKEND or tiny)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--split", choices=("train", "ood"), default="ood",
                        help="the world's fixed prompt list (ood also runs the train-list partners of swapped "
                             "agency prompts, for the paired score only)")
    source.add_argument("--prompts", type=Path, metavar="FILE", help="one prompt per line (parsed, then judged)")
    source.add_argument("--merge", type=Path, nargs="+", metavar="SHARD.json",
                        help="join the --json reports of the shards of one run, or of runs of different methods on "
                             "the same prompts and seeds (generates nothing)")
    source.add_argument("--rejudge", type=Path, metavar="REPORT.json",
                        help="score a report's stored images (--images) again with the current judge (generates "
                             "nothing; timings kept)")
    p.add_argument("--methods", default="baseline",
                   help="comma-separated: baseline, peer, lina, lina-fixed, lina-embedding, lina-latent, "
                        "lina-schedule, lina-gradient (latent guidance by a gradient step), "
                        "lina-oracle (judge-picked ceiling), world (the renderer's own picture at the "
                        "backend's resolution: the judge's ceiling there)")
    p.add_argument("--seeds", type=int, default=4, help="seeds per prompt (0..K-1)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    p.add_argument("--shard", default="0/1", metavar="K/N",
                   help="evaluate only slice K (from 0) of N of the (prompt, seed) list; join with --merge")
    p.add_argument("--json", type=Path, metavar="OUT.json", help="write the settings, the summary and every record")
    p.add_argument("--grid", type=Path, metavar="OUT.png", help="write a grid of the images this process generated")
    p.add_argument("--images", type=Path, metavar="DIR",
                   help="write every generated image as DIR/METHOD/*.png (shards may share DIR); with --rejudge: "
                        "where the images are, if not where the report says")


def _write(report: dict, path: Path | None) -> None:
    from .records import markdown_table
    from .targets import check_targets

    print(markdown_table(report["summary"]))
    for check in check_targets(report["config"], report["summary"]):
        print(check.line())
    if path:
        path.write_text(json.dumps(report, indent=1))


def _merge(args: argparse.Namespace) -> int:
    from .records import load_report, merge_reports

    _write(merge_reports([load_report(p) for p in args.merge]), args.json)
    return 0


def _rejudge(args: argparse.Namespace) -> int:
    from .images import images_root, images_setting, rejudge
    from .records import load_report

    report = load_report(args.rejudge)
    root = images_root(report, args.rejudge, args.images)
    out = rejudge(report, root)
    out["config"]["images"] = images_setting(root, args.json)  # still found from where the new report is
    _write(out, args.json)
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.merge:
        return _merge(args)
    if args.rejudge:
        return _rejudge(args)
    from ..backends.registry import load_backend
    from ..imaging import grid, to_pil
    from ..world.prompts import train_prompts_examples
    from .images import ImageStore, images_setting
    from .methods import make_methods, parse_method_names
    from .paired import partner_samples
    from .prompts import evaluation_prompts
    from .records import build_report
    from .run import Shard, evaluate_distributed, work_items

    if not 1 <= args.seeds <= 64:
        raise ValueError(f"--seeds must be between 1 and 64, got {args.seeds}")
    names = parse_method_names(args.methods)
    shard = Shard.parse(args.shard)
    samples = evaluation_prompts(None if args.prompts else args.split, args.prompts)
    if not args.prompts and args.split == "ood":
        samples += partner_samples(samples, train_prompts_examples())
    backend = load_backend(args.backend)
    rows, captions = [], []
    store = ImageStore(args.images) if args.images else None

    def keep(sample, method, seeds, images):
        rows.append([to_pil(im) for im in images])
        captions.append(f"{method}: {sample.prompt}")
        if store:
            store(sample, method, seeds, images)

    items = shard.take(work_items(samples, range(args.seeds)))
    records, is_main = evaluate_distributed(backend, items, make_methods(names), steps=args.steps,
                                            guidance=args.guidance, on_images=keep)
    if not is_main:
        return 0
    config = {"backend": backend.name, "prompts": str(args.prompts) if args.prompts else f"split:{args.split}",
              "seeds": args.seeds, "steps": args.steps, "guidance": args.guidance, "methods": names,
              "shard": [shard.index, shard.count]}
    if args.images:
        config["images"] = images_setting(args.images, args.json)
    _write(build_report(records, config), args.json)
    if args.grid and rows:
        grid(rows, scale=2, captions=captions).save(args.grid)
    return 0


EVALUATE_COMMAND = Command(
    name="evaluate",
    help="generate images for a prompt set with each method and score them with the world's judge "
         "(texture, physical alignment, swapped pairs, time)",
    configure=_configure,
    run=_run,
    user_errors=(ValueError, MissingWeightsError),
)
