"""`shadow-dataset pack`: a dataset folder -> WebDataset tar shards and their index.json.

Each shard holds one split and at most the size cap; the member format and the index are
`dataset_tools.pack_format`, reading them back `dataset_tools.pack_reader`. Every sample is
decoded again as it is written, so a mask or difference that would not come back exactly
stops the run, and the index records what the lossy noshadow codec cost (PSNR).
"""

from __future__ import annotations

import math
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dataset_tools.layout import (
    DATASET_JSON,
    KINDS,
    MANIFEST,
    MASK_KINDS,
    OPTIONAL_KINDS,
    RGB_KINDS,
    SPLITS,
    DatasetError,
    Tick,
    atomic_write,
    copy_file,
    iter_ids,
    read_image,
    sample_path,
    size_mismatch,
    write_json,
)
from dataset_tools.options import Domain, check_fields, option
from dataset_tools.outputs import clear_dataset, prepare_output
from dataset_tools.pack_format import (
    CODECS,
    END_OF_ARCHIVE,
    INDEX,
    PACK_KEY,
    SHARD_NAME,
    PackIndex,
    ShardEntry,
    decode_sample,
    encode_sample,
    sample_key,
    tar_block,
)
from dataset_tools.records import ManifestRecord, read_manifest

STAGING = ".packing"  # OUT/.packing/: the shards of a run until all are written

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9,
          "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


@dataclass(frozen=True)
class PackConfig:
    dataset: Path = option(help="Dataset folder", argument=True)
    out: Path = option(help="Folder for the shards", argument=True)
    shard_size: int = option(60_000_000, "Cap on each tar file: 60MB, 500KB, 1GB, 64MiB",
                             parser=lambda text: parse_size(text), metavar="SIZE",
                             default_text="60MB")
    codec: str = option("webp", "Codec of noshadow: webp, jpeg (lossy) or png (lossless)",
                        choices=tuple(CODECS))
    quality: int = option(90, "WebP/JPEG quality", domain=Domain(1, 100))
    overwrite: bool = option(False, "Replace what a non-empty OUT holds of shards or a "
                                    "dataset (its old files go)")

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class _Totals:
    samples: int = 0
    member_bytes: Counter = field(default_factory=Counter)
    psnr: list[float] = field(default_factory=list)
    exact: int = 0
    clipped: int = 0


def parse_size(text: str) -> int:
    """"60MB" -> 60_000_000, "500KB", "1GB", "64MiB" -> 2**26, "1024" -> bytes."""
    number = text.strip().lower().rstrip("bikmg ")
    unit = text.strip().lower()[len(number):].strip()
    try:
        value = float(number) * _UNITS[unit]
    except (ValueError, KeyError):
        raise ValueError("expected a size like 60MB, 500KB, 1GB or 64MiB") from None
    if not 1 <= value < math.inf:  # also NaN
        raise ValueError("expected a positive number of bytes")
    return int(value)


def _read_sample(root: Path, split: str, sample_id: str) -> dict[str, np.ndarray]:
    images = {kind: read_image(sample_path(root, split, kind, sample_id), "RGB")
              for kind in RGB_KINDS}
    for kind in MASK_KINDS:
        path = sample_path(root, split, kind, sample_id)
        if kind in OPTIONAL_KINDS and not path.is_file():
            continue
        images[kind] = read_image(path, "L")
        odd = int(np.count_nonzero((images[kind] != 0) & (images[kind] != 255)))
        if odd:
            raise DatasetError(path, f"{odd} pixels are not 0 or 255 (pack keeps binary masks)")
    for kind, image in images.items():
        problem = size_mismatch(image.shape, images["noshadow"].shape, "noshadow")
        if problem:
            raise DatasetError(sample_path(root, split, kind, sample_id), problem)
    return images


def _skipped(root: Path, manifest: dict[str, ManifestRecord], packed: set[str]) -> list[str]:
    """What pack leaves out: folders other than the splits' kinds, stray manifest lines."""
    notes = []
    folders = [path for path in root.iterdir() if path.name not in (*SPLITS, DATASET_JSON,
                                                                    MANIFEST)]
    folders += [path for split in SPLITS if (root / split).is_dir()
                for path in (root / split).iterdir() if path.name not in KINDS]
    for path in sorted(folders):
        if not path.name.startswith("."):
            files = sum(1 for item in path.rglob("*") if item.is_file()) if path.is_dir() else 1
            notes.append(f"{path.relative_to(root)}{'/' if path.is_dir() else ''} ({files} files)")
    stray = len(set(manifest) - packed)
    if stray:
        notes.append(f"{MANIFEST}: {stray} records of samples without files")
    return notes


def _samples(root: Path) -> list[tuple[str, str]]:
    """(split, id) of every sample, split by split; a file without noshadow is an error."""
    samples = []
    for split in SPLITS:
        ids = set(iter_ids(root, split))
        for kind in KINDS:
            for path in sorted((root / split / kind).glob("*.png")):
                if path.stem not in ids and not path.name.startswith("."):
                    raise DatasetError(path, "has no noshadow image with the same name")
        samples += [(split, sample_id) for sample_id in sorted(ids)]
    if not samples:
        raise DatasetError(root, "no samples (*/noshadow/*.png)")
    return samples


def pack_dataset(config: PackConfig, tick: Tick = None) -> PackIndex:
    """Write OUT/shard-NNNNNN.tar (a new shard also at each split change), OUT/index.json and
    OUT/dataset.json; returns the index."""
    root, out = config.dataset, config.out
    prepare_output(out, config.overwrite, clear=False)  # cleared once the shards are written
    samples = _samples(root)
    manifest = read_manifest(root)
    totals = _Totals()

    def blocks() -> Iterator[tuple[str, str, bytes]]:
        for split, sample_id in samples:
            record = manifest.get(sample_id)
            if record is not None and PACK_KEY in record.extra:
                raise DatasetError(root / MANIFEST, f"the record of {sample_id} has a field "
                                                    f"{PACK_KEY!r}, which pack reserves")
            images = _read_sample(root, split, sample_id)
            members = encode_sample(images, record.to_json() if record else None, split,
                                    sample_id, config.codec, config.quality)
            _measure(totals, images, members, split, sample_id)
            if tick:
                tick()
            yield split, sample_id, tar_block(sample_key(split, sample_id), members)

    staging = out / STAGING  # a failed run leaves OUT as it was
    shutil.rmtree(staging, ignore_errors=True)
    try:
        shards = _write_shards(blocks(), staging, root, config.shard_size)
        clear_dataset(out)  # --overwrite: nothing of the old content stays (old shards too)
        for shard in shards:
            os.replace(staging / shard.name, out / shard.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if (root / DATASET_JSON).is_file():
        copy_file(root / DATASET_JSON, out / DATASET_JSON)
    index = _index(config, shards, totals, _skipped(root, manifest, {i for _, i in samples}))
    write_json(out / INDEX, index.to_json())
    return index


def _write_shards(blocks: Iterator[tuple[str, str, bytes]], folder: Path, root: Path,
                  cap: int) -> list[ShardEntry]:
    """Fill folder/shard-NNNNNN.tar with (split, id, tar block)s, each file at most cap bytes
    and holding one split; returns the entry of each."""
    shards: list[ShardEntry] = []
    pending = next(blocks, None)
    while pending is not None:
        name = SHARD_NAME.format(len(shards))
        splits: Counter = Counter()
        size = len(END_OF_ARCHIVE)

        def write(tmp: str, splits: Counter = splits) -> None:
            nonlocal pending, size
            with open(tmp, "wb") as stream:
                while pending is not None:
                    split, sample_id, block = pending
                    fits = size + len(block) <= cap
                    if splits and (not fits or split not in splits):
                        break
                    if not fits:
                        raise DatasetError(sample_path(root, split, "noshadow", sample_id),
                                           f"packed, this sample takes {len(block)} bytes: "
                                           f"more than the shard size cap")
                    stream.write(block)
                    size += len(block)
                    splits[split] += 1
                    pending = next(blocks, None)
                stream.write(END_OF_ARCHIVE)

        atomic_write(folder / name, write)
        shards.append(ShardEntry(name, dict(splits), size, sum(splits.values())))
    return shards


def _measure(totals: _Totals, images: dict[str, np.ndarray], members: dict[str, bytes],
             split: str, sample_id: str) -> None:
    """Decode what was encoded: exact diff and masks (else RuntimeError), PSNR, clipping."""
    decoded = decode_sample(members, sample_key(split, sample_id))
    for kind in MASK_KINDS:
        if kind in images and not np.array_equal(decoded.images[kind], images[kind]):
            raise RuntimeError(f"{split}/{kind}/{sample_id}: mask did not round-trip")
    diff = images["shadow"].astype(np.int16) - images["noshadow"].astype(np.int16)
    restored = decoded.images["shadow"].astype(np.int16) - decoded.images["noshadow"]
    summed = decoded.images["noshadow"].astype(np.int16) + diff
    if not np.array_equal(restored, np.clip(summed, 0, 255) - decoded.images["noshadow"]):
        raise RuntimeError(f"{split}/shadow/{sample_id}: difference did not round-trip")
    error = np.mean((decoded.images["noshadow"].astype(np.float64) - images["noshadow"]) ** 2)
    if error == 0:
        totals.exact += 1
    else:
        totals.psnr.append(float(10 * np.log10(255.0**2 / error)))
    totals.samples += 1
    totals.clipped += decoded.clipped
    for suffix, data in members.items():
        totals.member_bytes[suffix.split(".")[0]] += len(data)


def _index(config: PackConfig, shards: list[ShardEntry], totals: _Totals,
           skipped: list[str]) -> PackIndex:
    total_bytes = sum(shard.bytes for shard in shards)
    payload = sum(totals.member_bytes.values())
    per_sample = {kind: round(size / totals.samples) for kind, size in
                  totals.member_bytes.items()}
    splits: Counter = Counter()
    for shard in shards:
        splits.update(shard.splits)
    return PackIndex(
        codec=config.codec, quality=None if config.codec == "png" else config.quality,
        shard_size_cap=config.shard_size, shards=tuple(shards), samples=totals.samples,
        splits=dict(splits), bytes=total_bytes,
        kb_per_sample=round(total_bytes / totals.samples / 1000, 2),
        bytes_per_sample={**per_sample, "tar_headers_and_padding": round(
            (total_bytes - payload) / totals.samples)},
        noshadow_psnr_db=round(float(np.mean(totals.psnr)), 3) if totals.psnr else None,
        noshadow_exact_samples=totals.exact, clipped_shadow_pixels=totals.clipped,
        not_packed=tuple(skipped))
