"""Write assets/world_contact_sheet.png: ground truth + masks for every PAP category of the world,
one in-distribution prompt per subcategory and the OOD prompts that the paper showcases."""
from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lina_core.world import contact_sheet  # noqa: E402
from lina_core.world.prompts import CATEGORIES, ood_prompts, sample_prompt  # noqa: E402
from lina_core.world.stream import make_scene  # noqa: E402

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "assets/world_contact_sheet.png")


def main() -> None:
    rng = random.Random(0)
    cells = []
    for category, subs in CATEGORIES.items():
        for sub in subs:
            sample = next(s for s in iter(lambda: sample_prompt(rng, "train", category), None) if s.subcategory == sub)
            cells.append((f"[train] {sample.prompt}", make_scene(sample, seed=len(cells)).rendering))
    for sample in ood_prompts()[:6]:
        cells.append((f"[OOD] {sample.prompt}", make_scene(sample, seed=len(cells), jitter=0.0).rendering))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(cells, OUT, columns=4)
    print(f"wrote {OUT} ({len(cells)} scenes)")


if __name__ == "__main__":
    main()
