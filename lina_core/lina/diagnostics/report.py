"""What every probe hands back: tables (written as markdown and JSON), headline numbers, per-case records
and one matplotlib figure, written side by side as ``<out>/<probe>.{md,json,png}``."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def rate(hits: int, total: int) -> float | None:
    """hits / total, None when there is nothing to count (shown as "–", never as a made-up 0)."""
    return hits / total if total else None


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]

    def markdown(self) -> str:
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in self.rows]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "rows": [dict(zip(self.columns, row)) for row in self.rows]}


@dataclass
class ProbeReport:
    """``summary`` holds the few numbers the README quotes; ``records`` every case, for re-analysis."""

    probe: str
    question: str  # what the probe asks and what the paper expects
    config: dict[str, Any]
    tables: list[Table]
    summary: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)

    def markdown(self) -> str:
        parts = [f"# Diagnostic: {self.probe}", "", self.question, "",
                 "Config: " + ", ".join(f"`{k}={v}`" for k, v in self.config.items()), ""]
        for table in self.tables:
            parts += [table.markdown(), ""]
        parts.append("Summary: " + ", ".join(f"{k} = {_cell(v)}" for k, v in self.summary.items()))
        return "\n".join(parts) + "\n"

    def as_dict(self) -> dict[str, Any]:
        return {"probe": self.probe, "question": self.question, "config": self.config,
                "summary": self.summary, "tables": [t.as_dict() for t in self.tables], "records": self.records}

    def write(self, out: Path, figure: Figure) -> list[Path]:
        """``<out>/<probe>.md``, ``.json`` and ``.png`` (the figure is closed afterwards)."""
        import matplotlib.pyplot as plt

        out.mkdir(parents=True, exist_ok=True)
        paths = [out / f"{self.probe}.{ext}" for ext in ("md", "json", "png")]
        paths[0].write_text(self.markdown())
        paths[1].write_text(json.dumps(self.as_dict(), indent=1) + "\n")
        try:
            figure.savefig(paths[2], format="png", dpi=110, bbox_inches="tight")
        finally:
            plt.close(figure)
        return paths
