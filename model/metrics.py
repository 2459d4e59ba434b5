"""The metrics of DESIGN.md, per image on uint8 0-255 arrays (then averaged by the caller).

gt, pred, noshadow (H, W, 3) uint8; region (H, W) bool = M, the ground-truth shadow of the
inserted object; object_mask (H, W) bool. SSIM uses an 11x11 Gaussian window (sigma 1.5)
per channel on 0-255 data with C1 = (0.01 * 255)^2 and C2 = (0.03 * 255)^2 (DESOBA's
0.01^2 and 0.03^2 on [0, 1] data), over the "valid" window positions as piq does: the map is
(H - 10, W - 10) and M is cropped to it for LSSIM."""

from __future__ import annotations

import math

import cv2
import numpy as np

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = (0.01 * 255) ** 2
SSIM_C2 = (0.03 * 255) ** 2


def rmse(gt: np.ndarray, pred: np.ndarray, region: np.ndarray | None = None) -> float:
    """sqrt(mean of (gt - pred)^2) over all H*W*3 values, or over the pixels of region
    (nan when the region is empty)."""
    squared = (gt.astype(np.float64) - pred.astype(np.float64)) ** 2
    if region is None:
        return math.sqrt(float(squared.mean()))
    if not region.any():
        return math.nan
    return math.sqrt(float(squared[region].mean()))


def ssim_map(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(H - 10, W - 10) SSIM averaged over channels."""
    kernel = cv2.getGaussianKernel(SSIM_WINDOW, SSIM_SIGMA, cv2.CV_64F)
    window = kernel @ kernel.T
    pad = SSIM_WINDOW // 2

    def blur(values: np.ndarray) -> np.ndarray:
        return cv2.filter2D(values, cv2.CV_64F, window, borderType=cv2.BORDER_REFLECT_101)[
            pad:-pad, pad:-pad]

    maps = []
    for channel in range(gt.shape[2]):
        x = gt[..., channel].astype(np.float64)
        y = pred[..., channel].astype(np.float64)
        mu_x, mu_y = blur(x), blur(y)
        var_x = blur(x * x) - mu_x ** 2
        var_y = blur(y * y) - mu_y ** 2
        cov = blur(x * y) - mu_x * mu_y
        maps.append(((2 * mu_x * mu_y + SSIM_C1) * (2 * cov + SSIM_C2))
                    / ((mu_x ** 2 + mu_y ** 2 + SSIM_C1) * (var_x + var_y + SSIM_C2)))
    return np.mean(maps, axis=0)


def ssim(gt: np.ndarray, pred: np.ndarray, region: np.ndarray | None = None) -> float:
    """Mean of the SSIM map, or its mean over region (cropped like the map; nan if empty or
    the image is smaller than the window)."""
    if min(gt.shape[:2]) < SSIM_WINDOW:
        return math.nan
    values = ssim_map(gt, pred)
    if region is None:
        return float(values.mean())
    pad = SSIM_WINDOW // 2
    inside = region[pad:-pad, pad:-pad]
    return float(values[inside].mean()) if inside.any() else math.nan


def difference_gray(pred: np.ndarray, noshadow: np.ndarray) -> np.ndarray:
    """(H, W) uint8: gray(|pred - noshadow|)."""
    difference = np.abs(pred.astype(np.int16) - noshadow.astype(np.int16)).astype(np.uint8)
    return cv2.cvtColor(difference, cv2.COLOR_RGB2GRAY)


def predicted_shadow(pred: np.ndarray, noshadow: np.ndarray, object_mask: np.ndarray,
                     threshold: float | None = None, count: int | None = None) -> np.ndarray:
    """(H, W) bool: where the prediction darkened the image, outside the object. Either a
    fixed `threshold` on gray(|pred - noshadow|) (0-255), or the `count` largest pixels
    (the ratio threshold: as many as the ground truth has; ties broken by position)."""
    gray = difference_gray(pred, noshadow).astype(np.int32)
    gray[object_mask] = -1
    if threshold is not None:
        return gray > threshold
    if count is None:
        raise ValueError("give a threshold or a count")
    shadow = np.zeros(gray.shape, bool)
    if count > 0:
        order = np.argsort(-gray.ravel(), kind="stable")[:count]
        shadow.ravel()[order] = True
        shadow &= gray > 0
    return shadow


def balanced_error(predicted: np.ndarray, region: np.ndarray,
                   valid: np.ndarray) -> dict[str, float]:
    """BER over `valid` pixels (the image minus the object): GBER = 1 - (TPR + TNR) / 2,
    LBER = 1 - TPR (errors inside M), ACC = (TP + TN) / N. nan where undefined."""
    positives = region & valid
    negatives = ~region & valid
    tp = float((predicted & positives).sum())
    tn = float((~predicted & negatives).sum())
    n_pos, n_neg = float(positives.sum()), float(negatives.sum())
    tpr = tp / n_pos if n_pos else math.nan
    tnr = tn / n_neg if n_neg else math.nan
    return {"GBER": 1 - (tpr + tnr) / 2, "LBER": 1 - tpr,
            "ACC": (tp + tn) / (n_pos + n_neg) if n_pos + n_neg else math.nan}


def iou(predicted: np.ndarray, target: np.ndarray) -> float:
    """|P ∩ T| / |P ∪ T| of two bool masks; 1.0 when both are empty."""
    union = float((predicted | target).sum())
    return float((predicted & target).sum()) / union if union else 1.0


def image_metrics(gt: np.ndarray, pred: np.ndarray, noshadow: np.ndarray, region: np.ndarray,
                  object_mask: np.ndarray, ber_k: float = 0.1) -> dict[str, float]:
    """Every image metric of one prediction: GRMSE, LRMSE, GSSIM, LSSIM, and BER/ACC with
    the fixed (127.5 * k) and the ratio (top-|M|) thresholds."""
    valid = ~object_mask
    values = {"GRMSE": rmse(gt, pred), "LRMSE": rmse(gt, pred, region),
              "GSSIM": ssim(gt, pred), "LSSIM": ssim(gt, pred, region)}
    fixed = predicted_shadow(pred, noshadow, object_mask, threshold=127.5 * ber_k)
    values.update(balanced_error(fixed, region, valid))
    ratio = predicted_shadow(pred, noshadow, object_mask, count=int((region & valid).sum()))
    values.update({f"{name}_ratio": value
                   for name, value in balanced_error(ratio, region, valid).items()})
    return values
