"""The photo's own objects and their cast shadows, as a sidecar's `object_mask` and
`shadow_mask` give them: read at the photo's size, mapped into a sample through its crop, and
used to estimate the image direction of the photo's shadows
(`dataset_tools.directions`). Pure numpy (no bpy).

Mask format (gray images at the photo's size, lossless): 0 = background, any other value marks
a pixel of the mask. In the object mask each value is one object (instance); in the shadow mask
a shadow holding the same value as an object is that object's cast shadow (a value no object
holds, such as DESOBA's 255, is a shadow without a visible caster). Plain 0/255 masks are one
instance each, so all objects and all shadows then form one pair.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dataset_tools.layout import DatasetError, read_image, size_mismatch
from render.assets import BadAsset


def read_instance_mask(path: Path, width: int, height: int) -> np.ndarray:
    """(height, width) uint8 instance values of the mask image at `path`. Raises BadAsset
    naming the file when it cannot be read or is not the photo's size."""
    try:
        mask = read_image(path, "L")
    except DatasetError as error:
        raise BadAsset(path, error.reason) from None
    problem = size_mismatch(mask.shape, (height, width), "the photo")
    if problem:
        raise BadAsset(path, problem)
    return mask
