from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from render.config import QualityChecks, RenderConfig, RenderSettings

TINY = RenderSettings(samples=4, adaptive_threshold=0.0, threads=1)


def tiny_config(out: Path, **overrides) -> RenderConfig:
    """A 48x48, 4-sample configuration: a real Cycles render in well under a second."""
    checks = QualityChecks(min_object_fraction=0.002, min_shadow_fraction=0.001)
    base = RenderConfig(out=out, count=3, size=48, render=TINY, checks=checks, workers=1)
    return dataclasses.replace(base, **overrides)


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
