"""Training from `shadow-dataset pack` shards (model/shards.py): DDP, the same losses as the
unpacked folder, resume, every sample once per epoch over ranks x workers, bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import ROOT

pytest.importorskip("segmentation_models_pytorch")
pytest.importorskip("webdataset")
from torch.utils.data import DataLoader  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from dataset_tools.pack import PackConfig, pack_dataset  # noqa: E402
from dataset_tools.pack_reader import unpack_shards  # noqa: E402
from model import checkpoint as ckpt  # noqa: E402
from model.cli import app  # noqa: E402
from model.config import AttentionConfig  # noqa: E402
from model.data import collate  # noqa: E402
from model.runtime import Runtime  # noqa: E402
from model.shards import ShardStream, shard_train_val  # noqa: E402
from model.train import fit  # noqa: E402
from model.train_attention import AttentionTask  # noqa: E402

CPU = Runtime(torch.device("cpu"))
TINY = {"size": 32, "workers": 0, "device": "cpu", "encoder_weights": "none", "log_every": 1,
        "image_every": 0}


@pytest.fixture(scope="module")
def shards(toy_dataset, tmp_path_factory) -> Path:
    """The toy dataset (12 train, 4 test) in 30 kB shards: 3 train shards (5, 5, 2)."""
    out = tmp_path_factory.mktemp("shards") / "shards"
    index = pack_dataset(PackConfig(toy_dataset, out, 30_000))
    assert [shard.splits for shard in index.shards][:3] == [{"train": 5}, {"train": 5},
                                                             {"train": 2}]
    return out


@pytest.fixture(scope="module")
def unpacked(shards, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("unpacked") / "unpacked"
    unpack_shards([shards], out)
    return out


class Killed(Exception):
    pass


def train(data: Path | str, run_dir: Path, stop_after: int | None = None,
          resume: Path | None = None, **overrides) -> list[dict]:
    """fit() an attention block on `data`; the stats.jsonl lines. Raises Killed after epoch
    `stop_after` (what a kill leaves: checkpoints up to that epoch)."""
    def kill(epoch: int) -> None:
        if epoch == stop_after:
            raise Killed

    config = AttentionConfig(data=Path(data), out=run_dir.parent, **{**TINY, **overrides})
    fit(AttentionTask(config, CPU), config, CPU, run_dir, resume, on_epoch=kill)
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


def losses(lines: list[dict]) -> np.ndarray:
    return np.array([[line.get("train/dice", np.nan), line.get("val/iou", np.nan)]
                     for line in lines])


def test_an_epoch_reads_every_sample_once_over_two_ranks_and_two_workers(shards):
    train_samples, _ = shard_train_val(shards, 0.0, seed=0)
    assert len(train_samples) == 12
    orders = []
    for epoch in (1, 1, 2):
        ids: list[str] = []
        for rank in range(2):  # 3 shards for 4 consumers: they share shards, not samples
            stream = ShardStream(train_samples, 64, True, 0, True, rank, 2, 3, True)
            stream.set_epoch(epoch)
            loader = DataLoader(stream, batch_size=3, num_workers=2, collate_fn=collate)
            assert len(loader) == 2
            ids += [sample_id for batch in loader for sample_id in batch["id"]]
        assert Counter(ids) == Counter(f"{index:06d}" for index in range(12))
        orders.append(ids)
    assert orders[0] == orders[1] != orders[2]  # the order is a function of (seed, epoch)


@pytest.mark.slow
def test_shards_and_the_unpacked_folder_give_the_same_losses(shards, unpacked, tmp_path):
    # one batch per epoch (batch size lowered to the 11 training samples): the mean losses do
    # not depend on the order, and augmentation seeds are the same (seed, epoch, SPLIT/ID)
    from_shards = train(shards, tmp_path / "shards", epochs=2, batch_size=16)
    from_folder = train(unpacked, tmp_path / "folder", epochs=2, batch_size=16)
    assert len(from_shards) == len(from_folder) == 4  # a train line and a val line per epoch
    np.testing.assert_allclose(losses(from_shards), losses(from_folder), rtol=1e-4)


@pytest.mark.slow
def test_a_resumed_run_from_shards_equals_the_uninterrupted_one(shards, tmp_path):
    pattern = str(shards / "shard-{000000..000003}.tar")
    straight = train(pattern, tmp_path / "straight", epochs=2, batch_size=4)
    with pytest.raises(Killed):
        train(pattern, tmp_path / "killed", stop_after=1, epochs=2, batch_size=4)
    last = tmp_path / "killed" / "checkpoints" / "last.pt"
    resumed = train(pattern, tmp_path / "killed", resume=last, epochs=2, batch_size=4)
    np.testing.assert_array_equal(losses(resumed), losses(straight))
    expected = ckpt.load(tmp_path / "straight" / "checkpoints" / "last.pt")["models"]
    for name, state in ckpt.load(last)["models"].items():
        assert all(torch.equal(value, expected[name][key]) for key, value in state.items())


@pytest.mark.slow
def test_ddp_from_shards_with_two_gloo_processes(shards, tmp_path):
    listed = ",".join(str(path) for path in sorted(shards.glob("shard-*.tar")))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", "2", "-m", "model.cli", "train-attention",
               "--data", listed, "--out", str(tmp_path), "--size", "64", "--batch-size", "2",
               "--epochs", "1", "--workers", "1", "--device", "cpu", "--encoder-weights", "none"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"},
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    run = next(tmp_path.glob("*-attention-*"))
    assert ckpt.load(run / "checkpoints" / "last.pt", "attention")["epoch"] == 1
    lines = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert np.isfinite(lines[-1]["val/iou"])


def cli_error(data: Path | str, tmp_path: Path) -> str:
    """The output of a train-attention run on `data` that fails with exit code 1."""
    result = CliRunner().invoke(app, ["train-attention", "--data", str(data), "--out",
                                      str(tmp_path / "runs"), "--size", "64", "--workers",
                                      "0", "--device", "cpu", "--encoder-weights", "none"])
    assert result.exit_code == 1, result.output
    return result.output.strip()


def test_bad_shards_give_one_line_naming_the_file(shards, tmp_path):
    missing = cli_error(shards / "shard-{000000..000004}.tar", tmp_path)
    assert "shard-000004.tar" in missing and "missing" in missing
    assert len(missing.splitlines()) == 1
    damaged = tmp_path / "damaged"
    shutil.copytree(shards, damaged)
    shard = damaged / "shard-000001.tar"
    shard.write_bytes(shard.read_bytes()[:5000])
    truncated = cli_error(damaged, tmp_path)
    assert "shard-000001.tar" in truncated and "truncated" in truncated
    (damaged / "index.json").unlink()
    assert "index.json" in cli_error(damaged, tmp_path)


def test_a_run_from_a_shard_pattern_is_named_after_the_shards_folder(tmp_path):
    from model.runs import new_run_dir

    (tmp_path / "packed").mkdir()
    pattern = tmp_path / "packed" / "shard-{000000..000003}.tar"
    assert new_run_dir(tmp_path / "runs", "attention", pattern).name == "00000-attention-packed"
    listed = Path(f"{tmp_path / 'packed' / 'shard-000000.tar'},{tmp_path / 'packed' / 'b.tar'}")
    assert new_run_dir(tmp_path / "runs", "sg", listed).name == "00001-sg-packed"
