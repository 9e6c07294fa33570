"""The `build-pap` command: the synthetic world exported as a PAP-format dataset.

Arguments only; ``datasets`` and the renderer are imported when the command runs, so `--help` stays fast.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..command import Command


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="output folder: arrow/ (save_to_disk), data/*.parquet and README.md")
    p.add_argument("--n", type=int, required=True, help="number of rows (1 to 1,000,000)")
    p.add_argument("--split", choices=("train", "ood", "any"), default="train",
                   help="which prompts: the biased training split, the held-out compositions, or both")
    p.add_argument("--seed", type=int, default=0, help="row i depends only on (seed, i)")
    p.add_argument("--size", type=int, default=64, help="image side in pixels")
    p.add_argument("--num-proc", type=int, default=1, help="worker processes rendering rows")


def _run(args: argparse.Namespace) -> int:
    from .pap import BuildSpec, build_pap

    spec = BuildSpec(out=args.out, n=args.n, split=args.split, seed=args.seed, size=args.size,
                     num_proc=args.num_proc)
    report = build_pap(spec)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"wrote {report.rows} rows to {report.out} ({len(report.parquet_files)} parquet shard(s), arrow, README.md)")
    print(f"throughput: {report.images_per_s:.0f} images/s at {spec.size}x{spec.size} with {spec.num_proc} "
          f"process(es), {report.seconds:.1f} s; {report.images_per_cpu_s:.0f} images per CPU-second; "
          f"load average {load} on {os.cpu_count()} cores")
    return 0


BUILD_PAP_COMMAND = Command(
    name="build-pap",
    help="export the synthetic world as a PAP-format Hugging Face dataset (arrow + parquet + card)",
    configure=_configure,
    run=_run,
    user_errors=(ValueError,),
)
