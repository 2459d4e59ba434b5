"""benchmarks/gpu_campaign.py rehearsed on the CPU at 64x64 with a tiny budget: the same
steps a GPU run takes (unpack, both blocks, both protocols, picture grid), end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dataset_tools.layout import read_image
from tests.helpers import ROOT


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ours", "article"])
def test_campaign_mode_runs_end_to_end_on_the_cpu(toy_dataset, tmp_path, mode):
    shards = tmp_path / "shards"
    packed = subprocess.run([sys.executable, "-m", "dataset_tools.cli", "pack", str(toy_dataset),
                             str(shards)], capture_output=True, text=True, cwd=ROOT)
    assert packed.returncode == 0, packed.stderr
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_campaign.py"), "--mode", mode,
         "--shards", str(shards), "--out", str(out), "--work", str(tmp_path / "work"),
         "--size", "64", "--minutes", "0.05", "--workers", "0"],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads((out / f"campaign_{mode}.json").read_text())
    assert "error" not in record
    assert record["data"]["counts"] == {"train": 12, "test": 4}
    for protocol in ("ours", "desoba"):
        metrics = record["metrics"][protocol]
        assert metrics["count"] == 4
        assert set(metrics["model"]) >= {"GRMSE", "LRMSE", "GSSIM"}
        assert metrics["identity"]["LBER"] == 1.0  # noshadow finds no shadow pixel
    assert {"unpack", "train_attention", "train_sg", "predict"} <= set(record["seconds"])
    grid = read_image(out / f"grid_{mode}.png", "RGB")
    assert grid.shape == (4 * 192, 4 * 192, 3)  # 4 test samples x 4 columns
