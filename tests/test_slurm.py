"""Rendering and training through a real SLURM scheduler (tests/slurm_cluster.py: munged,
slurmctld and slurmd on localhost): a submitit job array gathered into the plain run's
samples; an array task cancelled, one killed by its time limit, one requeued, two arrays in
one folder; `deploy/slurm/train.sbatch` training on the CPU and resuming after a requeue.
Skipped with a reason where Debian's slurm-wlm and munge are not installed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from dataset_tools.gather import shard_manifest_path
from dataset_tools.layout import sample_id
from dataset_tools.records import ManifestRecord, read_manifest
from dataset_tools.validate import validate_dataset
from render.claims import CLAIMS_DIR, Claims
from tests.helpers import ROOT, TINY_ARGS
from tests.helpers import run_cli as dataset_cli
from tests.slurm_cluster import SlurmCluster, missing_binaries

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
RENDER = [sys.executable, "-c", "from render.cli import entry; entry()"]
# each task of an array asks for one CPU, so the 2-CPU node runs two at once
TASK = ("--cpus-per-task", "1", "--mem", "1", "--time", "20")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> SlurmCluster:
    missing = missing_binaries()
    if missing:
        pytest.skip(f"no SLURM here ({', '.join(missing)} missing): apt-get install slurm-wlm "
                    "munge")
    if os.geteuid() != 0:
        pytest.skip("the test cluster's daemons run as root")
    root = tmp_path_factory.mktemp("slurm")
    root.chmod(0o700)  # munged wants its key and socket folder private
    slurm = SlurmCluster(root)
    slurm.start()
    yield slurm
    slurm.stop()


def cluster_env(cluster: SlurmCluster) -> dict[str, str]:
    """A login shell on the cluster: SLURM_CONF set and the project's scripts on PATH."""
    env = cluster.env
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def submit_render(cluster: SlurmCluster, out: Path, count: int, jobs: int,
                  *extra: str) -> str:
    """`render-dataset --executor slurm`; returns the array's job id."""
    result = subprocess.run([*RENDER, "--out", str(out), "-n", str(count), *TINY_ARGS,
                             "--executor", "slurm", "--jobs", str(jobs), *TASK, *extra],
                            capture_output=True, text=True, env=cluster_env(cluster),
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"submitted SLURM job array (\d+)", result.stdout)
    assert found, result.stdout
    return found.group(1)


def hold(out: Path, index: int) -> Claims:
    """Claim sample `index` of OUT from this (live) process, as another run rendering it
    would: a task that reaches it waits for it, so the task is still running when the test
    cancels it or its time limit ends."""
    claims = Claims(out / CLAIMS_DIR)
    assert claims.take(sample_id(index))
    return claims


def job_state(cluster: SlurmCluster, job: str) -> str:
    """`scontrol show job` (SLURM keeps ended jobs for MinJobAge)."""
    return cluster.run("scontrol", "show", "job", job).stdout


def rerun_what_gather_names(cluster: SlurmCluster, out: Path, count: int) -> None:
    """gather names the unfinished shards with their re-run command; submit each under the
    scheduler, as a user would, and wait for them."""
    result = dataset_cli("gather", str(out))
    assert result.returncode == 1
    reruns = re.findall(r"re-run: (render-dataset .*)", result.stdout + result.stderr)
    assert len(reruns) == count, result.stdout + result.stderr
    for command in reruns:
        sbatch_wrap(cluster, command)
    cluster.wait(timeout_s=300)


def sbatch_wrap(cluster: SlurmCluster, command: str) -> str:
    """Submit one shell command as a batch job (as a user re-runs a shard); its job id."""
    result = subprocess.run(["sbatch", "--parsable", "--cpus-per-task", "1",
                             f"--output={cluster.root}/wrap-%j.out", f"--chdir={ROOT}",
                             "--wrap", command], capture_output=True, text=True,
                            env=cluster_env(cluster), timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().split(";")[0]


def committed(out: Path, shard: int, of: int) -> int:
    path = shard_manifest_path(out, shard, of)
    return len(path.read_text().splitlines()) if path.exists() else 0


def wait_for_commits(out: Path, shard: int, of: int, count: int = 1,
                     timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while committed(out, shard, of) < count:
        assert time.monotonic() < deadline, f"shard {shard}/{of} committed nothing"
        time.sleep(0.3)


def gathered(out: Path) -> list[ManifestRecord]:
    """gather, then validate; the manifest's records (each index must appear once)."""
    result = dataset_cli("gather", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    report = validate_dataset(out)
    assert report.valid, [str(problem) for problem in report.errors]
    records = list(read_manifest(out).values())
    indices = Counter(record.index for record in records)
    assert all(count == 1 for count in indices.values()), indices
    return records


@pytest.fixture(scope="module")
def time_limited(cluster, tmp_path_factory) -> tuple[str, Path, Claims]:
    """A 1-task array with a 1-minute limit that cannot finish (sample 5 held): submitted
    before the other tests, so that its time passes while they run."""
    out = tmp_path_factory.mktemp("time-limit") / "data"
    held = hold(out, 5)
    array = submit_render(cluster, out, 6, 1, "--time", "1")
    return array, out, held


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> dict[int, tuple[str, int]]:
    """index -> (id, seed) of a plain, unsharded run of 8 samples with the same settings."""
    out = tmp_path_factory.mktemp("plain") / "data"
    result = subprocess.run([*RENDER, "--out", str(out), "-n", "8", *TINY_ARGS],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    samples = {record.index: (record.id, record.seed) for record in read_manifest(out).values()}
    assert len(samples) == 8
    return samples


@pytest.mark.blender
def test_a_job_array_renders_the_plain_runs_samples(cluster, time_limited, plain, tmp_path):
    # time_limited: submitted first, checked by the last test
    out = tmp_path / "data"
    array = submit_render(cluster, out, 8, 4)
    assert {job for job, _ in cluster.jobs(array)} <= {f"{array}_{task}" for task in range(4)}
    cluster.wait(array)
    records = gathered(out)
    assert {record.index: (record.id, record.seed) for record in records} == plain
    for task in range(4):  # each task ran as its own array task under the scheduler
        log = (out / ".submitit" / f"{array}_{task}_0_log.out").read_text()
        assert f"job_id={array}_{task}" in log


@pytest.mark.blender
def test_a_cancelled_task_is_rerun_and_every_sample_rendered_once(cluster, plain, tmp_path):
    out = tmp_path / "data"
    held = hold(out, 6)  # task 0 (samples 0, 2, 4, 6) cannot finish before it is cancelled
    array = submit_render(cluster, out, 8, 2)
    wait_for_commits(out, 0, 2, 3)
    cluster.run("scancel", f"{array}_0")
    cluster.wait(array)
    assert "JobState=CANCELLED" in job_state(cluster, f"{array}_0")
    held.release(sample_id(6))
    rerun_what_gather_names(cluster, out, 1)
    records = gathered(out)
    assert {record.index: (record.id, record.seed) for record in records} == plain


@pytest.mark.blender
def test_a_requeued_task_finishes_its_shard_once(cluster, plain, tmp_path):
    out = tmp_path / "data"
    array = submit_render(cluster, out, 8, 2)
    wait_for_commits(out, 0, 2)
    cluster.requeue(f"{array}_0")
    cluster.wait(array, timeout_s=300)
    records = gathered(out)  # no re-run needed: the requeued task resumed its shard
    assert {record.index: (record.id, record.seed) for record in records} == plain
    status = json.loads((out / "manifests" / "shard-0-of-2.json").read_text())
    assert status["state"] == "finished"


@pytest.mark.blender
def test_two_arrays_into_one_folder_render_each_sample_once(cluster, plain, tmp_path):
    out = tmp_path / "data"
    first = submit_render(cluster, out, 8, 2)
    second = submit_render(cluster, out, 8, 2)
    cluster.wait(first)
    cluster.wait(second)
    records = gathered(out)
    assert {record.index: (record.id, record.seed) for record in records} == plain


def test_train_sbatch_trains_on_the_cpu_and_resumes_after_a_requeue(cluster, toy_dataset,
                                                                     tmp_path):
    from model.checkpoint import load

    tiny = ["--size", "64", "--batch-size", "4", "--device", "cpu", "--encoder-weights",
            "none"]
    attention_run = subprocess.run(
        [sys.executable, "-m", "model.cli", "train-attention", "--data", str(toy_dataset),
         "--out", str(tmp_path / "attention"), "--epochs", "1", "--workers", "0", *tiny],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert attention_run.returncode == 0, attention_run.stderr[-2000:]
    attention = next((tmp_path / "attention").glob("*-attention-toy")) / "checkpoints/best.pt"
    env = {**cluster_env(cluster), "VENV": str(Path(sys.executable).parent.parent),
           "DATA": str(toy_dataset), "ATTENTION": str(attention), "OUT": str(tmp_path / "runs"),
           "WORKERS": "0", "PORT": str(29500 + os.getpid() % 1000)}
    submitted = subprocess.run(
        ["sbatch", "--parsable", "--nodes", "1", "--gpus-per-node=0", "--cpus-per-task", "2",
         f"--output={tmp_path}/train-%j.out", f"--chdir={ROOT}",
         str(ROOT / "deploy/slurm/train.sbatch"), "--epochs", "8", "--vgg-weights", "none",
         *tiny], capture_output=True, text=True, env=env, timeout=60)
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.strip().split(";")[0]
    runs = tmp_path / "runs" / f"slurm-{job}"
    deadline = time.monotonic() + 240
    while not list(runs.glob("*/checkpoints/last.pt")):
        assert time.monotonic() < deadline, (tmp_path / f"train-{job}.out").read_text()
        time.sleep(0.5)
    run = next(runs.glob("*-sg-toy"))
    first_epochs = load(run / "checkpoints" / "last.pt")["epoch"]
    cluster.requeue(job)
    cluster.wait(job, timeout_s=400)
    log = (tmp_path / f"train-{job}.out").read_text()
    assert "start 0" in log and "start 1" in log, log  # the script ran twice, same job id
    assert "resuming" in log, log
    assert load(run / "checkpoints" / "last.pt")["epoch"] == 8
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    epochs = [line["epoch"] for line in stats if "val/lrmse" in line]
    assert epochs[-1] == 8 and first_epochs < 8
    assert list(runs.iterdir()) == [run]  # the requeued job continued its own run


@pytest.mark.blender
def test_a_task_stopped_by_its_time_limit_is_rerun(cluster, time_limited):
    job, out, held = time_limited  # one task: submitit submits a plain job, not an array
    cluster.wait(job, timeout_s=200)
    # SLURM warns a task 90 s before its limit (submitit's --signal USR2@90); the task is not
    # checkpointable, so submitit ends it there, its complete samples kept
    log = next((out / ".submitit").glob(f"{job}_*log.err")).read_text()
    assert "timed-out and not checkpointable" in log, log
    assert "JobState=FAILED" in job_state(cluster, job) or "JobState=TIMEOUT" in job_state(
        cluster, job)
    assert 0 < committed(out, 0, 1) < 6  # the held sample 5 at least was never rendered
    held.release(sample_id(5))
    rerun_what_gather_names(cluster, out, 1)
    assert sorted(record.index for record in gathered(out)) == list(range(6))
