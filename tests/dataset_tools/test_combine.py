"""dataset_tools.combine: importing Shadow-AR and DESOBA folders, merging datasets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from dataset_tools.combine import NO_OWNER
from dataset_tools.layout import read_image, write_png
from dataset_tools.validate import validate_dataset
from tests.helpers import make_dataset, run_cli, with_manifest


def plain_shadow_ar(root: Path) -> None:
    """A dataset as ARShadowGAN released it: no smask, no manifest, no dataset.json."""
    make_dataset(root, ids=("1", "2"), split="train")
    make_dataset(root, ids=("3",), split="test")
    for path in root.glob("*/smask"):
        shutil.rmtree(path)


def test_import_shadow_ar_adds_smask_and_is_valid(tmp_path):
    plain_shadow_ar(tmp_path / "src")
    result = run_cli("import", str(tmp_path / "src"), str(tmp_path / "dst"))
    assert result.returncode == 0, result.stderr
    smask = read_image(tmp_path / "dst/train/smask/1.png", "L")
    assert (smask == 255).sum() == 16 and smask[8:12, 2:6].min() == 255
    report = validate_dataset(tmp_path / "dst")
    assert report.valid and report.counts == {"train": 2, "test": 1}
    again = run_cli("import", str(tmp_path / "src"), str(tmp_path / "dst"))
    assert again.returncode == 1 and "use --overwrite" in again.stderr


def test_import_names_a_missing_file_and_writes_nothing(tmp_path):
    plain_shadow_ar(tmp_path / "src")
    (tmp_path / "src/test/rshadow/3.png").unlink()
    result = run_cli("import", str(tmp_path / "src"), str(tmp_path / "dst"))
    assert result.returncode == 1 and "test/rshadow/3.png: missing" in result.stderr
    assert not (tmp_path / "dst").exists() or not any((tmp_path / "dst").rglob("*.png"))


def test_merge_prefixes_ids_and_keeps_every_file(tmp_path):
    with_manifest(tmp_path / "synth", ["s.jpg", "t.jpg"], ["m", "n"])
    plain_shadow_ar(tmp_path / "real")
    result = run_cli("merge", str(tmp_path / "synth"), str(tmp_path / "real"),
                     str(tmp_path / "both"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.stem for p in (tmp_path / "both/train/noshadow").glob("*.png")) == [
        "real_1", "real_2", "synth_s00", "synth_s01"]
    records = {json.loads(line)["id"]: json.loads(line)
               for line in (tmp_path / "both/manifest.jsonl").read_text().splitlines()}
    assert records["synth_s00"]["scene"] == "s.jpg" and records["real_3"]["split"] == "test"
    assert sum(1 for _ in (tmp_path / "both").rglob("*.png")) == 5 * 6  # smask derived
    assert validate_dataset(tmp_path / "both").valid


def make_desoba(root: Path) -> None:
    """Two 20x20 images: objects 1 and 2 with shadows, object 3 without, a casterless shadow."""
    for stem in ("img_a", "img_b"):
        shadow = np.full((20, 20, 3), 200, np.uint8)
        instance = np.zeros((20, 20), np.uint8)
        owners = np.zeros((20, 20), np.uint8)
        instance[2:5, 2:5] = 1
        owners[5:8, 2:5] = 1
        instance[10:13, 10:13] = 2
        owners[13:16, 10:13] = 2
        instance[2:4, 15:18] = 3
        owners[17:19, 0:3] = NO_OWNER
        shadow[owners > 0] = 90
        deshadowed = np.full((20, 20, 3), 200, np.uint8)
        for folder, image in (("ShadowImage", shadow), ("DeshadowedImage", deshadowed),
                              ("InstanceMask", instance), ("ShadowMask", owners)):
            write_png(root / folder / f"{stem}.png", image)
    (root / "Training_list.txt").write_text("img_a.png\n")
    (root / "Testing_list.txt").write_text("img_b.png\n")


def test_import_desoba_one_pair_per_object_with_shadow(tmp_path):
    make_desoba(tmp_path / "desoba")
    result = run_cli("import", str(tmp_path / "desoba"), str(tmp_path / "out"), "--format",
                     "desoba")
    assert result.returncode == 0, result.stderr
    root = tmp_path / "out"
    assert sorted(p.stem for p in (root / "train/noshadow").glob("*.png")) == ["img_a_1",
                                                                                "img_a_2"]
    assert sorted(p.stem for p in (root / "test/noshadow").glob("*.png")) == ["img_b_1",
                                                                               "img_b_2"]
    noshadow = read_image(root / "train/noshadow/img_a_1.png", "RGB")
    shadow = read_image(root / "train/shadow/img_a_1.png", "RGB")
    assert noshadow[6, 3].tolist() == [200] * 3 and shadow[6, 3].tolist() == [90] * 3
    assert noshadow[14, 11].tolist() == [90] * 3  # the other object's shadow stays
    rshadow = read_image(root / "train/rshadow/img_a_1.png", "L")
    assert rshadow[14, 11] == 255 and rshadow[18, 1] == 255 and rshadow[6, 3] == 0
    robject = read_image(root / "train/robject/img_a_1.png", "L")
    assert robject[11, 11] == 255 and robject[3, 16] == 255 and robject[3, 3] == 0
    assert validate_dataset(root).valid


def test_import_desoba_names_a_missing_file(tmp_path):
    make_desoba(tmp_path / "desoba")
    (tmp_path / "desoba/ShadowMask/img_b.png").unlink()
    result = run_cli("import", str(tmp_path / "desoba"), str(tmp_path / "out"), "--format",
                     "desoba")
    assert result.returncode == 1 and "ShadowMask/img_b.png: missing" in result.stderr
