"""The data of a training run: the dataset checked first (`check_dataset`), then the train and
val loaders from a Shadow-AR folder or from packed shards (`loaders`)."""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import DataLoader

from dataset_tools.commands import console
from dataset_tools.pack_format import sample_key
from model.config import TrainConfig
from model.data import EpochSampler, ShadowARDataset, collate, train_val_samples
from model.errors import TrainingError
from model.runtime import Runtime
from model.shards import ShardSample, ShardStream, is_shard_source, shard_train_val


def check_dataset(root: Path) -> None:
    """`shadow-dataset validate` before training; shards are checked as they are read
    (model/shards.py: index sizes, sample counts, checksums)."""
    from dataset_tools.validate import validate_dataset

    if is_shard_source(root):
        return
    report = validate_dataset(root)
    if not report.valid:  # a Problem's str() starts with its severity: "error: PATH: ..."
        first = (f"{report.errors[0].path}: {report.errors[0].message}" if report.errors
                 else f"{root}: no complete samples")
        more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
        raise TrainingError(f"dataset fails validation: {first}{more}; "
                            f"run `shadow-dataset validate {root}` for the full list")


def loaders(config: TrainConfig, runtime: Runtime) -> tuple[DataLoader, DataLoader | None,
                                                             EpochSampler | ShardStream]:
    """Train and val loaders, and what fit calls set_epoch on: from a Shadow-AR folder
    (EpochSampler over a map-style dataset) or from packed shards (model/shards.py)."""
    shards = is_shard_source(config.data)
    split = shard_train_val if shards else train_val_samples
    train_items, val_items = split(config.data, config.val_fraction, config.seed)
    per_rank = -(-len(train_items) // runtime.world)
    batch_size = min(config.batch_size, per_rank)
    if batch_size < config.batch_size and runtime.main:
        console.print(f"[yellow]warning[/]: {len(train_items)} training samples; batch size "
                      f"lowered from {config.batch_size} to {batch_size}")
    if batch_size < 2:
        raise TrainingError(f"{config.data}: {len(train_items)} training samples per process; "
                            "at least 2 are needed (batch norm)")
    options = {"num_workers": config.workers, "collate_fn": collate,
               "pin_memory": runtime.device.type == "cuda",
               # a ShardStream's epoch reaches its workers only when they start again
               "persistent_workers": config.workers > 0 and not shards}
    if shards:
        def stream(items: list[ShardSample], train: bool) -> ShardStream:
            return ShardStream(items, config.size, train and config.augment, config.seed, train,
                               runtime.rank, runtime.world, batch_size, drop_last=train)

        train_stream = stream(train_items, True)
        train = DataLoader(train_stream, batch_size=batch_size, drop_last=True, **options)
        val = (DataLoader(stream(val_items, False), batch_size=batch_size, **options)
               if val_items else None)
        return train, val, train_stream
    keys = [sample_key(ref.split, ref.id) for ref in train_items]
    sampler = EpochSampler(len(train_items), config.seed, True, runtime.rank, runtime.world,
                           keys)
    train = DataLoader(ShadowARDataset(train_items, config.size, config.augment),
                       batch_size=batch_size, sampler=sampler, drop_last=True, **options)
    val = None
    if val_items:
        val_sampler = EpochSampler(len(val_items), config.seed, False, runtime.rank,
                                   runtime.world)
        val = DataLoader(ShadowARDataset(val_items, config.size), batch_size=batch_size,
                         sampler=val_sampler, **options)
    return train, val, sampler
