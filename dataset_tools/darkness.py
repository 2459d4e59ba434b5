"""How dark a dataset's shadows are, measured the way real photo pairs can be measured too.

Per sample: the sRGB luminance ratio shadow / noshadow over the pixels of the shadow mask
(luma of the 8-bit sRGB values, Rec. 709 weights, no linearisation: what a viewer sees). A
sample's figures are the median of that ratio and the share of its mask darker than half;
`REAL_SUNNY` holds the same figures for real sunny photo pairs, to compare against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LUMA_709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
MIN_LUMA = 4.0  # 0-255: darker noshadow pixels carry no usable ratio (and are rare in masks)

# The reference figures of real photo pairs (sunny DESOBA test pairs; see the README).
REAL_SUNNY = {"median": 0.27, "p10": 0.14, "p90": 0.33, "darker_than_half": 0.90}


@dataclass(frozen=True)
class SampleDarkness:
    median_ratio: float  # median over the mask of luma(shadow) / luma(noshadow)
    darker_than_half: float  # share of the mask's pixels with a ratio below 0.5
    pixels: int  # mask pixels that were measured


def shadow_darkness(shadow: np.ndarray, noshadow: np.ndarray,
                    region: np.ndarray) -> SampleDarkness | None:
    """shadow, noshadow (H, W, 3) uint8 sRGB; region (H, W) mask (nonzero = in the shadow).
    None when no pixel of the region can be measured."""
    where = (region > 0) & (noshadow.astype(np.float32) @ LUMA_709 >= MIN_LUMA)
    if not where.any():
        return None
    lit = noshadow[where].astype(np.float32) @ LUMA_709
    dark = shadow[where].astype(np.float32) @ LUMA_709
    ratio = dark / lit
    return SampleDarkness(median_ratio=float(np.median(ratio)),
                          darker_than_half=float(np.mean(ratio < 0.5)), pixels=int(where.sum()))


def summarize_darkness(samples: list[SampleDarkness]) -> dict[str, float | int]:
    """Distribution over samples: median and 10th/90th percentiles of the per-sample median
    ratio, and the mean share of mask pixels darker than half."""
    if not samples:
        return {}
    medians = np.array([sample.median_ratio for sample in samples])
    return {"samples": len(samples), "median": float(np.median(medians)),
            "p10": float(np.percentile(medians, 10)), "p90": float(np.percentile(medians, 90)),
            "darker_than_half": float(np.mean([sample.darker_than_half for sample in samples]))}
