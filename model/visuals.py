"""Picture grids of a training run (TensorBoard and images/epoch_NNNN.png): both blocks draw
with these, so that the grids of attention and SG runs read alike; and predict's before/after
contact sheet (--sheet)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

SHEET_TILE = 256  # height of a contact sheet's row, pixels
SHEET_ROWS = 64  # rows at most: the first images of a run (a JPEG is at most 65535 tall)
SHEET_COLUMNS = ("input", "shadowed", "matte")


def mask_rows(image: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W): the image dimmed, occluder masks in red, their shadows in blue."""
    tinted = image * 0.4
    tinted[:, 0] = torch.maximum(tinted[:, 0], masks[:, 0])
    tinted[:, 2] = torch.maximum(tinted[:, 2], masks[:, 1])
    return tinted


def image_grid(columns: list[torch.Tensor], rows: int = 4) -> torch.Tensor:
    """(3, rows * H, len(columns) * W): each column a (N, 3, H, W) batch, first `rows` items."""
    from torchvision.utils import make_grid

    picked = [column[:rows].float().clamp(0, 1) for column in columns]
    stacked = torch.stack(picked, dim=1).flatten(0, 1)  # row-major: sample by sample
    return make_grid(stacked, nrow=len(columns), padding=2, pad_value=1.0)


def _fit(image: np.ndarray, tile: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (tile, tile, 3), scaled to fit, on dark gray."""
    height, width = image.shape[:2]
    scale = tile / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    cell = np.full((tile, tile, 3), 32, np.uint8)
    top, left = (tile - size[1]) // 2, (tile - size[0]) // 2
    cell[top:top + size[1], left:left + size[0]] = small
    return cell


def before_after_row(image: np.ndarray, shadowed: np.ndarray, factor: np.ndarray, name: str,
                     tile: int = SHEET_TILE) -> np.ndarray:
    """(tile, 3 * tile, 3) uint8: the (H, W, 3) uint8 input | shadowed | the (H, W, 3) factor
    in [0, 1] as gray (white = unchanged), labelled with `name`."""
    matte = (np.clip(factor, 0, 1) * 255 + 0.5).astype(np.uint8)
    row = np.concatenate([_fit(item, tile) for item in (image, shadowed, matte)], axis=1)
    cv2.putText(row, name, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                cv2.LINE_AA)
    return row


def contact_sheet(rows: list[np.ndarray]) -> np.ndarray:
    """A header naming the columns above the rows of `before_after_row`."""
    tile = rows[0].shape[0]
    header = np.full((22, rows[0].shape[1], 3), 32, np.uint8)
    for column, name in enumerate(SHEET_COLUMNS):
        cv2.putText(header, name, (column * tile + 6, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (230, 230, 230), 1, cv2.LINE_AA)
    return np.concatenate([header, *rows], axis=0)
