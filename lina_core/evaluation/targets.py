"""The project's measured targets, checked against an evaluation summary, so that ``evaluate`` says after its
table whether they are met instead of leaving the comparison to the reader.

The embedded model's targets apply to its baseline on the world's train split (new seeds); LINA's to the
OOD split, when the report holds the methods they compare. A target the report cannot check (a method or
the split missing) is not printed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EMBEDDED_BACKEND = "tiny"
IN_DISTRIBUTION = {"texture": 0.85, "physical": 0.75}  # the tiny model's baseline, train split
LINA_OOD_PHYSICAL = 0.85
LINA_OVER = {"baseline": 0.40, "peer": 0.20}  # LINA's physical alignment over these, out of distribution


@dataclass(frozen=True)
class TargetCheck:
    what: str
    value: float
    bound: float
    difference: bool = False  # a lead over another method, printed with its sign

    @property
    def met(self) -> bool:
        return self.value >= self.bound

    def line(self) -> str:
        sign = "+" if self.difference else ""
        return (f"target: {self.what} {self.value:{sign}.3f} (>= {self.bound:{sign}.2f}): "
                f"{'met' if self.met else 'NOT met'}")


def split_of(config: dict[str, Any]) -> str | None:
    """"train" or "ood" for a run over one of the world's fixed lists; None for a --prompts file."""
    prompts = str(config.get("prompts", ""))
    return prompts.removeprefix("split:") if prompts.startswith("split:") else None


def check_targets(config: dict[str, Any], summary: dict[str, dict[str, Any]]) -> list[TargetCheck]:
    split, checks = split_of(config), []
    base, lina = summary.get("baseline"), summary.get("lina")
    if split == "train" and base and config.get("backend") == EMBEDDED_BACKEND:
        checks += [TargetCheck(f"baseline {score} in distribution", base[score], bound)
                   for score, bound in IN_DISTRIBUTION.items()]
    if split == "ood" and lina:
        checks.append(TargetCheck("LINA physical out of distribution", lina["physical"], LINA_OOD_PHYSICAL))
        checks += [TargetCheck(f"LINA physical over the {other}", lina["physical"] - summary[other]["physical"], bound,
                               difference=True) for other, bound in LINA_OVER.items() if other in summary]
    return checks
