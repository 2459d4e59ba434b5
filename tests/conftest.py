"""Fixtures shared by every test package: a tiny render config factory, a toy dataset."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from render.config import RenderConfig
from tests.helpers import tiny_config

# Blender as a Python module comes with the `render` extra only (Python 3.11): on a
# `.[model,dev]` install every test that renders is skipped, with this reason.
HAVE_BPY = importlib.util.find_spec("bpy") is not None
NO_BPY = "needs bpy, which the render extra installs (pip install -e '.[render]', Python 3.11)"


def pytest_collection_modifyitems(config, items) -> None:
    if HAVE_BPY:
        return
    for item in items:
        if "blender" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=NO_BPY))


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
