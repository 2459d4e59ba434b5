"""The commit protocol of a render run: a sample's files are written first (each atomically, by
its worker), then its manifest line is appended and fsynced, and that line is the commit. This
module appends the line, removes what an unfinished sample left, and rewrites the manifest and
dataset.json at the end of a run (`finalize`).

A plain run commits to OUT/manifest.jsonl. A shard of a cluster run (`ShardLog`) commits to
its own OUT/manifests/shard-I-of-N.jsonl instead, so that no file is appended by two machines,
and records how it went next to it; `shadow-dataset gather` merges them (the shard layout is
`dataset_tools.gather`'s)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dataset_tools.gather import SHARDS_DIR, FileIndex, shard_status_path
from dataset_tools.layout import (
    FORMAT_VERSION,
    KINDS,
    MANIFEST,
    PASSES_DIR,
    SPLITS,
    TMP_SUFFIX,
    passes_path,
    sample_id,
    write_json,
)
from dataset_tools.records import (
    DatasetInfo,
    ManifestRecord,
    by_index,
    generator_name,
    read_manifest,
    read_records,
    record_line,
    split_counts,
    write_manifest,
)
from render.claims import CLAIMS_DIR, Claims, locked
from render.config import RenderConfig


@dataclass(frozen=True)
class ShardLog:
    """Run as one shard of a run spread over machines: commit samples to the shard's own
    manifest OUT/manifests/shard-I-of-N.jsonl (same atomic rule: the fsynced line is the
    commit) rather than OUT/manifest.jsonl, leave manifest.jsonl and the counts to
    `shadow-dataset gather`, and record `command` (re-runs just this shard), the run's sample
    count and the outcome in OUT/manifests/shard-I-of-N.json (`write_status`)."""

    command: tuple[str, ...]

    def write_status(self, config: RenderConfig, state: str, requested: int, complete: int,
                     failed: dict[int, str]) -> None:
        """OUT/manifests/shard-I-of-N.json: the command that re-runs the shard, the run's
        sample count, and how far the shard got (state "running", "finished" or
        "interrupted"; `failed`: index -> why)."""
        write_json(shard_status_path(config.out, config.shard_index, config.shard_count), {
            "command": list(self.command), "total": config.count,
            "shard": f"{config.shard_index}/{config.shard_count}",
            "host": socket.gethostname(), "pid": os.getpid(), "state": state,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "requested": requested,
            "complete": complete,
            "failed": {sample_id(index): message for index, message in failed.items()}})


def append_manifest(out: Path, record: ManifestRecord, path: Path | None = None) -> None:
    """Append one line to `path` (OUT/manifest.jsonl, or a shard's own manifest) and fsync
    it: the line is what marks the sample done."""
    path = path or out / MANIFEST
    with locked(path), open(path, "a", encoding="utf-8") as stream:
        stream.write(record_line(record) + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def full_path(error: BaseException) -> str:
    """The file a disk-full error (`layout.is_disk_full`) names."""
    return str(getattr(error, "path", None) or getattr(error, "filename", None) or "?")


def complete_records(out: Path,
                     records: Iterable[ManifestRecord]) -> dict[str, ManifestRecord]:
    """id -> record of the `records` whose files are all in `out` (later ones win)."""
    files = FileIndex(out)
    return {record.id: record for record in records if files.complete(record)}


def remove_sample(out: Path, identifier: str, partials: bool) -> None:
    """Delete what an unfinished sample left: its files in every split, and with `partials`
    the temporary files of writes its killed worker cut off."""
    folders = [out / split / kind for split in SPLITS for kind in KINDS]
    for folder in folders:
        (folder / f"{identifier}.png").unlink(missing_ok=True)
    passes_path(out, identifier).unlink(missing_ok=True)
    if partials:
        for folder in [*folders, out / PASSES_DIR]:
            if folder.is_dir():
                for path in folder.glob(f".{identifier}.*{TMP_SUFFIX}"):
                    path.unlink(missing_ok=True)


def remove_partials(out: Path, claims: Claims, shard: Path | None = None) -> int:
    """Delete the temporary files killed runs left, except those of samples another live run
    is writing now (it holds their claims) and those of other shards' manifests; a shard
    (`shard`: its manifest) leaves manifest.jsonl's and dataset.json's to plain runs.
    Returns how many."""
    count = 0
    top_level = []  # manifest.jsonl's and dataset.json's: another run may be writing them
    own = None if shard is None else f".{shard.stem}.json"  # its manifest's and status's
    for path in out.rglob(f"*{TMP_SUFFIX}"):
        if path.parent == out:
            if shard is None:
                top_level.append(path)
        elif path.parent == out / SHARDS_DIR:
            if own is not None and path.name.startswith(own):
                path.unlink(missing_ok=True)
                count += 1
        elif CLAIMS_DIR not in path.parts \
                and not claims.held_elsewhere(path.name[1:].split(".")[0]):
            path.unlink(missing_ok=True)
            count += 1
    if top_level:
        with locked(out / MANIFEST):
            for path in top_level:
                path.unlink(missing_ok=True)
                count += 1
    return count


def write_dataset_json(config: RenderConfig, records: dict[str, ManifestRecord]) -> None:
    """Settings and counts; what else dataset.json holds (the recorded split rule) stays,
    except with --overwrite."""
    info = (None if config.overwrite else DatasetInfo.read(config.out)) or DatasetInfo()
    info.format_version = FORMAT_VERSION
    info.generator = generator_name()
    info.settings = config.identity()
    info.counts = split_counts(str(record.split) for record in records.values())
    info.write(config.out)


def finalize(config: RenderConfig) -> dict[str, ManifestRecord]:
    """Rewrite the manifest without duplicate or stale lines, sorted; update dataset.json."""
    path = config.out / MANIFEST
    with locked(path):
        records = complete_records(config.out, read_manifest(config.out).values())
        write_manifest(path, by_index(records.values()))
        write_dataset_json(config, records)
    return records


def finalize_shard(config: RenderConfig, path: Path) -> dict[str, ManifestRecord]:
    """Rewrite a shard's own manifest `path` without duplicate or stale lines, sorted; returns
    the complete samples it and OUT/manifest.jsonl list (manifest.jsonl and dataset.json are
    gather's to write)."""
    with locked(path):
        records = complete_records(config.out, read_records(path).values())
        write_manifest(path, by_index(records.values()))
    gathered = complete_records(config.out, read_manifest(config.out).values())
    return {**gathered, **records}
