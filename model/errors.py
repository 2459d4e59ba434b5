"""The failures `shadow-model` reports as one line instead of a traceback, whichever verb
meets them: the CLI turns each into `error: ...` and exit code 1 (model/cli.py)."""

from __future__ import annotations

from dataset_tools.layout import DISK_FULL_ERRNOS, DatasetError
from model.checkpoint import CheckpointError
from model.config import ConfigError
from model.weights import WeightsError


class TrainingError(RuntimeError):
    """A run that cannot go on: NaN losses, a dataset that fails validation, no samples."""


KNOWN = (TrainingError, DatasetError, CheckpointError, WeightsError, ConfigError)


def describe_error(error: BaseException) -> str | None:
    """One line for the errors a run reports instead of a traceback; None for the others
    (bugs keep their traceback)."""
    if isinstance(error, KNOWN):
        return str(error)
    if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
        return f"no space left on device writing {error.filename}"
    text = str(error)
    if isinstance(error, RuntimeError) and "Caught DatasetError" in text:
        # raised in a DataLoader worker: torch re-raises it as a RuntimeError with the
        # original traceback; its last line is "...DatasetError: FILE: reason"
        return text.strip().splitlines()[-1].split("DatasetError: ", 1)[-1]
    return None
