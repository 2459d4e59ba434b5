"""Pure numpy compositing of Cycles passes onto a scene photo (no bpy)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from dataset_tools.masks import smooth
from render.spec import PhotoSpec

LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)  # Rec. 709, linear light
GROUND_ALBEDO = 0.3  # Lambertian grey of the rendered ground (it bounces light onto objects)


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] -> linear light, same shape, float32."""
    srgb = np.asarray(srgb, dtype=np.float32)
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4).astype(
        np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear light -> sRGB in [0, 1] (clipped), float32."""
    linear = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92,
                    1.055 * np.power(linear, 1 / 2.4) - 0.055).astype(np.float32)


def photo_to_scene(photo_rgb: np.ndarray, tone_contrast: float) -> np.ndarray:
    """(H, W, 3) uint8 sRGB photo -> scene-linear radiance, float32: sRGB decoding, then the
    inverse of the camera's extra contrast (`PhotoSpec.tone_contrast`)."""
    return np.power(srgb_to_linear(photo_rgb / 255.0), 1.0 / tone_contrast).astype(np.float32)


def scene_to_photo(scene_linear: np.ndarray, tone_contrast: float) -> np.ndarray:
    """The inverse of `photo_to_scene`: (H, W, 3) scene-linear -> uint8 sRGB."""
    linear = np.power(np.clip(scene_linear, 0.0, 1.0), tone_contrast)
    return to_uint8(linear_to_srgb(linear))


def to_uint8(srgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(srgb * 255.0), 0, 255).astype(np.uint8)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) linear RGB -> (...) luminance."""
    return np.asarray(rgb, dtype=np.float32) @ LUMA


def _square_crop(image: np.ndarray, spec: PhotoSpec) -> np.ndarray:
    """The sample's square window of a photo-sized (H, W[, C]) image, flipped when the sample
    is; `render.hints.crop_window` rounds the window the same way."""
    height, width = image.shape[:2]
    side = max(1, int(round(min(height, width) * spec.crop_fraction)))
    x0 = int(round((width - side) * spec.crop_x))
    y0 = int(round((height - side) * spec.crop_y))
    crop = image[y0:y0 + side, x0:x0 + side]
    return np.ascontiguousarray(crop[:, ::-1] if spec.flip else crop)


def crop_photo(photo_rgb: np.ndarray, spec: PhotoSpec, size: int) -> np.ndarray:
    """(H, W, 3) uint8 photo -> (size, size, 3) uint8: square crop, optional flip, area resize."""
    crop = _square_crop(photo_rgb, spec)
    interpolation = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interpolation)


def crop_mask(mask: np.ndarray, spec: PhotoSpec, size: int) -> np.ndarray:
    """(H, W) bool mask of the photo -> (size, size) bool, cropped and flipped as `crop_photo`
    does the photo: a pixel is in when at least half of what it shows was (area average when
    shrinking, bilinear when enlarging)."""
    crop = _square_crop(mask.astype(np.float32), spec)
    interpolation = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation) >= 0.5


def ambient_tint(photo_linear: np.ndarray) -> tuple[float, float, float]:
    """Mean colour of the photo, normalised to luminance 1 and kept mild: the ambient light's
    colour, so inserted objects pick up the photo's cast."""
    mean = photo_linear.reshape(-1, 3).mean(axis=0) + 1e-4
    tint = mean / float(mean @ LUMA)
    tint = 1.0 + 0.5 * (np.clip(tint, 0.5, 1.5) - 1.0)
    return tuple(float(value) for value in tint / float(tint @ LUMA))


def composite(photo_linear: np.ndarray, objects: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Objects over the shadowed photo, in linear light.

    photo_linear (H, W, 3); objects (H, W, 4) premultiplied RGBA of the objects alone
    (`GroundSplit.objects`); factor (H, W, 3) the ground factor the photo is multiplied by
    (`ground_factor`). Returns (H, W, 3) float32 linear."""
    alpha = objects[..., 3:4]
    return (objects[..., :3] + (1.0 - alpha) * photo_linear * factor).astype(np.float32)


def darkening(shadow_linear: np.ndarray, noshadow_linear: np.ndarray) -> np.ndarray:
    """(H, W) relative luminance drop from noshadow to shadow, 0 where they are identical."""
    base = luminance(noshadow_linear)
    drop = 1.0 - luminance(shadow_linear) / np.maximum(base, 1e-6)
    return np.where(base > 1e-6, drop, 0.0).astype(np.float32)


def unshadowed_ground(sun_strength: float, sun_color: tuple[float, float, float],
                      sun_elevation_deg: float, ambient_rgb: tuple[float, float, float],
                      albedo: float = GROUND_ALBEDO) -> tuple[np.ndarray, np.ndarray]:
    """(sun, ambient) radiance, (3,) each, of the Lambertian ground where nothing shadows it: a
    sun of irradiance `sun_strength` at `sun_elevation_deg` gives albedo/pi * E * sin(elevation),
    a uniform world of radiance L over the whole upper hemisphere gives albedo * L."""
    sun = albedo * sun_strength * math.sin(math.radians(sun_elevation_deg)) / math.pi
    return (sun * np.asarray(sun_color, dtype=np.float32),
            albedo * np.asarray(ambient_rgb, dtype=np.float32))


def polygon_irradiance(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Irradiance per unit emitted radiance at ground points from a uniform Lambertian polygon
    above them (Lambert's formula: E / L = 1/2 |sum_k theta_k (gamma_k . n)|, n = +z).

    points (..., 3) on z = 0 (NaN rows give 0); polygon (K, 3) the emitter's vertices in
    order. Returns (...) float32."""
    vectors = polygon[None, :, :] - points.reshape(-1, 1, 3)  # (P, K, 3)
    vectors /= np.linalg.norm(vectors, axis=-1, keepdims=True)
    following = np.roll(vectors, -1, axis=1)
    theta = np.arccos(np.clip(np.sum(vectors * following, axis=-1), -1.0, 1.0))
    normal = np.cross(vectors, following)
    normal_z = normal[..., 2] / np.maximum(np.linalg.norm(normal, axis=-1), 1e-12)
    factor = 0.5 * np.abs(np.sum(theta * normal_z, axis=-1))
    return np.nan_to_num(factor, nan=0.0).reshape(points.shape[:-1]).astype(np.float32)


def area_light_ground(radiance: float, color: tuple[float, float, float], points: np.ndarray,
                      polygon: np.ndarray, albedo: float = GROUND_ALBEDO) -> np.ndarray:
    """(H, W, 3) radiance of the unshadowed Lambertian ground at `points` (H, W, 3) under an
    area light of `radiance` (Cycles: power / (pi * area)) and `color`."""
    irradiance = radiance * polygon_irradiance(points, polygon)
    return (albedo / math.pi * irradiance[..., None]
            * np.asarray(color, dtype=np.float32)).astype(np.float32)


@dataclass
class GroundSplit:
    """One render split into the objects over a transparent backdrop and the ground factor."""

    objects: np.ndarray  # (H, W, 4) premultiplied linear RGBA of the objects alone
    direct: np.ndarray  # (H, W, 3) ground radiance from the direct light / unshadowed radiance
    ambient: np.ndarray  # (H, W, 3) the same for the ambient light; direct + ambient = factor
    ground: np.ndarray  # (H, W) bool: the render saw ground in this pixel


def _fill(values: np.ndarray, known: np.ndarray, default: np.ndarray,
          sigmas: tuple[float, ...] = (1.5, 6.0)) -> np.ndarray:
    """`values` where `known`, elsewhere the Gaussian-weighted mean of the known neighbours
    (widening through `sigmas`), else `default`."""
    weight = known.astype(np.float32)
    filled = np.where(known[..., None], values, np.nan)
    for sigma in sigmas:
        missing = np.isnan(filled[..., 0])
        if not missing.any():
            break
        total = cv2.GaussianBlur(values * weight[..., None], (0, 0), sigma)
        norm = cv2.GaussianBlur(weight, (0, 0), sigma)
        estimate = total / np.maximum(norm, 1e-12)[..., None]
        filled = np.where((missing & (norm > 1e-4))[..., None], estimate, filled)
    return np.where(np.isnan(filled), default, filled).astype(np.float32)


def split_ground(combined: np.ndarray, direct: np.ndarray, ambient: np.ndarray,
                 object_alpha: np.ndarray, direct_reference: np.ndarray,
                 ambient_reference: np.ndarray) -> GroundSplit:
    """Split a render of objects on a visible Lambertian ground.

    combined (H, W, 4) holds objects and ground (alpha: either covers the pixel); direct and
    ambient (H, W, 3) are its light-group parts (direct: a sun or an area lamp); object_alpha
    (H, W) the objects' coverage; the references are (3,) or, for an area light, (H, W, 3).
    On pure ground pixels the ground radiance is the light group divided by the ground coverage;
    where an object covers part of a pixel it is taken from the nearest pure ground, and its
    share is removed from the pixel to leave the objects alone. Dividing by the unshadowed
    radiance (`unshadowed_ground`) gives the factor the photo is multiplied by: 1 where
    nothing shadows the ground (and where there is no ground), lower in shadow."""
    object_alpha = np.clip(object_alpha, 0.0, 1.0)
    ground_alpha = np.clip(combined[..., 3] - object_alpha, 0.0, 1.0)
    pure = (object_alpha < 1e-3) & (ground_alpha > 1e-3)
    inverse = np.where(pure, 1.0 / np.maximum(ground_alpha, 1e-6), 0.0)[..., None]
    # Filled as ratios to the unshadowed radiance, which may vary per pixel (an area light).
    # In float32 throughout, as the passes are (float64 doubled the fill's time).
    direct_reference = np.asarray(direct_reference, dtype=np.float32)
    ambient_reference = np.asarray(ambient_reference, dtype=np.float32)
    total = np.broadcast_to(direct_reference + ambient_reference, combined[..., :3].shape)
    ratio_direct = _fill(direct[..., :3] * inverse / total, pure, direct_reference / total)
    ratio_ambient = _fill(ambient[..., :3] * inverse / total, pure, ambient_reference / total)
    objects = combined.copy()
    objects[..., :3] = np.maximum(
        combined[..., :3] - ground_alpha[..., None] * (ratio_direct + ratio_ambient) * total, 0.0)
    objects[..., 3] = object_alpha
    return GroundSplit(objects=objects.astype(np.float32), direct=ratio_direct.astype(np.float32),
                       ambient=ratio_ambient.astype(np.float32), ground=ground_alpha > 1e-3)


def ground_factor(direct: np.ndarray, ambient: np.ndarray, direct_blur: float,
                  ambient_blur: float) -> np.ndarray:
    """The (H, W, 3) factor from its two parts, each smoothed by a Gaussian (sigma in pixels,
    0 = off): the ambient part (ambient occlusion, bounce light) is smooth and carries most of
    the Monte Carlo noise, so it takes a wide blur; the direct part holds the sharp shadow edges
    and only a light one."""
    return (smooth(direct, direct_blur) + smooth(ambient, ambient_blur)).astype(np.float32)
