"""Worker processes (spawned, one bpy each) and the pool that feeds them sample indices.

A worker renders samples one at a time and retires after `restart_every` samples so its memory
stays flat; a worker that dies is replaced and its sample retried once, then reported
`Crashed`. On a stop request (Ctrl-C) the pool hands out nothing more, interrupts the busy
workers and reports, once they are gone, which samples they finished and which they did not
(`Interrupted`). What the pool yields per sample is one typed `Outcome`.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing as mp
import os
import shutil
import signal
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Protocol

from dataset_tools.layout import is_disk_full
from dataset_tools.records import ManifestRecord, ResampledAttempt
from render.catalog import Catalog
from render.config import RenderConfig
from render.poses import PoseTable


# What a worker sends its pool, one message per event, in this order: Ready once, then per
# index sent one of Rendered / Failed / Raised, then Retired (or the process ends). The pool
# yields Rendered, Failed and Raised on as they are, and makes Crashed and Interrupted itself.
@dataclass(frozen=True)
class Ready:
    """Blender is up; the worker takes indices."""


@dataclass(frozen=True)
class Retired:
    """The worker rendered `restart_every` samples (or was asked to exit) and ends. `poses`:
    the stable poses it knows, for the workers after it (finding them costs a tenth of a second
    per mesh)."""

    poses: PoseTable = field(default_factory=dict)


@dataclass(frozen=True)
class Rendered:
    """The sample's files are written to its split folders; its manifest line commits it."""

    index: int
    record: ManifestRecord


@dataclass(frozen=True)
class Failed:
    """Every attempt was resampled and none was left (render.sample.SampleFailed)."""

    index: int
    message: str
    resampled: list[ResampledAttempt]
    bad_assets: dict[str, str]  # path -> why, assets skipped meanwhile


@dataclass(frozen=True)
class Raised:
    """An unexpected exception ended the sample (the run goes on, unless the disk is full)."""

    index: int
    message: str  # "TypeName: text"
    disk_full: str | None = None  # the file a full file system refused to write


@dataclass(frozen=True)
class _Unfinished:
    """A sample whose worker went away before it finished (the pool reports it)."""

    index: int
    message: str = ""


class Crashed(_Unfinished):
    """The worker process died while rendering the sample, and its retries too."""


class Interrupted(_Unfinished):
    """Begun but not finished before a stop request; its worker is gone."""


Message = Ready | Retired | Rendered | Failed | Raised
Outcome = Rendered | Failed | Raised | Crashed | Interrupted


def _scratch_root() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def allowed_cpus() -> set[int]:
    """The CPUs this process may run on (SLURM's and taskset's limits included)."""
    if hasattr(os, "sched_getaffinity"):
        return os.sched_getaffinity(0)
    return set(range(os.cpu_count() or 1))


def usable_cpus() -> int:
    """How many CPUs a run may keep busy: the allowed ones, no more than a SLURM task's
    SLURM_CPUS_PER_TASK (a node that does not bind tasks to their CPUs allows them all) or a
    container's CPU quota (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`), which the allowed
    CPUs do not show."""
    count = len(allowed_cpus())
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        count = min(count, int(slurm))
    quota = _cgroup_limit(("cpu.max",), ("cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us"))
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return count


CGROUP_ROOT = Path("/sys/fs/cgroup")


def _cgroup_limit(v2: tuple[str, ...], v1: tuple[str, ...]) -> float | None:
    """A cgroup limit of this process's container: `v2` (one file under /sys/fs/cgroup: "max"
    or a value, or "quota period"), else `v1` (one value file, or quota and period files);
    None without a limit or a readable file."""
    root = CGROUP_ROOT
    try:
        if (root / v2[0]).is_file():
            fields = (root / v2[0]).read_text(encoding="ascii").split()
            if not fields or fields[0] == "max":
                return None
            return float(fields[0]) / (float(fields[1]) if len(fields) > 1 else 1.0)
        values = [float((root / name).read_text(encoding="ascii").split()[0]) for name in v1]
        if values[0] <= 0 or values[0] >= 2**60:  # v1 says "none" with -1 or a huge number
            return None
        return values[0] / (values[1] if len(values) > 1 else 1.0)
    except (OSError, ValueError, IndexError, ZeroDivisionError):
        return None


def worker_memory(size: int) -> int:
    """Bytes a worker is given for --workers 0 at `size` x `size` images: 1 GiB up to 512 px,
    then 0.5 GiB and 2 KiB a pixel (a worker held 480 MiB at 256 px, 406 MiB at 64)."""
    return max(1 << 30, (1 << 29) + 2048 * size * size)


def worker_count(workers: int, threads: int = 0, size: int = 256) -> int:
    """`workers`, or for 0 `workers_within` the usable CPUs (`usable_cpus`) and the available
    memory (the container's limit included): on 2 cores two 1-thread workers took 0.82x the
    wall time of one with both, the Python part of a sample running beside the other's render
    (docs/benchmarks.md)."""
    return workers or workers_within(usable_cpus(), available_memory(), threads, size)


def workers_within(cpus: int, memory: float | None, threads: int, size: int) -> int:
    """How many workers `cpus` CPUs and `memory` bytes (None: no bound) hold: one per `threads`
    CPUs (1 for 0), each with `worker_memory(size)`; at least one."""
    count = cpus // max(threads, 1)
    if memory is not None:
        count = min(count, int(memory // worker_memory(size)))
    return max(1, count)


def available_memory() -> float | None:
    """Bytes this process may still use: the smaller of MemAvailable and a container's memory
    limit (cgroup v2 `memory.max`, v1 `memory.limit_in_bytes`); None where neither is known."""
    limits = [_cgroup_limit(("memory.max",), ("memory/memory.limit_in_bytes",))]
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            limits += [int(line.split()[1]) * 1024 for line in meminfo
                       if line.startswith("MemAvailable:")]
    except (OSError, ValueError, IndexError):
        pass
    known = [limit for limit in limits if limit is not None]
    return min(known) if known else None


def worker_threads(threads: int, workers: int) -> int:
    """Render threads of each of `workers` workers: `threads`, or for 0 the usable CPUs shared
    among them (a single worker that may use every allowed CPU keeps 0: Blender takes them)."""
    if threads:
        return threads
    usable = usable_cpus()
    if workers <= 1 and usable == len(allowed_cpus()):
        return 0
    return max(1, usable // workers)


@contextmanager
def task_threads(threads: int, slot: int = 0) -> Iterator[None]:
    """Size Blender's task pool to `threads` (0: leave it to the CPUs this process may use).
    The pool (TBB) counts the process's allowed CPUs once, when Blender starts, and makes a
    thread per CPU; with fewer render threads than CPUs, its idle threads spin on sched_yield
    while Cycles renders: a 1-thread worker on 2 cores burnt 1.9 CPU-seconds a render second,
    pinned 1.0, at the same wall time (docs/benchmarks.md). So Blender starts inside this
    block with the process allowed only `threads` CPUs (worker `slot`'s share of them, so that
    workers starting together do not share one); afterwards every thread of the process, those
    started inside the block too, may run on all of them again, and the pool keeps its size."""
    allowed = allowed_cpus()
    narrowed = hasattr(os, "sched_setaffinity") and 0 < threads < len(allowed)
    if narrowed:
        ordered = sorted(allowed)
        start = slot * threads % len(ordered)
        os.sched_setaffinity(0, (ordered + ordered)[start:start + threads])
    try:
        yield
    finally:
        if narrowed:
            for thread in _threads():
                try:
                    os.sched_setaffinity(thread, allowed)
                except OSError:  # a thread that ended meanwhile
                    pass


def _threads() -> list[int]:
    """This process's thread ids (its own pid, the main thread's, where /proc is missing)."""
    try:
        return [int(name) for name in os.listdir("/proc/self/task")]
    except OSError:
        return [0]


def worker_main(config: RenderConfig, catalog: Catalog, conn: Connection,
                poses: PoseTable | None = None, slot: int = 0) -> None:
    """Entry point of a spawned worker: owns one Blender scene, answers index messages.
    `poses`: the stable poses earlier workers found; `slot`: which of the pool's workers it
    is (`task_threads`)."""
    scratch = Path(tempfile.mkdtemp(prefix="shadowsynth-", dir=_scratch_root()))
    try:
        from render.sample import PhotoCache, SampleFailed, make_sample

        with task_threads(config.render.threads, slot):
            from render.blender import BlenderScene  # bpy is imported here, in the child only

            renderer = BlenderScene(config.render, config.size, scratch,
                                    max_faces=config.max_faces, poses=poses)
        photos = PhotoCache()
        conn.send(Ready())
        crash_index = int(os.environ.get("SHADOWSYNTH_TEST_CRASH_INDEX", "-1"))  # tests only
        for _ in range(config.restart_every):
            index = conn.recv()
            if index is None:
                break
            if index == crash_index:
                os._exit(70)
            try:
                conn.send(Rendered(index, make_sample(renderer, photos, catalog, config, index)))
            except SampleFailed as error:
                conn.send(Failed(index, str(error), error.resampled, error.bad_assets))
            except Exception as error:  # one broken sample must not end the run
                full = getattr(error, "path", None) or getattr(error, "filename", None) \
                    if is_disk_full(error) else None
                conn.send(Raised(index, f"{type(error).__name__}: {error}",
                                 None if full is None else str(full)))
            renderer.clear()
            renderer.purge()
        conn.send(Retired(renderer.meshes.poses))
    except KeyboardInterrupt:  # Ctrl-C, or the pool's stop: a file being written is removed
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second one must not cut the cleanup
    except (EOFError, BrokenPipeError):
        pass
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


TICK_S = 0.2  # the pool looks at its task source and the stop request this often
STOP_GRACE_S = 30.0  # after a stop, busy workers get this long to end before they are killed


class Tasks(Protocol):
    """Where the pool gets sample indices (render.claims.SampleQueue)."""

    def take(self) -> int | None:
        """The next index to render now, or None when none is ready now."""
        ...

    def remaining(self) -> int:
        """How many indices are not taken yet (some may only become ready later)."""
        ...

    def tick(self) -> None:
        """Called on every pass of the pool's loop, at least every TICK_S seconds."""
        ...


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
    """Feeds indices to `workers` spawned processes and yields one Outcome per index."""

    def __init__(self, config: RenderConfig, catalog: Catalog, workers: int,
                 retries: int = 1) -> None:
        self.size = max(1, workers)
        self.config = dataclasses.replace(config, render=dataclasses.replace(
            config.render, threads=worker_threads(config.render.threads, self.size)))
        self.catalog = catalog
        self.retries = retries
        self.context = mp.get_context("spawn")
        self.workers: list[_Worker] = []
        self.start_failures = 0  # consecutive deaths before "ready"
        self.stopping: Callable[[], bool] = lambda: False  # a stop was requested
        self.poses: PoseTable = {}  # what retired workers found, for the next ones
        self.spawned = 0  # workers started so far (a new one's slot)

    def _spawn(self) -> _Worker:
        parent, child = self.context.Pipe()
        process = self.context.Process(target=worker_main,
                                       args=(self.config, self.catalog, child, self.poses,
                                             self.spawned),
                                       daemon=True)
        self.spawned += 1
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

    def run(self, tasks: Tasks,
            stop: Callable[[], bool] = lambda: False) -> Iterator[Outcome]:
        """One Outcome per index taken from `tasks` (a crashed sample is retried first). When
        stop() turns true: see `_wind_down`."""
        self.stopping = stop
        retry: deque[int] = deque()  # taken, its worker died: render again
        attempts: dict[int, int] = {}
        try:
            while not stop():
                busy = sum(worker.index is not None for worker in self.workers)
                if not (retry or busy or tasks.remaining()):
                    return
                while len(self.workers) < min(self.size, len(retry) + tasks.remaining() + busy):
                    self._spawn()
                for worker in self.workers:
                    if worker.ready and worker.index is None \
                            and worker.tasks < self.config.restart_every:
                        index = retry.popleft() if retry else tasks.take()
                        if index is None:
                            break
                        worker.index = index
                        worker.tasks += 1
                        worker.conn.send(index)
                tasks.tick()
                for worker, readable in self._ready(TICK_S):
                    outcome = self._receive(worker, readable)
                    if outcome is None:
                        continue
                    if isinstance(outcome, Crashed):
                        attempts[outcome.index] = attempts.get(outcome.index, 0) + 1
                        if stop() or attempts[outcome.index] <= self.retries:
                            retry.append(outcome.index)  # after a stop: Interrupted
                            continue
                    yield outcome
            yield from self._wind_down(retry)
        finally:
            self.close()

    def _ready(self, timeout: float) -> list[tuple[_Worker, bool]]:
        """(worker, its pipe is readable) for each worker that sent something or ended."""
        handles = {worker.conn: worker for worker in self.workers}
        sentinels = {worker.process.sentinel: worker for worker in self.workers}
        ready = []
        for handle in wait(list(handles) + list(sentinels), timeout=timeout):
            worker = handles.get(handle) or sentinels.get(handle)
            if worker in self.workers and all(worker is not seen for seen, _ in ready):
                ready.append((worker, handle in handles))
        return ready

    def _wind_down(self, retry: deque[int]) -> Iterator[Outcome]:
        """After a stop request: hand out nothing more, interrupt the busy workers (SIGINT: a
        worker removes the file it is writing), yield what they still finish, then
        `Interrupted` for every index taken but not finished, once its worker is gone."""
        self.stopping = lambda: True
        for index in retry:
            yield Interrupted(index)
        for worker in list(self.workers):
            if worker.index is None:
                self._ask_to_exit(worker)
            else:
                try:
                    os.kill(worker.process.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + STOP_GRACE_S
        while any(worker.index is not None for worker in self.workers) \
                and time.monotonic() < deadline:
            for worker, readable in self._ready(TICK_S):
                outcome = self._receive(worker, readable)
                if worker in self.workers and worker.index is None:
                    self._ask_to_exit(worker)
                if outcome is not None:
                    yield Interrupted(outcome.index, outcome.message) \
                        if isinstance(outcome, Crashed) else outcome
        for worker in list(self.workers):
            index = worker.index
            if worker.process.is_alive() and index is not None:
                worker.process.kill()
            self._drop(worker)
            if index is not None:
                yield Interrupted(index, "killed after the stop request")

    @staticmethod
    def _ask_to_exit(worker: _Worker) -> None:
        try:
            worker.conn.send(None)
        except (BrokenPipeError, OSError):
            pass

    def _receive(self, worker: _Worker, readable: bool) -> Outcome | None:
        message: Message | None = None
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
            if not was_ready and not self.stopping():  # Ctrl-C also ends starting workers
                self.start_failures += 1
                if self.start_failures >= 3:
                    raise WorkerStartError(
                        f"Blender worker processes exit before they are ready (exit code {code});"
                        " check that bpy imports: python -c 'import bpy'")
            if index is None:
                return None
            return Crashed(index, f"worker process died (exit code {code}) while rendering "
                                  f"sample {index}")
        if isinstance(message, Ready):
            worker.ready = True
            self.start_failures = 0
            return None
        if isinstance(message, Retired):
            self.poses.update(message.poses)
            self._drop(worker)
            return None
        worker.index = None
        return message

    def close(self) -> None:
        for worker in list(self.workers):
            self._ask_to_exit(worker)
            self._drop(worker)
