"""`render-dataset`: render Shadow-AR training pairs from scene photos and meshes. Its options
are the fields of RenderConfig (render/config.py) and Resources (render/cluster.py) that say
so, declared once there; every error is one line and an exit code from dataset_tools.errors."""

from __future__ import annotations

import dataclasses
import shlex
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from dataset_tools.commands import Options, console, resolved, say, verb
from dataset_tools.errors import ShadowsynthError, Stopped, UsageError
from dataset_tools.options import flag_name
from render.cluster import Resources
from render.config import RenderConfig

app = typer.Typer(add_completion=False, rich_markup_mode=None)


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' -> (I, N) with 0 <= I < N."""
    try:
        index_text, count_text = text.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected I/N (for example 0/4)") from None
    if count < 1 or not 0 <= index < count:
        raise UsageError(f"--shard {text!r}: the shard index must be in 0..{count - 1}")
    return index, count


def _note_signals() -> list[int]:
    """Until the run installs its own handlers, SIGINT and SIGTERM are only noted here."""
    noted: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, frame: noted.append(number))
    return noted


@verb(app, configs=(RenderConfig, Resources), help="""Render N samples into OUT in the
Shadow-AR layout (train/ and test/ with noshadow, shadow, mask, robject, rshadow, smask,
sregion), with manifest.jsonl and dataset.json.

A rerun with the same arguments renders only what is missing. Every sampled distribution
(camera, objects, photo crops, materials, the light kinds sun / area / overcast and their
weights), the render settings and the quality checks come from --config FILE.toml; options
given on the command line override the file. --print-config prints the full resolved
settings as a commented file to start from.

Ctrl-C stops the run cleanly (exit code 130): it prints how many samples are complete and the
command that resumes. Runs started at once on the same folder (here, or on machines that
share it) split the samples between them.

\b
Examples:
  render-dataset --out demo -n 20
  render-dataset --print-config > scene.toml
  render-dataset --config scene.toml --out data
  render-dataset --scenes photos/ --models ShapeNetCore.v2/ --out data \\
      -n 10000 --workers 2
  render-dataset --scenes photos/ --models shapenet/ --out data \\
      -n 100000 --shard 3/64
  render-dataset --models shapenet/ --out /shared/data -n 100000 \\
      --executor slurm --jobs 64
  shadow-dataset gather /shared/data   (once the job array is done)
""")
def main(
    options: Options,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output dataset folder.")]
        = None,
    config_file: Annotated[Path | None, typer.Option(
        "--config", help="TOML file with the sampled distributions and render settings.")]
        = None,
    print_config: Annotated[bool, typer.Option(
        "--print-config", help="Print the resolved settings as a commented TOML file, exit.")]
        = False,
    shard: Annotated[str, typer.Option(help="Render only samples i with i % N == I.")] = "0/1",
) -> None:
    early_signals = _note_signals()  # Ctrl-C while starting: the run then stops at once
    from render.commit import ShardLog
    from render.config_file import load_config
    from render.config_file import print_config as config_text
    from render.output import prepare_output
    from render.runner import print_summary, run

    shard_index, shard_count = parse_shard(shard)
    config = RenderConfig(out=resolved(out or Path("out"), "--out"),
                          shard_index=shard_index, shard_count=shard_count)
    if config_file is not None:
        config = load_config(config_file, config)
    config = options.apply(config)  # the command line over the file
    config = dataclasses.replace(config, scenes=resolved(config.scenes, "--scenes"),
                                 models=resolved(config.models, "--models"))
    if print_config:
        print(config_text(config), end="")
        return
    resources = options.build(Resources)
    _check_submission(out, config, resources, options)
    if resources.executor != "none":
        prepare_output(config)  # the refusals before any work; --overwrite empties it once
        _submit(dataclasses.replace(config, overwrite=False), resources, early_signals)
        return
    shard_log = ShardLog(tuple(_command())) if shard_count > 1 else None
    summary = run(config, console, early_signals, shard=shard_log)
    if summary.disk_full:
        command = shlex.join(_resume_command())
        raise ShadowsynthError(f"no space left on device writing {summary.disk_full}; "
                               f"{summary.complete} of {summary.requested} samples complete in "
                               f"{config.out}; free space and resume with: {command}")
    if summary.interrupted:
        command = shlex.join(_resume_command())
        raise Stopped(f"interrupted: {summary.complete} of {summary.requested} samples complete "
                      f"in {config.out}; resume with: {command}", summary.interrupted)
    print_summary(summary, config, console)
    if shard_log is not None:
        say(f"shard {shard}: committed to {config.out}/manifests/; when every shard is done: "
            f"shadow-dataset gather {config.out}")
    if summary.requested and summary.complete == 0:
        raise typer.Exit(1)


def _check_submission(out: Path | None, config: RenderConfig, resources: Resources,
                      options: Options) -> None:
    """UsageError for options that do not go together."""
    if out is None:
        raise UsageError("--out is required (unless --print-config)")
    if config.overwrite and config.shard_count > 1:
        raise UsageError("--overwrite and --shard: every shard would empty the folder the other "
                         "shards render into; --executor empties it once, or remove it before "
                         "starting the shards")
    if resources.executor == "none":
        if resources.jobs > 1:
            raise UsageError("--jobs needs --executor slurm or local")
        sizes = [name for name in ("time_min", "cpus_per_task", "mem_gb")
                 if name in options.given]
        if sizes:
            raise UsageError(f"{_flag(sizes[0])} sizes the tasks of --executor slurm or local; "
                             "without --executor the run is this process")
    if resources.executor != "slurm" and resources.partition is not None:
        raise UsageError("--partition needs --executor slurm")
    if resources.executor != "none" and config.shard_count > 1:
        raise UsageError("--shard and --executor: each task of the array gets its own shard "
                         "(task I renders --shard I/JOBS)")


def _flag(name: str) -> str:
    return flag_name(Resources.__dataclass_fields__[name])


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


def _submit(config: RenderConfig, resources: Resources, early_signals: list[int]) -> None:
    """Submit the job array; --executor local then waits for it (exit code 0 only when every
    shard is complete, 130 after Ctrl-C)."""
    from render.cluster import follow_lines, submit, task_command, wait

    executor = resources.executor

    try:
        jobs = submit(config, task_command(without_overwrite(sys.argv[1:])), executor,
                      resources)
    except ImportError:
        raise UsageError('--executor needs submitit: pip install -e ".[render]"') from None
    except Exception as error:  # sbatch missing or refusing: one line, not a traceback
        lines = str(error).strip().splitlines() or [type(error).__name__]
        raise ShadowsynthError(f"submitting the job array failed: {lines[-1]}") from None
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
    from dataset_tools.commands import run_app

    run_app(app)
