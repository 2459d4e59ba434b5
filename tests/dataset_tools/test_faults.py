"""shadow-dataset on a full disk, on datasets with links out of their folder and on datasets
whose manifest disagrees with their files or holds a line that is not a record: one line
naming the file, and the dataset left as valid as it was."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dataset_tools.cli import app
from dataset_tools.records import DatasetInfo
from dataset_tools.validate import validate_dataset
from tests.helpers import (
    PROCEDURAL_SCENES,
    files,
    fill_disk,
    make_dataset,
    one_line,
    run_cli,
    with_manifest,
)


def cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def rendered_like(root: Path, count: int = 4) -> Path:
    """A hand-made dataset with a manifest and a dataset.json, as a render leaves it."""
    with_manifest(root, [f"scene{i}.jpg" for i in range(count)],
                  [f"mesh{i}" for i in range(count)])
    DatasetInfo(counts={"total": count, "train": count}).write(root)
    return root


# (verb and its arguments, the folder whose disk is full); D: the dataset, R: a results folder
VERBS = [
    (["validate", "D", "--json", "R/report.json"], "R"),
    (["masks", "D"], "D"),
    (["split", "D", "--by", "none", "--test", "0.5"], "D"),
    (["inspect", "D", "--out", "R/sheet.png"], "R"),
    (["inspect", "D", "--html", "R/gallery"], "R"),
    (["stats", "D", "--json", "R/stats.json"], "R"),
    (["stats", "D", "--plots", "R/plots"], "R"),
    (["merge", "D", "D", "R/merged", "--prefix", "a", "--prefix", "b"], "R"),
    (["pack", "D", "R/shards"], "R"),
    (["unpack", "P", "R/unpacked"], "R"),
    (["gather", "D"], "D"),
    (["import", "D", "R/imported"], "R"),
    (["sidecars", str(PROCEDURAL_SCENES), "--sheet", "R/sidecars.png"], "R"),
]


@pytest.mark.parametrize(("args", "full"), VERBS, ids=[" ".join(v[0][:2]) for v in VERBS])
def test_a_full_disk_is_one_line_naming_the_file_and_keeps_the_dataset(tmp_path, monkeypatch,
                                                                     args, full):
    dataset = rendered_like(tmp_path / "D")
    (tmp_path / "R").mkdir()
    if "P" in args:
        assert cli("pack", dataset, tmp_path / "P")[0] == 0
    before = files(dataset)
    fill_disk(monkeypatch, tmp_path / full)
    code, output = cli(*[str(tmp_path / arg) if arg in ("D", "P") or arg.startswith("R/")
                         else arg for arg in args])
    errors = [line for line in output.splitlines() if line.startswith("error")]
    assert code == 1 and "Traceback" not in output and len(errors) == 1, output
    assert output.splitlines()[-1] == errors[0]  # the last word, after what was done
    assert errors[0].startswith(f"error: no space left on device writing {tmp_path / full}")
    assert files(dataset) == before  # what was complete stays complete
    assert not list(tmp_path.rglob("*.partial"))


def test_split_refuses_a_link_out_of_the_dataset_and_moves_nothing(tmp_path):
    dataset = rendered_like(tmp_path / "D", count=6)
    outside = tmp_path / "elsewhere"
    (dataset / "train" / "shadow").rename(outside)
    (dataset / "train" / "shadow").symlink_to(outside)
    before = files(outside)
    result = run_cli("split", str(dataset), "--test", "0.5", "--by", "scene")
    line = one_line(result.stderr)
    assert result.returncode == 1 and line.startswith(f"error: {dataset / 'train/shadow'}: a "
                                                      "symbolic link to"), result.stderr
    assert files(outside) == before and not (dataset / "test").exists()


def test_masks_merge_unpack_and_gather_refuse_links_out_of_their_folder(tmp_path):
    dataset = rendered_like(tmp_path / "D")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    link = dataset / "train" / "smask"
    for path in link.iterdir():
        path.rename(outside / path.name)
    link.rmdir()
    link.symlink_to(outside)
    before = files(outside)
    for args in (["masks", dataset], ["gather", dataset]):
        code, output = cli(*args)
        assert code == 1 and one_line(output).startswith(f"error: {link}: a symbolic link")
    target = tmp_path / "out"
    (target / "train").mkdir(parents=True)
    (target / "train" / "smask").symlink_to(outside)
    clean = rendered_like(tmp_path / "clean")
    assert cli("pack", clean, tmp_path / "P")[0] == 0
    for args in (["merge", clean, clean, target, "--prefix", "a", "--prefix", "b", "--overwrite"],
                 ["unpack", tmp_path / "P", target, "--overwrite"],
                 ["import", clean, target, "--overwrite"]):
        code, output = cli(*args)
        assert code == 1 and "a symbolic link" in one_line(output), (args, output)
    assert files(outside) == before
    assert os.path.islink(target / "train" / "smask")


def test_split_refuses_a_manifest_line_without_files_and_leaves_the_dataset_as_it_was(tmp_path):
    dataset = rendered_like(tmp_path / "D", count=6)
    for kind in ("noshadow", "shadow", "mask", "robject", "rshadow", "smask"):
        (dataset / "train" / kind / "s05.png").unlink()
    before = files(dataset)
    problems = [str(problem) for problem in validate_dataset(dataset).problems]
    result = run_cli("split", str(dataset), "--test", "0.5", "--by", "scene")
    line = one_line(result.stderr)
    assert result.returncode == 1 and "lists s05, which has no files" in line
    assert f"shadow-dataset validate {dataset}" in line
    assert files(dataset) == before
    assert [str(problem) for problem in validate_dataset(dataset).problems] == problems


def test_an_unparsable_manifest_line_is_an_error_in_validate_and_a_warning_where_rewritten(
        tmp_path):
    dataset = rendered_like(tmp_path / "D", count=6)
    manifest = dataset / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join([*lines[:3], "{garbage", *lines[3:]]) + "\n")
    report = validate_dataset(dataset)
    assert not report.valid
    assert [str(problem) for problem in report.errors] == [
        f"error: {manifest}: line 4 is not a manifest record (cannot be parsed)"]
    warning = f"warning: {manifest}: line 4 is not a manifest record (cannot be parsed); it is " \
              "dropped"
    merged = run_cli("merge", str(dataset), str(dataset), str(tmp_path / "M"), "--prefix", "a",
                     "--prefix", "b")
    assert merged.returncode == 0 and merged.stderr.count(warning) == 2, merged.stderr
    gathered = run_cli("gather", str(dataset))
    assert warning in gathered.stderr, gathered.stderr
    manifest.write_text("\n".join([*lines[:3], "{garbage", *lines[3:]]) + "\n")
    split = run_cli("split", str(dataset), "--test", "0.5", "--by", "scene")
    assert split.returncode == 0 and warning in split.stderr, split.stderr
    assert validate_dataset(dataset).valid  # the line is gone, said so


def test_messages_start_without_a_blank_line(tmp_path):
    make_dataset(tmp_path / "D")
    for args in (["validate", tmp_path / "D"], ["validate", tmp_path / "missing"],
                 ["masks", tmp_path / "D"], ["stats", tmp_path / "D"]):
        result = run_cli(*map(str, args))
        assert result.stderr and not result.stderr.startswith("\n"), (args, result.stderr)
        assert all(line == line.rstrip() for line in result.stderr.splitlines()), result.stderr
