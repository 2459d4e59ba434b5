"""A training run's life: a new run folder or a resumed one, the fit, and what is left when
it stops early (a new run without a checkpoint leaves no folder; Ctrl-C names the last
complete epoch and the command that resumes it)."""

from __future__ import annotations

import dataclasses
import re
import shlex
import shutil
import signal
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dataset_tools.errors import ShadowsynthError, Stopped, UsageError
from dataset_tools.options import OPTION, flag_name, shown
from model.config import AttentionConfig, TrainConfig, load_config


class RunInterrupted(Stopped):
    """Ctrl-C ended the run; `message` says what is saved and how to resume (None on the
    ranks other than the main one, which say nothing)."""

    def __init__(self, message: str | None) -> None:
        super().__init__(message or "interrupted")
        self.line = message


def train_run(config_class: type[TrainConfig], new_config: Callable[..., TrainConfig],
              data: Path | None, epochs: int | None, resume: Path | None,
              given: dict[str, Any] | None = None) -> Path | None:
    """A new run of `config_class` (AttentionConfig or SGConfig) with the config
    new_config(data=..., epochs=...) gives (the class with the verb's other options bound), or
    the run in `resume` continued with its own config.json, which the options in `given`
    (config field -> value the command line gave) must match. Returns the best checkpoint on
    the main rank, None on the others."""
    from dataset_tools.layout import check_writable
    from dataset_tools.settings import to_json
    from model.loaders import check_dataset
    from model.runtime import start, stop
    from model.train import fit

    kind = config_class.KIND
    resume_command = f"shadow-model train-{kind} --resume {{run}}"
    if resume is not None:
        if not (resume / "config.json").is_file():
            raise ShadowsynthError(f"--resume {resume}: not a run folder (no config.json)")
        config = load_config(config_class, resume / "config.json")
        if data is not None and data.resolve() != config.data.resolve():
            warnings.warn(f"--data {data} is ignored: --resume continues on the run's own "
                          f"dataset {config.data} (its config.json)", stacklevel=1)
        given = given or {}
        refuse_conflicts(config, {name: value for name, value in given.items()
                                  if name not in RUNTIME_OPTIONS}, resume)
        config = dataclasses.replace(config, **{name: value for name, value in given.items()
                                                if name in RUNTIME_OPTIONS})
        if getattr(config, "init", None) is not None and \
                (resume / "checkpoints" / "last.pt").is_file():
            config = dataclasses.replace(config, init=None)  # last.pt has the weights
        if epochs is not None and epochs != config.epochs:
            config = dataclasses.replace(config, epochs=epochs)
            resume_command += f" --epochs {epochs}"  # config.json keeps the run's own
    elif data is None:
        raise UsageError("--data DATASET is needed (or --resume RUN_DIR to continue a run)")
    else:
        config = (new_config(data=data) if epochs is None  # the dataclass's default
                  else new_config(data=data, epochs=epochs))
    check_writable(resume if resume is not None else config.out)  # before any work
    runtime = start(config.device, config.amp, config.channels_last)
    run_dir = resume
    try:
        with _terminate_as_exit():
            if resume is None and config.validate_data and runtime.main:
                check_dataset(config.data)
            if config_class is AttentionConfig:
                from model.train_attention import AttentionTask as Task
            else:
                from model.train_sg import SGTask as Task
            task = Task(config, runtime)  # fails on a bad --attention before any folder
            if run_dir is None:
                if runtime.main:
                    from dataset_tools.layout import write_json

                    run_dir = new_run_dir(config.out, kind, config.data)
                    write_json(run_dir / "config.json", to_json(config))
                run_dir = runtime.broadcast(run_dir)
            last = run_dir / "checkpoints" / "last.pt"
            best = fit(task, config, runtime, run_dir,
                       last if resume is not None and last.is_file() else None)
    except BaseException as error:
        # a new run that ends before its first checkpoint leaves nothing behind; rank 0
        # alone made the folder, so it alone removes it
        removed = (resume is None and run_dir is not None and runtime.main
                   and _remove_if_no_checkpoint(run_dir))
        if not isinstance(error, KeyboardInterrupt):
            raise
        raise RunInterrupted(
            _interrupted_line(error, run_dir, removed, config.epochs, resume_command)
            if runtime.main else None) from None
    finally:
        stop(runtime)
    return best if runtime.main else None


def new_run_dir(out: Path, kind: str, data: Path) -> Path:
    """out/NNNNN-kind-dataset, numbered after the highest existing run (as NVlabs/edm); the
    dataset is named by its folder (for shards named by a pattern or a list, theirs)."""
    out.mkdir(parents=True, exist_ok=True)
    numbers = [int(match.group(1)) for path in out.iterdir()
               if (match := re.match(r"(\d{5})-", path.name))]
    folder = data if data.is_dir() else Path(str(data).split(",")[0]).parent
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", folder.resolve().name) or "data"
    run_dir = out / f"{max(numbers, default=-1) + 1:05d}-{kind}-{name}"
    run_dir.mkdir()
    return run_dir


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, Path) or isinstance(theirs, Path):
        return ours is not None and theirs is not None and \
            Path(ours).resolve() == Path(theirs).resolve()
    if isinstance(ours, tuple | list):
        return list(ours) == list(theirs)
    return ours == theirs


# Options that say how and where this process trains, not what it learns: a resumed run takes
# them from the command line (else from its config.json), as it does --epochs.
RUNTIME_OPTIONS = ("device", "workers", "max_minutes", "validate_data", "log_every",
                   "image_every")


def refuse_conflicts(config: TrainConfig, given: dict[str, Any], run_dir: Path) -> None:
    """UsageError (an argument error) naming the first option in `given` whose value
    differs from the resumed run's config: --resume takes every option from the run's
    config.json, so a different one would be silently ignored."""
    fields = {item.name: item for item in dataclasses.fields(config)}
    for name, value in given.items():
        if name not in fields or _same(value, getattr(config, name)):
            continue
        item, theirs = fields[name], getattr(config, name)
        typed = _as_typed(item, value)
        runtime = ", ".join(flag_name(fields[other]) for other in RUNTIME_OPTIONS
                            if OPTION in fields[other].metadata)
        raise UsageError(f"{typed}: the resumed run {run_dir} has {_as_typed(item, theirs)} "
                         "(its config.json); --resume continues with the run's own options "
                         f"(only --epochs and how it runs, {runtime}, may change), so drop "
                         f"{flag_name(item)} or start a new run")


def _as_typed(item: dataclasses.Field, value: Any) -> str:
    """An option's value as the command line writes it: `--no-amp`, `--betas 10 1 0`."""
    flag = flag_name(item)
    if isinstance(value, bool):
        return flag if value else "--no-" + flag.removeprefix("--")
    return f"{flag} {shown(value)}"


@contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM (`kill`, or torchrun stopping this rank because another one failed) raises
    SystemExit(143) here, so that the clean-up of an unfinished run folder still runs."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _remove_if_no_checkpoint(run_dir: Path) -> bool:
    """Delete a run folder that holds no checkpoint (config.json, logs only); True if done."""
    if any((run_dir / "checkpoints").glob("*.pt")):
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    return not run_dir.exists()


def _interrupted_line(error: KeyboardInterrupt, run_dir: Path | None, removed: bool,
                      epochs: int, resume_command: str) -> str:
    """What Ctrl-C leaves: the last complete epoch and how to resume, or that nothing is."""
    from model.train import StoppedAfterEpoch

    last = None if run_dir is None else run_dir / "checkpoints" / "last.pt"
    if last is None or not last.is_file():
        where = f"; removed {run_dir}" if removed else ""
        return f"interrupted before the first epoch was complete: nothing to resume{where}"
    stopped = isinstance(error, StoppedAfterEpoch)
    done = (f"epoch {error.epoch} of {epochs} is complete" if stopped
            and error.epoch else "the last complete epoch is saved")
    command = resume_command.format(run=shlex.quote(str(run_dir)))
    return f"interrupted: {done} ({last}); resume with: {command}"
