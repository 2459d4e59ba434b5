"""Light labels: the image direction of a shadow, the light's elevation and softness, from a
scene spec; checked against directions computed by hand for a few cameras and lights."""

from __future__ import annotations

import math

import pytest

from dataset_tools.light_labels import DIRECTIONAL_MAX, LightLabel, label_of, light_label
from dataset_tools.records import ManifestRecord


def spec(azimuth: float, foot=(0.0, 5.0), pitch: float = 20.0, fov: float = 50.0,
         image: int = 128, kind: str = "sun", **light) -> dict:
    return {"size": image, "camera": {"height": 1.5, "pitch_deg": pitch, "fov_deg": fov},
            "light": {"kind": kind, "azimuth_deg": azimuth, "elevation_deg": 40.0,
                      "angle_deg": 1.0, **light},
            "objects": [{"role": "occluder", "x": 9.0, "y": 9.0},
                        {"role": "inserted", "x": foot[0], "y": foot[1]}]}


@pytest.mark.parametrize(("azimuth", "expected"), [(0.0, 90.0), (90.0, 0.0), (180.0, 270.0),
                                                    (270.0, 180.0)])
def test_a_foot_straight_ahead_casts_along_the_image_axes(azimuth, expected):
    # azimuth 0: light from behind the scene (+y), shadow towards the camera: down the image;
    # azimuth 90: light from -x, shadow to +x: right. The foot on the camera's axis keeps
    # these exact whatever the pitch.
    for pitch in (5.0, 20.0, 40.0):
        direction = light_label(spec(azimuth, pitch=pitch)).direction_deg
        assert abs((direction - expected + 180) % 360 - 180) < 1e-6


def test_a_foot_off_axis_points_away_from_the_vanishing_point():
    # Light from behind (+y): the shadow runs along -y, a line through the vanishing point of
    # +y, (size/2, size/2 - f tan(pitch)); from the foot it points away from that point.
    size, pitch, fov, x, y, height = 128, 20.0, 50.0, 2.0, 5.0, 1.5
    focal = 0.5 * size / math.tan(math.radians(fov) / 2)
    p = math.radians(pitch)
    depth = y * math.cos(p) + height * math.sin(p)  # (foot - camera) . forward
    up = y * math.sin(p) - height * math.cos(p)  # (foot - camera) . up
    foot = (size / 2 + focal * x / depth, size / 2 - focal * up / depth)
    vanishing = (size / 2, size / 2 - focal * math.tan(p))
    expected = math.degrees(math.atan2(foot[1] - vanishing[1], foot[0] - vanishing[0]))
    got = light_label(spec(0.0, foot=(x, y), pitch=pitch, fov=fov, image=size)).direction_deg
    assert abs(got - expected % 360) < 0.01


def test_softness_orders_sun_area_and_overcast_by_their_angular_size():
    clear = light_label(spec(0.0, angle_deg=0.5)).softness
    hazy = light_label(spec(0.0, angle_deg=5.0)).softness
    # an area light of 0.5 m at 3 m: 9.5 degrees; 1.6 m at 1.8 m: 48 degrees
    small = light_label(spec(0.0, kind="area", size=0.5, distance=3.0)).softness
    large = light_label(spec(0.0, kind="area", size=1.6, distance=1.8)).softness
    overcast = light_label(spec(0.0, kind="overcast"))
    assert 0 < clear < hazy < small < large < overcast.softness == 1.0
    assert large == pytest.approx(DIRECTIONAL_MAX * math.degrees(2 * math.atan(0.8 / 1.8)) / 60,
                                  abs=1e-4)
    assert overcast.direction_deg is None and overcast.elevation_deg == 90.0
    assert light_label(spec(0.0, kind="area", size=0.5, distance=3.0)).elevation_deg == 40.0


def test_records_keep_their_label_and_older_ones_derive_it():
    label = LightLabel(33.0, 50.0, 0.2)
    recorded = ManifestRecord("a", spec=spec(90.0), light_label=label.to_json())
    assert label_of(recorded) == label
    assert ManifestRecord.from_json(recorded.to_json()).light_label == label.to_json()
    older = ManifestRecord("b", spec=spec(90.0))  # rendered before labels were recorded
    assert label_of(older).direction_deg == pytest.approx(0.0, abs=1e-6)
    sun_era = spec(90.0)
    sun_era["sun"] = sun_era.pop("light")  # datasets made before area lights
    assert label_of(ManifestRecord("c", spec=sun_era)) == label_of(older)
    assert label_of(ManifestRecord("d")) is None  # hand-made: no light known
