"""Masks from render passes, and from image pairs when no passes exist. Pure numpy."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from dataset_tools.layout import (
    DatasetError,
    passes_path,
    read_image,
    sample_path,
    size_mismatch,
    write_png,
)

INSERTED_INDEX = 1


def remove_small_components(mask: np.ndarray, min_area: int) -> np.ndarray:
    """(H, W) bool -> bool without 8-connected components smaller than min_area pixels."""
    if min_area <= 1 or not mask.any():
        return mask
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    keep = np.zeros(count, dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return keep[labels]


def as_mask_image(mask: np.ndarray) -> np.ndarray:
    """bool (H, W) -> uint8 0/255."""
    return np.where(mask, 255, 0).astype(np.uint8)


def smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a (H, W[, C]) float map; sigma <= 0 returns it unchanged."""
    if sigma <= 0:
        return values
    return cv2.GaussianBlur(values.astype(np.float32), (0, 0), sigma)


def masks_from_passes(object_index: np.ndarray, darkening: np.ndarray,
                      occluder_darkening: np.ndarray, threshold: float = 0.06,
                      min_area: int = 8, sigma: float = 1.0) -> dict[str, np.ndarray]:
    """The four masks of a sample, each (H, W) uint8 0/255.

    object_index (H, W) int: 0 ground/sky, 1 the inserted object, >= 2 occluders.
    darkening (H, W) float: relative luminance drop from the noshadow to the shadow image
    (the inserted object's own shadow, 0 elsewhere by construction).
    occluder_darkening (H, W) float: 1 - ground factor of the noshadow render on the
    ground (the occluders' shadows), 0 on objects.
    Both darkening maps are blurred by `sigma` pixels before the threshold so that render noise
    does not speckle the masks; components under `min_area` pixels are dropped.
    """
    if not (object_index.shape == darkening.shape == occluder_darkening.shape):
        raise ValueError(f"pass shapes differ: index {object_index.shape}, darkening "
                         f"{darkening.shape}, occluder darkening {occluder_darkening.shape}")
    inserted = object_index == INSERTED_INDEX
    occluders = object_index > INSERTED_INDEX
    own_shadow = remove_small_components(
        (smooth(darkening, sigma) > threshold) & ~inserted, min_area)
    occluder_shadow = remove_small_components(
        (smooth(occluder_darkening, sigma) > threshold) & (object_index == 0), min_area)
    return {"mask": as_mask_image(inserted), "robject": as_mask_image(occluders),
            "rshadow": as_mask_image(occluder_shadow), "smask": as_mask_image(own_shadow)}


def smask_from_pair(shadow: np.ndarray, noshadow: np.ndarray, mask: np.ndarray,
                    threshold: float = 10.0, min_area: int = 4) -> np.ndarray:
    """Fallback without passes (DESIGN.md): gray(|shadow - noshadow|) > threshold minus mask.

    shadow, noshadow (H, W, 3) uint8; mask (H, W) uint8 0/255; threshold on 0-255 gray."""
    difference = np.abs(shadow.astype(np.int16) - noshadow.astype(np.int16)).astype(np.uint8)
    gray = cv2.cvtColor(difference, cv2.COLOR_RGB2GRAY)
    shadow_mask = remove_small_components((gray > threshold) & (mask < 128), min_area)
    return as_mask_image(shadow_mask)


def rewrite_masks(root: Path, split: str, sample_id: str, threshold: float = 0.06,
                  min_area: int = 8, sigma: float = 1.0, pair_threshold: float = 10.0) -> bool:
    """Rewrite robject, rshadow and smask of one sample from passes/ID.npz (returns True), or
    only smask from the image pair when the sample has no passes (returns False)."""
    passes = passes_path(root, sample_id)
    if passes.is_file():
        try:
            with np.load(passes) as data:
                derived = masks_from_passes(data["object_index"],
                                            data["darkening"].astype(np.float32),
                                            data["occluder_darkening"].astype(np.float32),
                                            threshold, min_area, sigma)
        except (OSError, KeyError, ValueError) as error:
            raise DatasetError(passes, f"unreadable render passes ({error})") from None
        for kind in ("robject", "rshadow", "smask"):
            write_png(sample_path(root, split, kind, sample_id), derived[kind])
        return True
    shadow = read_image(sample_path(root, split, "shadow", sample_id), "RGB")
    noshadow = read_image(sample_path(root, split, "noshadow", sample_id), "RGB")
    mask_path = sample_path(root, split, "mask", sample_id)
    mask = read_image(mask_path, "L")
    for path, image in ((sample_path(root, split, "shadow", sample_id), shadow),
                        (mask_path, mask)):
        problem = size_mismatch(image.shape, noshadow.shape, "noshadow")
        if problem:
            raise DatasetError(path, problem)
    write_png(sample_path(root, split, "smask", sample_id),
              smask_from_pair(shadow, noshadow, mask, pair_threshold, min_area))
    return False
