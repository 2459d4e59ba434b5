"""`shadow-dataset gather`: merge the per-shard manifests of a sharded render run into one
dataset, and name every shard that is missing samples with the command that re-runs it.

A shard I of N (`render-dataset --shard I/N`, or task I of `--executor slurm --jobs N`) writes
its images straight into OUT's split folders and commits each sample by a line in its own
OUT/manifests/shard-I-of-N.jsonl: no file is appended by two machines, so nothing relies on
file locks a network file system may not honour. It records its command line and the number
of samples of the whole run in OUT/manifests/shard-I-of-N.json. Gather only reads and writes
manifests: it never copies or moves an image.

The shard layout is written down here once, for the render that writes it (`render.commit`,
`render.cluster`) and for gather that reads it: where shard I of N commits and records its
state (`shard_manifest_path`, `shard_status_path`), how a shard's command names its shard
(`shard_command`: gather re-targets a finished shard's command at one that never started), and
when a sample is complete (`FileIndex.complete`).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataset_tools.layout import (
    DATASET_JSON,
    KINDS,
    MANIFEST,
    PASSES_DIR,
    DatasetError,
    read_json_object,
    refuse_outside_links,
)
from dataset_tools.records import (
    DatasetInfo,
    ManifestRecord,
    by_index,
    read_records,
    split_counts,
    write_manifest,
)

SHARDS_DIR = "manifests"  # OUT/manifests/shard-I-of-N.jsonl (+ .json: how the shard went)
SUBMISSION = "submission.json"  # OUT/manifests/submission.json: a cluster submission's command
SHARD_FILE = re.compile(r"shard-(\d+)-of-(\d+)\.(jsonl|json)")  # a shard's manifest, status


def shard_stem(index: int, count: int) -> str:
    return f"shard-{index}-of-{count}"


def shard_manifest_path(out: Path, index: int, count: int) -> Path:
    """Where shard `index` of `count` commits its samples."""
    return out / SHARDS_DIR / f"{shard_stem(index, count)}.jsonl"


def shard_status_path(out: Path, index: int, count: int) -> Path:
    """Where shard `index` of `count` records its command and how it went."""
    return out / SHARDS_DIR / f"{shard_stem(index, count)}.json"


def shard_command(command: Sequence[str], index: int, count: int) -> list[str]:
    """`command` (a render-dataset command line) with its --shard, if any, replaced by
    `--shard index/count` at the end."""
    kept: list[str] = []
    skip = False
    for arg in command:
        if skip:
            skip = False
        elif arg == "--shard":
            skip = True
        elif not arg.startswith("--shard="):
            kept.append(arg)
    return [*kept, "--shard", f"{index}/{count}"]


class FileIndex:
    """Which files OUT's split and passes folders hold, listed once per folder (one listing
    instead of eight stats per sample: what makes gather fast on a network file system). The
    listing is taken on first use: make a new index to see files written since."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.names: dict[str, set[str]] = {}

    def _listing(self, folder: str) -> set[str]:
        if folder not in self.names:
            try:
                self.names[folder] = set(os.listdir(self.out / folder))
            except FileNotFoundError:
                self.names[folder] = set()
        return self.names[folder]

    def complete(self, record: ManifestRecord) -> bool:
        """Whether every file of the sample `record` describes exists (its passes and one PNG
        per kind in its split): the sample is complete, and its manifest line counts."""
        return f"{record.id}.npz" in self._listing(PASSES_DIR) and all(
            f"{record.id}.png" in self._listing(f"{record.split}/{kind}") for kind in KINDS)


def _rendered(path: Path) -> dict[str, ManifestRecord]:
    """The records of a manifest file that a render wrote (they have an index)."""
    return {key: record for key, record in read_records(path).items()
            if isinstance(record.index, int)}


def _read_json(path: Path) -> dict[str, Any]:
    return read_json_object(path) or {}


@dataclass
class ShardState:
    """One shard of a run: what it should hold and what it holds."""

    index: int
    count: int  # N of --shard I/N
    expected: int  # samples i < total with i % N == I
    complete: int
    state: str  # "finished", "interrupted", "running or killed", "never started"
    command: list[str] | None  # re-runs just this shard; None when no command was recorded
    failed: int = 0  # samples the shard recorded as failed

    @property
    def missing(self) -> int:
        return self.expected - self.complete


@dataclass
class GatherReport:
    out: str
    total: int = 0  # complete samples in the merged manifest
    counts: dict[str, int] = field(default_factory=dict)  # split -> samples
    requested: int | None = None  # -n of the run, when a shard recorded it
    shard_manifests: int = 0
    dropped: int = 0  # manifest lines of samples whose files are not all there
    shards: list[ShardState] = field(default_factory=list)

    @property
    def incomplete(self) -> list[ShardState]:
        return [shard for shard in self.shards if shard.missing > 0]


def _shard_files(out: Path) -> dict[tuple[int, int], dict[str, Path]]:
    """(I, N) -> {"jsonl": manifest, "json": status} for the files OUT/manifests holds."""
    found: dict[tuple[int, int], dict[str, Path]] = {}
    folder = out / SHARDS_DIR
    if not folder.is_dir():
        return found
    for path in folder.iterdir():
        match = SHARD_FILE.fullmatch(path.name)
        if match:
            found.setdefault((int(match[1]), int(match[2])), {})[match[3]] = path
    return found


def shard_manifests(out: Path) -> list[Path]:
    """The shard manifests OUT/manifests holds, in shard order."""
    files = _shard_files(out)
    return [files[key]["jsonl"] for key in sorted(files) if "jsonl" in files[key]]


def _shard_states(out: Path, files: dict[tuple[int, int], dict[str, Path]],
                  indices: set[int], report: GatherReport) -> list[ShardState]:
    """Every shard of every shard count seen in OUT/manifests, present or not."""
    statuses = {key: _read_json(paths["json"]) for key, paths in files.items() if "json" in paths}
    submission = _read_json(out / SHARDS_DIR / SUBMISSION)
    totals = [int(status["total"]) for status in [*statuses.values(), submission]
              if isinstance(status.get("total"), int)]
    if not totals:
        return []
    total = report.requested = max(totals)
    counts = {count for _, count in files}
    if isinstance(submission.get("shards"), int):
        counts.add(submission["shards"])
    states = []
    for count in sorted(counts):
        commands = [status["command"] for (_, n), status in statuses.items()
                    if n == count and isinstance(status.get("command"), list)]
        if submission.get("shards") == count and isinstance(submission.get("command"), list):
            commands.append(submission["command"])
        for index in range(count):
            status = statuses.get((index, count), {})
            expected = range(index, total, count)
            command = status.get("command") if isinstance(status.get("command"), list) \
                else (commands[0] if commands else None)
            state = status.get("state", "running or killed" if status else "never started")
            if state == "running":
                state = "running or killed"
            states.append(ShardState(
                index=index, count=count, expected=len(expected),
                complete=sum(1 for i in expected if i in indices), state=state,
                command=None if command is None else shard_command(command, index, count),
                failed=len(status.get("failed", {}))))
    return states


def gather(out: Path) -> GatherReport:
    """Merge OUT/manifest.jsonl and OUT/manifests/shard-*.jsonl into one manifest.jsonl
    (sorted by index, one line per sample, only samples whose files are all there), write the
    true counts into dataset.json, and report which shards are missing samples."""
    out = Path(out)
    refuse_outside_links(out)
    info = DatasetInfo.read(out)
    if info is None:
        raise DatasetError(out / DATASET_JSON, "missing or unreadable: not a render-dataset "
                                               "output folder")
    files = _shard_files(out)
    manifests = [path for path in [out / MANIFEST] if path.is_file()]
    manifests += [files[key]["jsonl"] for key in sorted(files) if "jsonl" in files[key]]
    merged: dict[str, ManifestRecord] = {}
    for path in manifests:  # a shard's line is newer than a gathered one
        merged.update(_rendered(path))
    index = FileIndex(out)
    ordered = by_index(record for record in merged.values() if index.complete(record))
    write_manifest(out / MANIFEST, ordered)
    splits = Counter(str(record.split) for record in ordered)
    report = GatherReport(str(out), total=len(ordered), counts=dict(sorted(splits.items())),
                          shard_manifests=len(manifests) - (out / MANIFEST in manifests),
                          dropped=len(merged) - len(ordered))
    info.counts = split_counts(splits.elements())
    info.write(out)
    indices = {int(record.index or 0) for record in ordered}
    report.shards = _shard_states(out, files, indices, report)
    return report
