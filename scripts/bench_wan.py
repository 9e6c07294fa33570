"""LINA's time per video over the baseline's at equal step count, on the tiny random Wan pipeline of the tests.

    python scripts/bench_wan.py [--steps 20] [--repeats 1] [--threads 1]

Uses ``lina_core.bench.bench`` (warm-up, interleaved order) on the canonical graphs of a few world prompts;
prints the markdown table and the ratio. The tiny model's weights are random, so only the timing means
something: the interventions' overhead (per-frame latent targets, embedding edits, reallocated sigmas)
against a transformer and VAE that cost almost nothing, i.e. an upper bound on the real ratio.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the project, and the tiny pipeline of the tests

from lina_core.backends.wan import WanBackend, parse_size  # noqa: E402
from lina_core.bench import bench  # noqa: E402
from wan_tiny import tiny_wan_pipeline  # noqa: E402

PROMPTS = ("a red ball on a small mirror", "a red cube on the floor, lit from the left",
           "there is more dirt than empty space in the jar")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the tiny model gains nothing more)")
    parser.add_argument("--size", default="64x64x9", help="HEIGHTxWIDTHxFRAMES")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    backend = WanBackend.from_pipeline(tiny_wan_pipeline(), size=parse_size(args.size), max_sequence_length=32)
    result = bench(backend, PROMPTS, ["baseline", "lina"], steps=args.steps, repeats=args.repeats)
    print(result.table())
    print(f"lina/baseline = {result.ratios()['lina/baseline']:.3f} at {args.steps} steps, {args.size}")


if __name__ == "__main__":
    main()
