"""A sample's light as a shadow model sees it: which way the inserted object's shadow points in
the image, how high the light stands, and how soft its shadow is. The renderer records it in
every manifest record (`light_label`); for older datasets it is derived from the record's scene
spec by the same function, without rendering again. Hand-made datasets have none.

- `direction_deg`: the image angle (sidecar convention: degrees on screen, 0 = right, 90 =
  down, clockwise) of the ground direction away from the light, drawn from the inserted
  object's foot: where a sun's or an area light's shadow falls. None for overcast light, whose
  shadow points nowhere.
- `elevation_deg`: the light above the ground seen from the object's foot (a sun's elevation,
  an area light's centre); 90 for overcast light.
- `softness` in [0, 1]: the light's angular diameter seen from the foot (a sun's disk, an area
  light's size at its distance: 2 atan(size / 2 distance)) over `SOFT_LIMIT_DEG`, times
  `DIRECTIONAL_MAX`, and 1 for overcast light (the whole sky). A shadow's penumbra widens with
  the light's angular size (width = distance from the caster x tan(angle)), so the softness
  orders penumbra widths across sun, area and overcast lights alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Protocol

import numpy as np

from dataset_tools.camera import Camera, ground_direction_angle, ground_point

SOFT_LIMIT_DEG = 60.0  # angular diameter at which a sun or area light counts as softest
LIGHT_KINDS = ("sun", "area", "overcast")  # every light the renderer makes and a label names
DIRECTIONAL_KINDS = ("sun", "area")  # the lights whose shadows point somewhere
DIRECTIONAL_MAX = 0.9  # the softness of such a light; 1 is the overcast sky's


@dataclass(frozen=True)
class LightLabel:
    direction_deg: float | None
    elevation_deg: float
    softness: float

    def to_json(self) -> dict[str, Any]:
        return {"direction_deg": self.direction_deg, "elevation_deg": self.elevation_deg,
                "softness": self.softness}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LightLabel:
        direction = data.get("direction_deg")
        return cls(None if direction is None else float(direction),
                   float(data["elevation_deg"]), float(data["softness"]))


class Light(Protocol):
    """What a label reads of a light (`render.spec.LightSpec` is one; so is a manifest's
    recorded light, `recorded_view`)."""

    kind: str  # a LIGHT_KINDS name
    azimuth_deg: float
    elevation_deg: float
    angle_deg: float  # sun: angular diameter
    size: float  # area: side or diameter, metres
    distance: float  # area: from the inserted object's foot to the light's centre


def angular_diameter_deg(light: Light) -> float:
    """The light's angular diameter seen from the inserted object's foot (sun, area)."""
    if light.kind == "area":
        return math.degrees(2 * math.atan2(0.5 * light.size, light.distance))
    return light.angle_deg


def softness(light: Light) -> float:
    if light.kind == "overcast":
        return 1.0
    return DIRECTIONAL_MAX * min(angular_diameter_deg(light), SOFT_LIMIT_DEG) / SOFT_LIMIT_DEG


def scene_light_label(camera: Camera, size: int, light: Light, foot: np.ndarray) -> LightLabel:
    """The label of a scene: its camera, image side, light and the inserted object's foot, a
    ground point (x, y)."""
    if light.kind == "overcast":
        return LightLabel(None, 90.0, 1.0)
    direction = _direction_from(camera, size, light, foot)
    return LightLabel(round(direction, 3), float(light.elevation_deg), round(softness(light), 4))


def _direction_from(camera: Camera, size: int, light: Light, foot: np.ndarray) -> float:
    """The image angle of the ground direction away from `light`'s azimuth, from the ground
    point `foot` (x, y)."""
    azimuth = math.radians(light.azimuth_deg)
    away = np.array([[math.sin(azimuth), -math.cos(azimuth)]])  # -(the light's x, y)
    return float(ground_direction_angle(camera, size, foot, away)[0])


def recorded_view(spec: Mapping[str, Any]) -> tuple[Camera, int, Light]:
    """The camera, image side and light of a scene spec as a manifest records it
    (`render.spec.SceneSpec.to_json()`; datasets made before area lights name the light `sun`
    and give no kind): all a direction at a pixel needs, objects or not."""
    light = dict(spec.get("light") or spec["sun"])
    light.setdefault("kind", "sun")
    recorded_light = SimpleNamespace(**{**{"angle_deg": 0.0, "size": 0.0, "distance": 0.0,
                                           "azimuth_deg": 0.0, "elevation_deg": 90.0},
                                        **light})
    camera = SimpleNamespace(**{key: float(spec["camera"][key])
                                for key in ("height", "pitch_deg", "fov_deg")})
    return camera, int(spec["size"]), recorded_light


def recorded_scene(spec: Mapping[str, Any]) -> tuple[Camera, int, Light, np.ndarray]:
    """`recorded_view` and the inserted object's foot (x, y): with it, the one place that
    reads the spec's JSON."""
    inserted = next(obj for obj in spec["objects"] if obj["role"] == "inserted")
    return *recorded_view(spec), np.array([float(inserted["x"]), float(inserted["y"])])


def light_label(spec: Mapping[str, Any]) -> LightLabel:
    """The label of a scene spec as a manifest records it (`recorded_scene`)."""
    return scene_light_label(*recorded_scene(spec))


def sun_direction_at(spec: Mapping[str, Any], pixel: np.ndarray) -> float | None:
    """The image angle of the sun's shadows cast from the ground seen at `pixel` (x, y) of the
    sample (a recorded spec; its camera, size and light suffice): where the photo's own
    shadows there point when they agree with the light. None unless the light is a sun, or
    above the horizon."""
    camera, size, light = recorded_view(spec)
    if light.kind != "sun":
        return None
    point = ground_point(camera, size, float(pixel[0]), float(pixel[1]))
    return None if point is None else _direction_from(camera, size, light, point[:2])


def label_of(record: Any) -> LightLabel | None:
    """A manifest record's label: the recorded one, else derived from its spec, else None."""
    if record.light_label is not None:
        return LightLabel.from_json(record.light_label)
    if record.spec is None:
        return None
    return light_label(record.spec)
