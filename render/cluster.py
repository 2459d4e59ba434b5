"""Render on a cluster through submitit: one job array whose task I renders shard I/N of the
run (`render-dataset ... --executor slurm --jobs N`), or the same array as local processes
(`--executor local`). Every task writes straight into OUT (a shared file system) and commits
to its own manifest (render.commit.ShardLog); `shadow-dataset gather OUT` merges them.

submitit is imported only here and only when a job is submitted: the rest of the renderer
works without it.
"""

from __future__ import annotations

import dataclasses
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console

from dataset_tools.gather import SHARDS_DIR, SUBMISSION, shard_command
from dataset_tools.layout import write_json
from dataset_tools.options import Domain, option
from render.config import RenderConfig
from render.worker import workers_within

EXECUTORS = ("none", "local", "slurm")
LOG_DIR = ".submitit"  # OUT/.submitit/JOB/: submitit's pickles and the tasks' logs
# render-dataset's options (each takes a value) that say where and how to submit: a task's own
# command line, the one that re-runs it alone, leaves them out.
SUBMIT_OPTIONS = ("--executor", "--jobs", "--partition", "--time", "--cpus-per-task", "--mem",
                  "--shard")


@dataclass(frozen=True)
class Resources:
    """Where the run goes (`executor`) and what each task of its array asks the scheduler
    for."""

    executor: str = option(
        "none", "none: render here; slurm: submit one job array of --jobs tasks, task I "
        "renders --shard I/JOBS (through submitit; logs in OUT/.submitit); local: the same "
        "array as local processes, waited for. Then: shadow-dataset gather OUT",
        choices=EXECUTORS)
    jobs: int = option(1, "tasks in the job array (= shards)", domain=Domain(1))
    partition: str | None = option(None, "SLURM partition (default: the cluster's)")
    time_min: int = option(1440, "wall-time limit of each task, minutes", names="--time",
                           domain=Domain(1))
    cpus_per_task: int = option(2, "CPU cores of each task (with --workers 0, the default, "
                                "a task starts one worker per --threads of them)", domain=Domain(1))
    mem_gb: float = option(4.0, "memory of each task, GB", names="--mem",
                           domain=Domain(0.1))


def task_command(argv: Sequence[str]) -> list[str]:
    """`render-dataset ARGS` without the submission options (and without --shard): what each
    task runs, once given its --shard."""
    command, skip = ["render-dataset"], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg.split("=", 1)[0] in SUBMIT_OPTIONS:
            skip = "=" not in arg  # the value is the next argument
            continue
        command.append(arg)
    return command


def render_shard(config: RenderConfig, command: list[str], shard_index: int) -> dict[str, Any]:
    """Task `shard_index` of the array: render shard shard_index/config.shard_count into
    config.out, committing to its own manifest. Returns its counts (submitit pickles them)."""
    from render.catalog import RunError
    from render.commit import ShardLog
    from render.runner import print_summary, run

    config = dataclasses.replace(config, shard_index=shard_index)
    console = Console(stderr=True, soft_wrap=True)
    log = ShardLog(tuple(shard_command(command, shard_index, config.shard_count)))
    try:
        summary = run(config, console, shard=log)
    except RunError as error:
        console.print(f"[red]error[/]: {error}")
        raise
    print_summary(summary, config, console)
    return {"shard": f"{shard_index}/{config.shard_count}", "requested": summary.requested,
            "complete": summary.complete, "failed": len(summary.failed),
            "interrupted": summary.interrupted}


def make_executor(kind: str, out: Path, resources: Resources) -> Any:
    """A submitit executor for `kind` ("local" or "slurm") logging under OUT/.submitit."""
    import submitit

    executor = submitit.AutoExecutor(folder=out / LOG_DIR, cluster=kind)
    executor.update_parameters(name="render-dataset", timeout_min=resources.time_min,
                               cpus_per_task=resources.cpus_per_task, mem_gb=resources.mem_gb,
                               slurm_partition=resources.partition)
    return executor


def submit(config: RenderConfig, command: list[str], kind: str,
           resources: Resources) -> list[Any]:
    """Submit one array of resources.jobs tasks, task I rendering shard I/jobs with `config`;
    records the submission in OUT/manifests/submission.json (gather names missing shards from
    it). Returns submitit's jobs, one per task."""
    # --workers 0: one per --threads of the CPUs the task is given, not of the node's CPUs,
    # within the memory it is given
    workers = config.workers or workers_within(resources.cpus_per_task,
                                               resources.mem_gb * (1 << 30),
                                               config.render.threads, config.size)
    config = dataclasses.replace(config, shard_index=0, shard_count=resources.jobs,
                                 workers=workers)
    config.out.mkdir(parents=True, exist_ok=True)
    write_json(config.out / SHARDS_DIR / SUBMISSION, {
        "command": command, "total": config.count, "shards": resources.jobs,
        "executor": kind, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    executor = make_executor(kind, config.out, resources)
    task: Callable[[int], dict[str, Any]] = partial(render_shard, config, command)
    return executor.map_array(task, range(resources.jobs))


def follow_lines(jobs: list[Any], kind: str, out: Path) -> list[str]:
    """What to print after a submission: the job id and how to follow the array."""
    logs = out / LOG_DIR
    if kind == "slurm":
        array_id = str(jobs[0].job_id).split("_")[0]
        return [f"submitted SLURM job array {array_id}: {len(jobs)} tasks, task I renders "
                f"--shard I/{len(jobs)}",
                f"follow it with: squeue -j {array_id}   (logs: {logs}/{array_id}_I_0_log.err, "
                f".out)",
                f"when it is done: shadow-dataset gather {shlex.quote(str(out))}"]
    ids = ", ".join(str(job.job_id) for job in jobs)
    return [f"started {len(jobs)} local tasks (process ids {ids}); logs: {logs}/"]


def wait(jobs: list[Any], poll_s: float = 0.5) -> list[tuple[bool, str]]:
    """Wait for every job (Ctrl-C reaches local tasks too, in this process group: they stop
    cleanly and this waits for them); per job whether it ran to the end without an error and
    a line saying how it ended."""
    while not all(job.done() for job in jobs):
        time.sleep(poll_s)
    outcomes = []
    for index, job in enumerate(jobs):
        try:
            result = job.result()
        except Exception as error:  # submitit re-raises the task's error with its traceback
            lines = str(error).strip().splitlines() or [repr(error)]
            outcomes.append((False, f"task {index} ({job.job_id}) failed: {lines[-1]}; log: "
                                    f"{job.paths.stderr}"))
            continue
        ended = not result["interrupted"] and result["complete"] == result["requested"]
        outcomes.append((ended, f"shard {result['shard']}: {result['complete']}/"
                                f"{result['requested']} samples complete, {result['failed']} "
                                f"failed{', interrupted' if result['interrupted'] else ''}"))
    return outcomes
