"""The metrics of docs/architecture.md, per image on uint8 0-255 arrays (then averaged by
the caller).

gt, pred, noshadow (H, W, 3) uint8; region (H, W) bool = M, the ground-truth shadow of the
inserted object; object_mask (H, W) bool. SSIM uses an 11x11 Gaussian window (sigma 1.5)
per channel on 0-255 data with C1 = (0.01 * 255)^2 and C2 = (0.03 * 255)^2 (DESOBA's
0.01^2 and 0.03^2 on [0, 1] data), over the "valid" window positions as piq does: the map is
(H - 10, W - 10) and M is cropped to it for LSSIM.

`batch_rmse` and `batch_iou` are the torch twins of `rmse` and `iou`, for whole batches on
the device: training validates with them (the LRMSE that picks the best SG checkpoint, the
IoU of the attention block), so that a run is chosen by the same definitions that
`evaluate` reports. tests/model/test_metrics.py holds each twin equal to its numpy original.

The `desoba_*` functions below are the other protocol: the DESOBA/DESOBAv2 evaluation
code's own definitions (zero-padded SSIM with C1 = 0.01^2, C2 = 0.03^2 on 0-255 data, BER
over every pixel), reproduced operation by operation."""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from dataset_tools.masks import difference_gray

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


def batch_rmse(gt: torch.Tensor, pred: torch.Tensor,
               region: torch.Tensor | None = None) -> torch.Tensor:
    """rmse() of every sample of a batch: gt, pred (N, C, H, W) float in [0, 1], scored on
    the 0-255 scale; region (N, 1, H, W) 0/1 (bool or float). (N,) float, nan where a
    sample's region is empty."""
    squared = (pred.float() - gt.float()).pow(2) * 255**2
    if region is None:
        return squared.mean((1, 2, 3)).sqrt()
    values = region.sum((1, 2, 3)) * squared.shape[1]  # pixels of the region x channels
    total = (squared * region).sum((1, 2, 3))
    return torch.where(values > 0, (total / values.clamp(min=1)).sqrt(), torch.nan)


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


def ber_threshold(ber_k: float) -> float:
    """The fixed threshold (0-255) on gray(|pred - noshadow|) that BER and ACC use: 127.5 * k,
    so k = 0.1 counts a pixel darkened by more than 12.75 gray levels as shadow."""
    return 127.5 * ber_k


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


def batch_iou(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """iou() per sample and channel: bool masks (N, C, H, W) -> (N, C) float64; 1 where
    both are empty."""
    intersection = (predicted & target).sum((2, 3)).double()
    union = (predicted | target).sum((2, 3)).double()
    return torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))


def image_metrics(gt: np.ndarray, pred: np.ndarray, noshadow: np.ndarray, region: np.ndarray,
                  object_mask: np.ndarray, ber_k: float = 0.1) -> dict[str, float]:
    """Every image metric of one prediction: GRMSE, LRMSE, GSSIM, LSSIM, and BER/ACC with
    the fixed (127.5 * k) and the ratio (top-|M|) thresholds."""
    valid = ~object_mask
    values = {"GRMSE": rmse(gt, pred), "LRMSE": rmse(gt, pred, region),
              "GSSIM": ssim(gt, pred), "LSSIM": ssim(gt, pred, region)}
    fixed = predicted_shadow(pred, noshadow, object_mask, threshold=ber_threshold(ber_k))
    values.update(balanced_error(fixed, region, valid))
    ratio = predicted_shadow(pred, noshadow, object_mask, count=int((region & valid).sum()))
    values.update({f"{name}_ratio": value
                   for name, value in balanced_error(ratio, region, valid).items()})
    return values


# The `desoba` protocol: the definitions of the DESOBA/DESOBAv2 evaluation code, so numbers
# sit beside the published tables. Followed operation by operation:
#   bcmi/Object-Shadow-Generation-Dataset-DESOBAv2 @6b95020, eval_result.py lines 97-107
#     (load_image_as_tensor), 134-166 (tensor2im / tensor2imonechannel of util.py lines
#     34-70, local_rmse 153, global_rmse 154, the ssim.ssim calls 156-160,
#     ber_fixshreshold 166), 182-200 (NaNs dropped per metric, then the plain mean);
#     ssim.py lines 19-49 (_ssim) and ber.py lines 3-47 (ber_fixshreshold);
#   bcmi/Object-Shadow-Generation-Dataset-DESOBA, src/models/SGRNet_model.py
#     (get_current_errors) and src/util/ssim.py: the same RMSE and SSIM formulas for DESOBA
#     (GSSIM there from Po-Hsun-Su/pytorch-ssim: the same map and constants; no BER; it
#     scored the network's float output, DESOBAv2 the saved uint8 files, as done here).
# Their 256*256 in LRMSE is H*W at the protocol's fixed 256x256; it is written H*W here.
DESOBA_SSIM_C1 = 0.01 ** 2  # their constants, applied to 0-255 data as they do
DESOBA_SSIM_C2 = 0.03 ** 2
DESOBA_BER_THRESHOLD = 127.5


def desoba_signed(image: np.ndarray) -> torch.Tensor:
    """load_image_as_tensor: (H, W, C) or (H, W) uint8 -> (C, H, W) float32 x / 255 * 2 - 1."""
    pixels = image[..., None] if image.ndim == 2 else image
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).float() / 255.0 \
        * 2.0 - 1.0


def desoba_pixels(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32: the image as their RMSE sees it, util.tensor2im of the [-1, 1]
    tensor ((x + 1) / 2 * 255, cast to uint8 by truncation): values 1-63 come back one lower."""
    back = (desoba_signed(image).numpy().transpose(1, 2, 0) + 1) / 2.0 * 255.0
    return np.clip(back, 0, 255).astype(np.uint8).astype(np.float32)


def desoba_region(shadow_mask: np.ndarray) -> np.ndarray:
    """(H, W) bool m: their (mask tensor > 0.5) on [-1, 1], i.e. pixels >= 192 of 0-255."""
    return desoba_signed(shadow_mask)[0].numpy() > 0.5


def desoba_rmse(gt: np.ndarray, pred: np.ndarray, shadow_mask: np.ndarray | None = None) -> float:
    """GRMSE = sqrt(mean over H*W*3 of (gt - pred)^2), or with shadow_mask ((H, W) uint8)
    LRMSE = sqrt(MSE(gt * m, pred * m) * H * W / sum(m)): the mean runs over all H*W*3
    values of the masked images and sum(m) counts pixels (m is (H, W, 1)), so it is the RMSE
    over the mask's pixel-channels. nan for an empty mask (their 0/0)."""
    truth, guess = desoba_pixels(gt), desoba_pixels(pred)
    if shadow_mask is None:
        return math.sqrt(float(np.mean((truth - guess) ** 2, dtype=np.float64)))
    m = desoba_region(shadow_mask)[..., None].astype(np.float32)
    if not m.any():
        return math.nan
    mse = float(np.mean((truth * m - guess * m) ** 2, dtype=np.float64))
    return math.sqrt(mse * m.shape[0] * m.shape[1] / float(m.sum()))


def _desoba_window(channels: int) -> torch.Tensor:
    """ssim.create_window: the 11x11 Gaussian (sigma 1.5) of float32 weights, per channel."""
    size = SSIM_WINDOW
    gauss = torch.Tensor([math.exp(-(x - size // 2) ** 2 / float(2 * SSIM_SIGMA ** 2))
                          for x in range(size)])
    line = (gauss / gauss.sum()).unsqueeze(1)
    return line.mm(line.t()).float()[None, None].expand(channels, 1, size, size).contiguous()


def desoba_ssim_map(gt: np.ndarray, pred: np.ndarray) -> torch.Tensor:
    """(1, C, H, W) float32, ssim._ssim's map on CPU: inputs ((x / 255 * 2 - 1) / 2 + 0.5)
    * 255, zero padding (a full H x W map), C1 = 0.01^2, C2 = 0.03^2 on 0-255 data."""
    img1 = (desoba_signed(gt) / 2 + 0.5)[None] * 255
    img2 = (desoba_signed(pred) / 2 + 0.5)[None] * 255
    channels, pad = img1.shape[1], SSIM_WINDOW // 2
    window = _desoba_window(channels)

    def blur(values: torch.Tensor) -> torch.Tensor:
        return F.conv2d(values, window, padding=pad, groups=channels)

    mu1, mu2 = blur(img1), blur(img2)
    mu1_sq, mu2_sq, mu1_mu2 = mu1.pow(2), mu2.pow(2), mu1 * mu2
    sigma1_sq = blur(img1 * img1) - mu1_sq
    sigma2_sq = blur(img2 * img2) - mu2_sq
    sigma12 = blur(img1 * img2) - mu1_mu2
    c1, c2 = DESOBA_SSIM_C1, DESOBA_SSIM_C2
    return ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / (
        (mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))


def desoba_ssim_mean(ssim_map: torch.Tensor, shadow_mask: np.ndarray | None = None) -> float:
    """GSSIM = the map's mean; with shadow_mask ((H, W) uint8), LSSIM = per channel
    sum(map * m) / sum(m) (the map averaged over M, not the SSIM of masked images), then the
    mean over channels. nan for an empty mask (their 0/0)."""
    if shadow_mask is None:
        return (ssim_map.sum(3).sum(2) / (ssim_map.shape[-1] * ssim_map.shape[-2])).mean().item()
    m = torch.from_numpy(desoba_region(shadow_mask)).float()[None, None]
    if not m.any():
        return math.nan
    return ((ssim_map * m).sum(3).sum(2) / m.sum()).mean().item()


def desoba_ssim(gt: np.ndarray, pred: np.ndarray, shadow_mask: np.ndarray | None = None) -> float:
    """GSSIM, or LSSIM over shadow_mask, as ssim.ssim computes them (see desoba_ssim_map)."""
    return desoba_ssim_mean(desoba_ssim_map(gt, pred), shadow_mask)


def desoba_ber(pred_mask: np.ndarray, shadow_mask: np.ndarray) -> dict[str, float]:
    """ber.ber_fixshreshold over every pixel: the predicted mask ((H, W) uint8 0-255) as
    their eval reads it, (p / 255 * 2 - 1) * 255 >= 127.5 (so p >= 192); GBER = 1 -
    (TPR + TNR) / 2, LBER = 1 - TPR; nan where a denominator is 0 (their 0/0)."""
    predicted = (desoba_signed(pred_mask)[0] * 255.0).numpy() >= DESOBA_BER_THRESHOLD
    truth = desoba_region(shadow_mask)
    tp = float((predicted & truth).sum())
    tn = float((~predicted & ~truth).sum())
    fp = float((predicted & ~truth).sum())
    fn = float((~predicted & truth).sum())
    tpr = tp / (tp + fn) if tp + fn else math.nan
    tnr = tn / (tn + fp) if tn + fp else math.nan
    return {"GBER": 1 - 0.5 * (tpr + tnr), "LBER": 1 - tpr}


def desoba_metrics(gt: np.ndarray, pred: np.ndarray, shadow_mask: np.ndarray,
                   pred_mask: np.ndarray) -> dict[str, float]:
    """GRMSE, LRMSE, GSSIM, LSSIM, GBER, LBER of one prediction as the DESOBA code defines
    them; shadow_mask and pred_mask (H, W) uint8 0-255 (see desoba_ber for pred_mask)."""
    ssim_map = desoba_ssim_map(gt, pred)
    return {"GRMSE": desoba_rmse(gt, pred), "LRMSE": desoba_rmse(gt, pred, shadow_mask),
            "GSSIM": desoba_ssim_mean(ssim_map), "LSSIM": desoba_ssim_mean(ssim_map, shadow_mask),
            **desoba_ber(pred_mask, shadow_mask)}


# --- the shadow's shape: edge width and spill (issue 30) -------------------------------------

DARKENING_FLOOR = 8.0  # gray level (0-255) below which a pixel's darkening is not measured
EDGE_CANDIDATE = 0.06  # darkening above this may be shadow (the renderer's darkening_threshold)
EDGE_MIN_PIXELS = 20  # fewer candidate pixels: no shadow to measure an edge on
SPILL_DILATE = 5  # pixels around the true shadow's change where darkening is not spill


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)


def darkening(image: np.ndarray, noshadow: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 1]: 1 - gray(image) / gray(noshadow), the share of the light a
    shadow takes (0 where the image is not darker, or noshadow darker than DARKENING_FLOOR)."""
    base = _gray(noshadow)
    taken = 1 - _gray(image) / np.maximum(base, 1.0)
    return np.where(base >= DARKENING_FLOOR, np.clip(taken, 0, 1), 0).astype(np.float32)


def edge_width(darkening_map: np.ndarray, excluded: np.ndarray) -> float:
    """Width in pixels of a shadow's edge: the area of its 10-90 % band of darkening (of the
    99th percentile of the candidate pixels, those above EDGE_CANDIDATE) over the length of its
    half-darkening contour, outside `excluded` (H, W) bool (the inserted object); NaN with
    fewer than EDGE_MIN_PIXELS candidates. A hard edge is about 1 px wide (the band is the one
    pixel row the edge crosses), a blurred one as wide as its blur."""
    inside = ~excluded
    values = darkening_map[inside]
    candidates = values[values > EDGE_CANDIDATE]
    if candidates.size < EDGE_MIN_PIXELS:
        return math.nan
    peak = float(np.percentile(candidates, 99))
    band = (darkening_map > 0.1 * peak) & (darkening_map < 0.9 * peak) & inside
    core = ((darkening_map >= 0.5 * peak) & inside).astype(np.uint8)
    contours, _ = cv2.findContours(core, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    length = sum(cv2.arcLength(contour, True) for contour in contours)
    return float(band.sum() / length) if length > 0 else math.nan


def spill(pred: np.ndarray, noshadow: np.ndarray, shadow: np.ndarray,
          object_mask: np.ndarray) -> float:
    """Mean darkening (gray levels, 0-255) the prediction adds to noshadow outside the pixels
    the true shadow changes (shadow != noshadow, which lie in sregion by the data contract)
    dilated by SPILL_DILATE pixels, and outside the object: 0 for the truth and for identity,
    large for a blob that darkens the ground around the shadow."""
    changed = (shadow != noshadow).any(axis=2).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * SPILL_DILATE + 1,) * 2)
    near = cv2.dilate(changed, kernel) > 0
    outside = ~near & ~object_mask
    if not outside.any():
        return math.nan
    added = np.clip(_gray(noshadow) - _gray(pred), 0, None)
    return float(added[outside].mean())


def shape_metrics(shadow: np.ndarray, pred: np.ndarray, noshadow: np.ndarray,
                  object_mask: np.ndarray) -> dict[str, float]:
    """The prediction's edge width and the truth's (px, NaN without a shadow) and its spill."""
    return {"edge_width_px": edge_width(darkening(pred, noshadow), object_mask),
            "truth_edge_width_px": edge_width(darkening(shadow, noshadow), object_mask),
            "spill": spill(pred, noshadow, shadow, object_mask)}
