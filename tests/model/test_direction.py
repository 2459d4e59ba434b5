"""The shadow direction error of evaluate (model/direction.py), computed by hand."""

import math

import numpy as np

from model.direction import angle_error, shadow_direction, summarise


def test_direction_from_the_foot_to_the_shadow_centroid():
    objects = np.zeros((64, 64), bool)
    objects[20:40, 30:34] = True  # foot at x = 32, y = 40
    right = np.zeros_like(objects)
    right[38:42, 40:60] = True  # centroid (50, 40): straight right
    assert abs(shadow_direction(objects, right) - 0.0) < 1.0
    down = np.zeros_like(objects)
    down[45:55, 30:34] = True  # centroid (32, 50): straight down
    assert abs(shadow_direction(objects, down) - 90.0) < 1.0
    assert shadow_direction(objects, np.zeros_like(objects)) is None


def test_angle_error_and_summary():
    assert angle_error(350.0, 10.0) == 20.0 and angle_error(90.0, 270.0) == 180.0
    assert math.isnan(angle_error(None, 10.0))
    errors = [10.0, 40.0, math.nan, 20.0, math.nan]
    known = [True, True, True, True, False]  # the last has no true direction: not counted
    summary = summarise(errors, known)
    assert summary == {"count": 4, "found": 3, "median_deg": 20.0, "within_30": 0.5}
