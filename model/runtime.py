"""Where a run executes: the device, mixed precision, and DDP under `torchrun` (NCCL on GPUs,
gloo on CPUs). One process per device; rank 0 writes every file."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    rank: int = 0
    world: int = 1
    amp_dtype: torch.dtype | None = None  # bf16 autocast on CUDA
    channels_last: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def prepare(self, model: nn.Module, train: bool = True) -> nn.Module:
        """Move to the device (channels_last on CUDA) and wrap in DDP when distributed."""
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if train and self.distributed and any(p.requires_grad for p in model.parameters()):
            if self.device.type == "cuda":
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
                return nn.parallel.DistributedDataParallel(model, device_ids=[self.device.index])
            return nn.parallel.DistributedDataParallel(model)
        return model

    def to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        moved = {}
        for key, value in batch.items():
            if isinstance(value, torch.Tensor):
                value = value.to(self.device, non_blocking=True)
                if self.channels_last and value.ndim == 4:
                    value = value.contiguous(memory_format=torch.channels_last)
            moved[key] = value
        return moved

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def all_reduce(self, values: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            dist.all_reduce(values)
        return values

    def broadcast(self, value: Any) -> Any:
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def pick_device(spec: str) -> torch.device:
    """"auto" = CUDA when available, else CPU; or an explicit "cpu", "cuda", "cuda:N"
    (`model.config.check_device`); UsageError (exit code 2) for a device this machine
    lacks."""
    from dataset_tools.errors import UsageError
    from model.config import check_device

    check_device(spec)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {spec}: no CUDA device is available here "
                               "(--device cpu, or auto)")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise UsageError(f"--device {spec}: this machine has "
                               f"{torch.cuda.device_count()} CUDA device(s), cuda:0 to "
                               f"cuda:{torch.cuda.device_count() - 1}")
    return device


def start(device: str = "auto", amp: bool = True, channels_last: bool = True) -> Runtime:
    """The runtime of this process; joins the process group when torchrun started it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    chosen = pick_device(device)
    if world > 1:
        if chosen.type == "cuda":
            chosen = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(chosen)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo")
    cuda = chosen.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    return Runtime(chosen, rank, world, torch.bfloat16 if cuda and amp else None,
                   cuda and channels_last)


def stop(runtime: Runtime) -> None:
    if runtime.distributed and dist.is_initialized():
        dist.destroy_process_group()


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DDP and torch.compile wrappers."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model
