"""What shadow-dataset writes (issue 28): nothing that exists is replaced unless asked, a report
never lands in the folder it reports on, --overwrite leaves a folder as if written fresh, an
output is never one of the inputs, and an output that cannot be a folder is one line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from dataset_tools.layout import write_npz
from dataset_tools.outputs import clear_dataset
from dataset_tools.records import DatasetInfo
from dataset_tools.toy import make_toy_dataset
from dataset_tools.validate import validate_dataset
from tests.helpers import files, make_dataset, one_line, sample_ids, with_manifest


def test_a_report_never_lands_in_its_dataset_nor_replaces_a_file_unasked(tmp_path,
                                                                         shadow_dataset):
    dataset = make_toy_dataset(tmp_path / "DS", train=2, test=1, size=32)
    before = files(dataset)
    for args in (["validate", dataset, "--json", dataset / "dataset.json"],
                 ["validate", dataset, "--json", dataset / "report.json", "--overwrite"],
                 ["stats", dataset, "--json", dataset / "train/noshadow/000000.png"],
                 ["stats", dataset, "--plots", dataset / "train/noshadow", "--overwrite"],
                 ["inspect", dataset, "--out", dataset / "train/noshadow/x.png"]):
        code, output = shadow_dataset(*args)
        assert code == 2 and "lies inside" in one_line(output), (args, output)
    assert files(dataset) == before
    report = tmp_path / "report.json"
    for verb in ("validate", "stats"):
        report.write_text("keep")
        code, output = shadow_dataset(verb, dataset, "--json", report)
        assert code == 1 and one_line(output) == \
            f"error: {report}: exists; use --overwrite to overwrite it"
        assert report.read_text() == "keep"
        code, output = shadow_dataset(verb, dataset, "--json", report, "--overwrite")
        assert code == 0 and isinstance(json.loads(report.read_text()), dict), output
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "areas.png").write_text("keep")
    code, output = shadow_dataset("stats", dataset, "--plots", plots)
    assert code == 1 and "areas.png: exists; use --overwrite" in one_line(output)
    assert (plots / "areas.png").read_text() == "keep"
    assert shadow_dataset("stats", dataset, "--plots", plots, "--overwrite")[0] == 0
    assert (plots / "areas.png").read_bytes().startswith(b"\x89PNG")


def test_merge_overwrite_leaves_out_as_if_merged_fresh(tmp_path, shadow_dataset):
    make_dataset(tmp_path / "d1", ids=("a", "b", "c"))
    make_dataset(tmp_path / "d2", ids=("x",))
    make_dataset(tmp_path / "d3", ids=("y",), split="test")
    out = tmp_path / "out"
    assert shadow_dataset("merge", tmp_path / "d1", tmp_path / "d2", out)[0] == 0
    (out / "notes.txt").write_text("mine")
    code, output = shadow_dataset("merge", tmp_path / "d2", tmp_path / "d3", out, "--overwrite")
    assert code == 0, output
    assert sample_ids(out) == {"d2_x", "d3_y"}
    assert len(list(out.rglob("*.png"))) == 2 * 6
    manifest = [json.loads(line)["id"] for line in (out / "manifest.jsonl").open()]
    assert sorted(manifest) == ["d2_x", "d3_y"]
    assert json.loads((out / "dataset.json").read_text())["counts"]["total"] == 2
    assert (out / "notes.txt").read_text() == "mine"  # not the layout's: kept
    assert validate_dataset(out).valid


def test_unpack_overwrite_into_a_rendered_dataset_keeps_none_of_its_passes(tmp_path,
                                                                           shadow_dataset):
    toy = make_toy_dataset(tmp_path / "toy", train=2, test=1, size=32)
    assert shadow_dataset("pack", toy, tmp_path / "shards")[0] == 0
    rendered = tmp_path / "rendered"
    with_manifest(rendered, ["s.jpg", "t.jpg"], ["m", "n"])
    DatasetInfo(counts={"total": 2, "train": 2}).write(rendered)
    for sample_id in ("s00", "s01"):
        write_npz(rendered / "passes" / f"{sample_id}.npz", darkening=np.zeros((16, 16)))
    code, output = shadow_dataset("unpack", tmp_path / "shards", rendered, "--overwrite")
    assert code == 0, output
    assert not (rendered / "passes").exists()
    assert sample_ids(rendered) == sample_ids(toy)
    assert files(rendered)["dataset.json"] == (toy / "dataset.json").read_bytes()
    assert validate_dataset(rendered).valid


def test_clear_dataset_removes_only_what_the_layout_owns_and_never_follows_a_link(tmp_path):
    root = tmp_path / "D"
    with_manifest(root, ["s.jpg"], ["m"])
    DatasetInfo().write(root)
    (root / "train/noshadow/.000000.png.abc.partial").write_bytes(b"torn")
    (root / "manifests").mkdir()
    (root / "manifests/shard-0-of-2.jsonl").write_text("{}\n")
    (root / "train/noshadow/README.txt").write_text("mine")
    (root / "shard-000000.tar").write_bytes(b"")
    inside = root / "kept"
    inside.mkdir()
    (inside / "photo.png").write_bytes(b"png")
    (root / "passes").symlink_to(inside)  # a link within the folder: not followed
    assert clear_dataset(root) > 0
    assert sorted(str(path.relative_to(root)) for path in root.rglob("*")) == [
        "kept", "kept/photo.png", "passes", "train", "train/noshadow",
        "train/noshadow/README.txt"]
    assert (root / "passes").is_symlink()


def test_clear_dataset_keeps_what_a_user_put_in_the_layouts_folders(tmp_path):
    root = tmp_path / "D"
    with_manifest(root, ["s.jpg"], ["m"])
    (root / "manifests" / "mine").mkdir(parents=True)
    (root / "manifests" / "mine" / "plan.txt").write_text("mine")
    (root / "manifests" / "notes.txt").write_text("mine")
    (root / "manifests" / "shard-1-of-2.json").write_text("{}")
    (root / "manifests" / "submission.json").write_text("{}")
    (root / ".claims" / "sub").mkdir(parents=True)
    (root / ".claims" / "000003").write_text("{}")
    (root / "dataset.json").mkdir()  # a folder under a file's name is never removed
    (root / "dataset.json" / "x").write_text("mine")
    clear_dataset(root)
    assert sorted(str(path.relative_to(root)) for path in root.rglob("*")) == [
        ".claims", ".claims/sub", "dataset.json", "dataset.json/x", "manifests",
        "manifests/mine", "manifests/mine/plan.txt", "manifests/notes.txt"]


def test_an_output_that_is_or_holds_or_lies_in_an_input_is_refused(tmp_path, shadow_dataset):
    first = make_toy_dataset(tmp_path / "mA", train=2, test=1, size=32)
    second = make_toy_dataset(tmp_path / "mB", train=1, test=1, size=32)
    assert shadow_dataset("pack", first, tmp_path / "shards")[0] == 0
    before = {path: files(path) for path in (first, second, tmp_path / "shards")}
    cases = [(["merge", first, second, first, "--overwrite"], first, "is"),
             (["merge", first, second, tmp_path, "--overwrite"], tmp_path, "holds"),
             (["merge", first, second, first / "merged"], first / "merged", "lies inside"),
             (["import", first, first / "imported"], first / "imported", "lies inside"),
             (["pack", first, first / "shards"], first / "shards", "lies inside"),
             (["unpack", tmp_path / "shards", tmp_path / "shards", "--overwrite"],
              tmp_path / "shards", "is")]
    for args, out, how in cases:
        code, output = shadow_dataset(*args)
        assert code == 2 and one_line(output).startswith(
            f"error: {out}: the output folder {how} the input"), (args, output)
    assert {path: files(path) for path in before} == before


def test_an_output_folder_that_is_a_file_or_lies_under_one_is_one_line(tmp_path,
                                                                       shadow_dataset):
    dataset = make_toy_dataset(tmp_path / "DS", train=2, test=1, size=32)
    assert shadow_dataset("pack", dataset, tmp_path / "shards")[0] == 0
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    for out in (blocker, blocker / "out", Path(os.devnull)):
        for args in (["pack", dataset, out], ["unpack", tmp_path / "shards", out],
                     ["merge", dataset, dataset, out, "--prefix", "a", "--prefix", "b"],
                     ["import", dataset, out]):
            code, output = shadow_dataset(*args, "--overwrite")
            assert code == 1 and one_line(output).startswith(f"error: {out}: cannot write"), \
                (args, output)
    assert blocker.read_text() == "not a folder"
