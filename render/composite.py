"""Pure numpy compositing of Cycles passes onto a scene photo (no bpy)."""

from __future__ import annotations

import cv2
import numpy as np

from render.spec import PhotoSpec

LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)  # Rec. 709, linear light


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


def to_uint8(srgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(srgb * 255.0), 0, 255).astype(np.uint8)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) linear RGB -> (...) luminance."""
    return np.asarray(rgb, dtype=np.float32) @ LUMA


def crop_photo(photo_rgb: np.ndarray, spec: PhotoSpec, size: int) -> np.ndarray:
    """(H, W, 3) uint8 photo -> (size, size, 3) uint8: square crop, optional flip, area resize."""
    height, width = photo_rgb.shape[:2]
    side = max(1, int(round(min(height, width) * spec.crop_fraction)))
    x0 = int(round((width - side) * spec.crop_x))
    y0 = int(round((height - side) * spec.crop_y))
    crop = photo_rgb[y0:y0 + side, x0:x0 + side]
    if spec.flip:
        crop = crop[:, ::-1]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=interpolation)


def ambient_tint(photo_linear: np.ndarray) -> tuple[float, float, float]:
    """Mean colour of the photo, normalised to luminance 1 and kept mild: the ambient light's
    colour, so inserted objects pick up the photo's cast."""
    mean = photo_linear.reshape(-1, 3).mean(axis=0) + 1e-4
    tint = mean / float(mean @ LUMA)
    tint = 1.0 + 0.5 * (np.clip(tint, 0.5, 1.5) - 1.0)
    return tuple(float(value) for value in tint / float(tint @ LUMA))


def composite(photo_linear: np.ndarray, combined: np.ndarray, catcher: np.ndarray) -> np.ndarray:
    """Objects over the shadowed photo, in linear light.

    photo_linear (H, W, 3); combined (H, W, 4) premultiplied RGBA of the objects (the shadow
    catcher is transparent in it); catcher (H, W, 3) the factor the photo is multiplied by.
    Returns (H, W, 3) float32 linear."""
    alpha = combined[..., 3:4]
    return (combined[..., :3] + (1.0 - alpha) * photo_linear * catcher).astype(np.float32)


def darkening(shadow_linear: np.ndarray, noshadow_linear: np.ndarray) -> np.ndarray:
    """(H, W) relative luminance drop from noshadow to shadow, 0 where they are identical."""
    base = luminance(noshadow_linear)
    drop = 1.0 - luminance(shadow_linear) / np.maximum(base, 1e-6)
    return np.where(base > 1e-6, drop, 0.0).astype(np.float32)


def smooth_catcher(catcher: np.ndarray, sigma_space: float, sigma_range: float) -> np.ndarray:
    """Edge-preserving (bilateral) smoothing of a (H, W, 3) shadow-catcher factor.

    The factor is smooth inside umbra, penumbra and lit ground; its Monte Carlo noise is small
    next to the umbra/lit step, so a range kernel of `sigma_range` (in factor units) keeps
    shadow edges while averaging the noise over `sigma_space` pixels. sigma_space <= 0 is off."""
    if sigma_space <= 0:
        return catcher
    diameter = 2 * int(np.ceil(2 * sigma_space)) + 1
    return cv2.bilateralFilter(np.ascontiguousarray(catcher, dtype=np.float32), diameter,
                               sigma_range, sigma_space)
