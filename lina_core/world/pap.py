"""The synthetic world as a PAP (Physical Alignment Probe) dataset, in the schema of the public release.

The public ``OpenCausaLab/LINA-PAP`` rows are (id, seed, model, prompt, category, subcategory,
metadata, image, mask_<role>...). Our export writes the same columns, so one loader reads both: the
diagnostics run on our ground truth here and on the paper's images where the hub is reachable.
Ours add ``mask_effect`` and a per-node ``masks`` list, and the metadata carries the full CSG, so a
row is self-describing (no renderer needed to know what each mask means).

Row ``i`` depends only on (seed, i): the build is reproducible, and the same whatever ``num_proc``.
"""
from __future__ import annotations

import io
import json
import multiprocessing
import os
import random
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ..csg import CSG, EdgeType
from ..csg.serialize import from_dict, to_dict
from ..csg.vocab import Category, category
from .prompts import CATEGORIES, SplitRequest, sample_prompt
from .splits import OOD_RULES, ood_rules, split_of
from .stream import TRAIN_JITTER, make_scene

MODEL = "lina-world-renderer"  # the ``model`` of a ground-truth row (the public release names the generator)
MAX_ROWS = 1_000_000
# Entities that are never the prompt's object: what things stand on, in or under, and the light.
_SETTING = frozenset({Category.SURFACE, Category.SUBSTANCE, Category.SUPPORT, Category.LIGHT})
ARROW_DIR, PARQUET_DIR = "arrow", "data"  # DIR/data/<split>-*.parquet is the hub's layout, so DIR uploads as is
ROWS_PER_SHARD = 50_000
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")

FEATURES = datasets.Features({
    "id": datasets.Value("string"),
    "seed": datasets.Value("int32"),
    "model": datasets.Value("string"),
    "prompt": datasets.Value("string"),
    "category": datasets.Value("string"),
    "subcategory": datasets.Value("string"),
    "metadata": datasets.Value("string"),
    "image": datasets.Image(),
    "mask_object": datasets.Image(),
    "mask_effect": datasets.Image(),
    "masks": datasets.List({"node_id": datasets.Value("string"), "kind": datasets.Value("string"),
                            "image": datasets.Image()}),
})


class PapSourceError(ValueError):
    """A dataset that cannot be found or reached; the message says what to pass instead."""


# -- rows ------------------------------------------------------------------------------------------

def _png(image: Image.Image) -> dict[str, Any]:
    """Encode once, here, so the stored bytes are ours (deterministic) rather than whatever ``datasets`` picks."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return {"bytes": buf.getvalue(), "path": None}


def _mask_png(mask: np.ndarray) -> dict[str, Any]:
    return _png(Image.fromarray(mask.astype(np.uint8) * 255, "L"))


def row_id(index: int) -> str:
    return f"world-{index:06d}"


def make_row(index: int, seed: int = 0, split: SplitRequest = "train", size: int = 64) -> dict[str, Any]:
    """Row ``index`` of the build with ``seed``: a prompt of ``split``, its scene, image and masks.

    The row's own ``seed`` is the render seed: ``make_scene(sample, row["seed"], size)`` redraws the image.
    """
    rng = random.Random(f"pap:{seed}:{index}")
    sample = sample_prompt(rng, split)
    scene_seed = rng.randrange(2**31)
    scene = make_scene(sample, seed=scene_seed, size=size, jitter=TRAIN_JITTER)
    csg, masks = scene.csg, scene.rendering.masks
    metadata = {**sample.metadata, "split": split_of(csg), "ood_rules": ood_rules(csg), "size": size,
                "jitter": TRAIN_JITTER, "csg": to_dict(csg)}
    roles = {"mask_object": _union(masks, object_ids(csg), size),
             "mask_effect": _union(masks, [e.id for e in csg.effects()], size)}
    return {
        "id": row_id(index), "seed": scene_seed, "model": MODEL, "prompt": sample.prompt,
        "category": sample.category, "subcategory": sample.subcategory,
        "metadata": json.dumps(metadata, sort_keys=True, separators=(",", ":")),
        "image": _png(scene.rendering.image),
        **{column: _mask_png(mask) for column, mask in roles.items()},
        "masks": [{"node_id": n.id, "kind": n.kind, "image": _mask_png(masks[n.id])} for n in csg.nodes()],
    }


def object_ids(csg: CSG) -> list[str]:
    """The prompt's foreground object(s), as the public release's ``mask_object`` means: entities that are
    not ground, substance, support or light, less any that holds another of them up (the cube under "a ball on
    a cube"). A graph with no such entity ("a small mirror") falls back to its supports."""
    things = [e.id for e in csg.entities() if category(e.cls) not in _SETTING]
    main = [i for i in things if not any(c.id in things for c in csg.children(i, EdgeType.SUPPORTS))]
    return main or [e.id for e in csg.entities() if category(e.cls) == Category.SUPPORT]


def _union(masks: dict[str, np.ndarray], ids: list[str], size: int) -> np.ndarray:
    out = np.zeros((size, size), bool)
    for nid in ids:
        out |= masks[nid]
    return out


def row_csg(row: dict[str, Any]) -> CSG | None:
    """The CSG a row's metadata carries (None for rows without one, e.g. the public release)."""
    try:
        data = json.loads(row.get("metadata") or "{}")
    except json.JSONDecodeError:
        return None
    return from_dict(data["csg"]) if isinstance(data, dict) and "csg" in data else None


# -- building --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BuildSpec:
    out: Path
    n: int
    split: SplitRequest = "train"
    seed: int = 0
    size: int = 64
    num_proc: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.n <= MAX_ROWS:
            raise ValueError(f"--n must be between 1 and {MAX_ROWS:,}, got {self.n}")
        if self.split not in ("train", "ood", "any"):
            raise ValueError(f"--split must be train, ood or any, got {self.split!r}")
        if not 16 <= self.size <= 1024:
            raise ValueError(f"--size must be between 16 and 1024 pixels, got {self.size}")
        if self.num_proc < 1:
            raise ValueError(f"--num-proc must be at least 1, got {self.num_proc}")


@dataclass(frozen=True)
class BuildReport:
    """``seconds`` is wall time; ``cpu_seconds`` counts this process and its workers, so it stays meaningful on
    a machine shared with other jobs (wall throughput there says more about the neighbours than about us)."""

    out: Path
    rows: int
    seconds: float
    cpu_seconds: float
    parquet_files: list[Path]

    @property
    def images_per_s(self) -> float:
        return self.rows / self.seconds

    @property
    def images_per_cpu_s(self) -> float:
        return self.rows / self.cpu_seconds


# Rows are made in chunks: big enough that a worker's pickled reply is cheap, small enough for a live bar.
CHUNK = 64


def _rows(job: tuple[range, int, SplitRequest, int]) -> list[dict[str, Any]]:
    indices, seed, split, size = job
    return [make_row(i, seed, split, size) for i in indices]


def _generate(spec: BuildSpec, progress: bool) -> Iterator[dict[str, Any]]:
    """Rows in index order, from ``num_proc`` worker processes, with one progress bar over all of them."""
    jobs = [(range(a, min(a + CHUNK, spec.n)), spec.seed, spec.split, spec.size) for a in range(0, spec.n, CHUNK)]
    pool = multiprocessing.get_context("fork").Pool(spec.num_proc) if spec.num_proc > 1 else None
    try:
        with tqdm(total=spec.n, desc=f"build-pap ({spec.split})", unit="img", disable=not progress) as bar:
            for rows in pool.imap(_rows, jobs) if pool else map(_rows, jobs):
                yield from rows
                bar.update(len(rows))
    finally:
        if pool:
            pool.terminate()
            pool.join()


@contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Silence ``datasets``' own bars (an unsized "Generating" counter, saving bars): ours is the one to read."""
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def generate(spec: BuildSpec, cache_dir: Path, progress: bool = True) -> datasets.Dataset:
    """All rows as an arrow-backed Dataset streamed to ``cache_dir`` (``from_generator`` writes in batches).

    ``cache_dir`` must be fresh: ``datasets`` fingerprints only the generator's own code, so a shared cache
    could hand back rows drawn by an older renderer.
    """
    with _quiet_datasets():
        return datasets.Dataset.from_generator(
            _generate, features=FEATURES, cache_dir=str(cache_dir), split=datasets.NamedSplit(spec.split),
            gen_kwargs={"spec": spec, "progress": progress})


def _write_parquet(ds: datasets.Dataset, folder: Path, split: str) -> list[Path]:
    """Shards named as the hub names them (``<split>-00000-of-00002.parquet``)."""
    folder.mkdir(parents=True)
    count = -(-len(ds) // ROWS_PER_SHARD)
    paths = [folder / f"{split}-{k:05d}-of-{count:05d}.parquet" for k in range(count)]
    for k, path in enumerate(paths):
        ds.shard(count, k, contiguous=True).to_parquet(str(path))
    return paths


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the pool's workers are joined when it ends)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def build_pap(spec: BuildSpec, progress: bool = True) -> BuildReport:
    """Generate ``spec.n`` rows and write them as ``save_to_disk`` arrow, parquet shards and a dataset card.

    One build per folder: the arrow and parquet folders of an earlier build in ``spec.out`` are replaced.
    """
    out = spec.out
    out.mkdir(parents=True, exist_ok=True)
    for stale in (out / ARROW_DIR, out / PARQUET_DIR):
        shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".cache-") as cache:
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        ds = generate(spec, Path(cache), progress)
        seconds, cpu_seconds = time.perf_counter() - start, _cpu_seconds() - cpu_start
        with _quiet_datasets():
            ds.save_to_disk(str(out / ARROW_DIR))
            parquet = _write_parquet(ds, out / PARQUET_DIR, spec.split)
        report = BuildReport(out, len(ds), seconds, cpu_seconds, parquet)
        (out / "README.md").write_text(dataset_card(spec, report, Counter(ds["subcategory"])))
    return report


# -- the dataset card ------------------------------------------------------------------------------

FIELDS: dict[str, str] = {
    "id": "row id, `world-<index>`",
    "seed": "render seed: `make_scene(sample, seed, size)` redraws the image (layout jitter and looks)",
    "model": f"what drew the image; `{MODEL}` for the world's ground truth",
    "prompt": "the text prompt",
    "category": "PAP category: " + ", ".join(CATEGORIES),
    "subcategory": "finer family within the category",
    "metadata": "JSON string: template, paraphrase form and slots; `split` (train/ood) and `ood_rules` matched; "
                "`size`, `jitter`; `csg` = the full laid-out Causal Scene Graph (`lina_core.csg.serialize.from_dict`)",
    "image": "RGB PNG",
    "mask_object": "L PNG (0/255): the prompt's foreground object(s) only, as in the public release: the entity "
                   "nodes that are not ground, substance, support or light, less one that only holds another up "
                   "(\"a ball on a cube\": the ball); the union of their per-node masks",
    "mask_effect": "L PNG (0/255): union of the masks of every effect node (reflection, shadow, contact, fill, action)",
    "masks": "list of {node_id, kind (entity/effect), image}: one mask per CSG node, where that node is visible",
}


def command_line(spec: BuildSpec) -> str:
    return (f"python -m lina_core build-pap --out {spec.out} --n {spec.n} --split {spec.split} --seed {spec.seed} "
            f"--size {spec.size} --num-proc {spec.num_proc}")


def dataset_card(spec: BuildSpec, report: BuildReport, subcategories: Counter[str]) -> str:
    """README.md in the hub's format: YAML header (licence, parquet config) then fields, provenance and split rules."""
    rules = "\n".join(f"- `{name}`: {(rule.__doc__ or '').strip().splitlines()[0]}" for name, rule in OOD_RULES.items())
    fields = "\n".join(f"| `{name}` | {text} |" for name, text in FIELDS.items())
    counts = "\n".join(f"| {cat} | {sub} | {subcategories.get(sub, 0)} |" for cat, subs in CATEGORIES.items()
                       for sub in subs)
    return f"""---
license: apache-2.0
task_categories:
  - text-to-image
  - image-segmentation
language:
  - en
tags:
  - physical-alignment
  - causal-scene-graph
  - synthetic
configs:
  - config_name: default
    data_files:
      - split: {spec.split}
        path: {PARQUET_DIR}/{spec.split}-*
---

# LINA synthetic world — PAP-format dataset ({spec.split} split, {report.rows} rows)

Ground-truth images of the LINA demo's synthetic physics world, in the column schema of the public
Physical Alignment Probe release (`OpenCausaLab/LINA-PAP`), plus per-node masks and the full Causal
Scene Graph of every row. Read it with `lina_core.world.pap.load_pap("<this folder>", split="{spec.split}")`
(or `datasets.load_from_disk("{ARROW_DIR}")`, or
`datasets.load_dataset("parquet", data_files="{PARQUET_DIR}/*.parquet")`).

## Fields

| field | content |
|---|---|
{fields}

## How it was generated

```
{command_line(spec)}
```

Row *i* draws a prompt of the requested split from the world's templates with `random.Random("pap:{spec.seed}:<i>")`,
parses it into a CSG, lays it out with seeded jitter {TRAIN_JITTER}, and renders it at {spec.size}x{spec.size}
(4x supersampled, box-downsampled) with one mask per node. A row depends only on (seed, i): rebuilding with the
same seed gives byte-identical images, whatever `--num-proc`. Generation took {report.seconds:.1f} s
({report.images_per_s:.0f} images/s wall, {report.images_per_cpu_s:.0f} images per CPU-second, {spec.num_proc}
process(es)).

Files: `{ARROW_DIR}/` (`Dataset.save_to_disk`) and `{PARQUET_DIR}/*.parquet` (the hub layout).

## Split rules

`train` holds prompts whose parsed graph matches none of the held-out rules below, `ood` those matching at
least one, `any` both (each row's `metadata.split` says which). The rules are code
(`lina_core/world/splits.py`) and read the graph, so a paraphrase cannot move a composition across:

{rules}

## Rows per category

| category | subcategory | rows |
|---|---|---|
{counts}

## Licence

Apache-2.0, like the public LINA-PAP release. Everything here is generated by this repository's code;
no third-party images.
"""


# -- loading ---------------------------------------------------------------------------------------

def _pick_split(loaded: datasets.Dataset | datasets.DatasetDict, split: str, where: Path) -> datasets.Dataset:
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise PapSourceError(f"no split {split!r} in {where}; it has: {', '.join(loaded)}")
        return loaded[split]
    if loaded.split is not None and str(loaded.split) != split:
        raise PapSourceError(f"{where} holds the {str(loaded.split)!r} split, not {split!r}")
    return loaded


def _parquet_files(path: Path, split: str) -> list[Path]:
    if path.is_file():
        return [path]
    for folder in (path / PARQUET_DIR, path):
        if files := sorted(folder.glob(f"{split}-*.parquet")):
            return files
    found = ", ".join(sorted({f.name.split("-")[0] for f in path.rglob("*.parquet")})) or "none"
    raise PapSourceError(f"no PAP split {split!r} in {path}: expected a save_to_disk folder or "
                         f"{PARQUET_DIR}/{split}-*.parquet (parquet splits found: {found})")


def _load_local(path: Path, split: str, cache_dir: str | None) -> datasets.Dataset:
    for folder in (path, path / ARROW_DIR):
        if (folder / "state.json").exists() or (folder / "dataset_dict.json").exists():
            return _pick_split(datasets.load_from_disk(str(folder)), split, folder)
    files = [str(f) for f in _parquet_files(path, split)]
    return datasets.load_dataset("parquet", data_files={split: files}, split=split, cache_dir=cache_dir)


def _load_hub(repo: str, split: str, cache_dir: str | None) -> datasets.Dataset:
    local_hint = ("pass a local path instead: a folder written by `python -m lina_core build-pap --out DIR`, "
                  "or a downloaded copy of the dataset (its data/*.parquet)")
    try:
        return datasets.load_dataset(repo, split=split, cache_dir=cache_dir)
    except ConnectionError as exc:  # datasets' "Couldn't reach ..." and huggingface_hub's offline mode
        raise PapSourceError(f"cannot reach the Hugging Face Hub to load {repo!r} ({exc}); {local_hint}") from None
    except datasets.exceptions.DatasetNotFoundError:
        raise PapSourceError(f"{repo!r} is not a local folder, and the Hub has no dataset of that id; "
                             f"{local_hint}") from None


def load_pap(path_or_repo: str, split: str = "train", cache_dir: str | None = None) -> datasets.Dataset:
    """A PAP dataset: a local folder (``build-pap`` output, a ``save_to_disk`` folder, parquet files) or a hub id.

    Local paths win; anything else shaped like ``owner/name`` (e.g. ``OpenCausaLab/LINA-PAP``) goes to the
    hub, and an unreachable hub is a ``PapSourceError`` naming the id. ``cache_dir`` is where ``datasets``
    keeps what parquet files and downloads are converted to.
    """
    path = Path(path_or_repo).expanduser()
    if path.exists():
        return _load_local(path, split, cache_dir)
    if not _REPO_ID.match(path_or_repo):
        raise PapSourceError(f"no PAP dataset at {path_or_repo!r}: not an existing path, and not a hub id like "
                             "'OpenCausaLab/LINA-PAP'")
    return _load_hub(path_or_repo, split, cache_dir)


@dataclass
class PapRecord:
    """One row as the diagnostics use it.

    ``masks`` maps each ``mask_<role>`` column to its mask and, for rows that have them (ours), each CSG
    node id to its own; ``csg`` is the graph from the metadata, or None (the public release has none).
    """

    id: str
    prompt: str
    category: str
    subcategory: str
    image: Image.Image
    masks: dict[str, np.ndarray]
    csg: CSG | None


def _bool_mask(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L")) > 127


def rows_to_samples(ds: datasets.Dataset) -> Iterator[PapRecord]:
    """Records of a PAP dataset, lazily (the public release is 28,700 large images: too many to hold at once)."""
    roles = [c for c in ds.column_names if c.startswith("mask_")]
    for row in ds:
        masks = {c: _bool_mask(row[c]) for c in roles if row[c] is not None}
        masks.update({m["node_id"]: _bool_mask(m["image"]) for m in row.get("masks") or []})
        yield PapRecord(row["id"], row["prompt"], row["category"], row["subcategory"], row["image"].convert("RGB"),
                        masks, row_csg(row))
