"""The training loop both blocks share (`fit`): epochs, validation, the time budget,
checkpoints, resume and the exported weights. What is trained and how one step goes is a Task
(train_attention.py, train_sg.py); the data is model.loaders', the log model.stats_log's, a
run's folder model.runs'."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn
from torch.utils.data import DataLoader

from dataset_tools.commands import console
from dataset_tools.layout import copy_file
from dataset_tools.settings import to_json
from model import checkpoint as ckpt
from model.config import TrainConfig
from model.data import NoteOnce
from model.errors import TrainingError
from model.loaders import loaders
from model.runtime import Runtime
from model.stats_log import StatsLog


class StoppedAfterEpoch(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during fit: `epoch` epochs are complete, the last of them in
    `checkpoint` (None when no epoch is)."""

    def __init__(self, epoch: int, checkpoint: Path | None) -> None:
        super().__init__(f"interrupted after epoch {epoch}")
        self.epoch, self.checkpoint = epoch, checkpoint


class Task(Protocol):
    kind: str  # "attention" | "sg"
    score_name: str  # the validation metric that picks the best checkpoint
    higher_is_better: bool
    networks: dict[str, nn.Module]  # trained networks (possibly DDP-wrapped)
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, Any]

    def train_step(self, batch: dict[str, Any], epoch: int) -> dict[str, torch.Tensor]: ...
    def val_sums(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]: ...
    def grid(self, batch: dict[str, Any]) -> torch.Tensor: ...
    def state(self) -> dict[str, Any]: ...  # {"models": ..., "archs": ...} to checkpoint
    def exported(self) -> dict[str, nn.Module]: ...  # what inference needs, by name
    def load_state(self, checkpoint: dict[str, Any], path: Path) -> None: ...


class SeededTask:
    """What every Task does first: keep its config and runtime, and seed torch with
    config.seed before it builds its networks, so that two runs with the same seed start
    from the same weights."""

    def __init__(self, config: TrainConfig, runtime: Runtime) -> None:
        self.config, self.runtime = config, runtime
        torch.manual_seed(config.seed)


def _finite(values: dict[str, float], where: str) -> None:
    for name, value in values.items():
        if not math.isfinite(value):
            raise TrainingError(f"{where}: {name} is {value}; stopped before writing a "
                                "checkpoint (lower --lr, or check the data)")


def validation_metrics(task: Task, loader: DataLoader | None, runtime: Runtime,
             note: Callable[[dict[str, Any]], None] | None = None) -> dict[str, float]:
    """Mean of the task's per-sample sums over the val split, reduced over ranks."""
    if loader is None:
        return {}
    for network in task.networks.values():
        network.eval()
    totals: dict[str, torch.Tensor] = {}
    with torch.no_grad(), runtime.autocast():
        for batch in loader:
            if note is not None:
                note(batch)
            for name, value in task.val_sums(runtime.to_device(batch)).items():
                totals[name] = totals.get(name, 0) + value.detach().double()
    names = sorted(totals)
    stacked = runtime.all_reduce(torch.stack([totals[name] for name in names]))
    reduced = dict(zip(names, stacked.tolist(), strict=True))
    # a sum "x" is divided by "x_count" when the task gives one (samples where x is defined)
    return {f"val/{name}": value / max(reduced.get(f"{name}_count", reduced["count"]), 1e-12)
            for name, value in reduced.items() if not name.endswith("count")}


class TimeBudget:
    """Fits training into `minutes` of wall clock. After the first epoch of a run it plans
    how many epochs fit (at most `epochs`), and refits the cosine schedules to end there; after
    every epoch it stops early if the remaining time no longer holds one more epoch. Rank 0
    decides, so that every DDP process stops after the same epoch."""

    def __init__(self, minutes: float, epochs: int, runtime: Runtime) -> None:
        self.seconds = 60.0 * minutes
        self.planned = epochs
        self.runtime = runtime
        self.started = time.perf_counter()
        self.epochs_run = 0

    def after_epoch(self, epoch: int, schedulers: dict[str, Any]) -> bool:
        """Call after epoch `epoch` (1-based) ends; True when training should stop now."""
        if self.seconds <= 0:
            return False
        self.epochs_run += 1
        elapsed = time.perf_counter() - self.started
        per_epoch = elapsed / self.epochs_run
        fits = epoch + int(max(self.seconds - elapsed, 0.0) // per_epoch)
        planned = self.runtime.broadcast(min(self.planned, max(fits, epoch)))
        if self.epochs_run == 1 and planned != self.planned:
            for scheduler in schedulers.values():
                if hasattr(scheduler, "T_max"):
                    scheduler.T_max = planned
            if self.runtime.main:
                console.print(f"time budget {self.seconds / 60:.1f} min: {planned} epochs "
                              f"({per_epoch:.1f} s each)")
        self.planned = min(self.planned, planned)
        return epoch >= self.planned


def fit(task: Task, config: TrainConfig, runtime: Runtime, run_dir: Path,
        resume: Path | None = None, on_epoch: Callable[[int], None] | None = None) -> Path:
    """Train `task` for config.epochs epochs; returns the best checkpoint's path (last.pt
    when there is no val split)."""
    train_loader, val_loader, sampler = loaders(config, runtime)
    checkpoints = run_dir / "checkpoints"
    grid_batch = next(iter(val_loader or train_loader))  # before the RNG state is restored
    start_epoch, step, best = 0, 0, None
    if resume is not None:
        try:
            state = ckpt.load(resume, task.kind)
        except ckpt.CheckpointError as error:
            other = ckpt.usable_instead(resume, task.kind)
            if other is None:
                raise
            epoch = ckpt.load(other, task.kind)["epoch"]
            raise ckpt.CheckpointError(
                f"{error}; {other} (epoch {epoch}) can still be used: copy it over {resume} "
                f"to resume from epoch {epoch}") from None
        task.load_state(state, resume)
        start_epoch, step, best = ckpt.restore_training_state(state, task.optimizers,
                                                              task.schedulers)
        for scheduler in task.schedulers.values():  # --epochs may change on resume
            if hasattr(scheduler, "T_max"):
                scheduler.T_max = config.epochs
        if runtime.main:
            console.print(f"resuming {run_dir} after epoch {start_epoch}")
    log = None
    if runtime.main:
        log = StatsLog(run_dir, (start_epoch, step) if resume is not None else None)
    note = NoteOnce()  # a mask that is not 0/255 gray (--no-validate-data lets it through)
    budget = TimeBudget(config.max_minutes, config.epochs, runtime)
    steps_per_epoch = len(train_loader)
    if config.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, config.max_steps_per_epoch)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
               "{task.total}"), TextColumn("{task.fields[rate]}"), TimeRemainingColumn())
    completed = start_epoch  # epochs whose checkpoint (last.pt) is written
    try:
        with Progress(*columns, console=console, disable=not runtime.main) as progress:
            for epoch in range(start_epoch, config.epochs):
                sampler.set_epoch(epoch)
                for network in task.networks.values():
                    network.train()
                bar = progress.add_task(f"{task.kind} epoch {epoch + 1}/{config.epochs}",
                                        total=steps_per_epoch, rate="")
                sums: dict[str, torch.Tensor] = {}
                seen, started = 0, time.perf_counter()
                for index, batch in enumerate(train_loader):
                    if index >= steps_per_epoch:
                        break
                    note(batch)
                    losses = task.train_step(runtime.to_device(batch), epoch)
                    for name, value in losses.items():
                        sums[name] = sums.get(name, 0) + value.detach().float()
                    seen += len(batch["id"])
                    step += 1
                    if step % config.log_every == 0 or index + 1 == steps_per_epoch:
                        means = {f"train/{name}": float(value) / (index + 1)
                                 for name, value in sums.items()}
                        _finite(means, f"epoch {epoch + 1}, step {step}")
                        rate = seen * runtime.world / (time.perf_counter() - started)
                        progress.update(bar, rate=f"{rate:.1f} img/s " + " ".join(
                            f"{name[6:]} {value:.4f}" for name, value in means.items()))
                        if log:
                            log.write({"epoch": epoch + 1, "step": step, "images_per_s": rate,
                                       **means}, step)
                    progress.advance(bar)
                for scheduler in task.schedulers.values():
                    scheduler.step()
                metrics = validation_metrics(task, val_loader, runtime, note)
                _finite(metrics, f"validation after epoch {epoch + 1}")
                out_of_time = budget.after_epoch(epoch + 1, task.schedulers)  # before the save
                score = metrics.get(f"val/{task.score_name}")
                improved = score is not None and (best is None or (
                    score > best if task.higher_is_better else score < best))
                if improved:
                    best = score
                if runtime.main:
                    state = ckpt.training_state(task.kind, to_json(config), epoch + 1, step,
                                                best, task.state(), task.optimizers,
                                                task.schedulers)
                    ckpt.save(checkpoints / "last.pt", state)
                    completed = epoch + 1
                    if improved or val_loader is None:
                        copy_file(checkpoints / "last.pt", checkpoints / "best.pt")
                        export_weights(task, checkpoints / "best.safetensors", state)
                    epoch_record = {"epoch": epoch + 1, "step": step, "best": best, **metrics}
                    log.write(epoch_record, step)
                    if config.image_every and (epoch + 1) % config.image_every == 0:
                        for network in task.networks.values():
                            network.eval()
                        with torch.no_grad(), runtime.autocast():
                            grid = task.grid(runtime.to_device(grid_batch))
                        log.image(grid.float(), epoch + 1, step)
                    shown = " ".join(f"{name[4:]} {value:.4f}" for name, value in metrics.items())
                    console.print(f"epoch {epoch + 1}: {shown or 'no val split'}"
                                  + (" [green](best)[/]" if improved else ""))
                runtime.barrier()
                if on_epoch:
                    on_epoch(epoch + 1)
                if out_of_time:
                    break
    except KeyboardInterrupt:
        raise StoppedAfterEpoch(completed,
                                checkpoints / "last.pt" if completed else None) from None
    finally:
        if log:
            log.close()
    return checkpoints / ("best.pt" if (checkpoints / "best.pt").exists() else "last.pt")


def export_weights(task: Task, path: Path, state: dict[str, Any]) -> None:
    """The networks of a checkpoint state as safetensors, with their archs as metadata."""
    from model.runtime import unwrap

    models = {name: unwrap(network) for name, network in task.exported().items()}
    ckpt.save_weights(path, models, {"kind": state["kind"], "archs": state["archs"],
                                     "epoch": state["epoch"], "config": state["config"]})
