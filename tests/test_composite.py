import numpy as np
import pytest

from render.composite import (
    composite,
    crop_photo,
    darkening,
    linear_to_srgb,
    srgb_to_linear,
    to_uint8,
)
from render.spec import PhotoSpec


def test_srgb_transfer_known_values_and_round_trip():
    values = np.array([0.0, 0.04045, 0.5, 1.0], dtype=np.float32)
    linear = srgb_to_linear(values)
    np.testing.assert_allclose(linear, [0.0, 0.04045 / 12.92, 0.21404114, 1.0], rtol=1e-5)
    np.testing.assert_allclose(linear_to_srgb(linear), values, atol=1e-6)
    assert to_uint8(np.array([0.0, 0.5, 1.0, 1.2])).tolist() == [0, 128, 255, 255]


def test_composite_alpha_over_shadowed_photo():
    photo = np.full((1, 3, 3), 0.5, dtype=np.float32)
    combined = np.array([[[0, 0, 0, 0], [0.2, 0.2, 0.2, 1.0], [0.1, 0.1, 0.1, 0.5]]],
                        dtype=np.float32)
    catcher = np.array([[[0.4] * 3, [0.4] * 3, [1.0] * 3]], dtype=np.float32)
    result = composite(photo, combined, catcher)
    np.testing.assert_allclose(result[0, :, 0], [0.2, 0.2, 0.1 + 0.5 * 0.5])


def test_darkening_is_relative_and_zero_where_equal():
    base = np.full((2, 2, 3), 0.5, dtype=np.float32)
    dark = base.copy()
    dark[0, 0] = 0.25
    result = darkening(dark, base)
    assert result[0, 0] == pytest.approx(0.5)
    assert result[1, 1] == 0.0
    assert darkening(dark, np.zeros_like(base)).max() == 0.0


def test_crop_photo_square_resize_and_flip():
    photo = np.zeros((40, 80, 3), dtype=np.uint8)
    photo[:, :40] = 255  # left half white
    left = crop_photo(photo, PhotoSpec("p", 1.0, 0.0, 0.0, False), 16)
    assert left.shape == (16, 16, 3) and left.min() == 255
    right = crop_photo(photo, PhotoSpec("p", 1.0, 1.0, 0.0, False), 16)
    assert right.max() == 0
    half = crop_photo(photo, PhotoSpec("p", 1.0, 0.5, 0.0, True), 16)
    assert half[:, :8].max() == 0 and half[:, 8:].min() == 255  # flipped: white on the right


def test_smooth_catcher_keeps_edges_and_averages_noise():
    from render.composite import smooth_catcher

    rng = np.random.default_rng(0)
    step = np.ones((32, 32, 3), dtype=np.float32)
    step[:, :16] = 0.4  # umbra | lit ground
    noisy = step + rng.normal(0, 0.02, step.shape).astype(np.float32)
    smoothed = smooth_catcher(noisy, 1.5, 0.1)
    assert np.abs(smoothed - step)[:, 2:14].std() < 0.6 * np.abs(noisy - step)[:, 2:14].std()
    assert smoothed[:, 14].mean() < 0.45 and smoothed[:, 17].mean() > 0.95  # the edge stays
    assert smooth_catcher(noisy, 0.0, 0.1) is noisy
