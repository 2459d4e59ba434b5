"""A render run: inputs, resume, claims shared with other runs, workers, manifest, progress,
Ctrl-C and the final summary.

A plain run commits samples to OUT/manifest.jsonl. A shard of a cluster run (`ShardLog`)
commits them to its own OUT/manifests/shard-I-of-N.jsonl instead, so that no file is appended
by two machines, and records how it went next to it; `shadow-dataset gather` merges them."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
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

from dataset_tools.gather import (
    SHARDS_DIR,
    sample_complete,
    shard_manifest_path,
    shard_status_path,
)
from dataset_tools.layout import (
    DATASET_JSON,
    FORMAT_VERSION,
    KINDS,
    MANIFEST,
    PASSES_DIR,
    SPLITS,
    TMP_SUFFIX,
    is_disk_full,
    outside_link,
    passes_path,
    sample_path,
    write_json,
)
from dataset_tools.records import (
    DatasetInfo,
    ManifestRecord,
    by_index,
    parse_line,
    read_manifest,
    read_records,
    record_line,
    split_counts,
    write_manifest,
)
from dataset_tools.split import GROUP_KEYS, GROUPINGS, SplitRule, assign_groups
from render import __version__
from render.assets import BadAsset, find_meshes, find_scenes
from render.config import RenderConfig, current_names
from render.hints import PhotoHints, read_hints, sidecar_path
from render.sample import Catalog, sample_id
from render.sampler import RESAMPLED_CODES
from render.worker import WorkerPool, WorkerStartError

CLAIMS_DIR = ".claims"  # OUT/.claims/ID: the run rendering sample ID now
CLAIM_TIMEOUT_S = 600.0  # a claim not refreshed this long is stale (its run died elsewhere)
HEARTBEAT_S = 60.0  # how often a run refreshes the claims it holds
LOCK_TIMEOUT_S = 300.0  # the manifest lock: milliseconds per sample, a full pass in finalize
WAIT_POLL_S = 0.5  # how often a run looks again at samples another run holds


class RunError(RuntimeError):
    """The run cannot start; the message is one line for the user."""


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


@dataclass(frozen=True)
class ShardLog:
    """Run as one shard of a run spread over machines: commit samples to the shard's own
    manifest OUT/manifests/shard-I-of-N.jsonl (same atomic rule: the fsynced line is the
    commit) rather than OUT/manifest.jsonl, leave manifest.jsonl and the counts to
    `shadow-dataset gather`, and record `command` (re-runs just this shard), the run's sample
    count and the outcome in OUT/manifests/shard-I-of-N.json."""

    command: tuple[str, ...]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class Claims:
    """Claim files FOLDER/NAME made with os.open(O_CREAT | O_EXCL), which is atomic on local
    and network file systems alike (flock is not honoured on every NFS): the run that creates
    the file holds the claim. The file holds {"host", "pid", "time", "token"}. A claim is stale,
    and another run may take it over, when its process is gone (same host) or it was not
    refreshed for `timeout` seconds (its run died on another host)."""

    def __init__(self, folder: Path, timeout: float = CLAIM_TIMEOUT_S) -> None:
        self.folder = folder
        self.timeout = timeout
        self.host = socket.gethostname()
        self.token = uuid.uuid4().hex  # this run
        self.held: set[str] = set()

    def take(self, name: str) -> bool:
        """True when this run now holds `name`: a new claim, or a stale one taken over."""
        path = self.folder / name
        for _ in range(3):
            try:
                handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileNotFoundError:
                self.folder.mkdir(parents=True, exist_ok=True)
                continue
            except FileExistsError:
                if self._removed_if_stale(path):
                    continue
                return False
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump({"host": self.host, "pid": os.getpid(), "time": time.time(),
                           "token": self.token}, stream)
            self.held.add(name)
            return True
        return False

    def stale(self, text: str, mtime: float) -> bool:
        """Whether a claim file with this content and modification time is stale."""
        if time.time() - mtime > self.timeout:
            return True
        try:
            holder = json.loads(text)
        except ValueError:  # being written right now
            return False
        if not isinstance(holder, dict) or holder.get("host") != self.host \
                or holder.get("token") == self.token:
            return False
        pid = holder.get("pid")
        return not (isinstance(pid, int) and _alive(pid))

    def held_elsewhere(self, name: str) -> bool:
        """Whether another live run holds `name`."""
        path = self.folder / name
        try:
            text, mtime = path.read_text(encoding="utf-8"), path.stat().st_mtime
        except FileNotFoundError:
            return False
        return name not in self.held and not self.stale(text, mtime)

    def _removed_if_stale(self, path: Path) -> bool:
        """Remove the claim at `path` if it is stale; True when it is gone."""
        try:
            text, mtime = path.read_text(encoding="utf-8"), path.stat().st_mtime
        except FileNotFoundError:
            return True
        if not self.stale(text, mtime):
            return False
        aside = path.with_name(f".{path.name}.{self.token}.stale")
        try:
            os.rename(path, aside)  # atomic: of two runs taking over, one moves it
        except FileNotFoundError:
            return True
        if aside.read_text(encoding="utf-8") == text:
            aside.unlink()
            return True
        try:  # a fresh claim replaced the stale one meanwhile: put it back
            os.link(aside, path)
        except FileExistsError:
            pass
        except OSError:
            os.replace(aside, path)
        aside.unlink(missing_ok=True)
        return False

    def release(self, name: str) -> None:
        """Remove this run's claim on `name` (not one another run took over)."""
        self.held.discard(name)
        path = self.folder / name
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("token") == self.token:
                path.unlink()
        except (FileNotFoundError, ValueError, AttributeError):
            pass

    def release_all(self) -> None:
        for name in list(self.held):
            self.release(name)

    def refresh(self) -> None:
        """Show that this run is alive: touch every claim it holds."""
        for name in self.held:
            try:
                os.utime(self.folder / name)
            except FileNotFoundError:
                pass


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the lock of `path` (the manifest): flock for processes on this machine, and a claim
    file for runs on other machines that share the folder, where flock may do nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    claims = Claims(path.parent / CLAIMS_DIR, timeout=LOCK_TIMEOUT_S)
    name = f"{path.name}.lock"
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            delay = 0.001
            while not claims.take(name):
                time.sleep(delay)
                delay = min(2 * delay, 0.05)
            try:
                yield
            finally:
                claims.release(name)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def append_manifest(out: Path, record: ManifestRecord, path: Path | None = None) -> None:
    """Append one line to `path` (OUT/manifest.jsonl, or a shard's own manifest) and fsync
    it: the line is what marks the sample done."""
    path = path or out / MANIFEST
    with _locked(path), open(path, "a", encoding="utf-8") as stream:
        stream.write(record_line(record) + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def full_path(error: BaseException) -> str:
    """The file a disk-full error (`layout.is_disk_full`) names."""
    return str(getattr(error, "path", None) or getattr(error, "filename", None) or "?")


def _rejection(entry: dict[str, Any]) -> str:
    """What the run summary calls a rejected attempt (a `resampled` entry of a record)."""
    return RESAMPLED_CODES.get(entry.get("code", ""), "other")


class ManifestView:
    """The ids manifest.jsonl lists that it did not list when the run started (samples other
    runs finished meanwhile), kept up to date cheaply: lines appended since the last look are
    read alone; a rewritten file (finalize by another run) is read whole again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.inode: int | None = None
        self.offset = 0
        self.before: set[str] = set()
        self.ids: set[str] = set()
        self.before, self.ids = self.update(), set()

    def update(self) -> set[str]:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return self.ids
        rewritten = stat.st_ino != self.inode or stat.st_size < self.offset
        if rewritten:
            self.inode, self.offset = stat.st_ino, 0
        if stat.st_size > self.offset:
            with open(self.path, "rb") as stream:
                stream.seek(self.offset)
                data = stream.read(stat.st_size - self.offset)
            end = data.rfind(b"\n") + 1  # a line still being written waits for the next look
            records = (parse_line(line) for line in data[:end].splitlines())
            listed = {record.id for record in records if record is not None}
            self.ids |= listed - self.before if rewritten else listed
            self.offset += end
        return self.ids


class SampleQueue:
    """The indices a run still has to render, handed to the worker pool one at a time and
    claimed first (`Claims`), so that runs sharing the folder split the work: an index another
    run holds waits until it is done there (done by others) or its claim is released or
    stale (then this run renders it). Implements render.worker.Tasks."""

    def __init__(self, indices: list[int], claims: Claims, manifest: ManifestView) -> None:
        self.pending = deque(indices)
        self.waiting: list[int] = []  # held by another run
        self.claims = claims
        self.manifest = manifest
        self.by_others = 0
        self.next_look = 0.0
        self.next_heartbeat = time.monotonic() + HEARTBEAT_S

    def remaining(self) -> int:
        return len(self.pending) + len(self.waiting)

    def _done_elsewhere(self, index: int) -> bool:
        if sample_id(index) in self.manifest.update():
            self.by_others += 1
            return True
        return False

    def _claim(self, index: int) -> bool | None:
        """True: claimed, render it; False: done by another run, drop it; None: held."""
        if self._done_elsewhere(index):
            return False
        if not self.claims.take(sample_id(index)):
            return None
        if self._done_elsewhere(index):  # finished and released just before we claimed it
            self.claims.release(sample_id(index))
            return False
        return True

    def take(self) -> int | None:
        while self.pending:
            index = self.pending.popleft()
            claimed = self._claim(index)
            if claimed:
                return index
            if claimed is None:
                self.waiting.append(index)
        if self.waiting and time.monotonic() >= self.next_look:
            self.next_look = time.monotonic() + WAIT_POLL_S
            for index in list(self.waiting):
                claimed = self._claim(index)
                if claimed is not None:
                    self.waiting.remove(index)
                if claimed:
                    return index
        return None

    def tick(self) -> None:
        if time.monotonic() >= self.next_heartbeat:
            self.claims.refresh()
            self.next_heartbeat = time.monotonic() + HEARTBEAT_S


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


def _prepare_output(config: RenderConfig) -> None:
    try:
        config.out.mkdir(parents=True, exist_ok=True)
        # A probe of this process's own: concurrent runs on the folder must not race on it.
        handle, probe = tempfile.mkstemp(prefix=".write-test-", dir=config.out)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise RunError(f"{config.out}: cannot write the output folder ({error.strerror})") from None
    link = outside_link(config.out)
    if link is not None:  # samples are moved and deleted in here: never through a link
        raise RunError(f"{link}: a symbolic link to {os.path.realpath(link)}, outside "
                       f"{config.out}; render-dataset does not write through it: replace the "
                       "link by the files, or use another --out")
    settings_path = config.out / DATASET_JSON
    if settings_path.exists() and not config.overwrite:
        info = DatasetInfo.read(config.out)
        previous = current_names((info.settings if info is not None else None) or {})
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
    sidecars = {str(sidecar_path(photo)) for photo in scenes.items}
    skipped = dict([entry for entry in scenes.skipped if entry[0] not in sidecars]
                   + meshes.skipped)
    hints: dict[str, PhotoHints] = {}
    for photo in scenes.items:
        try:
            found = read_hints(photo, config.scenes)
        except BadAsset as error:  # the photo is used without hints
            skipped[error.path] = error.reason
            continue
        if found is not None:
            hints[str(photo)] = found
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
        hints=hints,
    )
    return catalog, skipped


def split_rule(config: RenderConfig, catalog: Catalog) -> tuple[SplitRule, Catalog]:
    """Where new samples go: by the rule `shadow-dataset split` recorded in dataset.json, else
    by scene photo as build_catalog splits them; either way a scene (mesh) the folder already
    holds keeps its split, so no new sample leaks it into another split. Returns the rule and
    the catalog whose photo splits follow it (the worker writes there; a rule that depends on
    the mesh as well may move the sample before it is committed: `_place`)."""
    records = {} if config.overwrite else read_manifest(config.out)
    info = None if config.overwrite else DatasetInfo.read(config.out)
    recorded = info.split if info is not None else None
    relative = {photo: Path(photo).relative_to(config.scenes).as_posix()
                for photo in catalog.photos}
    if isinstance(recorded, dict) and recorded.get("by") in GROUPINGS:
        rule = SplitRule.from_samples(recorded["by"], float(recorded.get("test", 0.0)),
                                      float(recorded.get("val", 0.0)),
                                      int(recorded.get("seed", 0)), records)
    else:
        base = {relative[photo]: split for photo, split in catalog.splits.items()}
        rule = SplitRule.from_samples("scene", config.test_fraction, 0.0, config.seed, records,
                                      base={"scene": base})
    if "scene" in GROUP_KEYS[rule.by]:
        catalog = dataclasses.replace(catalog, splits={
            photo: rule.group_split("scene", relative[photo]) for photo in catalog.photos})
    return rule, catalog


def _place(out: Path, record: ManifestRecord, rule: SplitRule) -> None:
    """Move a rendered sample's files into the split `rule` gives it, before its manifest line
    commits it (a stop in between leaves a sample without a line: not done, rendered again)."""
    split = rule.split_of(record)
    if rule.groups_of(record):
        record.split_groups = rule.groups_of(record)
    if split == record.split:
        return
    for kind in KINDS:
        target = sample_path(out, split, kind, record.id)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(sample_path(out, str(record.split), kind, record.id), target)
    record.split = split


def _remove_sample(out: Path, identifier: str, partials: bool) -> None:
    """Delete what an unfinished sample left: its files in every split (it may have been
    moving), and with `partials` the temporary files of writes its killed worker cut off."""
    folders = [out / split / kind for split in SPLITS for kind in KINDS]
    for folder in folders:
        (folder / f"{identifier}.png").unlink(missing_ok=True)
    passes_path(out, identifier).unlink(missing_ok=True)
    if partials:
        for folder in [*folders, out / PASSES_DIR]:
            if folder.is_dir():
                for path in folder.glob(f".{identifier}.*{TMP_SUFFIX}"):
                    path.unlink(missing_ok=True)


def _remove_partials(out: Path, claims: Claims, shard: Path | None = None) -> int:
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
        with _locked(out / MANIFEST):
            for path in top_level:
                path.unlink(missing_ok=True)
                count += 1
    return count


def write_dataset_json(config: RenderConfig, records: dict[str, ManifestRecord]) -> None:
    """Settings and counts; what else dataset.json holds (the recorded split rule) stays,
    except with --overwrite."""
    info = (None if config.overwrite else DatasetInfo.read(config.out)) or DatasetInfo()
    info.format_version = FORMAT_VERSION
    info.generator = f"shadowsynth {__version__}"
    info.settings = config.identity()
    info.counts = split_counts(str(record.split) for record in records.values())
    info.write(config.out)


def finalize(config: RenderConfig) -> dict[str, ManifestRecord]:
    """Rewrite the manifest without duplicate or stale lines, sorted; update dataset.json."""
    path = config.out / MANIFEST
    with _locked(path):
        records = {
            identifier: record
            for identifier, record in read_manifest(config.out).items()
            if sample_complete(config.out, record)
        }
        write_manifest(path, by_index(records.values()))
        write_dataset_json(config, records)
    return records


def finalize_shard(config: RenderConfig, path: Path) -> dict[str, ManifestRecord]:
    """Rewrite a shard's own manifest `path` without duplicate or stale lines, sorted; returns
    the complete samples it and OUT/manifest.jsonl list (manifest.jsonl and dataset.json are
    gather's to write)."""
    with _locked(path):
        records = {identifier: record for identifier, record in read_records(path).items()
                   if sample_complete(config.out, record)}
        write_manifest(path, by_index(records.values()))
    gathered = {identifier: record for identifier, record in read_manifest(config.out).items()
                if sample_complete(config.out, record)}
    return {**gathered, **records}


def _write_status(config: RenderConfig, shard: ShardLog, summary: RunSummary,
                  state: str) -> None:
    """OUT/manifests/shard-I-of-N.json: the command that re-runs the shard, the run's sample
    count, and how far the shard got (state "running", "finished" or "interrupted")."""
    write_json(shard_status_path(config.out, config.shard_index, config.shard_count), {
        "command": list(shard.command), "total": config.count,
        "shard": f"{config.shard_index}/{config.shard_count}",
        "host": socket.gethostname(), "pid": os.getpid(), "state": state,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "requested": summary.requested,
        "complete": summary.complete,
        "failed": {sample_id(index): message for index, message in summary.failed.items()}})


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
    mine = [
        index for index in range(config.count) if index % config.shard_count == config.shard_index
    ]
    summary.requested = len(mine)
    _prepare_output(config)
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
        summary.already_done = len(set(mine) & {record.index for record in finish().values()})
        return summary
    finally:
        stop.raising = False
    summary.skipped_assets.update(skipped)
    claims = Claims(config.out / CLAIMS_DIR)
    try:
        removed = _remove_partials(config.out, claims, None if shard is None else manifest)
        if removed:
            console.print(f"removed {removed} partial files left by an interrupted run")
        rule, catalog = split_rule(config, catalog)
        news = ManifestView(manifest)  # before `done`: no line falls in between
        listed = read_manifest(config.out)
        if shard is not None:
            listed.update(read_records(manifest))
        done = (
            {}
            if config.overwrite
            else {
                record.index: record
                for record in listed.values()
                if sample_complete(config.out, record)
            }
        )
        todo = [index for index in mine if index not in done]
        summary.already_done = len(mine) - len(todo)
        queue = SampleQueue(todo, claims, news)
        if shard is None or config.overwrite or not (config.out / DATASET_JSON).exists():
            with _locked(config.out / MANIFEST):  # a shard writes only the settings it needs
                write_dataset_json(config, read_manifest(config.out))
        start = time.perf_counter()
        if todo and not stop:
            _render(config, catalog, rule, queue, summary, console, stop, start, manifest)
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


def _render(config: RenderConfig, catalog: Catalog, rule: SplitRule, queue: SampleQueue,
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
        pool = WorkerPool(config, catalog, min(config.workers, queue.remaining()))
        try:  # a full disk stops the run as Ctrl-C does: what is complete stays
            for event in pool.run(queue, stop=lambda: bool(stop) or bool(summary.disk_full)):
                _account(event, summary, console, config, rule, queue.claims, manifest)
                elapsed = time.perf_counter() - start
                progress.update(
                    task,
                    completed=summary.rendered + len(summary.failed) + queue.by_others,
                    rate=f"{summary.rendered / max(elapsed, 1e-9):.2f} samples/s",
                )
        except WorkerStartError as error:
            raise RunError(str(error)) from None


def _account(event: Any, summary: RunSummary, console: Console, config: RenderConfig,
             rule: SplitRule, claims: Claims, manifest: Path) -> None:
    identifier = sample_id(event.index)
    if event.kind == "done":
        record = event.record
        try:
            _place(config.out, record, rule)
            append_manifest(config.out, record, manifest)  # the commit: the sample is done
        except OSError as error:
            if not is_disk_full(error):
                raise
            _remove_sample(config.out, identifier, partials=True)
            claims.release(identifier)
            summary.disk_full = summary.disk_full or full_path(error)
            return
        claims.release(identifier)
        summary.rendered += 1
        for entry in record.resampled or []:
            summary.resampled[_rejection(entry)] += 1
        for warning in record.warnings or []:
            if warning not in summary.mesh_warnings:
                summary.mesh_warnings.append(warning)
                console.print(f"[yellow]warning[/]: {warning}", markup=True, highlight=False)
        new_assets = record.bad_assets or {}
    else:
        _remove_sample(config.out, identifier, partials=event.kind in ("crashed", "interrupted"))
        claims.release(identifier)
        if event.disk_full is not None:  # not a bad sample: the run stops (see _render)
            summary.disk_full = summary.disk_full or event.disk_full
            return
        if event.kind == "interrupted":
            return
        summary.failed[event.index] = event.message
        console.print(f"[red]sample {identifier} failed[/]: {event.message}")
        for entry in event.reasons:
            summary.resampled[_rejection(entry)] += 1
        new_assets = event.bad_assets
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
