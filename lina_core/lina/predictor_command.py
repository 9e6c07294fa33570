"""`python -m lina_core train-predictor`: label search, a cross-validated fit, and the predictor + its card.

Cross-validation answers the question the method's name asks — does a θ predicted per prompt beat one
fixed global θ on prompts neither saw? — with every prompt held out once, and compares both with the
per-prompt searched optimum (the oracle, the ceiling of this candidate set) and with the baseline.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..backends.errors import MissingWeightsError
from ..command import Command
from ..defaults import DEFAULT_GUIDANCE

if TYPE_CHECKING:
    from ..csg.graph import CSG
    from .search import SearchTable

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "assets" / "lina-predictor"
SEARCH_FILE = "search.json"

CARD = """# lina-predictor: LINA's learned intervention predictor for `{backend}`

Maps a prompt's Causal Scene Graph (its effects, hops, relations, light, sizes, fill level, surface and
support areas: {n_features} features) to the intervention settings θ LINA uses for it, by predicting the
judged score of each of {n_candidates} candidate θ (ridge regression per candidate) and taking the best.
At generation time only the predictor runs — never the judge, never best-of-N.

* Command: `python -m lina_core train-predictor {command}`{refit}
* Labels: {n_prompts} predictor-training prompts (never one of the fixed evaluation prompts; two thirds from
  held-out compositions), {n_seeds} seeds each, every candidate generated and judged at {steps} steps and
  guidance {guidance:g} ({images} images, {minutes:.1f} minutes). Objective: physical alignment minus
  {penalty} × texture lost against the baseline. The table is `search.json`.
* Cross-validation ({folds} folds; each prompt scored by the fit that did not see it), mean over prompts:

{table}

* Fixed global θ (best mean over the training prompts): {fixed}
"""


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=DEFAULT_PATH, help="output folder (default assets/lina-predictor)")
    p.add_argument("--backend", default=None, help="backend name (default: $LINA_BACKEND or tiny)")
    p.add_argument("--prompts", type=int, default=36, help="predictor-training prompts to search")
    p.add_argument("--seeds", type=int, default=2, help="seeds per prompt and candidate (0..K-1)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    p.add_argument("--folds", type=int, default=4, help="cross-validation folds")
    p.add_argument("--seed", type=int, default=0, help="draws the prompts and the folds")
    p.add_argument("--table", type=Path, metavar="SEARCH.json",
                   help="refit from a saved search table instead of generating (e.g. OUT/search.json)")


def cross_validate(graphs: Sequence[CSG], table: SearchTable, folds: int, seed: int) -> dict[str, dict[str, float]]:
    """Baseline, fixed global θ, predicted θ and oracle θ on held-out prompts: mean physical, texture, objective."""
    from .predictor import Predictor
    from .search import best_global

    if not 2 <= folds <= len(graphs):
        raise ValueError(f"--folds must be between 2 and the number of prompts ({len(graphs)}), got {folds}")
    order = list(range(len(graphs)))
    random.Random(seed).shuffle(order)
    scores = table.scores()
    chosen = {name: np.zeros(len(graphs), dtype=int) for name in ("fixed", "predicted")}
    for k in range(folds):
        held = order[k::folds]
        fit = [i for i in order if i not in held]
        model = Predictor.fit([graphs[i] for i in fit], scores[fit], table.candidates)
        chosen["fixed"][held] = best_global(scores[fit])
        chosen["predicted"][held] = [model.choose(graphs[i]) for i in held]
    chosen["baseline"] = np.zeros(len(graphs), dtype=int)
    chosen["oracle"] = scores.argmax(1)
    rows = np.arange(len(graphs))
    report = {name: {"physical": float(table.physical[rows, c].mean()), "texture": float(table.texture[rows, c].mean()),
                     "objective": float(scores[rows, c].mean())}
              for name, c in ((n, chosen[n]) for n in ("baseline", "fixed", "predicted", "oracle"))}
    report[LATENT_ORACLE] = _latent_oracle(table)
    return report


LATENT_ORACLE = "oracle, latent setting only"


def _latent_oracle(table: SearchTable) -> dict[str, float]:
    """Per prompt, the best latent guidance setting with its embedding and schedule variants averaged: the part
    of the oracle's lead a predictor could learn, without the luck of the best of several noisy near-ties."""
    from .predictor import latent_groups

    groups = latent_groups(table.candidates)
    mean = {name: np.stack([a[:, g].mean(1) for g in groups], 1)
            for name, a in (("physical", table.physical), ("texture", table.texture), ("objective", table.scores()))}
    best = mean["objective"].argmax(1)
    rows = np.arange(len(table.prompts))
    return {name: float(m[rows, best].mean()) for name, m in mean.items()}


def _markdown(report: dict[str, dict[str, float]]) -> str:
    lines = ["| θ | physical | texture | objective |", "|---|---|---|---|"]
    lines += [f"| {name} | {r['physical']:.3f} | {r['texture']:.3f} | {r['objective']:.3f} |"
              for name, r in report.items()]
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    import sys

    from ..backends.registry import load_backend
    from ..evaluation.run import canonical_graph
    from .predictor import FEATURE_NAMES, Predictor
    from .search import TEXTURE_PENALTY, SearchTable, best_global, predictor_prompts, search

    if not 1 <= args.seeds <= 16:
        raise ValueError(f"--seeds must be between 1 and 16, got {args.seeds}")
    start = time.perf_counter()
    if args.table:
        table = SearchTable.load(args.table)
    else:
        table = search(load_backend(args.backend), predictor_prompts(args.prompts, args.seed), list(range(args.seeds)),
                       steps=args.steps, guidance=args.guidance)
    argv = " ".join(sys.argv[2:])
    if not args.table:
        table.command, table.minutes = argv, (time.perf_counter() - start) / 60
    graphs = [canonical_graph(p) for p in table.prompts]
    report = cross_validate(graphs, table, args.folds, args.seed)
    print(_markdown(report))
    scores = table.scores()
    fixed = best_global(scores)
    predictor = Predictor.fit(graphs, scores, table.candidates,
                              meta={"backend": table.backend, "fixed": fixed, "cross_validation": report})
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.table or args.table.resolve() != (args.out / SEARCH_FILE).resolve():
        table.save(args.out / SEARCH_FILE)
    predictor.save(args.out)
    (args.out / "README.md").write_text(CARD.format(
        backend=table.backend, n_features=len(FEATURE_NAMES), n_candidates=len(table.candidates),
        command=table.command or "(not recorded)", n_prompts=len(table.prompts),
        n_seeds=len(table.seeds), steps=table.steps, guidance=table.guidance,
        images=len(table.prompts) * len(table.candidates) * len(table.seeds),
        refit=f"; refit from its table with `train-predictor {argv}`" if args.table else "",
        minutes=table.minutes, penalty=TEXTURE_PENALTY, folds=args.folds, table=_markdown(report),
        fixed=json.dumps(table.candidates[fixed].to_dict())))
    print(f"wrote {args.out}")
    return 0


TRAIN_PREDICTOR_COMMAND = Command(
    name="train-predictor",
    help="search intervention settings per prompt with the judge, fit the predictor LINA uses, cross-validate it",
    configure=_configure,
    run=_run,
    user_errors=(ValueError, MissingWeightsError, FileNotFoundError),
)
