"""The light of one sample matched to its photo (`lighting_for`), the panorama as its world
(`with_environment`), and the unshadowed ground the compositing divides by
(`unshadowed_references`). Pure numpy: no bpy."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from dataset_tools.records import (
    RecordedLighting,
)
from render.composite import (
    GROUND_ALBEDO,
    ambient_tint,
    area_light_ground,
    luminance,
    polygon_irradiance,
    unshadowed_ground,
)
from render.geometry import (
    area_light_polygon,
    ground_points,
    inserted_foot,
)
from render.panorama import (
    Environment,
    environment_map,
    horizontal_irradiance,
)
from render.spec import SceneSpec


@dataclass(frozen=True)
class Lighting:
    """The light of one sample matched to its photo (`lighting_for`). `strength` is what
    Blender's light takes: the sun's irradiance (W/m^2), the area light's power (W), 0 when
    overcast; `radiance` is the area light's emitted radiance. Its kind is the spec's."""

    level: float  # radiance of a white horizontal surface in full light at the object's foot
    ambient_rgb: tuple[float, float, float]  # the world's radiance
    strength: float
    radiance: float | None = None
    # with `RenderSettings.environment = "panorama"`: the panorama as the world's radiance
    # (`render.panorama.Environment`), whose irradiance on the ground is pi x ambient_rgb;
    # None: a uniform world of ambient_rgb
    environment: Environment | None = field(default=None, repr=False)

    def recorded(self) -> RecordedLighting:
        """As the manifest records it."""
        return RecordedLighting(level=self.level, ambient_rgb=self.ambient_rgb,
                                strength=self.strength, radiance=self.radiance)


def _scaled(color: tuple[float, ...], factor: float) -> tuple[float, float, float]:
    red, green, blue = (float(channel * factor) for channel in color)
    return red, green, blue


def lighting_for(spec: SceneSpec, photo_linear: np.ndarray) -> Lighting:
    """The light's strength and the ambient colour, matched to the photo.

    A white horizontal surface in full light at the inserted object's foot gets radiance
    `level` (set from the photo's mean luminance); where the direct light is blocked it keeps
    `ambient_fraction` of that."""
    level = float(np.clip(2.5 * luminance(photo_linear).mean(), 0.25, 1.2))
    tint = ambient_tint(photo_linear)
    light = spec.light
    if light.kind == "overcast":
        return Lighting(level, _scaled(tint, level * light.sky_level), strength=0.0)
    fraction = light.ambient_fraction
    ambient = _scaled(tint, fraction * level)
    direct_irradiance = math.pi * (1.0 - fraction) * level  # on a horizontal surface
    if light.kind == "sun":
        strength = direct_irradiance / math.sin(math.radians(light.elevation_deg))
        return Lighting(level, ambient, strength)
    foot = inserted_foot(spec)
    polygon = area_light_polygon(light, foot)
    radiance = direct_irradiance / float(polygon_irradiance(foot[None], polygon)[0])
    area = light.size ** 2 if light.shape == "rectangle" else math.pi * light.size ** 2 / 4
    return Lighting(level, ambient, strength=radiance * math.pi * area,
                    radiance=radiance)


def with_environment(lighting: Lighting, panorama_rgb: np.ndarray, spec: SceneSpec) -> Lighting:
    """`lighting` with the panorama itself as the world: its environment (decoded as the
    sample's photo is) scaled so that the ground's ambient irradiance (luminance) is the
    matched ambient's, pi x ambient_rgb; ambient_rgb becomes the environment's own irradiance
    / pi, its colour the sky's."""
    unscaled = Environment(spec.photo.path, environment_map(panorama_rgb),
                           gamma=1.0 / spec.photo.tone_contrast, strength=1.0)
    irradiance = horizontal_irradiance(unscaled.radiance())
    wanted = math.pi * float(luminance(np.asarray(lighting.ambient_rgb, np.float32)))
    scale = wanted / max(float(luminance(irradiance.astype(np.float32))), 1e-9)
    ambient = tuple(float(value) for value in irradiance * scale / math.pi)
    return replace(lighting, ambient_rgb=ambient,
                   environment=replace(unscaled, strength=scale))


AREA_REFERENCE_STEP = 2  # pixels per evaluation of the area light's unshadowed ground


def unshadowed_references(spec: SceneSpec, lighting: Lighting) -> tuple[np.ndarray,
                                                                        np.ndarray]:
    """(direct, ambient) radiance of the unshadowed ground, each (3,) or (H, W, 3)."""
    light = spec.light
    ambient = GROUND_ALBEDO * np.asarray(lighting.ambient_rgb, dtype=np.float32)
    if light.kind == "sun":
        return unshadowed_ground(lighting.strength, light.color, light.elevation_deg,
                                 lighting.ambient_rgb)
    if light.kind == "overcast":
        return np.zeros(3, dtype=np.float32), ambient
    # The irradiance is smooth on the ground: computed on a grid AREA_REFERENCE_STEP times
    # coarser (Lambert's formula per pixel is costly) and interpolated.
    polygon = area_light_polygon(light, inserted_foot(spec))
    coarse = max(1, spec.size // AREA_REFERENCE_STEP)
    direct = area_light_ground(float(lighting.radiance or 0.0), light.color,
                               ground_points(spec.camera, coarse), polygon)
    return cv2.resize(direct, (spec.size, spec.size), interpolation=cv2.INTER_LINEAR), ambient
