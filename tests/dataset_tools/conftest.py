"""Fixtures of the shadow-dataset tests."""

from __future__ import annotations

import sys

import pytest

from dataset_tools.cli import app
from dataset_tools.commands import run_app as run


@pytest.fixture
def shadow_dataset(capsys, monkeypatch):
    """`shadow-dataset ARGS` in this process through the console script's front door: (exit
    code, stderr)."""
    def call(*args: object) -> tuple[int, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["shadow-dataset", *map(str, args)])
        with pytest.raises(SystemExit) as stop:
            run(app)
        return stop.value.code, capsys.readouterr().err

    return call
