"""Worker processes (spawned, one bpy each) and the pool that feeds them sample indices.

A worker renders samples one at a time and retires after `restart_every` samples so its memory
stays flat; a worker that dies is replaced and its sample retried once, then marked failed.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import tempfile
import traceback
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from render.config import RenderConfig
from render.sample import Catalog


def _scratch_root() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def worker_main(config: RenderConfig, catalog: Catalog, conn: Connection) -> None:
    """Entry point of a spawned worker: owns one Blender scene, answers index messages."""
    scratch = Path(tempfile.mkdtemp(prefix="shadowsynth-", dir=_scratch_root()))
    try:
        from render.blender import BlenderScene  # bpy is imported here, in the child only
        from render.sample import PhotoCache, SampleFailed, make_sample

        scene = BlenderScene(config.render, config.size, scratch, max_faces=config.max_faces)
        photos = PhotoCache()
        conn.send(("ready",))
        crash_index = int(os.environ.get("SHADOWSYNTH_TEST_CRASH_INDEX", "-1"))  # tests only
        for _ in range(config.restart_every):
            index = conn.recv()
            if index is None:
                break
            if index == crash_index:
                os._exit(70)
            try:
                record = make_sample(scene, photos, catalog, config, index)
                conn.send(("done", index, record))
            except SampleFailed as error:
                conn.send(("failed", index, str(error),
                           {"reasons": error.reasons,
                            "bad_assets": getattr(error, "bad_assets", {})}))
            except Exception as error:  # one broken sample must not end the run
                conn.send(("error", index, f"{type(error).__name__}: {error}",
                           {"traceback": traceback.format_exc()}))
            scene.clear()
            scene.purge()
        conn.send(("retired",))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass
class Event:
    kind: str  # "done", "failed" (all attempts rejected), "error" (exception), "crashed"
    index: int
    record: dict[str, Any] | None = None
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Worker:
    process: mp.Process
    conn: Connection
    ready: bool = False
    index: int | None = None
    tasks: int = 0  # indices sent; a worker retires after config.restart_every


class WorkerStartError(RuntimeError):
    """Worker processes die before they are ready (bpy missing or broken, for example)."""


class WorkerPool:
    """Feeds indices to `workers` spawned processes and yields one Event per index."""

    def __init__(self, config: RenderConfig, catalog: Catalog, workers: int,
                 retries: int = 1) -> None:
        self.config = config
        self.catalog = catalog
        self.size = max(1, workers)
        self.retries = retries
        self.context = mp.get_context("spawn")
        self.workers: list[_Worker] = []
        self.start_failures = 0  # consecutive deaths before "ready"

    def _spawn(self) -> _Worker:
        parent, child = self.context.Pipe()
        process = self.context.Process(target=worker_main, args=(self.config, self.catalog, child),
                                       daemon=True)
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self.workers.append(worker)
        return worker

    def _drop(self, worker: _Worker) -> None:
        self.workers.remove(worker)
        worker.conn.close()
        worker.process.join(timeout=5)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()

    def run(self, indices: list[int]) -> Iterator[Event]:
        pending = deque(indices)
        attempts: dict[int, int] = {}
        try:
            while pending or any(worker.index is not None for worker in self.workers):
                while len(self.workers) < min(self.size, len(pending) + sum(
                        worker.index is not None for worker in self.workers)):
                    self._spawn()
                for worker in self.workers:
                    if worker.ready and worker.index is None and pending \
                            and worker.tasks < self.config.restart_every:
                        worker.index = pending.popleft()
                        worker.tasks += 1
                        worker.conn.send(worker.index)
                handles = {worker.conn: worker for worker in self.workers}
                sentinels = {worker.process.sentinel: worker for worker in self.workers}
                for handle in wait(list(handles) + list(sentinels)):
                    worker = handles.get(handle) or sentinels.get(handle)
                    if worker not in self.workers:
                        continue
                    event = self._receive(worker, handle in handles)
                    if event is None:
                        continue
                    if event.kind == "crashed":
                        attempts[event.index] = attempts.get(event.index, 0) + 1
                        if attempts[event.index] <= self.retries:
                            pending.appendleft(event.index)
                            continue
                    yield event
        finally:
            self.close()

    def _receive(self, worker: _Worker, readable: bool) -> Event | None:
        message: tuple | None = None
        if not readable:  # the process ended: read what it sent before it did
            readable = worker.conn.poll()
        if readable:
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                message = None
        if message is None:  # the process died (or closed its pipe)
            index = worker.index
            code = worker.process.exitcode
            was_ready = worker.ready
            self._drop(worker)
            if not was_ready:
                self.start_failures += 1
                if self.start_failures >= 3:
                    raise WorkerStartError(
                        f"Blender worker processes exit before they are ready (exit code {code});"
                        " check that bpy imports: python -c 'import bpy'")
            if index is None:
                return None
            return Event("crashed", index, message=f"worker process died (exit code {code}) "
                                                   f"while rendering sample {index}")
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            self.start_failures = 0
            return None
        if kind == "retired":
            self._drop(worker)
            return None
        index = worker.index
        worker.index = None
        if kind == "done":
            return Event("done", index, record=message[2])
        return Event(kind, index, message=message[2], details=message[3])

    def close(self) -> None:
        for worker in list(self.workers):
            try:
                worker.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self._drop(worker)
