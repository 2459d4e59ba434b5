"""Ctrl-C, concurrent runs on one folder (claims), `split --by both` that would empty test/,
samples rendered into a re-split dataset, and validate's split-leak check."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from dataset_tools.layout import KINDS, sample_path, write_json
from dataset_tools.records import ManifestRecord, read_manifest
from dataset_tools.resplit import resplit
from dataset_tools.split import SplitRule, plan_split
from dataset_tools.validate import validate_dataset
from render.claims import Claims, ManifestView, SampleQueue
from render.runner import run
from tests.helpers import TINY_ARGS, make_dataset, run_cli, tiny_config

QUIET = Console(file=open(os.devnull, "w"))  # noqa: SIM115


def render_cli(*args: str) -> subprocess.Popen:
    command = [sys.executable, "-c", "from render.cli import entry; entry()", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def counts_agree(out: Path) -> int:
    """dataset.json's total == manifest lines == validate's complete samples; returns it."""
    report = validate_dataset(out)
    assert report.valid, [str(problem) for problem in report.problems]
    total = json.loads((out / "dataset.json").read_text())["counts"]["total"]
    assert total == len(read_manifest(out)) == sum(report.counts.values())
    assert not list(out.rglob("*.partial")) and not (out / ".claims").exists()
    assert len(list(out.rglob("*.png"))) == total * len(KINDS)  # no files of unlisted samples
    return total


@pytest.mark.slow
@pytest.mark.blender
def test_ctrl_c_says_what_is_complete_and_how_to_resume(tmp_path):
    out = tmp_path / "data"
    process = render_cli("--out", str(out), "-n", "24", *TINY_ARGS)
    manifest = out / "manifest.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not manifest.exists()
                                      or len(manifest.read_text().splitlines()) < 2):
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    lines = [line for line in output.splitlines() if line.startswith("interrupted:")]
    assert len(lines) == 1, output
    match = re.fullmatch(r"interrupted: (\d+) of 24 samples complete in (.+); resume with: (.+)",
                         lines[0])
    assert match and match[2] == str(out), lines[0]
    command = shlex.split(match[3])
    assert command == ["render-dataset", "--out", str(out), "-n", "24", *TINY_ARGS]
    complete = int(match[1])
    assert 2 <= complete < 24
    assert counts_agree(out) == complete
    resumed = render_cli(*command[1:])
    output, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, output
    assert f"24/24 samples complete ({24 - complete} rendered now, {complete} already" in output
    assert counts_agree(out) == 24


@pytest.mark.slow
@pytest.mark.blender
def test_two_runs_on_one_folder_render_each_sample_once(tmp_path):
    out = tmp_path / "data"
    runs = [render_cli("--out", str(out), "-n", "12", *TINY_ARGS) for _ in range(2)]
    outputs = [process.communicate(timeout=300)[0] for process in runs]
    rendered = []
    for process, output in zip(runs, outputs, strict=True):
        assert process.returncode == 0, output
        match = re.search(r"12/12 samples complete \((\d+) rendered now, (\d+) already there"
                          r"(?:, (\d+) by another run)?\)", output)
        assert match, output
        assert int(match[1]) + int(match[2]) + int(match[3] or 0) == 12, output
        rendered.append(int(match[1]))
    # 12 renders in all for 12 different samples: none was rendered twice (each run counts
    # the samples whose manifest line it wrote).
    assert sum(rendered) == 12, outputs
    assert sorted(read_manifest(out)) == [f"{index:06d}" for index in range(12)]
    assert counts_agree(out) == 12


def write_claim(path: Path, host: str, pid: int, age: float = 0.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host, "pid": pid, "time": time.time() - age,
                                "token": "other"}))
    os.utime(path, (time.time() - age, time.time() - age))


def test_claims_are_exclusive_and_stale_ones_are_taken_over(tmp_path):
    folder = tmp_path / ".claims"
    first, second = Claims(folder), Claims(folder, timeout=60)
    assert first.take("000001") and not second.take("000001")
    assert second.held_elsewhere("000001") and not first.held_elsewhere("000001")
    first.release("000001")
    assert second.take("000001") and not first.take("000001")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    write_claim(folder / "000002", socket.gethostname(), int(dead))  # its process is gone
    write_claim(folder / "000003", "elsewhere", 1, age=120)  # not refreshed for 2 minutes
    write_claim(folder / "000004", "elsewhere", 1, age=5)  # alive on another machine
    assert second.take("000002") and second.take("000003") and not second.take("000004")
    assert json.loads((folder / "000003").read_text())["token"] == second.token
    second.release_all()
    assert sorted(path.name for path in folder.iterdir()) == ["000004"]


def test_a_queue_skips_samples_other_runs_hold_until_they_are_done(tmp_path):
    write_claim(tmp_path / ".claims" / "000000", "elsewhere", 1)
    queue = SampleQueue([0, 1], Claims(tmp_path / ".claims"),
                        ManifestView(tmp_path / "manifest.jsonl"))
    assert queue.take() == 1 and queue.take() is None and queue.remaining() == 1
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"id": "000000"}) + "\n")
    queue.next_look = 0.0
    assert queue.take() is None and queue.remaining() == 0 and queue.by_others == 1


def small_asset_dataset(root: Path) -> dict[str, dict]:
    """4 samples (scene i, mesh i), two of them in the render's own test/."""
    records = {f"s{i}": {"id": f"s{i}", "index": i, "split": "test" if i < 2 else "train",
                         "scene": f"scene{i}.jpg", "inserted_mesh": f"mesh{i}"}
               for i in range(4)}
    for split in ("train", "test"):
        make_dataset(root, ids=[key for key, record in records.items()
                                if record["split"] == split], split=split)
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records.values()))
    return records


def test_split_by_both_refuses_to_leave_test_empty(tmp_path):
    records = small_asset_dataset(tmp_path)
    typed = {key: ManifestRecord.from_json(record) for key, record in records.items()}
    assert "test" not in plan_split(typed, 0.15, 0.0, 0, "both").values()  # the trap
    result = run_cli("split", str(tmp_path), "--by", "both", "--test", "0.15", "--val", "0")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--by both --test 0.15 leaves test/ empty" in lines[0], lines
    assert "1 of 4 scenes and 1 of 4 meshes" in lines[0]
    assert "the 2 samples now in test/ would move" in lines[0] and "--allow-empty" in lines[0]
    assert sorted(path.stem for path in (tmp_path / "test/noshadow").glob("*.png")) == \
        ["s0", "s1"]  # nothing moved
    result = run_cli("split", str(tmp_path), "--by", "both", "--test", "0.15", "--val", "0",
                     "--allow-empty")
    assert result.returncode == 0, result.stderr
    assert not list((tmp_path / "test/noshadow").glob("*.png"))
    help_text = " ".join(run_cli("split", "--help").stdout.split())
    assert "its scene AND its mesh are test groups" in help_text and "--allow-empty" in help_text


def leaky_dataset(root: Path, by: str | None) -> None:
    """scene a.jpg in train and test, mesh m1 in train and val, mesh m2 in train and test."""
    layout = {"train": [("t1", "a.jpg", "m1"), ("t2", "b.jpg", "m2")],
              "val": [("v1", "c.jpg", "m1")], "test": [("x1", "a.jpg", "m2")]}
    records = []
    for split, samples in layout.items():
        make_dataset(root, ids=[sample for sample, _, _ in samples], split=split)
        records += [{"id": sample, "split": split, "scene": scene, "inserted_mesh": mesh}
                    for sample, scene, mesh in samples]
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if by is not None:
        write_json(root / "dataset.json", {"split": {"by": by, "test": 0.2, "val": 0.1,
                                                     "seed": 0}})


@pytest.mark.parametrize(("by", "expected"), [
    (None, ["scene a.jpg is in train (1 samples) and test (1 samples)"]),
    ("mesh", ["mesh m1 is in train (1 samples) and val (1 samples)",
              "mesh m2 is in train (1 samples) and test (1 samples)"]),
    ("both", ["scene a.jpg is in train (1 samples) and test (1 samples)",
              "mesh m2 is in train (1 samples) and test (1 samples)"]),  # val may overlap
    ("none", []),
])
def test_validate_reports_scenes_and_meshes_in_two_splits(tmp_path, by, expected):
    leaky_dataset(tmp_path, by)
    report = validate_dataset(tmp_path)
    rule = by or "scene"
    assert [problem.message for problem in report.errors] == [
        f"{line}: a leak across splits (split --by {rule})" for line in expected]
    assert all(problem.path == str(tmp_path / "manifest.jsonl") for problem in report.errors)


@pytest.mark.slow
@pytest.mark.blender
def test_samples_rendered_into_a_resplit_dataset_follow_its_rule(tmp_path):
    config = tiny_config(tmp_path / "data", count=8)
    run(config, QUIET)
    resplit(config.out, 0.34, 0.17, 5, "scene")
    before = read_manifest(config.out)
    scenes = {record.scene: record.split for record in before.values()}
    assert run(dataclasses.replace(config, count=16), QUIET).rendered == 8
    records = read_manifest(config.out)
    for identifier, record in records.items():
        if record.scene in scenes:
            assert record.split == scenes[record.scene], identifier
    assert validate_dataset(config.out).valid
    rule = json.loads((config.out / "dataset.json").read_text())["split"]  # still recorded
    assert rule == {"by": "scene", "test": 0.34, "val": 0.17, "seed": 5}
    # --by both: a new sample goes to train (test) only when its scene and its mesh are train
    # (test) groups, to val otherwise, its files moved there before its manifest line.
    resplit(config.out, 0.34, 0.17, 5, "both", allow_empty=True)
    groups = SplitRule.from_samples("both", 0.34, 0.17, 5, read_manifest(config.out)).known
    assert run(dataclasses.replace(config, count=24), QUIET).rendered == 8
    records = read_manifest(config.out)
    for record in records.values():
        scene = groups["scene"].get(record.scene, record.split_groups["scene"])
        mesh = groups["inserted_mesh"].get(record.inserted_mesh,
                                           record.split_groups["inserted_mesh"])
        assert record.split_groups == {"scene": scene, "inserted_mesh": mesh}
        assert record.split == (scene if scene == mesh else "val")
        for kind in KINDS:
            assert sample_path(config.out, record.split, kind, record.id).is_file()
    assert validate_dataset(config.out).valid
    assert counts_agree(config.out) == 24


@pytest.mark.slow
@pytest.mark.blender
def test_an_interrupted_overwrite_resumes_into_the_new_run(tmp_path):
    out = tmp_path / "data"
    old = run(tiny_config(out, count=3), QUIET)
    assert old.rendered == 3
    process = render_cli("--out", str(out), "-n", "40", *TINY_ARGS, "--size", "32",
                         "--overwrite")
    manifest = out / "manifest.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            size = json.loads((out / "dataset.json").read_text())["settings"]["size"]
            lines = manifest.read_text().splitlines()
            [json.loads(line) for line in lines]  # a line being appended: read again
        except (OSError, ValueError, KeyError):
            size, lines = None, []
        if size == 32 and lines and all(json.loads(line)["spec"]["size"] == 32
                                        for line in lines):
            break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    line = next(line for line in output.splitlines() if line.startswith("interrupted:"))
    match = re.fullmatch(r"interrupted: (\d+) of 40 samples complete in (.+); resume with: (.+)",
                         line)
    assert match, line
    command = shlex.split(match[3])
    assert command == ["render-dataset", "--out", str(out), "-n", "40", *TINY_ARGS,
                       "--size", "32"]
    complete = int(match[1])
    assert 1 <= complete < 40
    assert counts_agree(out) == complete  # the new run's counts, no old sample left
    assert json.loads((out / "dataset.json").read_text())["settings"]["size"] == 32
    resumed = render_cli(*command[1:])
    output, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, output
    assert f"40/40 samples complete ({40 - complete} rendered now, {complete} already" in output
    assert counts_agree(out) == 40
