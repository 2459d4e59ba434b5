"""`shadow-dataset unpack` and reading shards: shard files in order, their decoded samples,
and the folder layout restored from them (the format: `dataset_tools.pack_format`)."""

from __future__ import annotations

import tarfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dataset_tools.layout import (
    DATASET_JSON,
    MANIFEST,
    SPLITS,
    DatasetError,
    Tick,
    copy_file,
    sample_path,
    write_png,
)
from dataset_tools.outputs import prepare_output
from dataset_tools.pack_format import INDEX, DecodedSample, decode_sample, member_groups, read_index
from dataset_tools.records import ManifestRecord, write_manifest


@dataclass(frozen=True)
class UnpackResult:
    counts: dict[str, int]  # split -> restored samples
    clipped: int  # shadow pixels where noshadow' + diff left 0-255


def shard_paths(sources: list[Path]) -> list[Path]:
    """Shard files in order: a folder gives the shards its index.json lists (else its
    shard-*.tar, sorted); a file is taken as it is."""
    paths: list[Path] = []
    for source in sources:
        if source.is_dir():
            index = source / INDEX
            if index.is_file():
                paths += [source / shard.name for shard in read_index(index).shards]
            else:
                found = sorted(source.glob("shard-*.tar"))
                if not found:
                    raise DatasetError(source, "no shard-*.tar files and no index.json")
                paths += found
        else:
            paths.append(source)
    for path in paths:
        if not path.is_file():
            raise DatasetError(path, "missing")
    return paths


def _expected_samples(path: Path) -> int | None:
    """The sample count index.json next to the shard gives for it, if any."""
    index = path.parent / INDEX
    try:
        entry = read_index(index).shard(path.name) if index.is_file() else None
    except DatasetError:
        return None
    return None if entry is None else entry.samples


def iter_shard(path: Path) -> Iterator[DecodedSample]:
    """Decoded samples of one shard; DatasetError naming it when it is truncated or corrupt
    (after the samples read completely before the damage)."""
    errors = (tarfile.TarError, OSError, EOFError, ValueError, KeyError, TypeError, zlib.error,
              RecursionError)  # json.gz nested too deep to parse
    try:
        tar = tarfile.open(path, "r:")
    except errors as error:
        raise DatasetError(path, f"not a readable tar file ({error})") from None
    with tar:
        groups, count = member_groups(tar), 0
        while True:
            try:
                group = next(groups, None)
                if group is None:
                    with open(path, "rb") as stream:
                        stream.seek(tar.offset)
                        if stream.read(tarfile.BLOCKSIZE) != bytes(tarfile.BLOCKSIZE):
                            raise ValueError("no end-of-archive marker")
                    expected = _expected_samples(path)
                    if expected is not None and expected != count:
                        raise ValueError(f"{count} samples, index.json says {expected}")
                    return
                sample = decode_sample(group[1], group[0])
            except errors as error:
                raise DatasetError(path, f"truncated or corrupt: {error}") from None
            count += 1
            yield sample


def _write_sample(out: Path, sample: DecodedSample) -> None:
    for kind, image in sample.images.items():
        write_png(sample_path(out, sample.split, kind, sample.sample_id), image)


def unpack_shards(sources: list[Path], out: Path, overwrite: bool = False,
                  tick: Tick = None) -> UnpackResult:
    """Restore the folder layout from shards into out: images, manifest.jsonl (the records,
    in id order) and dataset.json (from the shards' folder). A sample is written only once
    all its members were read and decoded; on a damaged shard the samples before it stay
    and the DatasetError names the shard and how many samples were restored."""
    paths = shard_paths(sources)
    prepare_output(out, overwrite)
    dataset_json = paths[0].parent / DATASET_JSON
    if dataset_json.is_file():  # first: a run stopped before its manifest is then incomplete
        copy_file(dataset_json, out / DATASET_JSON)  # for `validate` (outputs.looks_like_output)
    counts: Counter = Counter()
    records: list[tuple[str, str, dict]] = []
    seen: set[tuple[str, str]] = set()
    clipped = 0
    try:
        for path in paths:
            for sample in iter_shard(path):
                if (sample.split, sample.sample_id) in seen:
                    raise DatasetError(path, f"sample {sample.split}/{sample.sample_id} "
                                             f"appears twice in the shards")
                _write_sample(out, sample)
                seen.add((sample.split, sample.sample_id))
                counts[sample.split] += 1
                clipped += sample.clipped
                if sample.record is not None:
                    records.append((sample.sample_id, sample.split, sample.record))
                if tick:
                    tick()
    except DatasetError as error:
        _finish_unpack(out, records)
        raise DatasetError(error.path, f"{error.reason}; {sum(counts.values())} complete "
                                       f"samples restored before it") from None
    _finish_unpack(out, records)
    return UnpackResult({split: counts[split] for split in SPLITS if counts[split]}, clipped)


def _finish_unpack(out: Path, records: list[tuple[str, str, dict]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if records:
        write_manifest(out / MANIFEST, [ManifestRecord.from_json(record) for *_, record
                                        in sorted(records, key=lambda r: r[:2])])
