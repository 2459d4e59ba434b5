"""Reading a scene image as the sampler and the renderer see it: (H, W, 3) uint8 sRGB. 8-bit
files through `dataset_tools.layout.read_image` (EXIF orientation applied); Radiance `.hdr`
files (scene-linear float, as panoramas often come) tone-mapped once, here (no bpy)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from dataset_tools.layout import DatasetError, read_image
from render.composite import linear_to_srgb, luminance, to_uint8

HDR_EXTENSIONS = (".hdr",)  # Radiance RGBE, which OpenCV reads without options
MIDDLE_GREY = 0.18  # the scene-linear value a tone-mapped HDR image's median luminance gets


def tone_map(linear: np.ndarray) -> np.ndarray:
    """(H, W, 3) scene-linear RGB float -> (H, W, 3) uint8 sRGB: one exposure that puts the
    median luminance at `MIDDLE_GREY`, values above 1 clipped (the sun, the bright sky), then
    plain sRGB encoding: the photo a camera set to expose for the scene's middle would take
    (the render decodes it with `PhotoSpec.tone_contrast` like any photo)."""
    linear = np.clip(np.nan_to_num(np.asarray(linear, dtype=np.float32), nan=0.0,
                                   posinf=0.0), 0.0, None)
    median = float(np.median(luminance(linear)))
    exposure = MIDDLE_GREY / median if median > 0 else 1.0
    return to_uint8(linear_to_srgb(linear * exposure))


def read_scene_image(path: Path) -> np.ndarray:
    """The scene image at `path` as (H, W, 3) uint8 sRGB RGB; DatasetError naming the file
    when it is missing or unreadable."""
    if path.suffix.lower() not in HDR_EXTENSIONS:
        return read_image(path, "RGB")
    if not path.is_file():
        raise DatasetError(path, "missing")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None or image.ndim != 3 or image.shape[2] != 3:
        raise DatasetError(path, "not a readable Radiance HDR image")
    return tone_map(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
