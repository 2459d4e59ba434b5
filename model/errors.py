"""The failure of a training run that cannot go on (dataset_tools.errors has the hierarchy and
the exit codes)."""

from __future__ import annotations

from dataset_tools.errors import ShadowsynthError


class TrainingError(ShadowsynthError, RuntimeError):
    """A run that cannot go on: NaN losses, a dataset that fails validation, no samples."""
