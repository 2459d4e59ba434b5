"""The output folder of a run (`render.output`): what is refused before any work, and what
--overwrite removes."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from rich.console import Console

from dataset_tools.errors import UsageError
from dataset_tools.layout import KINDS, passes_path, write_json
from dataset_tools.records import DatasetInfo, read_manifest
from dataset_tools.validate import validate_dataset
from render.runner import RunError, run
from tests.helpers import TINY_ARGS, make_dataset, tiny_config

QUIET = Console(file=open(os.devnull, "w"))  # noqa: SIM115


def render_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from render.cli import entry; entry()",
                           *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def tree(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes()
            for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.mark.blender
def test_overwrite_leaves_exactly_a_fresh_run_and_the_users_files(tmp_path):
    out = tmp_path / "data"
    first = run(tiny_config(out, count=4, test_fraction=0.5), QUIET)
    assert first.rendered == 4
    (out / "notes.txt").write_text("mine")
    (out / "train" / "notes.txt").write_text("mine too")
    (out / ".claims").mkdir(exist_ok=True)
    (out / "manifests").mkdir()
    (out / "manifests" / "shard-0-of-2.jsonl").write_text("")
    second = run(tiny_config(out, count=2, size=32, seed=7, overwrite=True), QUIET)
    assert second.rendered == 2 and second.already_done == 0
    records = read_manifest(out)
    assert sorted(records) == ["000000", "000001"]
    pngs = sorted(out.rglob("*.png"))
    assert len(pngs) == 2 * len(KINDS)
    assert {cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape[0] for path in pngs} == {32}
    assert sorted(path.stem for path in (out / "passes").iterdir()) == sorted(records)
    info = DatasetInfo.read(out)
    assert info.settings["size"] == 32 and info.counts["total"] == 2
    assert not (out / "manifests").exists() and not (out / ".claims").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "train" / "notes.txt").read_text() == "mine too"
    report = validate_dataset(out)
    assert report.valid and sum(report.counts.values()) == 2


def test_overwrite_refuses_a_folder_that_is_not_a_dataset(tmp_path):
    home = tmp_path / "home"
    (home / "photos").mkdir(parents=True)
    (home / "photos" / "cat.png").write_bytes(b"not really")
    (home / "todo.txt").write_text("x")
    before = tree(home)
    with pytest.raises(RunError) as caught:
        run(tiny_config(home, overwrite=True), QUIET)
    message = str(caught.value)
    assert message.startswith(f"{home}: ") and "not a dataset" in message and "\n" not in message
    assert tree(home) == before


def test_overwrite_removes_nothing_until_the_inputs_are_read(tmp_path):
    out = tmp_path / "data"
    make_dataset(out, ids=("000000", "000001"))
    before = tree(out)
    empty = tmp_path / "no_photos"
    empty.mkdir()
    with pytest.raises(RunError) as caught:  # a wrong --scenes: the old dataset stays
        run(tiny_config(out, scenes=empty, overwrite=True), QUIET)
    assert "\n" not in str(caught.value)
    assert tree(out) == before


def test_overwrite_clears_only_what_the_layout_owns(tmp_path):
    out = tmp_path / "data"
    make_dataset(out, ids=("000000", "000001"))
    (out / "manifest.jsonl").write_text(json.dumps({"id": "000000", "index": 0}) + "\n")
    write_json(out / "dataset.json", {"format_version": 1, "source": "merge of a, b"})
    passes_path(out, "000000").parent.mkdir()
    np.savez(passes_path(out, "000000"), a=np.zeros(1))
    (out / "train" / "noshadow" / ".000009.png.abc.partial").write_bytes(b"")
    (out / "train" / "noshadow" / "keep.jpg").write_bytes(b"user")
    (out / "README.md").write_text("about")
    from render.output import clear_for_overwrite

    clear_for_overwrite(out)
    left = {name: data for name, data in tree(out).items() if name != ".manifest.jsonl.lock"}
    assert left == {"README.md": b"about", "train/noshadow/keep.jpg": b"user"}


def test_overwrite_with_shard_is_refused_as_an_argument_error(tmp_path):
    result = render_cli("--out", str(tmp_path / "o"), "--shard", "0/2", "--overwrite",
                        *TINY_ARGS)
    assert result.returncode == 2 and "--overwrite" in one_line(result)


@pytest.mark.parametrize("where", ["is", "holds", "lies inside"])
def test_an_output_folder_overlapping_the_inputs_is_refused_before_any_work(tmp_path, where):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    image = np.full((48, 64, 3), 128, dtype=np.uint8)
    cv2.imwrite(str(scenes / "floor.png"), image)
    out = {"is": scenes, "holds": tmp_path, "lies inside": scenes / "out"}[where]
    before = tree(tmp_path)
    with pytest.raises(UsageError, match=f"output folder {where} the input {scenes}"):
        run(tiny_config(out, scenes=scenes), QUIET)
    assert tree(tmp_path) == before and not (scenes / "out").exists()


def test_the_cli_refuses_an_output_inside_the_scenes_with_exit_code_2(tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    cv2.imwrite(str(scenes / "floor.png"), np.full((48, 64, 3), 128, dtype=np.uint8))
    args = [arg for arg in TINY_ARGS]
    args[args.index("--scenes") + 1] = str(scenes)
    result = render_cli(*args, "--out", str(scenes / "out"), "-n", "1")
    line = one_line(result)
    assert result.returncode == 2 and line.startswith(f"error: {scenes / 'out'}: "), line
    assert "lies inside the input" in line and not (scenes / "out").exists()


def merged_folder(out: Path, info: dict | None) -> None:
    make_dataset(out, ids=("000000", "000001"))
    (out / "manifest.jsonl").write_text("".join(
        json.dumps({"id": f"00000{index}", "index": index, "split": "train"}) + "\n"
        for index in range(2)))
    if info is not None:
        write_json(out / "dataset.json", info)


@pytest.mark.parametrize(("info", "made_by"), [
    ({"format_version": 1, "source": "merge of a, b", "counts": {"total": 2}},
     "merge of a, b"),
    ({"format_version": 1, "source": "shadow-ar import of x", "counts": {"total": 2}},
     "shadow-ar import of x"),
    (None, "no dataset.json"),
])
def test_rendering_into_a_folder_not_rendered_with_these_settings_is_refused(tmp_path, info,
                                                                             made_by):
    out = tmp_path / "merged"
    merged_folder(out, info)
    before = tree(out)
    with pytest.raises(RunError) as caught:
        run(tiny_config(out, count=4), QUIET)
    message = str(caught.value)
    assert message.startswith(str(out)) and made_by in message and "--overwrite" in message
    assert "\n" not in message and tree(out) == before


def test_a_render_of_other_settings_is_still_refused_and_the_cli_exits_1(tmp_path):
    out = tmp_path / "merged"
    merged_folder(out, {"format_version": 1, "source": "merge of a, b"})
    result = render_cli("--out", str(out), "-n", "4", *TINY_ARGS)
    line = one_line(result)
    assert result.returncode == 1 and line.startswith(f"error: {out}") and "merge" in line


def test_outputs_that_exist_as_something_else_are_refused_in_one_line(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")
    with pytest.raises(RunError, match="plain"):
        run(tiny_config(plain), QUIET)
    assert plain.read_text() == "x"
    folder = tmp_path / "data"
    (folder / "dataset.json").mkdir(parents=True)
    with pytest.raises(RunError, match="dataset.json: cannot write here: a folder"):
        run(tiny_config(folder), QUIET)
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "manifest.jsonl")  # reading it would block for ever
    with pytest.raises(RunError, match="manifest.jsonl: cannot write here: a device"):
        run(dataclasses.replace(tiny_config(fifo), overwrite=True), QUIET)
    train = tmp_path / "train_file"
    train.mkdir()
    (train / "train").write_text("x")
    with pytest.raises(RunError, match="train: .*not a folder"):
        run(tiny_config(train), QUIET)
    result = render_cli("--out", "/dev/null", "-n", "1", *TINY_ARGS)
    assert result.returncode == 1 and one_line(result).startswith("error: /dev/null")


@pytest.mark.parametrize("case", ["link loop", "name too long", "partition", "scenes loop"])
def test_bad_paths_and_conflicting_options_are_one_line_errors(tmp_path, case):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    args = {"link loop": ["--out", str(loop)],
            "name too long": ["--out", str(tmp_path / ("a" * 300))],
            "partition": ["--out", str(tmp_path / "o"), "--partition", "gpu"],
            "scenes loop": ["--out", str(tmp_path / "o"), "--scenes", str(loop)]}[case]
    result = render_cli(*args, "-n", "1")
    line = one_line(result)
    # a folder that cannot be written is exit code 1, the command line's own errors 2
    expected = 1 if case == "name too long" else 2
    assert result.returncode == expected and line.startswith("error: "), line
    assert not (tmp_path / "o").exists()
