"""Evaluation results: one record per (prompt, seed, method), the summaries printed from them, and the
report file (``evaluate --json``) that shards write and ``evaluate --merge`` joins."""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from statistics import mean
from typing import Any, Sequence

from .paired import paired_scores


@dataclass
class EvalRecord:
    prompt: str
    category: str
    subcategory: str
    seed: int
    method: str
    texture: float
    physical: float
    passed: bool
    seconds: float
    nodes: list[dict] = field(default_factory=list)  # the judge's per-node verdicts
    pair_only: bool = False  # evaluated only to complete a swapped pair: left out of every score but the paired one

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalRecord:
        names = {f.name for f in fields(cls)}
        missing = {f.name for f in fields(cls) if f.name not in d and f.default is MISSING
                   and f.default_factory is MISSING}
        if missing or set(d) - names:
            raise ValueError(f"not an evaluation record: missing {sorted(missing)}, unknown {sorted(set(d) - names)}")
        return cls(**d)


def summarize(records: Sequence[EvalRecord]) -> dict:
    """Per method: mean texture and physical-alignment scores, overall and per category, s/image, and the
    paired score where the prompts hold swapped pairs. Exact means (``statistics.mean``): the summary does
    not depend on the order of the records, so merged shards summarise exactly like one run."""
    by_method: dict[str, list[EvalRecord]] = defaultdict(list)
    for r in records:
        if not r.pair_only:
            by_method[r.method].append(r)
    out = {}
    for method, rs in by_method.items():
        cats: dict[str, list[EvalRecord]] = defaultdict(list)
        for r in rs:
            cats[r.category].append(r)
        out[method] = {
            "images": len(rs),
            "texture": mean(r.texture for r in rs),
            "physical": mean(r.physical for r in rs),
            "all_nodes_pass": mean(float(r.passed) for r in rs),
            "seconds_per_image": mean(r.seconds for r in rs),
            "per_category": {c: {"physical": mean(r.physical for r in v), "texture": mean(r.texture for r in v),
                                 "images": len(v)} for c, v in sorted(cats.items())},
        }
    for method, scores in paired_scores(records).items():
        if method in out:
            out[method]["paired"] = scores
    return out


def markdown_table(summary: dict) -> str:
    cats = sorted({c for s in summary.values() for c in s["per_category"]})
    head = ["method", "images", "texture", "physical", "all nodes pass", "pairs both right", "s/image"]
    head += [f"physical: {c}" for c in cats]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method, s in summary.items():
        pair = s.get("paired")
        row = [method, str(s["images"]), f"{s['texture']:.3f}", f"{s['physical']:.3f}", f"{s['all_nodes_pass']:.3f}",
               f"{pair['accuracy']:.3f} ({pair['pairs']} pairs)" if pair else "", f"{s['seconds_per_image']:.3f}"]
        row += [f"{s['per_category'][c]['physical']:.3f}" if c in s["per_category"] else "" for c in cats]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# -- the report file --------------------------------------------------------------------------------

def build_report(records: Sequence[EvalRecord], config: dict[str, Any]) -> dict:
    """What ``evaluate --json`` writes: the run's settings (with ``shard: [K, N]``), the summary, every record."""
    return {"config": config, "summary": summarize(records), "records": [r.as_dict() for r in records]}


def load_report(path: str | Path) -> dict:
    try:
        report = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON ({exc})") from None
    if not isinstance(report, dict) or not {"config", "records"} <= set(report):
        raise ValueError(f"{path} is not an `evaluate --json` report (needs 'config' and 'records')")
    return report


def _run_settings(config: dict[str, Any], *skip: str) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "shard" and k not in skip}


def _same_settings(reports: Sequence[dict], *skip: str) -> dict[str, Any]:
    settings = _run_settings(reports[0]["config"], *skip)
    for r in reports[1:]:
        other = _run_settings(r["config"], *skip)
        if other != settings:
            diff = sorted(k for k in settings.keys() | other.keys() if settings.get(k) != other.get(k))
            raise ValueError(f"the files come from different runs: they differ in {', '.join(diff)}")
    return settings


def _whole_run(reports: Sequence[dict]) -> list[EvalRecord]:
    """The records of the shard reports of ONE run (same settings, shards 0..N-1 each exactly once)."""
    _same_settings(reports)
    shards = [tuple(r["config"].get("shard", (0, 1))) for r in reports]
    counts = {n for _, n in shards}
    if len(counts) != 1:
        raise ValueError(f"the files split the work differently: shard counts {sorted(counts)}")
    n = counts.pop()
    indices = [k for k, _ in shards]
    if len(set(indices)) != len(indices) or set(indices) != set(range(n)):
        raise ValueError(f"need shards 0..{n - 1} of {n} each once, got {sorted(indices)}")
    records = [EvalRecord.from_dict(d) for r in reports for d in r["records"]]
    keys = [(r.prompt, r.seed, r.method) for r in records]
    if len(set(keys)) != len(keys):
        raise ValueError("the shards overlap: some (prompt, seed, method) appears twice")
    return records


def merge_reports(reports: Sequence[dict]) -> dict:
    """One report from the shard reports of one run, or of several runs that differ only in their methods (say
    the slow peer run on its own, the others beside it) on the same prompts and seeds, joined method by method."""
    if not reports:
        raise ValueError("nothing to merge")
    runs: dict[tuple[str, ...], list[dict]] = {}
    for r in reports:
        runs.setdefault(tuple(r["config"].get("methods", ())), []).append(r)
    methods = [m for run in runs for m in run]
    if len(set(methods)) != len(methods):
        shared = ", ".join(sorted(m for m in set(methods) if methods.count(m) > 1))
        raise ValueError(f"two runs share a method ({shared}): merge the shards of one run, "
                         "or runs of different methods")
    settings = _same_settings(reports, "methods", "merged_shards")
    parts = [_whole_run(run) for run in runs.values()]
    items = [{(r.prompt, r.seed) for r in part} for part in parts]
    if any(i != items[0] for i in items[1:]):
        raise ValueError("the runs cover different prompts or seeds: join only runs of the same prompt list and seeds")
    shards = [len(run) for run in runs.values()]
    return build_report([r for part in parts for r in part], {
        **settings, "methods": methods, "shard": [0, 1], "merged_shards": shards[0] if len(shards) == 1 else shards})
