"""The data contract on hundreds of real renders: every sample passes `validate`, the pair
differs only inside `sregion`, and the shadows are about as dark as in real photos."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from rich.console import Console

from dataset_tools.darkness import shadow_darkness, summarize_darkness
from dataset_tools.layout import iter_ids, read_image, sample_path
from dataset_tools.records import read_manifest
from dataset_tools.validate import validate_dataset
from render.config import RenderSettings
from render.runner import run
from tests.helpers import tiny_config

pytestmark = pytest.mark.blender
QUIET = Console(file=open(os.devnull, "w"))  # noqa: SIM115


@pytest.mark.slow
@pytest.mark.parametrize(("size", "samples", "count"), [(64, 4, 200), (128, 10, 100)])
def test_every_rendered_sample_keeps_the_contract(tmp_path, size, samples, count):
    config = tiny_config(tmp_path / "data", count=count, size=size, seed=size,
                         render=RenderSettings(samples=samples, threads=2))
    config = dataclasses.replace(config, checks=dataclasses.replace(
        config.checks, min_object_fraction=0.004, min_shadow_fraction=0.002))
    summary = run(config, QUIET)
    assert summary.rendered == count and not summary.failed

    report = validate_dataset(config.out)
    assert report.valid and not report.errors, [str(problem) for problem in report.errors[:5]]
    assert sum(report.counts.values()) == count

    manifest = read_manifest(config.out)
    measured = []
    for split in ("train", "test"):
        for sample_id in iter_ids(config.out, split):
            def load(kind: str, mode: str = "L", split: str = split,
                     sample_id: str = sample_id) -> np.ndarray:
                return read_image(sample_path(config.out, split, kind, sample_id), mode)

            shadow, noshadow = load("shadow", "RGB"), load("noshadow", "RGB")
            region, smask = load("sregion") > 0, load("smask")
            np.testing.assert_array_equal(shadow[~region], noshadow[~region])
            assert region[smask > 0].all()
            darkness = shadow_darkness(shadow, noshadow, smask)
            assert darkness is not None
            if manifest[sample_id].spec["light"]["kind"] == "sun":
                measured.append(darkness)
    # Sunlit samples against real sunny photo pairs: median 0.27 (10-90 %: 0.14-0.33); before
    # the calibration the renders gave 0.90 (0.64-0.95). At 64 px the blurs of the ground
    # factor (in pixels) widen the penumbra relative to the object: checked from 128 px on.
    assert len(measured) > count / 2
    if size < 128:
        return
    summary_darkness = summarize_darkness(measured)
    assert 0.15 < summary_darkness["median"] < 0.4, summary_darkness
    assert summary_darkness["darker_than_half"] > 0.7, summary_darkness
