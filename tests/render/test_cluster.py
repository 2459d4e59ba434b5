"""Cluster rendering: a submitit job array (--executor local here; slurm against a stand-in
sbatch), per-shard manifests merged by `shadow-dataset gather`, a missing or killed shard named
with its re-run command, and the Kubernetes Job / Dockerfile / README agreeing."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dataset_tools.gather import shard_command, shard_manifest_path, shard_status_path
from dataset_tools.layout import KINDS, sample_path
from dataset_tools.records import read_manifest
from dataset_tools.validate import validate_dataset
from render.cli import app as render_app
from render.cluster import task_command
from tests.helpers import ROOT, TINY_ARGS
from tests.helpers import run_cli as dataset_cli

RUN_ARGS = ("-n", "6", *TINY_ARGS)


def render_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", "from render.cli import entry; entry()", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def images(out: Path) -> dict[str, bytes]:
    return {str(path.relative_to(out)): path.read_bytes() for path in out.rglob("*.png")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """(array, plain): 6 samples rendered by a local job array of 2 tasks, and by one plain
    process with the same settings."""
    root = tmp_path_factory.mktemp("cluster")
    array, plain = root / "array", root / "plain"
    result = render_cli("--out", str(array), *RUN_ARGS, "--executor", "local", "--jobs", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "started 2 local tasks" in result.stdout and str(array / ".submitit") in result.stdout
    assert "shard 0/2: 3/3 samples complete" in result.stdout
    assert "shard 1/2: 3/3 samples complete" in result.stdout
    result = render_cli("--out", str(plain), *RUN_ARGS)
    assert result.returncode == 0, result.stderr
    return array, plain


@pytest.mark.slow
@pytest.mark.blender
def test_local_array_gathers_into_the_plain_run_byte_for_byte(runs):
    array, plain = runs
    assert not (array / "manifest.jsonl").exists()  # the shards wrote only their own manifests
    for index in range(2):
        assert len(shard_manifest_path(array, index, 2).read_text().splitlines()) == 3
        status = json.loads(shard_status_path(array, index, 2).read_text())
        assert status["state"] == "finished" and status["complete"] == 3
        assert status["command"] == ["render-dataset", "--out", str(array), *RUN_ARGS,
                                     "--shard", f"{index}/2"]
    assert list((array / ".submitit").glob("*_log.err"))  # submitit's logs, under OUT
    result = dataset_cli("gather", str(array))
    assert result.returncode == 0, result.stderr
    assert "6 of 6 samples" in result.stderr and "from 2 shard manifests" in result.stderr
    records = read_manifest(array)
    assert list(records) == [f"{index:06d}" for index in range(6)]  # sorted, one line each
    assert len((array / "manifest.jsonl").read_text().splitlines()) == 6
    info = json.loads((array / "dataset.json").read_text())
    splits = {split: count for split, count in info["counts"].items() if split != "total"}
    assert info["counts"]["total"] == 6 == sum(splits.values())
    report = validate_dataset(array)
    assert report.valid and report.counts == splits, [str(p) for p in report.problems]
    assert images(array) == images(plain) and len(images(plain)) == 6 * len(KINDS)
    reference = read_manifest(plain)
    assert all(records[key].spec == reference[key].spec for key in reference)
    assert dataset_cli("gather", str(array)).returncode == 0  # again: the same manifest
    assert read_manifest(array) == records


@pytest.mark.slow
@pytest.mark.blender
def test_missing_and_killed_shards_are_named_with_the_command_that_reruns_them(runs, tmp_path):
    array, plain = runs
    out = tmp_path / "array"
    shutil.copytree(array, out)
    (out / "manifest.jsonl").unlink(missing_ok=True)
    # Shard 1 never ran: no manifest, no status, no files.
    shard_manifest_path(out, 1, 2).unlink()
    shard_status_path(out, 1, 2).unlink()
    for record in read_manifest(plain).values():
        if record.index % 2 == 1:
            for kind in KINDS:
                sample_path(out, record.split, kind, record.id).unlink()
    # Shard 0 was killed after committing 2 of its 3 samples (the files of the third remain).
    manifest = shard_manifest_path(out, 0, 2)
    manifest.write_text("".join(manifest.read_text().splitlines(keepends=True)[:2]))
    status = json.loads(shard_status_path(out, 0, 2).read_text())
    shard_status_path(out, 0, 2).write_text(json.dumps({**status, "state": "running"}))

    result = dataset_cli("gather", str(out))
    assert result.returncode == 1 and "2 of 6 samples" in result.stderr, result.stderr
    lines = {int(match[1]): match for match in re.finditer(
        r"shard (\d)/2: (\d) of 3 samples \(([^)]*)\); re-run: (.+)", result.stderr)}
    assert sorted(lines) == [0, 1], result.stderr
    assert lines[0][2] == "2" and lines[0][3] == "running or killed"
    assert lines[1][2] == "0" and lines[1][3] == "never started"
    for index, match in lines.items():
        command = shlex.split(match[4])
        assert command == ["render-dataset", "--out", str(array), *RUN_ARGS,
                           "--shard", f"{index}/2"]
        command[command.index("--out") + 1] = str(out)  # this copy of the folder
        rerun = render_cli(*command[1:])
        assert rerun.returncode == 0, rerun.stderr
    result = dataset_cli("gather", str(out))
    assert result.returncode == 0 and "6 of 6 samples" in result.stderr, result.stderr
    assert validate_dataset(out).valid
    assert images(out) == images(plain)


def test_task_command_drops_the_submission_options():
    argv = ["--out", "d", "--executor", "slurm", "--jobs=64", "--partition", "cpu", "--time",
            "30", "--cpus-per-task", "4", "--mem=8", "-n", "9", "--config", "s.toml"]
    assert task_command(argv) == ["render-dataset", "--out", "d", "-n", "9", "--config",
                                  "s.toml"]
    assert shard_command(["render-dataset", "--shard", "0/2", "-n", "9"], 1, 4) == \
        ["render-dataset", "-n", "9", "--shard", "1/4"]


def test_slurm_submits_one_job_array_and_says_how_to_follow_it(tmp_path):
    pytest.importorskip("submitit", reason="the render extra installs submitit")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"  # a stand-in: keeps the script, answers like SLURM's sbatch
    sbatch.write_text(f'#!/bin/sh\ncp "$1" {tmp_path}/job.sh\necho "Submitted batch job 4242"\n')
    sbatch.chmod(0o755)
    (bin_dir / "srun").write_text("#!/bin/sh\n")  # submitit checks that srun exists
    (bin_dir / "srun").chmod(0o755)
    out = tmp_path / "data"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = render_cli("--out", str(out), "-n", "640", "--executor", "slurm", "--jobs", "64",
                        "--partition", "cpu", "--time", "30", "--cpus-per-task", "2", "--mem",
                        "8", "--threads", "2", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "job array 4242" in result.stdout and "squeue -j 4242" in result.stdout
    assert f"{out}/.submitit" in result.stdout and "shadow-dataset gather" in result.stdout
    script = (tmp_path / "job.sh").read_text()
    for line in ("#SBATCH --array=0-63%64", "#SBATCH --partition=cpu", "#SBATCH --time=30",
                 "#SBATCH --cpus-per-task=2", "#SBATCH --mem=8GB", f"{out}/.submitit"):
        assert line in script, script
    assert len(list((out / ".submitit").glob("4242_*_submitted.pkl"))) == 64
    submission = json.loads((out / "manifests" / "submission.json").read_text())
    assert submission["command"] == ["render-dataset", "--out", str(out), "-n", "640",
                                     "--threads", "2"]
    assert submission["shards"] == 64 and submission["total"] == 640


def test_executor_and_shard_together_are_refused(tmp_path):
    result = render_cli("--out", str(tmp_path / "o"), "--shard", "1/2", "--executor", "local")
    assert result.returncode == 2 and "--shard and --executor" in result.stderr


@pytest.mark.parametrize("option", [["--time", "30"], ["--cpus-per-task", "4"], ["--mem", "3"]])
def test_task_resources_without_an_executor_are_refused(tmp_path, option):
    """They size the tasks of a job array; without one they would be silently ignored."""
    result = render_cli("--out", str(tmp_path / "o"), *option)
    assert result.returncode == 2 and f"{option[0]} sizes the tasks of --executor" in \
        result.stderr and not (tmp_path / "o").exists()


def test_kubernetes_indexed_job_runs_one_shard_per_completion_index():
    job = yaml.safe_load((ROOT / "deploy/k8s/render-job.yaml").read_text())
    assert job["kind"] == "Job" and job["spec"]["completionMode"] == "Indexed"
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    assert container["command"] == ["render-dataset"]
    shards = job["spec"]["completions"]
    assert args[args.index("--shard") + 1] == f"$(JOB_COMPLETION_INDEX)/{shards}"
    assert args[args.index("--out") + 1].startswith("/data/")
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    claims = {volume["name"]: volume["persistentVolumeClaim"]["claimName"]
              for volume in pod["volumes"]}
    assert mounts == {"data": "/data"} and list(claims) == ["data"]
    pvc = yaml.safe_load((ROOT / "deploy/k8s/data-pvc.yaml").read_text())
    assert pvc["metadata"]["name"] == claims["data"]
    resolved = [arg.replace("$(JOB_COMPLETION_INDEX)", "5") for arg in args]
    result = CliRunner().invoke(render_app, [*resolved, "--print-config"])
    assert result.exit_code == 0, result.output
    assert "size = 256" in result.output
    gather = yaml.safe_load((ROOT / "deploy/k8s/gather-job.yaml").read_text())
    (gatherer,) = gather["spec"]["template"]["spec"]["containers"]
    assert gatherer["command"] == ["shadow-dataset", "gather", args[args.index("--out") + 1]]


def install_line(text: str) -> str:
    match = re.search(r"pip install [^&\n]*", text)
    assert match, text
    return match[0].strip()


def test_dockerfile_installs_the_project_as_the_readme_does():
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set-up", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.MULTILINE)
    (run_line,) = [line for line in dockerfile.splitlines() if line.startswith("RUN pip install")]
    assert install_line(run_line) == install_line(setup) == 'pip install -e ".[render]"'
    section = (ROOT / "docs/cluster.md").read_text()  # the README links it
    assert "docs/cluster.md" in readme
    assert "kubectl apply -f deploy/k8s/render-job.yaml" in section
    assert "shadow-dataset gather" in section and "--executor slurm" in section


def test_overwrite_with_an_executor_empties_the_folder_once_and_no_task_repeats_it(
        tmp_path, monkeypatch):
    import signal
    import types

    from render import cluster
    from tests.helpers import make_dataset

    out = tmp_path / "data"
    make_dataset(out, ids=("000000", "000001"))
    (out / "dataset.json").write_text(json.dumps({"format_version": 1, "source": "merge"}))
    (out / "notes.txt").write_text("mine")
    submitted = {}

    def submit(config, command, kind, resources):
        submitted.update(config=config, command=command)
        return [types.SimpleNamespace(job_id="77_0")]

    monkeypatch.setattr(cluster, "submit", submit)
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = CliRunner().invoke(render_app, ["--out", str(out), "-n", "4", *TINY_ARGS,
                                                 "--overwrite", "--executor", "slurm",
                                                 "--jobs", "2"])
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    assert result.exit_code == 0, result.output
    assert not list(out.rglob("*.png")) and not (out / "dataset.json").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert submitted["config"].overwrite is False
    assert "--overwrite" not in submitted["command"]
