import math

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
    factor = np.array([[[0.4] * 3, [0.4] * 3, [1.0] * 3]], dtype=np.float32)
    result = composite(photo, combined, factor)
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


def test_unshadowed_ground_is_lambert_under_sun_and_uniform_sky():
    from render.composite import unshadowed_ground

    sun, ambient = unshadowed_ground(math.pi, (1.0, 0.5, 0.25), 30.0, (0.2, 0.2, 0.1),
                                     albedo=0.5)
    # albedo / pi * E * sin(30 deg) = 0.5 / pi * pi * 0.5 = 0.25, times the sun's colour
    np.testing.assert_allclose(sun, [0.25, 0.125, 0.0625], rtol=1e-6)
    np.testing.assert_allclose(ambient, [0.1, 0.1, 0.05], rtol=1e-6)


def test_split_ground_separates_objects_and_the_shadow_factor():
    from render.composite import split_ground

    sun_ref = np.array([0.3, 0.3, 0.3], dtype=np.float32)
    ambient_ref = np.array([0.1, 0.1, 0.1], dtype=np.float32)
    shape = (5, 12)
    # Ground everywhere, in half shadow (sun blocked) on the left two columns; an object of
    # radiance 0.8 covers pixel (2, 11) fully and (2, 10) half.
    sun = np.broadcast_to(sun_ref, shape + (3,)).copy()
    sun[:, :2] = 0.0
    ambient = np.broadcast_to(ambient_ref, shape + (3,)).copy()
    object_alpha = np.zeros(shape, dtype=np.float32)
    object_alpha[2, 11], object_alpha[2, 10] = 1.0, 0.5
    combined = np.ones(shape + (4,), dtype=np.float32)
    combined[..., :3] = sun + ambient
    combined[2, 11, :3] = 0.8
    combined[2, 10, :3] = 0.5 * 0.8 + 0.5 * (0.3 + 0.1)
    sun_part = sun.copy()
    ambient_part = ambient.copy()
    for pixel in ((2, 11), (2, 10)):  # the render's light groups hold the ground's share only
        sun_part[pixel] *= 1 - object_alpha[pixel]
        ambient_part[pixel] *= 1 - object_alpha[pixel]
    split = split_ground(combined, sun_part, ambient_part, object_alpha, sun_ref, ambient_ref)
    factor = split.direct + split.ambient
    np.testing.assert_allclose(factor[0, 0], [0.25] * 3, rtol=1e-6)  # ambient only
    np.testing.assert_allclose(factor[0, 6], [1.0] * 3, rtol=1e-6)
    # the half-covered pixel's ground share is estimated from lit ground nearby
    np.testing.assert_allclose(split.objects[2, 10], [0.4, 0.4, 0.4, 0.5], atol=1e-6)
    np.testing.assert_allclose(split.objects[2, 11], [0.8, 0.8, 0.8, 1.0], rtol=1e-6)
    assert split.objects[0, 0].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert split.ground[2, 10] and not split.ground[2, 11]
    # Where no ground was rendered at all the factor is exactly 1.
    empty = split_ground(np.zeros(shape + (4,), np.float32), np.zeros(shape + (3,), np.float32),
                         np.zeros(shape + (3,), np.float32), np.zeros(shape, np.float32),
                         sun_ref, ambient_ref)
    np.testing.assert_allclose(empty.direct + empty.ambient, 1.0, rtol=1e-6)


def test_ground_factor_blurs_the_ambient_part_more_than_the_sun_part():
    from render.composite import ground_factor

    rng = np.random.default_rng(0)
    sun = np.zeros((32, 32, 3), dtype=np.float32)
    sun[:, 16:] = 0.6  # umbra | lit
    ambient = (0.4 + rng.normal(0, 0.05, sun.shape)).astype(np.float32)
    factor = ground_factor(sun, ambient, 0.7, 3.0)
    assert factor[:, 13].mean() < 0.42 and factor[:, 18].mean() > 0.98  # the edge stays sharp
    assert np.abs(factor[:, 2:12] - 0.4).std() < 0.2 * 0.05  # the ambient noise is gone
    np.testing.assert_array_equal(ground_factor(sun, ambient, 0.0, 0.0), sun + ambient)


def test_tone_curve_round_trips_every_level():
    from render.composite import photo_to_scene, scene_to_photo

    levels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    for contrast in (1.0, 1.4, 1.6, 2.0):
        np.testing.assert_array_equal(scene_to_photo(photo_to_scene(levels, contrast), contrast),
                                      levels)


def test_tone_contrast_darkens_a_shadow_as_a_power():
    from render.composite import photo_to_scene, scene_to_photo, srgb_to_linear

    grey = np.full((1, 1, 3), 180, dtype=np.uint8)
    for contrast in (1.0, 1.5):
        shadowed = scene_to_photo(0.2 * photo_to_scene(grey, contrast), contrast)
        linear_ratio = srgb_to_linear(shadowed / 255.0) / srgb_to_linear(grey / 255.0)
        assert abs(float(linear_ratio[0, 0, 0]) - 0.2 ** contrast) < 0.01


def test_polygon_irradiance_matches_the_rectangle_view_factor():
    """A square light of side a, centred at height h above a point: four a/2 x a/2 rectangles
    with a corner above it, each of view factor (1/2pi)[x/sqrt(x^2+h^2) atan(y/sqrt(x^2+h^2))
    + y/sqrt(y^2+h^2) atan(x/sqrt(y^2+h^2))]; irradiance per radiance = pi * view factor."""
    from render.composite import polygon_irradiance

    side, height = 1.2, 2.0
    half = side / 2
    square = np.array([[-half, -half, height], [half, -half, height], [half, half, height],
                       [-half, half, height]])
    root = math.sqrt(half ** 2 + height ** 2)
    quarter = (half / root * math.atan(half / root)) / math.pi  # x = y = half: both terms
    expected = math.pi * 4 * quarter
    got = polygon_irradiance(np.zeros((1, 3)), square)
    assert got[0] == pytest.approx(expected, rel=1e-6)
    # Far away it falls off as area * cos^2 / d^2 (a small source), and NaN points give 0.
    far = polygon_irradiance(np.array([[0.0, 0.0, -98.0], [np.nan, np.nan, np.nan]]), square)
    assert far[0] == pytest.approx(side ** 2 / 100.0 ** 2, rel=1e-3) and far[1] == 0.0
