"""Which way shadows point in an image: the direction from an object's foot to its shadow's
centroid, per object-shadow pair, and their robust mean. The sidecars' estimate from a photo's
own masks (`render.photo_masks`), the direction metric of `shadow-model evaluate` and the
light estimate of `shadow-model predict` all use it. Angles follow the sidecar convention:
degrees on screen, 0 = right, 90 = down, clockwise. Pure numpy."""

from __future__ import annotations

import math

import numpy as np

from dataset_tools.masks import remove_small_components

FOOT_BAND = 0.1  # the object's foot: its pixels in the lowest tenth of its height
MIN_SHADOW_AREA = 8  # pixels; smaller specks of a shadow mask are annotation noise
MIN_REACH = 2.0  # pixels from foot to shadow centroid below which a pair gives no direction
OUTLIER_DEG = 45.0  # pairs further than this from the first mean are left out of the second
MIN_AGREEMENT = 0.3  # resultant length / total weight below which the pairs disagree


def object_foot(object_mask: np.ndarray) -> np.ndarray:
    """(x, y) where a (H, W) bool object meets the ground, in continuous pixel coordinates
    : the mean column of its lowest `FOOT_BAND` of rows, at its bottom edge.
    A shadow on the ground starts there, whichever way it falls."""
    rows, cols = np.nonzero(object_mask)
    bottom, top = int(rows.max()), int(rows.min())
    near_bottom = rows >= bottom - FOOT_BAND * (bottom - top)
    return np.array([cols[near_bottom].mean() + 0.5, bottom + 1.0])


def instance_pairs(objects: np.ndarray, shadows: np.ndarray
                   ) -> list[tuple[int, np.ndarray, float, float]]:
    """(instance value, the object's foot (x, y), image angle in degrees, shadow area in
    pixels) of every object-shadow pair of two (H, W) instance masks: the direction from the
    object's foot to its shadow's centroid."""
    pairs = []
    for value in np.unique(shadows[shadows > 0]).tolist():
        caster = objects == value
        shadow = remove_small_components(shadows == value, MIN_SHADOW_AREA)
        if not caster.any() or not shadow.any():
            continue
        rows, cols = np.nonzero(shadow)
        foot = object_foot(caster)
        reach = np.array([cols.mean() + 0.5, rows.mean() + 0.5]) - foot
        if math.hypot(*reach) >= MIN_REACH:
            angle = math.degrees(math.atan2(reach[1], reach[0])) % 360.0
            pairs.append((int(value), foot, angle, float(rows.size)))
    return pairs


def pair_directions(objects: np.ndarray, shadows: np.ndarray) -> list[tuple[float, float]]:
    """(image angle in degrees, shadow area in pixels) of every object-shadow pair of two
    (H, W) instance masks (`instance_pairs`)."""
    return [(angle, area) for _, _, angle, area in instance_pairs(objects, shadows)]


def angle_difference(first: float, second: float) -> float:
    """The absolute difference of two angles in degrees, in [0, 180]."""
    return abs((first - second + 180.0) % 360.0 - 180.0)


def _weighted_mean_angle(angles: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """(circular mean in degrees, resultant length / total weight in [0, 1])."""
    radians = np.radians(angles)
    x, y = float(np.dot(weights, np.cos(radians))), float(np.dot(weights, np.sin(radians)))
    return math.degrees(math.atan2(y, x)) % 360.0, math.hypot(x, y) / float(weights.sum())


def estimate_shadow_direction(objects: np.ndarray, shadows: np.ndarray) -> float | None:
    """The image angle (degrees) the photo's shadows point in, from
    its (H, W) object and shadow instance masks: the circular mean of the pairs' directions
    weighted by shadow area, taken again without pairs over `OUTLIER_DEG` from the first mean
    (a mislabelled pair). None without a usable pair or when the pairs disagree."""
    return mean_direction(pair_directions(objects, shadows))


def mean_direction(pairs: list[tuple[float, float]]) -> float | None:
    """`estimate_shadow_direction` of (angle, area) pairs already found (`pair_directions`)."""
    if not pairs:
        return None
    angles, weights = (np.array(values) for values in zip(*pairs, strict=True))
    mean, agreement = _weighted_mean_angle(angles, weights)
    if agreement < MIN_AGREEMENT:
        return None
    close = np.abs((angles - mean + 180.0) % 360.0 - 180.0) <= OUTLIER_DEG
    return _weighted_mean_angle(angles[close], weights[close])[0] if close.any() else mean

