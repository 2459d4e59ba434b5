"""Picture grids of a training run (TensorBoard and images/epoch_NNNN.png): both blocks draw
with these, so that the grids of attention and SG runs read alike."""

from __future__ import annotations

import torch


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
