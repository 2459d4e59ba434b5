"""Contact sheets: one row per sample, noshadow | shadow | each mask over the image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from dataset_tools.layout import (
    MASK_KINDS,
    OPTIONAL_KINDS,
    RGB_KINDS,
    DatasetError,
    read_image,
    sample_path,
)
from dataset_tools.resplit import find_samples

OVERLAY = {"mask": (255, 64, 64), "robject": (64, 160, 255), "rshadow": (255, 200, 0),
           "smask": (0, 255, 120), "sregion": (200, 80, 255)}
COLUMNS = RGB_KINDS + MASK_KINDS


def overlay(image: np.ndarray, mask: np.ndarray, color: tuple[int, int, int],
            opacity: float = 0.55) -> np.ndarray:
    """(H, W, 3) uint8 image with the 0/255 (or bool) mask tinted in `color` at `opacity`."""
    tinted = image.astype(np.float32)
    where = mask if mask.dtype == bool else mask > 127
    tinted[where] = (1 - opacity) * tinted[where] + opacity * np.array(color, dtype=np.float32)
    return tinted.astype(np.uint8)


def sample_row(root: Path, split: str, sample_id: str, tile: int,
               columns: tuple[str, ...] = COLUMNS) -> np.ndarray:
    """(tile, len(columns) * tile, 3) uint8; a missing or broken file becomes a gray tile with
    a cross."""
    tiles = []
    base = None
    for kind in columns:
        try:
            image = read_image(sample_path(root, split, kind, sample_id),
                               "RGB" if kind in RGB_KINDS else "L")
        except DatasetError:
            image = None
        if image is not None and image.ndim == 3 and base is None:
            base = image
        if image is None:
            cell = np.full((tile, tile, 3), 96, np.uint8)
            cv2.line(cell, (0, 0), (tile - 1, tile - 1), (200, 0, 0), 2)
            cv2.line(cell, (0, tile - 1), (tile - 1, 0), (200, 0, 0), 2)
        elif image.ndim == 2:
            under = base if base is not None and base.shape[:2] == image.shape else \
                np.zeros((*image.shape, 3), np.uint8)
            cell = cv2.resize(overlay(under, image, OVERLAY[kind]), (tile, tile),
                              interpolation=cv2.INTER_NEAREST)
        else:
            cell = cv2.resize(image, (tile, tile), interpolation=cv2.INTER_AREA)
        tiles.append(cell)
    row = np.concatenate(tiles, axis=1)
    cv2.putText(row, f"{split}/{sample_id}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                (255, 255, 255), 1, cv2.LINE_AA)
    return row


def contact_sheet(root: Path, samples: list[tuple[str, str]], tile: int = 160) -> np.ndarray:
    """samples: [(split, id)] -> (header + rows) RGB uint8 image. An optional mask kind
    (smask, sregion) gets a column only when one of the samples has it."""
    columns = tuple(kind for kind in COLUMNS if kind not in OPTIONAL_KINDS or any(
        sample_path(root, split, kind, sample_id).is_file() for split, sample_id in samples))
    header = np.full((22, tile * len(columns), 3), 32, np.uint8)
    for column, name in enumerate(columns):
        cv2.putText(header, name, (column * tile + 6, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (230, 230, 230), 1, cv2.LINE_AA)
    rows = [sample_row(root, split, sample_id, tile, columns) for split, sample_id in samples]
    return np.concatenate([header, *rows], axis=0)


def select_samples(root: Path, ids: str | None = None, count: int | None = None,
                   split: str | None = None, seed: int = 0,
                   first: int = 16) -> list[tuple[str, str]]:
    """The (split, id) rows `inspect` shows: the comma-separated `ids` in their order, else
    `count` random samples (seeded, sorted), else the `first` samples by id; only `split`'s
    when given. DatasetError naming `root` for an unknown id or when nothing is left."""
    located = find_samples(root)
    if split is not None:
        located = {key: value for key, value in located.items() if value == split}
    if ids:
        chosen = [item.strip() for item in ids.split(",") if item.strip()]
        unknown = [item for item in chosen if item not in located]
        if unknown:
            raise DatasetError(root, f"no sample {unknown[0]}")
    elif count is not None:
        rng = np.random.default_rng(seed)
        chosen = sorted(rng.choice(sorted(located), size=min(count, len(located)),
                                   replace=False))
    else:
        chosen = sorted(located)[:first]
    if not chosen:
        raise DatasetError(root, "no samples to show")
    return [(located[item], item) for item in chosen]
