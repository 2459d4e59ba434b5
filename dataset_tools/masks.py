"""Masks from render passes, and from image pairs when no passes exist. Pure numpy."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from dataset_tools.layout import (
    INSERTED_INDEX,
    DatasetError,
    passes_path,
    read_image,
    sample_path,
    size_mismatch,
    write_png,
)

# passes/ID.npz keys of the scene photo's own objects and shadows (its sidecar's masks mapped
# into the sample, uint8 instance values, an object and its shadow sharing one; 0/1 in datasets
# made before; absent when the photo has none), so that re-deriving the masks keeps them and
# `shadow-dataset stats` can read the direction of the photo's own shadows
PHOTO_MASK_PASSES = ("photo_object", "photo_shadow")
# Without an smask file, smask = gray(|shadow - noshadow|) > GRAY_THRESHOLD (0-255) minus mask:
# the fallback of the data contract (docs/architecture.md, 2.2), for hand-made datasets.
GRAY_THRESHOLD = 10.0


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


# A pixel belongs to a sample's visible shadow (smask, rshadow) when its darkening reaches this
# share of the sample's peak darkening: the half-shadow line a person outlining the shadow
# follows through the penumbra. The faint ambient-occlusion halo stays outside.
VISIBLE_FRACTION = 0.5
# Relative darkening (0-1) that counts as shadow at all; components smaller than MIN_AREA
# pixels are dropped; the darkening is smoothed by a Gaussian of SIGMA pixels first.
DARKENING_THRESHOLD = 0.06
MIN_AREA = 8
SIGMA = 1.0
# Where the smoothed own darkening stays under REGION_LOW (in either direction: the object may
# also brighten the ground by reflection), the renderer makes shadow equal noshadow; between
# REGION_LOW and REGION_HIGH it fades in. So the pair differs exactly inside `sregion`.
REGION_LOW, REGION_HIGH = 0.004, 0.012


def peak_darkening(darkening: np.ndarray, where: np.ndarray) -> float:
    """Robust peak (99th percentile) of a darkening map over `where`; 0 when empty."""
    values = darkening[where]
    return float(np.percentile(values, 99)) if values.size else 0.0


def visible_shadow(darkening: np.ndarray, allowed: np.ndarray, darkening_threshold: float,
                   visible_fraction: float, min_area: int) -> np.ndarray:
    """(H, W) bool: pixels of `allowed` whose (smoothed) darkening exceeds both the threshold and
    `visible_fraction` times the peak darkening, without components under `min_area`."""
    candidate = allowed & (darkening > darkening_threshold)
    cut = max(darkening_threshold, visible_fraction * peak_darkening(darkening, candidate))
    return remove_small_components(candidate & (darkening > cut), min_area)


def region_weight(darkening: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """(H, W) float32 in [0, 1]: how much of the inserted object's effect the shadow image keeps
    per pixel, from the stored own darkening (float16 values as float32). 0 where the smoothed
    |darkening| is below REGION_LOW (imperceptible: below one 8-bit level almost everywhere,
    and mostly render noise), 1 above REGION_HIGH."""
    magnitude = np.abs(smooth(darkening, sigma))
    return np.clip((magnitude - REGION_LOW) / (REGION_HIGH - REGION_LOW), 0.0, 1.0).astype(
        np.float32)


def occluder_shadow_mask(object_index: np.ndarray, occluder_darkening: np.ndarray,
                         darkening_threshold: float = DARKENING_THRESHOLD,
                         min_area: int = MIN_AREA, sigma: float = SIGMA,
                         visible_fraction: float = VISIBLE_FRACTION,
                         photo_shadow: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool `rshadow` of `masks_from_passes` (its arguments): the occluders' visible
    shadows on the ground, and the photo's own where no rendered object covers them. It needs
    only the render without the inserted object's effect, so a sample whose scene shows too
    little of them is known before the second render (`render.quality.plain_problem`)."""
    shadow = visible_shadow(smooth(occluder_darkening, sigma), object_index == 0,
                            darkening_threshold, visible_fraction, min_area)
    if photo_shadow is not None:
        shadow = shadow | (photo_shadow & (object_index == 0))
    return shadow


def masks_from_passes(object_index: np.ndarray, darkening: np.ndarray,
                      occluder_darkening: np.ndarray,
                      darkening_threshold: float = DARKENING_THRESHOLD,
                      min_area: int = MIN_AREA, sigma: float = SIGMA,
                      visible_fraction: float = VISIBLE_FRACTION,
                      photo_object: np.ndarray | None = None,
                      photo_shadow: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The five masks of a sample, each (H, W) uint8 0/255.

    object_index (H, W) int: 0 ground/sky, 1 the inserted object, >= 2 occluders.
    darkening (H, W) float: relative luminance drop from the noshadow to the shadow image
    (the inserted object's own shadow, 0 elsewhere by construction).
    occluder_darkening (H, W) float: 1 - ground factor of the noshadow render on the
    ground (the occluders' shadows), 0 on objects.
    Both darkening maps are blurred by `sigma` pixels before the thresholds so that render
    noise does not speckle the masks. `smask` and `rshadow` are the visible cast shadows
    (`visible_shadow`: above `darkening_threshold` and above `visible_fraction` of the peak; 0
    keeps every pixel above `darkening_threshold`); components under `min_area` pixels are
    dropped.
    `sregion` is every pixel where the pair may differ (`region_weight` > 0; `min_area` does
    not apply): the contract region, smask included.
    photo_object, photo_shadow (H, W) bool: the scene photo's own objects and their shadows,
    when its sidecar gives them; they join `robject` where the inserted object does not cover
    them and `rshadow` where no rendered object does (a real shadow hidden under a rendered
    object is not visible, as a rendered shadow there would not be).
    """
    if not (object_index.shape == darkening.shape == occluder_darkening.shape):
        raise ValueError(f"pass shapes differ: index {object_index.shape}, darkening "
                         f"{darkening.shape}, occluder darkening {occluder_darkening.shape}")
    inserted = object_index == INSERTED_INDEX
    occluders = object_index > INSERTED_INDEX
    own = smooth(darkening, sigma)
    region = region_weight(own, sigma=0.0) > 0  # already smoothed
    own_shadow = visible_shadow(own, ~inserted & region, darkening_threshold, visible_fraction,
                                min_area)
    occluder_shadow = occluder_shadow_mask(object_index, occluder_darkening,
                                           darkening_threshold, min_area, sigma,
                                           visible_fraction, photo_shadow)
    if photo_object is not None:
        occluders = occluders | (photo_object & ~inserted)
    return {"mask": as_mask_image(inserted), "robject": as_mask_image(occluders),
            "rshadow": as_mask_image(occluder_shadow), "smask": as_mask_image(own_shadow),
            "sregion": as_mask_image(region)}


def difference_gray(image: np.ndarray, noshadow: np.ndarray) -> np.ndarray:
    """(H, W) uint8: gray(|image - noshadow|) of two (H, W, 3) uint8 RGB images (the pair's
    fallback smask here, the predicted shadow of `model.metrics`)."""
    difference = np.abs(image.astype(np.int16) - noshadow.astype(np.int16)).astype(np.uint8)
    return cv2.cvtColor(difference, cv2.COLOR_RGB2GRAY)


def smask_from_pair(shadow: np.ndarray, noshadow: np.ndarray, mask: np.ndarray,
                    gray_threshold: float = GRAY_THRESHOLD, min_area: int = 4) -> np.ndarray:
    """Fallback without passes (docs/architecture.md): gray(|shadow - noshadow|) >
    gray_threshold (0-255) minus mask.

    shadow, noshadow (H, W, 3) uint8; mask (H, W) uint8 0/255."""
    gray = difference_gray(shadow, noshadow)
    shadow_mask = remove_small_components((gray > gray_threshold) & (mask < 128), min_area)
    return as_mask_image(shadow_mask)


def rewrite_masks(root: Path, split: str, sample_id: str,
                  darkening_threshold: float = DARKENING_THRESHOLD, min_area: int = MIN_AREA,
                  sigma: float = SIGMA, gray_threshold: float = GRAY_THRESHOLD,
                  visible_fraction: float = VISIBLE_FRACTION) -> bool:
    """Rewrite robject, rshadow and smask of one sample from passes/ID.npz (returns True), or
    only smask from the image pair when the sample has no passes (returns False). `sregion`
    is not rewritten: it is where the stored pair differs, fixed when the pair was made."""
    passes = passes_path(root, sample_id)
    if passes.is_file():
        try:
            with np.load(passes) as data:
                photo = {key: data[key].astype(bool) for key in PHOTO_MASK_PASSES
                         if key in data}
                derived = masks_from_passes(data["object_index"],
                                            data["darkening"].astype(np.float32),
                                            data["occluder_darkening"].astype(np.float32),
                                            darkening_threshold, min_area, sigma,
                                            visible_fraction, **photo)
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
              smask_from_pair(shadow, noshadow, mask, gray_threshold, min_area))
    return False
