"""The PAP export: the public release's schema, masks that match the renderer, determinism, loading back."""
from __future__ import annotations

import io
import json
from pathlib import Path

import datasets
import numpy as np
import pytest
from PIL import Image

from lina_core.cli import main
from lina_core.csg import EdgeType
from lina_core.csg.parser import parse_prompt
from lina_core.csg.serialize import from_json, to_dict
from lina_core.csg.vocab import Category, category
from lina_core.world.pap import (
    ARROW_DIR, FEATURES, MODEL, PARQUET_DIR, BuildSpec, PapSourceError, build_pap, load_pap, make_row,
    object_ids, rows_to_samples,
)
from lina_core.world.prompts import CATEGORIES, PromptSample
from lina_core.world.splits import split_of
from lina_core.world.stream import make_scene

N, SEED, SIZE = 24, 5, 64
PUBLIC_COLUMNS = {"id", "seed", "model", "prompt", "category", "subcategory", "metadata", "image", "mask_object"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pap")
    report = build_pap(BuildSpec(out, N, split="any", seed=SEED, size=SIZE), progress=False)
    assert report.rows == N and report.images_per_s > 0
    return out


@pytest.fixture(scope="module")
def ds(built: Path) -> datasets.Dataset:
    return load_pap(str(built), split="any")


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def _union(masks: dict[str, np.ndarray], ids: list[str]) -> np.ndarray:
    out = np.zeros((SIZE, SIZE), bool)
    for i in ids:
        out |= masks[i]
    return out


def _decoded_png(cell: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(cell["bytes"])))


def test_schema_has_the_public_fields_and_ours(ds: datasets.Dataset) -> None:
    assert PUBLIC_COLUMNS <= set(ds.column_names)
    assert set(ds.column_names) == set(FEATURES)
    for column in ("image", "mask_object", "mask_effect"):
        assert isinstance(ds.features[column], datasets.Image)
    assert ds["id"] == [f"world-{i:06d}" for i in range(N)]
    assert set(ds["model"]) == {MODEL}
    for row in ds:
        assert row["subcategory"] in CATEGORIES[row["category"]]
        assert row["prompt"].strip()
        assert row["image"].mode == "RGB"


def test_masks_align_with_the_image(ds: datasets.Dataset) -> None:
    for row in ds:
        size = row["image"].size
        assert size == (SIZE, SIZE)
        assert row["mask_object"].size == size and row["mask_effect"].size == size
        assert row["masks"] and all(m["image"].size == size for m in row["masks"])


def test_role_masks_are_the_unions_of_the_rendered_node_masks(ds: datasets.Dataset) -> None:
    """Redraw each row from its prompt and seed: same graph, same masks; mask_object is exactly the pixels of
    the prompt's foreground object(s), never the ground or the backdrop."""
    for row, record in zip(ds, rows_to_samples(ds)):
        sample = PromptSample(row["prompt"], row["category"], row["subcategory"])
        scene = make_scene(sample, seed=row["seed"], size=SIZE)
        stored = json.loads(row["metadata"])["csg"]
        assert stored == json.loads(json.dumps(to_dict(scene.csg))), "metadata holds the graph that was drawn"
        entities = [n.id for n in scene.csg.entities()]
        effects = [n.id for n in scene.csg.effects()]
        assert set(record.masks) == {"mask_object", "mask_effect", *entities, *effects}
        obj = _union(scene.rendering.masks, object_ids(scene.csg))
        assert obj.any() and np.array_equal(record.masks["mask_object"], obj)
        grounds = [e.id for e in scene.csg.entities()
                   if category(e.cls) == Category.SURFACE and not scene.csg.parents(e.id, EdgeType.CONTAINS)]
        ground = _union(scene.rendering.masks, grounds)
        assert (obj & ground).sum() <= 0.05 * ground.sum(), "a pixel half object, half ground may be in both"
        assert obj.sum() < 0.5 * obj.size, "the object, not the whole scene"
        for node in entities + effects:
            assert np.array_equal(record.masks[node], scene.rendering.masks[node]), node
        assert np.array_equal(record.masks["mask_effect"], _union(scene.rendering.masks, effects))
        assert np.array_equal(_pixels(record.image), _pixels(scene.rendering.image))


@pytest.mark.parametrize("prompt, expected", [
    ("a red ball on a small mirror", ["ball"]),  # not the mirror, the floor or the light
    ("a green ball on top of a red cube, lit from the right", ["ball"]),  # the cube only holds it up
    ("a jar full of sand", ["jar"]),  # the sand is its content
    ("a bird eats a snake", ["bird", "snake"]),  # agent and patient are both the subject
    ("a person standing in the ocean, with light from above", ["person"]),
    ("a cup and a brown marble resting on a huge mirror", ["cup", "ball"]),
    ("a small mirror", ["mirror"]),  # nothing else: the support is the object
])
def test_mask_object_is_the_prompts_foreground_object(prompt: str, expected: list[str]) -> None:
    assert object_ids(parse_prompt(prompt)) == expected


def test_metadata_parses_back_to_the_rows_csg(ds: datasets.Dataset) -> None:
    for row, record in zip(ds, rows_to_samples(ds)):
        meta = json.loads(row["metadata"])
        csg = from_json(json.dumps(meta["csg"]))
        assert csg.prompt == row["prompt"]
        assert [m["node_id"] for m in row["masks"]] == [n.id for n in csg.nodes()]
        assert [m["kind"] for m in row["masks"]] == [n.kind for n in csg.nodes()]
        assert all(n.region is not None for n in csg.entities()), "the stored graph is the laid-out one"
        assert meta["split"] == split_of(csg) and bool(meta["ood_rules"]) == (meta["split"] == "ood")
        assert record.csg is not None and [n.id for n in record.csg.nodes()] == [n.id for n in csg.nodes()]


def test_split_request_is_honoured() -> None:
    for index in range(4):
        for split in ("train", "ood"):
            meta = json.loads(make_row(index, seed=SEED, split=split, size=32)["metadata"])
            assert meta["split"] == split


def test_same_seed_same_bytes_different_seed_different_images() -> None:
    a, b = make_row(3, seed=SEED), make_row(3, seed=SEED)
    assert a["image"]["bytes"] == b["image"]["bytes"] and a["metadata"] == b["metadata"]
    others = [make_row(3, seed=SEED + k) for k in range(1, 4)]
    assert all(not np.array_equal(_decoded_png(o["image"]), _decoded_png(a["image"])) for o in others)


def test_rebuild_is_identical_whatever_the_process_count(built: Path, ds: datasets.Dataset, tmp_path: Path) -> None:
    build_pap(BuildSpec(tmp_path, N, split="any", seed=SEED, size=SIZE, num_proc=2), progress=False)
    again = load_pap(str(tmp_path), split="any")
    assert again["prompt"] == ds["prompt"] and again["seed"] == ds["seed"]
    raw, raw_again = (d.cast_column("image", datasets.Image(decode=False))["image"] for d in (ds, again))
    assert [c["bytes"] for c in raw] == [c["bytes"] for c in raw_again]


def test_arrow_and_parquet_load_the_same_rows(built: Path, ds: datasets.Dataset, tmp_path: Path) -> None:
    assert (built / "README.md").read_text().count("apache-2.0") == 1
    assert "foreground object" in (built / "README.md").read_text(), "the card states what mask_object covers"
    from_arrow = load_pap(str(built / ARROW_DIR), split="any")
    from_parquet = load_pap(str(built / PARQUET_DIR), split="any", cache_dir=str(tmp_path))
    assert list((built / PARQUET_DIR).glob("any-*.parquet"))
    for loaded in (from_arrow, from_parquet):
        assert loaded.features == ds.features and loaded["metadata"] == ds["metadata"]
        for ours, theirs in zip(rows_to_samples(ds), rows_to_samples(loaded)):
            assert np.array_equal(_pixels(ours.image), _pixels(theirs.image))
            assert ours.masks.keys() == theirs.masks.keys()
            assert all(np.array_equal(ours.masks[k], theirs.masks[k]) for k in ours.masks)


def test_a_missing_split_names_what_is_there(built: Path) -> None:
    with pytest.raises(PapSourceError, match="'any'"):
        load_pap(str(built), split="train")
    with pytest.raises(PapSourceError, match="found: any"):
        load_pap(str(built / PARQUET_DIR), split="ood")


def test_public_release_shaped_rows_load(tmp_path: Path) -> None:
    """Columns as in OpenCausaLab/LINA-PAP (role masks only, metadata without a CSG), as hub parquet files."""
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 3:6] = 255
    row = {"id": "pap-1", "seed": 42, "model": "sd3.5", "prompt": "A red ball on a small mirror",
           "category": "optics", "subcategory": "reflection", "metadata": json.dumps({"objects": ["ball"]}),
           "image": Image.new("RGB", (8, 8), (200, 0, 0)), "mask_object": Image.fromarray(mask),
           "mask_mirror": Image.fromarray(255 - mask)}
    features = datasets.Features({k: datasets.Image() if k in ("image", "mask_object", "mask_mirror")
                                  else datasets.Value("int32" if k == "seed" else "string") for k in row})
    (tmp_path / "data").mkdir()
    shard = tmp_path / "data" / "train-00000-of-00001.parquet"
    datasets.Dataset.from_list([row], features=features).to_parquet(str(shard))
    [record] = list(rows_to_samples(load_pap(str(tmp_path), cache_dir=str(tmp_path / "cache"))))
    assert record.csg is None and record.prompt == row["prompt"]
    assert set(record.masks) == {"mask_object", "mask_mirror"}
    obj, mirror = record.masks["mask_object"], record.masks["mask_mirror"]
    assert obj.sum() == 9 and obj[2:5, 3:6].all() and not (obj & mirror).any()


def test_unreachable_hub_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'OpenCausaLab/LINA-PAP' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(PapSourceError) as err:
        load_pap("OpenCausaLab/LINA-PAP")
    assert "'OpenCausaLab/LINA-PAP'" in str(err.value) and "local path" in str(err.value)


def test_a_missing_path_is_not_sent_to_the_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(datasets, "load_dataset", pytest.fail)
    with pytest.raises(PapSourceError, match="not an existing path"):
        load_pap(str(tmp_path / "nowhere" / "deeper"))


@pytest.mark.parametrize("n", ["0", "-3", "1000001"])
def test_bad_n_is_a_one_line_error(n: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["build-pap", "--out", str(out), "--n", n])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --n must be between 1 and 1,000,000") and err.count("\n") == 1
    assert not out.exists()


def test_cli_builds_a_loadable_dataset_with_a_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build-pap", "--out", str(tmp_path), "--n", "6", "--split", "ood", "--size", "32"]) == 0
    assert "images/s" in capsys.readouterr().out
    card = (tmp_path / "README.md").read_text()
    assert "license: apache-2.0" in card and "build-pap --out" in card and "path: data/ood-*" in card
    ds = load_pap(str(tmp_path), split="ood")
    assert len(ds) == 6 and ds[0]["image"].size == (32, 32)
    assert all(json.loads(m)["split"] == "ood" for m in ds["metadata"])
