"""Fixtures shared by every test package: a tiny render config factory, a toy dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from render.config import RenderConfig
from tests.helpers import tiny_config


@pytest.fixture
def config_factory(tmp_path):
    def make(name: str = "out", **overrides) -> RenderConfig:
        return tiny_config(tmp_path / name, **overrides)

    return make


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory) -> Path:
    """A 64x64 Shadow-AR dataset drawn with OpenCV: 12 train, 4 test samples (read-only)."""
    from dataset_tools.toy import make_toy_dataset

    return make_toy_dataset(tmp_path_factory.mktemp("toy") / "toy", train=12, test=4, size=64)
