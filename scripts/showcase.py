"""Write assets/eval/ood_showcase.png: baseline | peer | LINA on the paper's prompts (out of distribution for
the tiny model), two seeds each, with the committed model and predictor.

Run from the repository root: `python scripts/showcase.py [--out PATH]`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo.examples import PAPER_PROMPTS  # noqa: E402
from lina_core.backends.registry import load_backend  # noqa: E402
from lina_core.defaults import DEFAULT_GUIDANCE  # noqa: E402
from lina_core.evaluation.methods import make_methods  # noqa: E402
from lina_core.evaluation.run import canonical_graph  # noqa: E402
from lina_core.imaging import grid, to_pil  # noqa: E402

METHODS = ("baseline", "peer", "lina")
SEEDS = (0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "eval" / "ood_showcase.png")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    args = parser.parse_args()
    backend = load_backend("tiny")
    methods = make_methods(METHODS)
    rows, captions = [], []
    for prompt in PAPER_PROMPTS:
        csg = canonical_graph(prompt)
        row = []
        for method in methods.values():
            row += [to_pil(im) for im in method(backend, csg, SEEDS, args.steps, args.guidance)]
        rows.append(row)
        captions.append(f"{prompt}  |  " + "  |  ".join(f"{m} x{len(SEEDS)}" for m in METHODS))
        print(captions[-1], flush=True)
    grid(rows, scale=4, captions=captions).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
