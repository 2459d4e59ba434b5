"""dataset_tools.validate: every check of `shadow-dataset validate`, on small datasets
written here."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from dataset_tools.layout import read_image, sample_path, write_png
from dataset_tools.validate import validate_dataset
from tests.helpers import make_dataset, run_cli


def messages(root: Path) -> list[str]:
    return [f"{Path(p.path).name}: {p.message}" for p in validate_dataset(root).errors]


def test_a_clean_dataset_is_valid(tmp_path):
    make_dataset(tmp_path)
    report = validate_dataset(tmp_path)
    assert report.valid and report.counts == {"train": 2} and not report.problems


def test_sregion_is_the_contract_region_and_holds_smask(tmp_path):
    make_dataset(tmp_path, ids=("a",))
    region = np.zeros((16, 16), dtype=np.uint8)
    region[8:14, 2:6] = 255  # smask 8:12 plus a faint halo below it
    write_png(sample_path(tmp_path, "train", "sregion", "a"), region)
    shadow = read_image(sample_path(tmp_path, "train", "shadow", "a"), "RGB")
    shadow[12:14, 2:6] -= 30  # the halo differs: inside sregion, outside smask
    write_png(sample_path(tmp_path, "train", "shadow", "a"), shadow)
    assert validate_dataset(tmp_path).valid
    region[12:14, 2:6] = 0  # now the halo is outside every region
    region[8, 2] = 0  # and smask pokes out of sregion
    write_png(sample_path(tmp_path, "train", "sregion", "a"), region)
    # outside: 256 - 15 pixels, of which 8 differ by 30 and one (8, 2) by 60
    assert messages(tmp_path) == ["a.png: 1 pixels lie outside sregion",
                                  "a.png: differs from noshadow outside sregion by 1.24 on "
                                  "average (tolerance 1.0)"]


def test_every_kind_of_broken_file_is_named(tmp_path):
    make_dataset(tmp_path, ids=("a", "b", "c", "d", "e", "f"))
    (tmp_path / "train/rshadow/a.png").unlink()  # missing file
    write_png(tmp_path / "train/mask/b.png", np.zeros((8, 8), np.uint8))  # wrong size
    gray = np.zeros((16, 16), np.uint8)
    gray[0, :3] = 128
    write_png(tmp_path / "train/robject/c.png", gray)  # non-binary
    write_png(tmp_path / "train/smask/d.png", np.zeros((16, 16, 3), np.uint8))  # RGB mask
    data = (tmp_path / "train/shadow/e.png").read_bytes()
    (tmp_path / "train/shadow/e.png").write_bytes(data[:20])  # truncated PNG
    (tmp_path / "train/noshadow/notes.txt").write_text("stray")
    found = messages(tmp_path)
    assert "a.png: missing" in found
    assert "b.png: size 8x8 differs from noshadow 16x16" in found
    assert "c.png: 3 pixels are not 0 or 255" in found
    assert "d.png: expected a single-channel (L) mask, got 3 channels" in found
    assert "e.png: not a readable PNG image" in found
    assert "notes.txt: not a .png file" in found
    report = validate_dataset(tmp_path)
    assert not report.valid and report.counts == {"train": 1}  # only f is complete


def test_pair_differing_outside_smask_and_duplicates(tmp_path):
    make_dataset(tmp_path, ids=("a", "b"))
    shadow = read_image(tmp_path / "train/shadow/a.png", "RGB")
    shadow[0:4, 10:16] = 0
    write_png(tmp_path / "train/shadow/a.png", shadow)
    write_png(tmp_path / "train/noshadow/b.png", read_image(tmp_path / "train/noshadow/a.png",
                                                            "RGB"))
    write_png(tmp_path / "train/shadow/b.png", read_image(tmp_path / "train/shadow/a.png",
                                                          "RGB"))
    report = validate_dataset(tmp_path)
    assert any("differs from noshadow outside smask" in p.message for p in report.errors)
    assert any("identical noshadow images: train/a, train/b" in p.message
               for p in report.problems if p.severity == "warning")


def test_manifest_and_files_must_agree(tmp_path):
    make_dataset(tmp_path, ids=("a",))
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"id": "a"}) + "\n"
                                             + json.dumps({"id": "zz"}) + "\n")
    assert messages(tmp_path) == ["manifest.jsonl: lists zz, which has no files"]


def test_validate_cli_exit_codes_and_json(tmp_path):
    make_dataset(tmp_path / "ok")
    result = run_cli("validate", str(tmp_path / "ok"), "--json", str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "r.json").read_text())["valid"] is True
    (tmp_path / "ok/train/mask/a.png").unlink()
    result = run_cli("validate", str(tmp_path / "ok"))
    assert result.returncode == 1 and "mask/a.png: missing" in result.stderr


def test_validate_reads_rendered_passes_layout(tmp_path):
    """The renderer's own output folder layout passes validate (written with the same I/O)."""
    make_dataset(tmp_path, split="test", ids=("x",))
    cv2.imwrite(str(tmp_path / "test/noshadow/.hidden.png"), np.zeros((2, 2), np.uint8))
    assert validate_dataset(tmp_path).counts == {"test": 1}
