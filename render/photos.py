"""The scene photos a worker reads (`PhotoCache`: decoded once, kept while used) and the
photo's own object and shadow masks in a sample's view (`sample_photo_masks`)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dataset_tools.layout import (
    DatasetError,
)
from dataset_tools.masks import (
    PHOTO_MASK_PASSES,
)
from render.assets import SIDECAR_MASK_KEYS, BadAsset
from render.composite import (
    crop_mask,
)
from render.hints import PhotoHints
from render.panorama import (
    mask_view_of_panorama,
)
from render.photo_masks import read_instance_mask
from render.scene_images import read_scene_image
from render.spec import SceneSpec


class PhotoCache:
    """The scene photos and the photos' own masks (sidecar `object_mask`/`shadow_mask`) a
    worker read last, `capacity` of them: every attempt and sample on a photo reads its files
    once."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self.images: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()

    def _cached(self, key: tuple[str, str], load: Callable[[], np.ndarray]) -> np.ndarray:
        if key in self.images:
            self.images.move_to_end(key)
            return self.images[key]
        image = load()
        self.images[key] = image
        while len(self.images) > self.capacity:
            self.images.popitem(last=False)
        return image

    def get(self, path: str) -> np.ndarray:
        """The photo at `path`, (H, W, 3) uint8 RGB. Raises BadAsset."""
        return self._cached(("photo", path), lambda: _read_photo(path))

    def mask(self, path: str, width: int, height: int) -> np.ndarray:
        """A photo's own mask at `path` (`read_instance_mask`). Raises BadAsset."""
        return self._cached(("mask", path),
                            lambda: read_instance_mask(Path(path), width, height))


def _read_photo(path: str) -> np.ndarray:
    try:
        image = read_scene_image(Path(path))
    except DatasetError as error:
        raise BadAsset(path, error.reason) from None
    if min(image.shape[:2]) < 16:
        raise BadAsset(path, f"image is only {image.shape[1]}x{image.shape[0]} pixels")
    return image


def sample_photo_masks(hints: PhotoHints | None, spec: SceneSpec,
                       photos: PhotoCache) -> dict[str, np.ndarray]:
    """The masks of the photo's own objects and shadows that its sidecar names, as
    `PHOTO_MASK_PASSES` -> (spec.size, spec.size) uint8 instance values in the sample (an
    object and its shadow share a value, `render.photo_masks`): cropped, flipped and scaled as
    the photo is (each instance as `crop_mask` does a mask), or cut from a panorama's masks as
    its view is (`render.panorama.mask_view_of_panorama`). Empty without a sidecar or masks."""
    if hints is None:
        return {}
    names = dict(zip(SIDECAR_MASK_KEYS, PHOTO_MASK_PASSES, strict=True))
    view = spec.photo.view

    def in_sample(mask: np.ndarray) -> np.ndarray:
        if view is not None:
            return mask_view_of_panorama(mask, view.yaw_deg, spec.camera, spec.size)
        instances = np.zeros((spec.size, spec.size), dtype=np.uint8)
        for value in np.unique(mask[mask > 0]).tolist():
            instances[crop_mask(mask == value, spec.photo, spec.size)] = value
        return instances

    return {names[key]: in_sample(photos.mask(path, hints.width, hints.height))
            for key, path in hints.mask_paths.items()}
