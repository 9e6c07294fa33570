"""Evaluation results: one record per (prompt, seed, method), and the summaries printed from them."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from statistics import mean


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

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(records: list[EvalRecord]) -> dict:
    """Per method: mean texture and physical-alignment scores, overall and per category, and s/image."""
    by_method: dict[str, list[EvalRecord]] = defaultdict(list)
    for r in records:
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
    return out


def markdown_table(summary: dict) -> str:
    cats = sorted({c for s in summary.values() for c in s["per_category"]})
    head = ["method", "images", "texture", "physical", "all nodes pass", "s/image"] + [f"physical: {c}" for c in cats]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method, s in summary.items():
        row = [method, str(s["images"]), f"{s['texture']:.3f}", f"{s['physical']:.3f}", f"{s['all_nodes_pass']:.3f}",
               f"{s['seconds_per_image']:.3f}"]
        row += [f"{s['per_category'][c]['physical']:.3f}" if c in s["per_category"] else "" for c in cats]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
