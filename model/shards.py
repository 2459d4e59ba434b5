"""Training straight from the WebDataset shards of `shadow-dataset pack`, without unpacking.

`--data` names shards three ways: a folder (the shards its index.json lists), a brace pattern
(`shards/shard-{000000..000009}.tar`) or a comma-separated list of .tar files. Every shard
needs the index.json of its folder: its byte count catches a truncated file before training
starts, and its per-shard splits say which shards hold train/val (test is never read).

Before streaming, each process reads the catalog of the train/val shards: the tar headers and
the small json.gz member of every sample (its manifest record), seeking over the images. That
gives the sample keys SPLIT/ID in shard order and the scene of each, so the val split follows
model.data.train_val_samples exactly (a val split when there is one, else whole scenes carved
from train with the same carve_val), and the epoch plan below is known in advance.

The epoch plan (ShardStream), a function of (seed, epoch) and nothing else:
1. the shards are permuted by numpy's default_rng([seed, epoch]); their training samples,
   concatenated in that order (each shard's own order inside), make the epoch's list of L;
2. rank r of R takes positions [r*Q, (r+1)*Q) with Q = ceil(L / R), wrapping past the end
   (as EpochSampler pads), so every rank runs the same number of steps;
3. with drop_last the rank's tail of Q mod batch_size is dropped (as DataLoader would), and
   its whole batches are dealt to its W workers in contiguous runs;
4. each worker streams only the shards its run touches, from the first of its samples to the
   last (the members before are read through, not decoded), and shuffles its run with a
   buffer of SHUFFLE_BUFFER samples drawn by default_rng([seed, epoch, rank, worker]).
So an epoch reads every training sample exactly once over all ranks and workers (plus
EpochSampler's wrap-around padding and drop_last tail), also when there are fewer shards than
R x W: consumers then share a shard, each its own slice of samples.

The order is not the folder's order (a folder permutes samples, shards are read in runs), but
the augmentation seed of a sample is item_seed(seed, epoch, SPLIT/ID) on both: with one batch
per epoch, a run from shards and the same run from the unpacked folder see the same augmented
batch in another order, hence the same losses up to float summation order.
"""

from __future__ import annotations

import gzip
import json
import tarfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from dataset_tools.layout import MODEL_MASK_KINDS, RGB_KINDS, DatasetError
from dataset_tools.light_labels import label_of
from dataset_tools.masks import GRAY_THRESHOLD
from dataset_tools.pack_format import (
    INDEX,
    RECORD_MEMBER,
    PackIndex,
    ShardEntry,
    decode_sample,
    member_groups,
    read_index,
)
from dataset_tools.pack_reader import shard_paths
from dataset_tools.records import ManifestRecord, scene_group
from model.data import (
    augmentation,
    carve_val,
    item_seed,
    network_arrays,
    sample_tensors,
)

SHUFFLE_BUFFER = 64  # raw (undecoded) samples each worker holds to shuffle


@dataclass(frozen=True)
class ShardSample:
    shard: Path
    key: str  # SPLIT/ID as pack names the sample's members
    scene: str  # the manifest's scene (the id when the record has none)


def is_shard_source(data: Path) -> bool:
    """True when --data names shards rather than a Shadow-AR folder."""
    text = str(data)
    if data.is_dir():
        return not (data / "train").is_dir() and (
            (data / INDEX).is_file() or any(data.glob("shard-*.tar")))
    return text.endswith(".tar") or "{" in text or "," in text


def expand_sources(data: Path) -> list[Path]:
    """The shard files --data names (see the module docstring), in order; DatasetError
    naming the first that is missing."""
    from braceexpand import braceexpand

    paths: list[Path] = []
    for part in filter(None, str(data).split(",")):
        if Path(part).is_dir() and not (Path(part) / INDEX).is_file():
            raise DatasetError(Path(part) / INDEX, "missing: a folder of shards needs the "
                                                   "index.json that `shadow-dataset pack` writes")
        paths += shard_paths([Path(name) for name in braceexpand(part)])
    if not paths:
        raise DatasetError(data, "names no shard files")
    return paths


def _index_entries(paths: Sequence[Path]) -> dict[Path, ShardEntry]:
    """Each shard's entry in its folder's index.json; DatasetError naming a shard that is
    not listed there or whose size differs."""
    indexes: dict[Path, PackIndex] = {}
    entries = {}
    for path in paths:
        index = path.parent / INDEX
        if index not in indexes:
            if not index.is_file():
                raise DatasetError(index, f"missing: the shard {path.name} needs the "
                                          "index.json that `shadow-dataset pack` writes")
            indexes[index] = read_index(index)
        entry = indexes[index].shard(path.name)
        if entry is None:
            raise DatasetError(path, f"not listed in {index}")
        size = path.stat().st_size
        if size != entry.bytes:
            raise DatasetError(path, f"truncated or changed: {size} bytes, {index} says "
                                     f"{entry.bytes}")
        entries[path] = entry
    return entries


def read_catalog(path: Path) -> list[ShardSample]:
    """The samples of one shard in order, from its tar headers and json.gz members only (the
    images are seeked over)."""
    errors = (tarfile.TarError, OSError, EOFError, ValueError, KeyError, zlib.error)
    samples = []
    try:
        with tarfile.open(path, "r:") as tar:
            for key, members in member_groups(tar, wanted={RECORD_MEMBER}):
                data = json.loads(gzip.decompress(members[RECORD_MEMBER]))
                record = ManifestRecord.from_json(data)
                samples.append(ShardSample(path, key, scene_group(record, key.partition("/")[2])))
    except errors as error:
        raise DatasetError(path, f"truncated or corrupt ({error})") from None
    return samples


def shard_train_val(data: Path, val_fraction: float,
                    seed: int) -> tuple[list[ShardSample], list[ShardSample]]:
    """train_val_samples for shards: (train, val) in shard order; never test."""
    entries = _index_entries(expand_sources(data))
    catalog: dict[str, list[ShardSample]] = {"train": [], "val": []}
    for path, entry in entries.items():
        if not {"train", "val"} & set(entry.splits):
            continue
        samples = read_catalog(path)
        if len(samples) != entry.samples:
            raise DatasetError(path, f"truncated or corrupt: {len(samples)} samples, "
                                     f"index.json says {entry.samples}")
        for sample in samples:
            catalog.setdefault(sample.key.partition("/")[0], []).append(sample)
    train, val = catalog["train"], catalog["val"]
    if not train:
        raise DatasetError(data, "no training samples in these shards")
    if val or val_fraction <= 0:
        return train, val
    in_val = carve_val([sample.scene for sample in train], val_fraction, seed)
    return ([sample for sample, chosen in zip(train, in_val, strict=True) if not chosen],
            [sample for sample, chosen in zip(train, in_val, strict=True) if chosen])


def _runs(positions: Sequence[ShardSample]) -> Iterator[tuple[Path, set[str]]]:
    """(shard, keys) for each run of consecutive positions in the same shard."""
    start = 0
    for end in range(1, len(positions) + 1):
        if end == len(positions) or positions[end].shard != positions[start].shard:
            yield positions[start].shard, {sample.key for sample in positions[start:end]}
            start = end


def stream_runs(runs: Sequence[tuple[Path, set[str]]]) -> Iterator[dict[str, Any]]:
    """The webdataset sample dicts (raw member bytes) of the wanted keys, shard by shard;
    stops reading a shard once its keys are read. DatasetError naming a shard that ends
    before all of them."""
    import webdataset as wds

    for path, keys in runs:
        pending = set(keys)
        pipeline = wds.DataPipeline(wds.SimpleShardList([str(path)]), wds.tarfile_to_samples())
        try:
            for sample in pipeline:
                if sample["__key__"] in pending:
                    pending.discard(sample["__key__"])
                    yield sample
                    if not pending:
                        break
        except (tarfile.TarError, OSError, EOFError, ValueError) as error:
            raise DatasetError(path, f"truncated or corrupt ({error})") from None
        if pending:
            raise DatasetError(path, f"truncated or corrupt: {len(pending)} samples missing, "
                                     f"{sorted(pending)[0]} first")


def shuffled(items: Iterator[Any], rng: np.random.Generator, size: int) -> Iterator[Any]:
    """items through a buffer of `size`: each comes out at a random point after it went in."""
    buffer: list[Any] = []
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        slot = int(rng.integers(size))
        yield buffer[slot]
        buffer[slot] = item
    yield from (buffer[slot] for slot in rng.permutation(len(buffer)))


class ShardStream(IterableDataset):
    """The samples of one rank for one epoch (set_epoch), following the module docstring's
    plan; yields model.data's sample dicts. `batch_size` and `drop_last` must be the
    DataLoader's: workers get whole batches."""

    def __init__(self, samples: Sequence[ShardSample], size: int, augment: bool, seed: int,
                 shuffle: bool, rank: int, world: int, batch_size: int, drop_last: bool,
                 gray_threshold: float = GRAY_THRESHOLD) -> None:
        self.samples = list(samples)
        self.size, self.augment, self.seed, self.shuffle = size, augment, seed, shuffle
        self.rank, self.world = rank, world
        self.batch_size, self.drop_last = batch_size, drop_last
        self.gray_threshold = gray_threshold
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        """Samples this rank yields in an epoch (the DataLoader's length is from it)."""
        per_rank = -(-len(self.samples) // self.world)
        return per_rank - per_rank % self.batch_size if self.drop_last else per_rank

    def epoch_order(self) -> list[ShardSample]:
        """Step 1 of the plan: shards permuted by (seed, epoch), their samples in order."""
        shards = list(dict.fromkeys(sample.shard for sample in self.samples))
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch])
            shards = [shards[index] for index in rng.permutation(len(shards))]
        rank_of = {shard: place for place, shard in enumerate(shards)}
        return sorted(self.samples, key=lambda sample: rank_of[sample.shard])

    def worker_positions(self, worker: int, workers: int) -> list[ShardSample]:
        """Steps 2-3: the samples of this rank's `worker` of `workers`, in stream order."""
        order = self.epoch_order()
        per_rank = -(-len(order) // self.world)
        batches = -(-len(self) // self.batch_size)
        first = worker * batches // workers * self.batch_size
        last = min((worker + 1) * batches // workers * self.batch_size, len(self))
        start = self.rank * per_rank
        return [order[(start + offset) % len(order)] for offset in range(first, last)]

    def __iter__(self) -> Iterator[dict[str, torch.Tensor | str]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        runs = list(_runs(self.worker_positions(worker, workers)))
        raw = stream_runs(runs)
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch, self.rank, worker])
            raw = shuffled(raw, rng, SHUFFLE_BUFFER)
        transform = augmentation(self.size) if self.augment else None
        for members in raw:
            yield self._sample(members, transform)

    def _sample(self, members: dict[str, Any], transform: Any | None) -> dict[str, Any]:
        """One webdataset sample dict -> model.data's sample dict, as a folder gives it."""
        try:
            decoded = decode_sample(members)
        except ValueError as error:
            raise DatasetError(Path(members.get("__url__", "?")), str(error)) from None
        images = {kind: decoded.images[kind] for kind in RGB_KINDS}
        masks = {kind: decoded.images[kind] for kind in MODEL_MASK_KINDS if kind in decoded.images}
        arrays = network_arrays(images, masks, self.size, self.gray_threshold)
        key = members["__key__"]
        label = (label_of(ManifestRecord.from_json(decoded.record))
                 if decoded.record is not None else None)
        return sample_tensors(arrays, decoded.sample_id, "", transform,
                              item_seed(self.seed, self.epoch, key), label)
