"""A render run: inputs, resume, workers, manifest, progress and the final summary."""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from dataset_tools.layout import (
    DATASET_JSON,
    FORMAT_VERSION,
    KINDS,
    MANIFEST,
    passes_path,
    read_manifest,
    remove_partials,
    sample_path,
    write_json,
    write_lines,
)
from dataset_tools.split import assign_groups
from render import __version__
from render.assets import BadAsset, find_meshes, find_scenes
from render.config import RenderConfig
from render.sample import Catalog, sample_id
from render.worker import WorkerPool, WorkerStartError


class RunError(RuntimeError):
    """The run cannot start; the message is one line for the user."""


@dataclass
class RunSummary:
    requested: int = 0
    already_done: int = 0
    rendered: int = 0
    failed: dict[int, str] = field(default_factory=dict)
    resampled: Counter = field(default_factory=Counter)  # reason -> count
    skipped_assets: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def complete(self) -> int:
        return self.already_done + self.rendered


def sample_complete(out: Path, record: dict[str, Any]) -> bool:
    identifier, split = record["id"], record.get("split", "train")
    return passes_path(out, identifier).is_file() and all(
        sample_path(out, split, kind, identifier).is_file() for kind in KINDS
    )


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def append_manifest(out: Path, record: dict[str, Any]) -> None:
    """Append one line and fsync it: the line is what marks the sample done."""
    path = out / MANIFEST
    with _locked(path), open(path, "a", encoding="utf-8") as stream:
        stream.write(json.dumps(record, sort_keys=True) + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def _short_reason(reason: str) -> str:
    return reason.split(" (")[0].split(": ")[-1]


def _prepare_output(config: RenderConfig) -> None:
    try:
        config.out.mkdir(parents=True, exist_ok=True)
        probe = config.out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise RunError(f"{config.out}: cannot write the output folder ({error.strerror})") from None
    settings_path = config.out / DATASET_JSON
    if settings_path.exists() and not config.overwrite:
        try:
            previous = json.loads(settings_path.read_text(encoding="utf-8")).get("settings", {})
        except ValueError:
            previous = {}
        if previous and previous != config.identity():
            changed = sorted(
                key
                for key in set(previous) | set(config.identity())
                if previous.get(key) != config.identity().get(key)
            )
            raise RunError(
                f"{settings_path}: this folder was rendered with other settings "
                f"({', '.join(changed)}); use --overwrite or another --out"
            )


def build_catalog(config: RenderConfig, console: Console) -> tuple[Catalog, dict[str, str]]:
    try:
        scenes = find_scenes(config.scenes)
        meshes = find_meshes(config.models)
    except BadAsset as error:
        raise RunError(str(error)) from None
    skipped = dict(scenes.skipped + meshes.skipped)
    for path, reason in skipped.items():
        console.print(f"[yellow]skipped[/] {path}: {reason}")
    if not scenes.items:
        raise RunError(f"{config.scenes}: no scene images found (.jpg, .png, ...)")
    if not meshes.items:
        raise RunError(
            f"{config.models}: no meshes found (ShapeNet folders or "
            ".obj/.ply/.stl/.off/.glb/.gltf files)"
        )
    photos = tuple(str(path) for path in scenes.items)
    relative = {photo: Path(photo).relative_to(config.scenes).as_posix() for photo in photos}
    by_scene = assign_groups(list(relative.values()), config.test_fraction, seed=config.seed)
    catalog = Catalog(
        scenes_root=str(config.scenes),
        photos=photos,
        meshes=tuple((mesh.mesh_id, str(mesh.path)) for mesh in meshes.items),
        splits={photo: by_scene[relative[photo]] for photo in photos},
    )
    return catalog, skipped


def write_dataset_json(config: RenderConfig, records: dict[str, dict]) -> None:
    splits = Counter(record["split"] for record in records.values())
    write_json(
        config.out / DATASET_JSON,
        {
            "format_version": FORMAT_VERSION,
            "generator": f"shadowsynth {__version__}",
            "settings": config.identity(),
            "counts": {"total": len(records), **dict(sorted(splits.items()))},
        },
    )


def finalize(config: RenderConfig) -> dict[str, dict]:
    """Rewrite the manifest without duplicate or stale lines, sorted; update dataset.json."""
    path = config.out / MANIFEST
    with _locked(path):
        records = {
            identifier: record
            for identifier, record in read_manifest(config.out).items()
            if sample_complete(config.out, record)
        }
        ordered = sorted(records.values(), key=lambda record: record["index"])
        write_lines(path, ordered)
        write_dataset_json(config, records)
    return records


def run(config: RenderConfig, console: Console | None = None) -> RunSummary:
    console = console or Console(stderr=True, soft_wrap=True)
    summary = RunSummary()
    _prepare_output(config)
    catalog, skipped = build_catalog(config, console)
    summary.skipped_assets.update(skipped)
    removed = remove_partials(config.out)
    if removed:
        console.print(f"removed {removed} partial files left by an interrupted run")

    mine = [
        index for index in range(config.count) if index % config.shard_count == config.shard_index
    ]
    summary.requested = len(mine)
    done = (
        {}
        if config.overwrite
        else {
            record["index"]: record
            for record in read_manifest(config.out).values()
            if sample_complete(config.out, record)
        }
    )
    todo = [index for index in mine if index not in done]
    summary.already_done = len(mine) - len(todo)
    with _locked(config.out / MANIFEST):
        write_dataset_json(config, read_manifest(config.out))

    start = time.perf_counter()
    if todo:
        columns = (
            TextColumn("[bold]rendering"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("render", total=len(todo), rate="")
            pool = WorkerPool(config, catalog, min(config.workers, len(todo)))
            try:
                for event in pool.run(todo):
                    _account(event, summary, console, config)
                    elapsed = time.perf_counter() - start
                    progress.update(
                        task,
                        advance=1,
                        rate=f"{summary.rendered / max(elapsed, 1e-9):.2f} samples/s",
                    )
            except WorkerStartError as error:
                raise RunError(str(error)) from None
    summary.seconds = time.perf_counter() - start
    finalize(config)
    return summary


def _account(event: Any, summary: RunSummary, console: Console, config: RenderConfig) -> None:
    if event.kind == "done":
        record = event.record
        append_manifest(config.out, record)
        summary.rendered += 1
        for entry in record["resampled"]:
            summary.resampled[_short_reason(entry["reason"])] += 1
        new_assets = record["bad_assets"]
    else:
        summary.failed[event.index] = event.message
        console.print(f"[red]sample {sample_id(event.index)} failed[/]: {event.message}")
        for entry in event.details.get("reasons", []):
            summary.resampled[_short_reason(entry["reason"])] += 1
        new_assets = event.details.get("bad_assets", {})
    for path, reason in new_assets.items():
        if path not in summary.skipped_assets:
            summary.skipped_assets[path] = reason
            console.print(f"[yellow]skipped[/] {path}: {reason}")


def print_summary(summary: RunSummary, config: RenderConfig, console: Console) -> None:
    rate = summary.rendered / summary.seconds if summary.seconds > 0 else 0.0
    console.print(
        f"[bold]{config.out}[/]: {summary.complete}/{summary.requested} samples "
        f"complete ({summary.rendered} rendered now, {summary.already_done} already "
        f"there), {len(summary.failed)} failed, {rate:.2f} samples/s"
    )
    if summary.resampled:
        console.print(
            "resampled: "
            + ", ".join(f"{count}x {reason}" for reason, count in summary.resampled.most_common())
        )
    if summary.skipped_assets:
        console.print(f"skipped assets: {len(summary.skipped_assets)}")
        for path, reason in sorted(summary.skipped_assets.items()):
            console.print(f"  {path}: {reason}")
    for index, message in sorted(summary.failed.items()):
        console.print(f"  failed {sample_id(index)}: {message}")
