"""dataset_tools.darkness: the shadow/noshadow luminance ratio, exact values."""

from __future__ import annotations

import numpy as np


def test_shadow_darkness_exact_ratios():
    from dataset_tools.darkness import shadow_darkness, summarize_darkness

    noshadow = np.full((2, 4, 3), 200, dtype=np.uint8)
    shadow = noshadow.copy()
    shadow[0, :] = (50, 50, 50)  # ratio 0.25
    shadow[1, :2] = (150, 150, 150)  # ratio 0.75
    region = np.zeros((2, 4), dtype=np.uint8)
    region[0, :] = 255
    region[1, :2] = 255
    measured = shadow_darkness(shadow, noshadow, region)
    assert measured.pixels == 6
    assert abs(measured.median_ratio - 0.25) < 1e-6
    assert abs(measured.darker_than_half - 4 / 6) < 1e-9
    assert shadow_darkness(shadow, noshadow, np.zeros((2, 4), np.uint8)) is None
    summary = summarize_darkness([measured, measured])
    assert summary["samples"] == 2 and abs(summary["median"] - 0.25) < 1e-6
