"""How many workers and threads a run uses, and that a worker's Blender keeps no more task
threads than it renders with (an idle one spins on sched_yield while Cycles renders)."""

from __future__ import annotations

import os

import pytest

import render.worker as worker_module
from render.worker import (
    allowed_cpus,
    task_threads,
    usable_cpus,
    worker_count,
    worker_memory,
    worker_threads,
    workers_within,
)
from tests.helpers import blender_script

CPUS = len(allowed_cpus())


@pytest.fixture(autouse=True)
def no_limits(monkeypatch, tmp_path):
    """The machine's own SLURM job or container limits, if any, out of the way: the tests set
    theirs."""
    limits = tmp_path / "cgroup"
    limits.mkdir()
    monkeypatch.setattr(worker_module, "CGROUP_ROOT", limits)
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    return limits


def test_threads_are_shared_among_workers_unless_given():
    assert worker_threads(3, 2) == 3  # given: kept
    assert worker_threads(0, 1) == 0  # one worker: Blender takes every CPU
    assert worker_threads(0, 2) == max(1, CPUS // 2)
    assert worker_threads(0, 4 * CPUS) == 1  # never below one


def test_workers_default_to_one_per_cpu_within_memory():
    assert worker_count(5) == 5 and worker_count(5, threads=2) == 5  # given: kept
    assert 1 <= worker_count(0) <= CPUS
    assert worker_count(0, threads=CPUS) == 1  # one worker takes them all
    assert worker_count(0, threads=4 * CPUS) == 1


def test_slurm_and_container_limits_count(monkeypatch, no_limits):
    tmp_path = no_limits
    assert usable_cpus() == CPUS
    unlimited = worker_count(0)
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    assert usable_cpus() == 1 and worker_count(0) == 1
    assert worker_threads(0, 1) == 1  # a single worker no longer takes every allowed CPU
    monkeypatch.delenv("SLURM_CPUS_PER_TASK")
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert usable_cpus() == CPUS
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a CPU: one
    assert usable_cpus() == 1
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()  # cgroup v1: quota and period
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert usable_cpus() == CPUS
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    assert usable_cpus() == 1
    (tmp_path / "memory.max").write_text(f"{worker_memory(256)}\n")  # memory for one worker
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert worker_count(0) == 1
    (tmp_path / "memory.max").write_text(f"{4 * worker_memory(1024)}\n")
    assert worker_count(0, size=1024) == min(unlimited, 4)  # bigger images: fewer workers
    (tmp_path / "memory.max").write_text("bad\n")  # unreadable: no limit
    assert worker_count(0) == unlimited


@pytest.mark.skipif(CPUS < 2 or not hasattr(os, "sched_setaffinity"),
                    reason="needs 2 CPUs and CPU affinity")
def test_task_threads_narrows_the_cpus_while_blender_starts_then_restores_them():
    before = allowed_cpus()
    with task_threads(1):
        assert len(allowed_cpus()) == 1 and allowed_cpus() <= before
    assert allowed_cpus() == before
    with task_threads(0):  # 0 and "all of them" change nothing
        assert allowed_cpus() == before
    with task_threads(CPUS):
        assert allowed_cpus() == before
    with task_threads(1, slot=1):  # the next worker starts on the next CPU
        assert allowed_cpus() == {sorted(before)[1]}
    assert allowed_cpus() == before


def test_a_job_array_task_fits_its_cpus_and_memory():
    """What `submit` gives each task for --workers 0 (`workers_within`): --cpus-per-task 16 and
    --mem 8 hold 8 workers at 256 px, 2 with --threads 8, and one at least."""
    assert workers_within(16, 8 << 30, 0, 256) == 8
    assert workers_within(16, 8 << 30, 8, 256) == 2
    assert workers_within(16, None, 0, 256) == 16
    assert workers_within(1, 1 << 20, 0, 4096) == 1


def test_worker_memory_grows_with_the_image():
    assert worker_memory(64) == worker_memory(256) == worker_memory(512) == 1 << 30
    assert worker_memory(1024) > 1 << 31 and worker_memory(4096) > 32 << 30


SCRIPT = """
import json, os, sys
from pathlib import Path
import numpy as np  # its BLAS threads start here, outside the block, in both runs
from render.config import RenderSettings
from render.worker import task_threads
narrow = sys.argv[1] == "1"
with task_threads(1 if narrow else 0):
    from render.blender import BlenderScene
    scene = BlenderScene(RenderSettings(samples=1, first_render_samples=1, threads=1), 16,
                         Path(sys.argv[2]))
scene.render()
threads = [int(name) for name in os.listdir("/proc/self/task")]
cpus = sorted({len(os.sched_getaffinity(thread)) for thread in threads})
sys.stderr.write("RESULT" + json.dumps([len(threads), cpus]) + "\\n")
"""


@pytest.mark.blender
@pytest.mark.skipif(CPUS < 2 or not os.path.isdir("/proc/self/task"),
                    reason="needs 2 CPUs and Linux's /proc")
def test_a_one_thread_worker_has_fewer_blender_threads(tmp_path):
    counts = {}
    for narrow in ("0", "1"):
        counts[narrow], cpus = blender_script(SCRIPT, narrow, str(tmp_path))
        assert cpus == [CPUS], cpus  # every thread may run on every CPU again
    assert counts["1"] < counts["0"], counts
