"""A training run's log: stats.jsonl lines and TensorBoard scalars and images (`StatsLog`),
trimmed to the checkpoint a resumed run starts from (`drop_lines_after`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from dataset_tools.commands import console
from dataset_tools.layout import DISK_FULL_ERRNOS, DiskFullError, write_text


class StatsLog:
    """stats.jsonl lines and TensorBoard scalars/images (rank 0 only). `resumed`: (epoch,
    step) of the checkpoint a resumed run starts from; what the killed run logged after it
    (part of the next epoch) is dropped from both."""

    def __init__(self, run_dir: Path, resumed: tuple[int, int] | None = None) -> None:
        self.path = run_dir / "stats.jsonl"
        self.images = run_dir / "images"
        self.tensorboard = None
        if resumed is not None:
            drop_lines_after(self.path, resumed[0])
        try:
            from torch.utils.tensorboard import SummaryWriter

            purge = None if resumed is None else resumed[1] + 1  # hides events from that step
            self.tensorboard = SummaryWriter(str(run_dir / "tensorboard"), purge_step=purge)
        except ImportError:
            console.print("[yellow]warning[/]: tensorboard is not installed; "
                          "only stats.jsonl is written")

    def write(self, record: dict[str, Any], step: int) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as stream:
                stream.write(json.dumps(record, sort_keys=True) + "\n")
        except OSError as error:  # a write error carries no file name: give it this one
            if error.errno in DISK_FULL_ERRNOS:
                raise DiskFullError(self.path) from None
            raise
        if self.tensorboard is not None:
            for key, value in record.items():
                if "/" in key and isinstance(value, float | int):
                    self.tensorboard.add_scalar(key, value, step)

    def image(self, grid: torch.Tensor, epoch: int, step: int) -> None:
        from dataset_tools.layout import write_png

        pixels = (grid.clamp(0, 1) * 255 + 0.5).byte().permute(1, 2, 0).cpu().numpy()
        write_png(self.images / f"epoch_{epoch:04d}.png", pixels)
        if self.tensorboard is not None:
            self.tensorboard.add_image("samples", grid.clamp(0, 1), step)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def drop_lines_after(path: Path, epoch: int) -> None:
    """Rewrite stats.jsonl (atomically) keeping the lines of epochs 1..`epoch`: a killed run
    logged part of the epoch its checkpoint does not hold. Torn lines go too."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("epoch", 0) <= epoch:
            kept.append(line + "\n")
    write_text(path, "".join(kept))
