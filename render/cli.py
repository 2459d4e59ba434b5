"""`render-dataset`: render Shadow-AR training pairs from scene photos and meshes."""

from __future__ import annotations

import dataclasses
import shlex
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from dataset_tools.settings import default
from render.cluster import Resources
from render.config import (
    DEFAULT_MODELS,
    DEFAULT_SCENES,
    RenderConfig,
    RenderSettings,
    field_of,
    setting_problem,
)

app = typer.Typer(add_completion=False, rich_markup_mode=None)


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' -> (I, N) with 0 <= I < N."""
    try:
        index_text, count_text = text.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise typer.BadParameter(f"expected I/N (for example 0/4), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise typer.BadParameter(f"shard index must be in 0..{count - 1}, got {text!r}")
    return index, count


def _resolved(path: Path, option: str) -> Path:
    """`path` made absolute, links resolved; a link loop is a bad value of `option`."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop (Python 3.11)
        raise typer.BadParameter(f"{path}: cannot resolve the path ({error})",
                                 param_hint=option) from None


def _note_signals() -> list[int]:
    """Until the run installs its own handlers, SIGINT and SIGTERM are only noted here."""
    noted: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, frame: noted.append(number))
    return noted


@app.command(help="""Render N samples into OUT in the Shadow-AR layout (train/ and test/ with
noshadow, shadow, mask, robject, rshadow, smask, sregion), with manifest.jsonl and
dataset.json.

A rerun with the same arguments renders only what is missing. Every sampled distribution
(camera, objects, photo crops, materials, the light kinds sun / area / overcast and their
weights), the render settings and the quality checks come from --config FILE.toml; options
given on the command line override the file. --print-config prints the full resolved
settings as a commented file to start from.

Ctrl-C stops the run cleanly (exit code 130): it prints how many samples are complete and the
command that resumes. Runs started at once on the same folder (here, or on machines that
share it) split the samples between them.

Examples:

  render-dataset --out demo -n 20

  render-dataset --print-config > scene.toml; render-dataset --config scene.toml --out data

  render-dataset --scenes photos/ --models ShapeNetCore.v2/ --out data -n 10000 --workers 2

  render-dataset --scenes photos/ --models shapenet/ --out data -n 100000 --shard 3/64

  render-dataset --models shapenet/ --out /shared/data -n 100000 --executor slurm --jobs 64

  shadow-dataset gather /shared/data   (once the job array is done)
""")
def main(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output dataset folder.")]
        = None,
    scenes: Annotated[Path, typer.Option(
        help="Folder of scene photos and panoramas (a sidecar declares a panorama).")] =
        DEFAULT_SCENES,
    models: Annotated[Path, typer.Option(help="ShapeNet v1/v2 folder or folder of mesh files.")]
        = DEFAULT_MODELS,
    count: Annotated[int, typer.Option("-n", "--count", min=1, help="Samples in the dataset.")]
        = default(RenderConfig, "count"),
    config_file: Annotated[Path | None, typer.Option(
        "--config", help="TOML file with the sampled distributions and render settings.")]
        = None,
    print_config: Annotated[bool, typer.Option(
        "--print-config", help="Print the resolved settings as a commented TOML file, exit.")]
        = False,
    size: Annotated[int | None, typer.Option(help="Image side in pixels.")]
        = None,
    seed: Annotated[int | None, typer.Option(
        help="Global seed; sample i's seed derives from it.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Parallel Blender processes.")]
        = default(RenderConfig, "workers"),
    shard: Annotated[str, typer.Option(help="Render only samples i with i % N == I.")] = "0/1",
    samples: Annotated[int | None, typer.Option(
        help="Cycles samples per pixel of the shadow render (the second).")] = None,
    first_render_samples: Annotated[int | None, typer.Option(
        help="Cycles samples per pixel of the first render (the whole frame).")]
        = None,
    adaptive_threshold: Annotated[float | None, typer.Option(
        help="Cycles adaptive sampling noise threshold (0 = off).")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or optix.")] = None,
    threads: Annotated[int | None, typer.Option(
        help="Threads per worker (0 = all cores).")] = None,
    test_fraction: Annotated[float | None, typer.Option(
        help="Share of scene photos whose samples go to test/.")] = None,
    darkening_threshold: Annotated[float | None, typer.Option(
        help="Relative darkening (0-1) that counts as shadow in the masks.")]
        = None,
    shadow_visible_fraction: Annotated[float | None, typer.Option(
        help="smask/rshadow keep pixels darkened by at least this share of "
        "the sample's peak darkening (0.5: the half-shadow line a person would outline; 0 keeps "
        "all above --darkening-threshold).")] = None,
    max_faces: Annotated[int | None, typer.Option(
        help="Skip meshes with more faces.")] = None,
    restart_every: Annotated[int, typer.Option(
        min=1, help="Replace each worker after this many samples.")]
        = default(RenderConfig, "restart_every"),
    overwrite: Annotated[bool, typer.Option(
        help="Start afresh: first remove the old run's samples, manifest and dataset.json "
        "from OUT (a dataset or an empty folder; other files stay), then render every "
        "sample with these settings.")] = False,
    executor: Annotated[str, typer.Option(
        help="none: render here; slurm: submit one job array of --jobs tasks, task I renders "
        "--shard I/JOBS (through submitit; logs in OUT/.submitit); local: the same array as "
        "local processes, waited for. Then: shadow-dataset gather OUT.")] = "none",
    jobs: Annotated[int, typer.Option(min=1, help="Tasks in the job array (= shards).")] = 1,
    partition: Annotated[str | None, typer.Option(help="SLURM partition.")] = None,
    time_min: Annotated[int, typer.Option(
        "--time", min=1, help="Wall-time limit of each task, minutes.")]
        = default(Resources, "time_min"),
    cpus_per_task: Annotated[int, typer.Option(
        min=1, help="CPU cores of each task (give --threads the same number).")]
        = default(Resources, "cpus_per_task"),
    mem: Annotated[float, typer.Option(min=0.1, help="Memory of each task, GB.")]
        = default(Resources, "mem_gb"),
) -> None:
    early_signals = _note_signals()  # Ctrl-C while starting: the run then stops at once
    from render.catalog import RunError
    from render.cluster import EXECUTORS
    from render.commit import ShardLog
    from render.config_file import ConfigFileError, load_config
    from render.config_file import print_config as config_text
    from render.output import prepare_output
    from render.runner import print_summary, run

    console = Console(stderr=True, soft_wrap=True)
    shard_index, shard_count = parse_shard(shard)
    config = RenderConfig(out=_resolved(out or Path("out"), "--out"),
                          scenes=_resolved(scenes, "--scenes"),
                          models=_resolved(models, "--models"), count=count, workers=workers,
                          shard_index=shard_index, shard_count=shard_count,
                          overwrite=overwrite, restart_every=restart_every)
    if config_file is not None:
        try:
            config = load_config(config_file, config)
        except ConfigFileError as error:
            console.print(f"[red]error[/]: {escape(str(error))}", highlight=False)
            raise typer.Exit(2) from None
    given = {"size": size, "seed": seed, "test_fraction": test_fraction,
             "darkening_threshold": darkening_threshold,
             "shadow_visible_fraction": shadow_visible_fraction, "max_faces": max_faces}
    render_given = {"samples": samples, "first_render_samples": first_render_samples,
                    "adaptive_threshold": adaptive_threshold,
                    "device": device, "threads": threads}
    for cls, values in ((RenderConfig, given), (RenderSettings, render_given)):
        for key, value in values.items():
            problem = None if value is None else setting_problem(field_of(cls, key), value)
            if problem is not None:  # the same check as the config file's, before any work
                console.print(f"[red]error[/]: --{key.replace('_', '-')}: {escape(problem)}",
                              highlight=False)
                raise typer.Exit(2)
    config = dataclasses.replace(
        config, **{key: value for key, value in given.items() if value is not None},
        render=dataclasses.replace(config.render, **{
            key: value for key, value in render_given.items() if value is not None}))
    if print_config:
        print(config_text(config), end="")
        return
    if out is None:
        raise typer.BadParameter("--out is required (unless --print-config)")
    if overwrite and shard_count > 1:
        raise typer.BadParameter("--overwrite and --shard: every shard would empty the folder "
                                 "the other shards render into; --executor empties it once, "
                                 "or remove it before starting the shards")
    if executor not in EXECUTORS:
        raise typer.BadParameter(f"--executor must be {', '.join(EXECUTORS)}, got {executor!r}")
    if executor == "none" and jobs > 1:
        raise typer.BadParameter("--jobs needs --executor slurm or local")
    if executor != "slurm" and partition is not None:
        raise typer.BadParameter("--partition needs --executor slurm")
    resources = {"--time": (time_min, "time_min"), "--cpus-per-task": (cpus_per_task,
                 "cpus_per_task"), "--mem": (mem, "mem_gb")}
    for option, (value, field_name) in resources.items():
        if executor == "none" and value != default(Resources, field_name):
            raise typer.BadParameter(f"{option} sizes the tasks of --executor slurm or local; "
                                     "without --executor the run is this process")
    if executor != "none":
        if shard_count > 1:
            raise typer.BadParameter("--shard and --executor: each task of the array gets "
                                     "its own shard (task I renders --shard I/JOBS)")
        try:  # the refusals before any work, and --overwrite empties the folder once here
            prepare_output(config)
        except RunError as error:
            console.print(f"[red]error[/]: {escape(str(error))}", highlight=False)
            raise typer.Exit(error.exit_code) from None
        _submit(dataclasses.replace(config, overwrite=False), executor,
                Resources(jobs, partition, time_min, cpus_per_task, mem), console, early_signals)
        return
    shard_log = ShardLog(tuple(_command())) if shard_count > 1 else None
    try:
        summary = run(config, console, early_signals, shard=shard_log)
    except RunError as error:
        console.print(f"[red]error[/]: {escape(str(error))}", highlight=False)
        raise typer.Exit(error.exit_code) from None
    if summary.disk_full:
        command = shlex.join(_resume_command())
        console.print(f"no space left on device writing {summary.disk_full}; "
                      f"{summary.complete} of {summary.requested} samples complete in "
                      f"{config.out}; free space and resume with: {command}", markup=False,
                      highlight=False)
        raise typer.Exit(1)
    if summary.interrupted:
        command = shlex.join(_resume_command())
        console.print(f"interrupted: {summary.complete} of {summary.requested} samples complete "
                      f"in {config.out}; resume with: {command}", markup=False, highlight=False)
        raise typer.Exit(128 + summary.interrupted)
    print_summary(summary, config, console)
    if shard_log is not None:
        console.print(f"shard {shard}: committed to {config.out}/manifests/; when every shard "
                      f"is done: shadow-dataset gather {config.out}", markup=False,
                      highlight=False)
    if summary.requested and summary.complete == 0:
        raise typer.Exit(1)


def _command() -> list[str]:
    """This command line, as typed."""
    return ["render-dataset", *sys.argv[1:]]


def _resume_command() -> list[str]:
    """The command that continues this run: as typed, without --overwrite (which emptied the
    folder once, at the start; given again it would start from zero)."""
    return without_overwrite(_command())


def without_overwrite(argv: list[str]) -> list[str]:
    """`argv` without --overwrite."""
    return [arg for arg in argv if arg != "--overwrite"]


def _submit(config: RenderConfig, executor: str, resources: Resources, console: Console,
            early_signals: list[int]) -> None:
    """Submit the job array; --executor local then waits for it (exit code 0 only when every
    shard is complete, 130 after Ctrl-C)."""
    from render.cluster import follow_lines, submit, task_command, wait

    try:
        jobs = submit(config, task_command(without_overwrite(sys.argv[1:])), executor,
                      resources)
    except ImportError:
        console.print('[red]error[/]: --executor needs submitit: pip install -e ".[render]"')
        raise typer.Exit(2) from None
    except Exception as error:  # sbatch missing or refusing: one line, not a traceback
        lines = str(error).strip().splitlines() or [type(error).__name__]
        console.print(f"[red]error[/]: submitting the job array failed: {lines[-1]}",
                      markup=True, highlight=False)
        raise typer.Exit(2) from None
    for line in follow_lines(jobs, executor, config.out):
        print(line, flush=True)
    if executor != "local":
        return
    outcomes = wait(jobs)
    for _, line in outcomes:
        print(line, flush=True)
    print(f"then: shadow-dataset gather {shlex.quote(str(config.out))}", flush=True)
    if early_signals:
        raise typer.Exit(128 + early_signals[0])
    if not all(ended for ended, _ in outcomes):
        raise typer.Exit(1)


def entry() -> None:
    from dataset_tools.entry import run

    run(app)
