"""How runs that share an output folder split the work without a lock server: claim files
made with O_CREAT | O_EXCL (`Claims`), the manifest lock built on them (`locked`), the samples
other runs commit meanwhile (`ManifestView`), and the queue of indices a run still has to
render (`SampleQueue`)."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dataset_tools.layout import sample_id
from dataset_tools.outputs import CLAIMS_DIR
from dataset_tools.records import parse_line

CLAIM_TIMEOUT_S = 600.0  # a claim not refreshed this long is stale (its run died elsewhere)
HEARTBEAT_S = 60.0  # how often a run refreshes the claims it holds
LOCK_TIMEOUT_S = 300.0  # the manifest lock: milliseconds per sample, a full pass in finalize
WAIT_POLL_S = 0.5  # how often a run looks again at samples another run holds


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
def locked(path: Path) -> Iterator[None]:
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
