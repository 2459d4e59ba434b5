"""A render run: resume, claims shared with other runs, the worker pool, committing what it
renders, progress, Ctrl-C and the final summary. Its parts: the inputs and split rule
(`render.catalog`), claims (`render.claims`), the commit protocol (`render.commit`), the
workers (`render.worker`)."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
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

from dataset_tools.gather import shard_manifest_path
from dataset_tools.layout import DATASET_JSON, MANIFEST, is_disk_full, sample_id
from dataset_tools.records import ManifestRecord, read_manifest, read_records
from render.catalog import Catalog, RunError, build_catalog
from render.claims import CLAIMS_DIR, Claims, ManifestView, SampleQueue, locked
from render.commit import (
    ShardLog,
    append_manifest,
    complete_records,
    finalize,
    finalize_shard,
    full_path,
    remove_partials,
    remove_sample,
    write_dataset_json,
)
from render.config import RenderConfig
from render.output import clear_for_overwrite, prepare_output
from render.sampler import resampled_label
from render.worker import (
    Crashed,
    Failed,
    Interrupted,
    Outcome,
    Raised,
    Rendered,
    WorkerPool,
    WorkerStartError,
    worker_count,
)


@dataclass
class RunSummary:
    requested: int = 0
    already_done: int = 0
    rendered: int = 0
    by_others: int = 0  # finished meanwhile by other runs on the same folder
    failed: dict[int, str] = field(default_factory=dict)
    resampled: Counter = field(default_factory=Counter)  # reason -> count
    skipped_assets: dict[str, str] = field(default_factory=dict)
    mesh_warnings: list[str] = field(default_factory=list)  # e.g. missing textures, in order
    seconds: float = 0.0
    interrupted: int = 0  # the signal (SIGINT, SIGTERM) that stopped the run early, else 0
    disk_full: str | None = None  # the file a full file system refused: the run stopped there

    @property
    def complete(self) -> int:
        return self.already_done + self.rendered + self.by_others


class _StopRequest:
    """SIGINT/SIGTERM handler of a run: records the signal; raises KeyboardInterrupt only while
    `raising` (a long asset scan); otherwise the run stops at its next safe point."""

    def __init__(self) -> None:
        self.signal = 0
        self.raising = False

    def __call__(self, signum: int, frame: Any) -> None:
        self.signal = signum
        if self.raising:
            raise KeyboardInterrupt

    def __bool__(self) -> bool:
        return bool(self.signal)


@contextmanager
def _stop_on_signals() -> Iterator[_StopRequest]:
    stop = _StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signals reach the main thread only
        return
    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run(config: RenderConfig, console: Console | None = None,
        early_signals: list[int] | None = None, shard: ShardLog | None = None) -> RunSummary:
    """Render the samples of this shard that the folder lacks. Ctrl-C (SIGINT) or SIGTERM
    stops it early but cleanly: the samples being rendered are dropped, manifest.jsonl and
    dataset.json describe exactly the complete samples, and summary.interrupted says so. A
    full disk stops it the same way, at the first write it refuses, and summary.disk_full
    names that file (a full disk is not a bad sample).
    `early_signals`: signals the caller noted before the run (then it renders nothing).
    `shard`: commit to this shard's own manifest instead (see ShardLog)."""
    console = console or Console(stderr=True, soft_wrap=True)
    with _stop_on_signals() as stop:
        stop.signal = stop.signal or next(iter(early_signals or ()), 0)
        summary = _run(config, console, stop, shard)
    summary.interrupted = stop.signal
    if shard is not None:
        try:
            _write_status(config, shard, summary,
                          "interrupted" if stop or summary.disk_full else "finished")
        except RuntimeError as error:  # DiskFullError
            if not is_disk_full(error):
                raise
            summary.disk_full = summary.disk_full or full_path(error)
    return summary


def _write_status(config: RenderConfig, shard: ShardLog, summary: RunSummary,
                  state: str) -> None:
    shard.write_status(config, state, summary.requested, summary.complete, summary.failed)


def _run(config: RenderConfig, console: Console, stop: _StopRequest,
         shard: ShardLog | None) -> RunSummary:
    summary = RunSummary()
    try:
        return _run_steps(config, console, stop, shard, summary)
    except (OSError, RuntimeError) as error:  # DiskFullError is a RuntimeError (DatasetError)
        if not is_disk_full(error):
            raise
        summary.disk_full = summary.disk_full or full_path(error)
        return summary


def _run_steps(config: RenderConfig, console: Console, stop: _StopRequest,
               shard: ShardLog | None, summary: RunSummary) -> RunSummary:
    """`_run` itself; a full disk anywhere raises out of it (`_run` notes the file)."""
    shard_indices = [
        index for index in range(config.count) if index % config.shard_count == config.shard_index
    ]
    summary.requested = len(shard_indices)
    prepare_output(config, clear=False)  # refusals; --overwrite clears after the scan
    manifest = config.out / MANIFEST if shard is None else \
        shard_manifest_path(config.out, config.shard_index, config.shard_count)

    def finish() -> dict[str, ManifestRecord]:
        return finalize(config) if shard is None else finalize_shard(config, manifest)

    if shard is not None:
        _write_status(config, shard, summary, "running")
    try:
        stop.raising = True  # the asset scan may take minutes: Ctrl-C ends it at once
        if stop:  # noted before the run began
            raise KeyboardInterrupt
        catalog, skipped = build_catalog(config, console)
    except KeyboardInterrupt:
        if config.overwrite:  # nothing removed yet: the folder stays as it was
            return summary
        finished = {record.index for record in finish().values()}
        summary.already_done = len(set(shard_indices) & finished)
        return summary
    finally:
        stop.raising = False
    if config.overwrite:  # the inputs are read: now the old run goes
        clear_for_overwrite(config.out)
    summary.skipped_assets.update(skipped)
    claims = Claims(config.out / CLAIMS_DIR)
    try:
        removed = remove_partials(config.out, claims, None if shard is None else manifest)
        if removed:
            console.print(f"removed {removed} partial files left by an interrupted run")
        manifest_view = ManifestView(manifest)  # before `done`: no line falls in between
        listed = read_manifest(config.out)
        if shard is not None:
            listed.update(read_records(manifest))
        done = set() if config.overwrite else {
            record.index for record in complete_records(config.out, listed.values()).values()}
        todo = [index for index in shard_indices if index not in done]
        summary.already_done = len(shard_indices) - len(todo)
        queue = SampleQueue(todo, claims, manifest_view)
        if shard is None or config.overwrite or not (config.out / DATASET_JSON).exists():
            with locked(config.out / MANIFEST):  # a shard writes only the settings it needs
                write_dataset_json(config, read_manifest(config.out))
        start = time.perf_counter()
        if todo and not stop:
            _render(config, catalog, queue, summary, console, stop, start, manifest)
        summary.by_others = queue.by_others
        summary.seconds = time.perf_counter() - start
    finally:
        claims.release_all()
    finish()  # on a full disk the manifest keeps its appended lines: complete samples only
    for folder in (config.out / CLAIMS_DIR, manifest.parent / CLAIMS_DIR):
        try:
            folder.rmdir()  # only when no other run holds a claim
        except OSError:
            pass
    return summary


def _render(config: RenderConfig, catalog: Catalog, queue: SampleQueue,
            summary: RunSummary, console: Console, stop: _StopRequest, start: float,
            manifest: Path) -> None:
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
        task = progress.add_task("render", total=queue.remaining(), rate="")
        workers = worker_count(config.workers, config.render.threads, config.size)
        pool = WorkerPool(config, catalog, min(workers, queue.remaining()))
        try:  # a full disk stops the run as Ctrl-C does: what is complete stays
            for outcome in pool.run(queue, stop=lambda: bool(stop) or bool(summary.disk_full)):
                _record_outcome(outcome, summary, console, config, queue.claims, manifest)
                elapsed = time.perf_counter() - start
                progress.update(
                    task,
                    completed=summary.rendered + len(summary.failed) + queue.by_others,
                    rate=f"{summary.rendered / max(elapsed, 1e-9):.2f} samples/s",
                )
        except WorkerStartError as error:
            raise RunError(str(error)) from None


def _record_outcome(outcome: Outcome, summary: RunSummary, console: Console, config: RenderConfig,
             claims: Claims, manifest: Path) -> None:
    """Commit a rendered sample, or remove what an unfinished one left; count it."""
    identifier = sample_id(outcome.index)
    new_assets: dict[str, str] = {}
    match outcome:
        case Rendered(record=record):
            try:
                append_manifest(config.out, record, manifest)  # the commit: the sample is done
            except OSError as error:
                if not is_disk_full(error):
                    raise
                remove_sample(config.out, identifier, partials=True)
                claims.release(identifier)
                summary.disk_full = summary.disk_full or full_path(error)
                return
            claims.release(identifier)
            summary.rendered += 1
            for attempt in record.resampled or []:
                summary.resampled[resampled_label(attempt)] += 1
            for warning in record.warnings or []:
                if warning not in summary.mesh_warnings:
                    summary.mesh_warnings.append(warning)
                    console.print(f"[yellow]warning[/]: {warning}", markup=True,
                                  highlight=False)
            new_assets = record.bad_assets or {}
        case Interrupted():
            remove_sample(config.out, identifier, partials=True)
            claims.release(identifier)
            return
        case Raised(disk_full=str() as refused):  # not a bad sample: the run stops (_render)
            remove_sample(config.out, identifier, partials=False)
            claims.release(identifier)
            summary.disk_full = summary.disk_full or refused
            return
        case Failed() | Raised() | Crashed():
            remove_sample(config.out, identifier, partials=isinstance(outcome, Crashed))
            claims.release(identifier)
            summary.failed[outcome.index] = outcome.message
            console.print(f"[red]sample {identifier} failed[/]: {outcome.message}")
            if isinstance(outcome, Failed):
                for attempt in outcome.resampled:
                    summary.resampled[resampled_label(attempt)] += 1
                new_assets = outcome.bad_assets
    for path, reason in new_assets.items():
        if path not in summary.skipped_assets:
            summary.skipped_assets[path] = reason
            console.print(f"[yellow]skipped[/] {path}: {reason}")


def print_summary(summary: RunSummary, config: RenderConfig, console: Console) -> None:
    rate = summary.rendered / summary.seconds if summary.seconds > 0 else 0.0
    console.print(
        f"[bold]{config.out}[/]: {summary.complete}/{summary.requested} samples "
        f"complete ({summary.rendered} rendered now, {summary.already_done} already "
        f"there{f', {summary.by_others} by another run' if summary.by_others else ''}), "
        f"{len(summary.failed)} failed, {rate:.2f} samples/s"
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
    if summary.mesh_warnings:
        console.print(f"mesh warnings: {len(summary.mesh_warnings)}")
        for warning in summary.mesh_warnings:
            console.print(f"  {warning}", markup=False, highlight=False)
    for index, message in sorted(summary.failed.items()):
        console.print(f"  failed {sample_id(index)}: {message}")
