"""dataset_tools.split and resplit: grouped, deterministic splits that never leak a group."""

from __future__ import annotations

import json

from dataset_tools.split import assign_groups
from dataset_tools.validate import validate_dataset
from tests.helpers import make_dataset, run_cli, with_manifest


def test_split_by_both_keeps_test_scenes_and_meshes_out_of_training(tmp_path):
    scenes = [f"scene{i % 10}.jpg" for i in range(40)]
    meshes = [f"mesh{(i * 7) % 8}" for i in range(40)]
    with_manifest(tmp_path, scenes, meshes)
    result = run_cli("split", str(tmp_path), "--test", "0.2", "--val", "0.1", "--by", "both")
    assert result.returncode == 0, result.stderr
    records = {r["id"]: r for r in map(json.loads,
                                       (tmp_path / "manifest.jsonl").read_text().splitlines())}
    train = [r for r in records.values() if r["split"] == "train"]
    test = [r for r in records.values() if r["split"] == "test"]
    assert train and test
    assert not {r["scene"] for r in train} & {r["scene"] for r in test}
    assert not {r["inserted_mesh"] for r in train} & {r["inserted_mesh"] for r in test}
    for record in records.values():  # every file moved with its sample, none lost
        for kind in ("noshadow", "shadow", "mask", "robject", "rshadow", "smask"):
            assert (tmp_path / record["split"] / kind / f"{record['id']}.png").is_file()
    assert sum(1 for _ in tmp_path.rglob("*.png")) == 40 * 6
    info = json.loads((tmp_path / "dataset.json").read_text())
    assert info["counts"]["total"] == 40 and info["split"]["by"] == "both"
    assert validate_dataset(tmp_path).valid
    again = run_cli("split", str(tmp_path), "--test", "0.2", "--val", "0.1", "--by", "both")
    assert again.returncode == 0 and again.stderr == result.stderr  # deterministic


def test_split_without_manifest_needs_by_none(tmp_path):
    make_dataset(tmp_path, ids=[f"x{i}" for i in range(10)])
    result = run_cli("split", str(tmp_path), "--by", "scene")
    assert result.returncode == 1 and "manifest.jsonl" in result.stderr
    result = run_cli("split", str(tmp_path), "--by", "none", "--test", "0.3", "--val", "0")
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "test" / "noshadow").glob("*.png"))) == 3
    assert sum(1 for _ in tmp_path.rglob("*.png")) == 60


def test_assign_groups_is_deterministic_grouped_and_never_empty():
    groups = [f"scene{i}.jpg" for i in range(20)]
    split = assign_groups(groups, 0.15, 0.05, seed=3)
    assert split == assign_groups(list(reversed(groups)), 0.15, 0.05, seed=3)
    counts = {name: list(split.values()).count(name) for name in ("train", "val", "test")}
    assert counts == {"train": 16, "val": 1, "test": 3}
    assert assign_groups(groups, 0.15, seed=4) != assign_groups(groups, 0.15, seed=3)
    assert assign_groups(["only.jpg"], 0.5) == {"only.jpg": "train"}
    assert sorted(assign_groups(["a", "b"], 0.01).values()) == ["test", "train"]
