"""Measure the embedded model against its speed targets on this machine: model load <= 5 s, a baseline image at
the default settings <= 1 s, peak RAM <= 2 GB.

Run from the repository root: `python scripts/bench_tiny.py [--images 5] [--json OUT]`. Everything runs in this
fresh process, so the peak resident memory (the kernel's high-water mark) covers imports, load and sampling.
Load is timed twice: the first includes importing torch, diffusers and transformers (what `python app.py` pays
once), the second is the load alone. Exits 1 when a target is missed."""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

start = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lina_core.backends.registry import load_backend  # noqa: E402
from lina_core.defaults import DEFAULT_GUIDANCE  # noqa: E402
from lina_core.sampling import sample  # noqa: E402

LOAD_TARGET_S, IMAGE_TARGET_S, PEAK_TARGET_MB = 5.0, 1.0, 2048.0
PROMPT = "A red ball on a small mirror"
STEPS, GUIDANCE = 20, DEFAULT_GUIDANCE  # the app's defaults


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5, help="timed baseline images (after one warm-up)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    backend = load_backend("tiny")
    cold_load = time.perf_counter() - start
    del backend  # the peak below then holds one model, as the app does
    t = time.perf_counter()
    backend = load_backend("tiny")
    warm_load = time.perf_counter() - t
    sample(backend, [PROMPT], [0], steps=STEPS, guidance_scale=GUIDANCE)  # warm-up
    times = [sample(backend, [PROMPT], [seed], steps=STEPS, guidance_scale=GUIDANCE).seconds
             for seed in range(args.images)]
    image = statistics.median(times)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    figures = {"load_s_with_imports": cold_load, "load_s": warm_load, "image_s_median": image,
               "image_s_all": times, "peak_rss_mb": peak_mb, "steps": STEPS, "guidance": GUIDANCE,
               "torch_threads": __import__("torch").get_num_threads()}
    checks = {
        f"model load with imports {cold_load:.2f} s (the load alone {warm_load:.2f} s) <= {LOAD_TARGET_S:g} s":
            cold_load <= LOAD_TARGET_S,
        f"baseline image at {STEPS} steps, guidance {GUIDANCE:g}: {image:.3f} s median of {len(times)} "
        f"<= {IMAGE_TARGET_S:g} s": image <= IMAGE_TARGET_S,
        f"peak RAM {peak_mb:.0f} MB <= {PEAK_TARGET_MB:.0f} MB": peak_mb <= PEAK_TARGET_MB,
    }
    for name, ok in checks.items():
        print(("PASS " if ok else "FAIL ") + name)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
