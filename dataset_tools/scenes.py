"""DESOBA photos as photo-matched scenes for `render-dataset`: each photo with its real shadows,
its object and shadow instance masks, and a sidecar naming them (README, sidecar files), so
that every sample rendered on it learns the photo's real objects and shadows too."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dataset_tools.combine import (
    NO_OWNER,
    Imported,
    desoba_images,
    read_desoba_image,
)
from dataset_tools.layout import (
    DatasetError,
    Tick,
    copy_file,
    refuse_nonempty,
    write_json,
    write_png,
)

MASKS_FOLDER = "masks"  # beside the photos; the render run does not take them for photos


def object_shadow_pairs(instance: np.ndarray, shadow_ids: np.ndarray) -> int:
    """How many objects of a DESOBA image have a shadow (same id in both masks)."""
    objects = set(np.unique(instance).tolist()) - {0}
    shadows = set(np.unique(shadow_ids).tolist()) - {0, NO_OWNER}
    return len(objects & shadows)


def desoba_as_scenes(source: Path, target: Path, overwrite: bool = False,
                     train_list: Path | None = None, test_list: Path | None = None,
                     tick: Tick = None) -> Imported:
    """Write TARGET/NAME.EXT (the ShadowImage, real shadows kept), TARGET/masks/NAME_object.png
    and NAME_shadow.png (InstanceMask, ShadowMask: DESOBA's ids are the sidecar's instance
    values, 255 = a shadow without caster) and TARGET/NAME.json pointing at them. Only training
    images: those on a test list are left out, so DESOBA's test images stay unseen by a model
    trained on these scenes. The sidecar gives no direction: the render estimates it from the
    masks' pairs when it reads the sidecar. Returns counts of photos, pairs, left out, and the
    images left out for a bad file (unreadable, or files of two sizes), each with why."""
    refuse_nonempty(target, overwrite)
    folders, splits = desoba_images(source, train_list, test_list)
    result = Imported()
    counts = result.counts
    for stem in sorted(folders["ShadowImage"]):
        if tick:
            tick()
        if splits.get(stem) != "train":
            counts["left out (test or unlisted)"] += 1
            continue
        try:
            images = read_desoba_image(folders, stem)
        except DatasetError as error:
            result.skipped.append((Path(error.path), error.reason))
            continue
        photo = folders["ShadowImage"][stem]
        copy_file(photo, target / f"{stem}{photo.suffix.lower()}")
        names = {"object_mask": f"{MASKS_FOLDER}/{stem}_object.png",
                 "shadow_mask": f"{MASKS_FOLDER}/{stem}_shadow.png"}
        write_png(target / names["object_mask"], images["InstanceMask"])
        write_png(target / names["shadow_mask"], images["ShadowMask"])
        write_json(target / f"{stem}.json", names)
        counts["photos"] += 1
        counts["object-shadow pairs"] += object_shadow_pairs(images["InstanceMask"],
                                                             images["ShadowMask"])
    if not counts["photos"]:
        raise DatasetError(source, "no training image (every image is on the test list or "
                                   "has a bad file)")
    return result
