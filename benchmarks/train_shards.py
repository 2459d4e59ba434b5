"""Training images/s on the CPU from packed shards against the same data unpacked to a folder.

    python benchmarks/train_shards.py                    # 192 toy samples, 64 px, 1 worker
    python benchmarks/train_shards.py --samples 512 --size 128 --json out.json

A toy dataset (dataset_tools/toy.py) is packed (`shadow-dataset pack`, WebP noshadow) and
unpacked again, so both sources hold the same pixels. For each source, model.loaders.loaders
builds the loaders (the start-up: the shard catalog or the folder listing), then the loader
runs one epoch alone (decoding + augmentation); then the attention block trains, data loading
included, one epoch on each source in turn; the reported rate is the median over the epochs.
Prints the figures and the machine."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from machine_info import machine

from dataset_tools.pack import PackConfig, pack_dataset, parse_size
from dataset_tools.pack_reader import unpack_shards
from dataset_tools.toy import make_toy_dataset
from model.config import AttentionConfig
from model.loaders import loaders
from model.runtime import Runtime
from model.train_attention import AttentionTask


def folder_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def epoch_rate(loader: Any, sampler: Any, epoch: int, step: Any = None) -> float:
    """Images per second of one epoch of `loader`, `step(batch)` included when given."""
    sampler.set_epoch(epoch)
    images, started = 0, time.perf_counter()
    for batch in loader:
        if step is not None:
            step(batch)
        images += len(batch["id"])
    return images / (time.perf_counter() - started)


@dataclass
class Source:
    """One source's loader, sampler, task and figures."""

    loader: Any
    sampler: Any
    task: AttentionTask
    figures: dict[str, Any]


def prepare(data: Path, args: argparse.Namespace, runtime: Runtime) -> Source:
    """model.loaders.loaders and a fresh attention task on `data`; times the loaders' start-up
    and one loader-only epoch (decoding and augmentation)."""
    config = AttentionConfig(data=data, size=args.size, batch_size=args.batch,
                             workers=args.workers, val_fraction=0.0, encoder_weights="none",
                             validate_data=False, device="cpu")
    started = time.perf_counter()
    loader, _, sampler = loaders(config, runtime)
    figures: dict[str, Any] = {"startup_s": time.perf_counter() - started}
    figures["loader_images_per_s"] = epoch_rate(loader, sampler, 0)
    task = AttentionTask(config, runtime)
    for network in task.networks.values():
        network.train()
    return Source(loader, sampler, task, {**figures, "train_epochs": []})


def train_epochs(sources: dict[str, Source], epochs: int, runtime: Runtime) -> None:
    """Training epochs of the sources in turn (who goes first alternates), so that a load
    that comes and goes on a shared machine falls on both alike."""
    names = list(sources)
    for epoch in range(1, epochs + 1):
        for name in names if epoch % 2 else names[::-1]:
            source = sources[name]

            def step(batch: dict[str, Any], source: Source = source, epoch: int = epoch) -> None:
                source.task.train_step(runtime.to_device(batch), epoch)

            source.figures["train_epochs"].append(epoch_rate(source.loader, source.sampler,
                                                             epoch, step))
    for source in sources.values():
        source.figures["train_images_per_s"] = statistics.median(source.figures["train_epochs"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=192)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=4, help="timed training epochs")
    parser.add_argument("--shard-size", default="1MB")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    runtime = Runtime(torch.device("cpu"))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        toy = make_toy_dataset(Path(tmp) / "toy", train=args.samples, test=0, size=args.size)
        index = pack_dataset(PackConfig(toy, Path(tmp) / "shards", parse_size(args.shard_size)))
        unpack_shards([Path(tmp) / "shards"], Path(tmp) / "folder")
        results["shard_count"] = len(index.shards)
        results["shard_bytes"] = index.bytes
        results["folder_bytes"] = folder_bytes(Path(tmp) / "folder")
        sources = {name: prepare(Path(tmp) / name, args, runtime)
                   for name in ("folder", "shards")}
        train_epochs(sources, args.epochs, runtime)
        results.update({name: source.figures for name, source in sources.items()})

    print(f"machine: {machine()}")
    print(f"{args.samples} toy samples at {args.size} px, attention block, batch {args.batch}, "
          f"{args.workers} loader worker(s), {args.epochs} timed epochs; {results['shard_count']} "
          f"shards, {results['shard_bytes'] / 1e6:.1f} MB vs folder "
          f"{results['folder_bytes'] / 1e6:.1f} MB")
    print(f"{'':8} {'start-up s':>11} {'loader img/s':>13} {'train img/s':>12}  per epoch")
    for name in ("folder", "shards"):
        row = results[name]
        epochs = " ".join(f"{rate:.1f}" for rate in row["train_epochs"])
        print(f"{name:8} {row['startup_s']:11.2f} {row['loader_images_per_s']:13.1f} "
              f"{row['train_images_per_s']:12.1f}  {epochs}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "args": {
            key: str(value) for key, value in vars(args).items()}, **results}, indent=2))

if __name__ == "__main__":
    main()
