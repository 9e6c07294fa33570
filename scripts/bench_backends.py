"""LINA / baseline wall time at EQUAL step count on the tiny random SD-3 and SDXL pipelines of the tests.

Run from the repository root: `python scripts/bench_backends.py [--steps 20 --repeats 2 --prompts 4]`.
One interleaved run per backend through ``lina_core.bench.bench`` (the `bench` command's timing); prints
a table per backend and the LINA ratios. The models are random and tiny, so a model evaluation costs
milliseconds and the ratio is an upper bound on the overhead a full-size model would see.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the project, and the tiny pipelines of the tests

from sd_tiny import T5_LENGTH, tiny_sd3_pipeline, tiny_sdxl_pipeline  # noqa: E402

from lina_core.backends.sd3 import SD3Backend  # noqa: E402
from lina_core.backends.sdxl import SDXLBackend  # noqa: E402
from lina_core.bench import bench  # noqa: E402
from lina_core.world.prompts import ood_prompts  # noqa: E402

METHODS = ("baseline", "lina", "lina-embedding", "lina-latent", "lina-schedule")
BACKENDS = {
    "sd3-tiny": lambda: SD3Backend.from_pipeline(tiny_sd3_pipeline(), name="sd3-tiny", max_sequence_length=T5_LENGTH),
    "sdxl-tiny": lambda: SDXLBackend.from_pipeline(tiny_sdxl_pipeline(), name="sdxl-tiny"),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--prompts", type=int, default=4, help="the first N prompts of the OOD list")
    args = p.parse_args()
    prompts = [s.prompt for s in ood_prompts()][:args.prompts]
    for name, make in BACKENDS.items():
        result = bench(make(), prompts, METHODS, steps=args.steps, repeats=args.repeats)
        print(f"\n{name}: {args.steps} steps, {len(prompts)} prompts, {args.repeats} repeats")
        print(result.table())
        spread = {k: ", ".join(f"{r:.3f}" for r in v) for k, v in result.ratios_per_repeat().items()}
        print("per repeat:", "; ".join(f"{k} {v}" for k, v in spread.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
