"""Shadow direction error: does a predicted shadow fall the way the true one does?

For a sample, the direction of a shadow is the image angle (`render.hints` convention: 0 =
right, 90 = down, clockwise on screen) from the inserted object's foot to the centroid of the
shadow mask, the estimator the sidecars use for a photo's own object-shadow pairs
(`dataset_tools.directions.pair_directions`: small specks dropped, a shadow that does not reach
away from the foot gives no direction). The error is the absolute angle between the
predicted shadow's direction and the true one, in [0, 180]. The summary is taken over the
samples lit by a sun or an area light (overcast shadows point nowhere) that have a true
direction: the median error where the prediction has one, and the share of samples whose
prediction is within 30 degrees (a prediction without a shadow counts as not within)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dataset_tools.directions import angle_difference, pair_directions

WITHIN_DEG = 30.0


def shadow_direction(object_mask: np.ndarray, shadow_mask: np.ndarray) -> float | None:
    """The direction (degrees) of a (H, W) bool shadow seen from a (H, W) bool object's
    foot, or None (no object, no shadow, or a shadow that does not reach away)."""
    if not object_mask.any() or not shadow_mask.any():
        return None
    pairs = pair_directions(object_mask.astype(np.uint8), shadow_mask.astype(np.uint8))
    return pairs[0][0] if pairs else None


def angle_error(predicted: float | None, true: float | None) -> float:
    """|predicted - true| on the circle, in [0, 180]; nan when either is None."""
    if predicted is None or true is None:
        return math.nan
    return angle_difference(predicted, true)


def summarise(errors: list[float], true_known: list[bool]) -> dict[str, Any]:
    """{count, found, median_deg, within_30}: over the samples with a true direction (`count`),
    how many predictions have one (`found`), their median error, and the share within
    WITHIN_DEG of all `count` samples."""
    counted = [error for error, known in zip(errors, true_known, strict=True) if known]
    found = [error for error in counted if not math.isnan(error)]
    return {"count": len(counted), "found": len(found),
            "median_deg": float(np.median(found)) if found else math.nan,
            "within_30": (sum(error <= WITHIN_DEG for error in found) / len(counted)
                          if counted else math.nan)}
