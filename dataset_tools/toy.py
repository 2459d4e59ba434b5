"""A procedural Shadow-AR dataset drawn with numpy and OpenCV: no Blender needed.

Each sample is a textured ground with an inserted ellipse-and-box "object", 0-2 occluder
boxes with their shadows (present in both images) and the object's own shadow (only in
`shadow`), all cast along one random light direction. It is what tests and benchmarks train
on where bpy is absent (a GPU box), and a quick smoke test for a training set-up."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from dataset_tools.layout import (
    MANIFEST,
    sample_path,
    write_png,
)
from dataset_tools.light_labels import LightLabel
from dataset_tools.records import DatasetInfo, ManifestRecord, split_counts, write_manifest


def _ground(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) float32 in [0, 1]: a smooth coloured gradient plus fine texture."""
    tint = rng.uniform(0.3, 0.8, size=3)
    low = rng.uniform(-0.12, 0.12, size=(4, 4, 3)) + tint
    base = cv2.resize(low.astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0.0, 0.03, size=(size, size, 1)).astype(np.float32)
    return np.clip(base + grain, 0.05, 1.0)


def _shape(size: int, centre: tuple[float, float], half: tuple[float, float]) -> np.ndarray:
    """(size, size) bool: an upright box with a round top standing at centre (x, y foot)."""
    canvas = np.zeros((size, size), np.uint8)
    x, y = centre
    width, height = half
    top = (int(x - width), int(y - 2 * height))
    cv2.rectangle(canvas, top, (int(x + width), int(y)), 1, -1)
    cv2.ellipse(canvas, (int(x), int(y - 2 * height)), (int(width), int(width * 0.6)),
                0, 0, 360, 1, -1)
    return canvas.astype(bool)


def _cast(shape: np.ndarray, direction: np.ndarray, length: float) -> np.ndarray:
    """(H, W) bool: the shadow of `shape` on the ground, an affine map of it that keeps its
    foot row and lays each point's height above the foot along `direction` (x, y)."""
    rows = np.nonzero(shape.any(axis=1))[0]
    if not rows.size:
        return np.zeros_like(shape)
    foot = float(rows.max())
    reach = length / max(foot - float(rows.min()), 1.0)
    along_x = direction[0] * reach
    along_y = reach * (0.55 + 0.35 * direction[1])
    forward = np.float32([[1, -along_x, along_x * foot], [0, -along_y, foot * (1 + along_y)]])
    warped = cv2.warpAffine(shape.astype(np.uint8), forward, shape.shape[::-1],
                            flags=cv2.INTER_NEAREST)
    return warped.astype(bool) & ~shape


def toy_sample(seed: int, size: int = 64) -> dict[str, np.ndarray]:
    """One sample: noshadow, shadow (H, W, 3) uint8; mask, robject, rshadow, smask (H, W)
    uint8 in {0, 255}. The same seed gives the same sample."""
    return toy_sample_and_light(seed, size)[0]


def toy_sample_and_light(seed: int, size: int = 64) -> tuple[dict[str, np.ndarray], LightLabel]:
    """`toy_sample` and its light: the image direction its shadows point in (`_cast` lays
    heights along (x, 0.55 + 0.35 y) of the drawn direction), a hard light (softness 0) at a
    nominal elevation of 45 degrees."""
    rng = np.random.default_rng(seed)
    ground = _ground(rng, size)
    angle = rng.uniform(0, 2 * np.pi)
    direction = np.array([np.cos(angle), np.sin(angle)])
    strength = rng.uniform(0.35, 0.65)
    length = rng.uniform(0.2, 0.4) * size

    def place(scale: float) -> np.ndarray:
        half = (rng.uniform(0.06, 0.11) * size * scale, rng.uniform(0.08, 0.14) * size * scale)
        foot = (rng.uniform(0.25, 0.75) * size, rng.uniform(0.55, 0.85) * size)
        return _shape(size, foot, half)

    inserted = place(1.0)
    occluders = np.zeros_like(inserted)
    occluder_shadow = np.zeros_like(inserted)
    colours = []
    for _ in range(int(rng.choice(3, p=(0.3, 0.4, 0.3)))):
        occluder = place(0.8) & ~inserted
        occluders |= occluder
        occluder_shadow |= _cast(occluder, direction, length)
        colours.append((occluder, rng.uniform(0.1, 0.9, 3)))
    own_shadow = _cast(inserted, direction, length) & ~occluders & ~inserted
    occluder_shadow &= ~occluders & ~inserted

    noshadow = ground * np.where(occluder_shadow[..., None], 1 - strength, 1.0)
    for occluder, colour in colours:
        noshadow[occluder] = colour
    noshadow[inserted] = rng.uniform(0.1, 0.9, 3)
    noshadow[inserted] *= np.linspace(0.7, 1.0, size, dtype=np.float32)[:, None].repeat(
        size, axis=1)[inserted][:, None]
    shadow = noshadow.copy()
    smask = own_shadow & ~occluder_shadow  # ground already in shadow does not darken twice
    shadow[smask] *= 1 - strength

    def to_u8(image: np.ndarray) -> np.ndarray:
        return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)

    def to_mask(mask: np.ndarray) -> np.ndarray:
        return mask.astype(np.uint8) * 255

    images = {"noshadow": to_u8(noshadow), "shadow": to_u8(shadow), "mask": to_mask(inserted),
              "robject": to_mask(occluders), "rshadow": to_mask(occluder_shadow),
              "smask": to_mask(smask)}
    image_direction = math.degrees(math.atan2(0.55 + 0.35 * direction[1], direction[0]))
    return images, LightLabel(round(image_direction % 360.0, 3), 45.0, 0.0)


def make_toy_dataset(root: Path, train: int = 16, test: int = 4, size: int = 64,
                     seed: int = 0, val: int = 0) -> Path:
    """Write a complete Shadow-AR dataset of toy samples at root (ids 000000, 000001, ...).
    Each sample's "scene" in the manifest is its own id, so grouped splits work."""
    records = []
    counts = {"train": train, "val": val, "test": test}
    index = 0
    for split, count in counts.items():
        for _ in range(count):
            sample_id = f"{index:06d}"
            images, light = toy_sample_and_light(seed * 1_000_003 + index, size)
            for kind, image in images.items():
                write_png(sample_path(root, split, kind, sample_id), image)
            records.append(ManifestRecord(sample_id, split=split, scene=f"toy{index}",
                                          seed=seed * 1_000_003 + index,
                                          light_label=light.to_json(), generator="toy"))
            index += 1
    write_manifest(root / MANIFEST, records)
    DatasetInfo(generator="toy", size=size,
                counts=split_counts(str(record.split) for record in records)).write(root)
    return root
