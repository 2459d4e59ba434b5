"""model.metrics: by hand, against scikit-image and piq, numpy against the torch twins."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model import metrics


def test_rmse_by_hand():
    gt = np.zeros((4, 4, 3), np.uint8)
    pred = gt.copy()
    pred[0, 0] = 12  # one pixel off by 12 in all 3 channels
    region = np.zeros((4, 4), bool)
    region[0, :2] = True
    assert metrics.rmse(gt, pred) == pytest.approx(math.sqrt(3 * 144 / 48))
    assert metrics.rmse(gt, pred, region) == pytest.approx(math.sqrt(3 * 144 / 6))
    assert math.isnan(metrics.rmse(gt, pred, np.zeros((4, 4), bool)))


def test_torch_twins_equal_the_numpy_metrics():
    """batch_rmse and batch_iou (training's validation) against rmse and iou (evaluate), on
    random images and masks, empty ones included."""
    rng = np.random.default_rng(7)
    gt = rng.integers(0, 256, (4, 3, 12, 10), dtype=np.uint8)
    pred = rng.integers(0, 256, gt.shape, dtype=np.uint8)
    region = rng.random((4, 1, 12, 10)) < 0.3
    region[1] = False  # a sample without a shadow: LRMSE undefined
    region[2] = True

    def scaled(images):
        return torch.from_numpy(images).float() / 255

    def hwc(images, index):
        return images[index].transpose(1, 2, 0)

    global_rmse = metrics.batch_rmse(scaled(gt), scaled(pred))
    local_rmse = metrics.batch_rmse(scaled(gt), scaled(pred), torch.from_numpy(region).float())
    for index in range(len(gt)):
        assert float(global_rmse[index]) == pytest.approx(
            metrics.rmse(hwc(gt, index), hwc(pred, index)), rel=1e-5)
        expected = metrics.rmse(hwc(gt, index), hwc(pred, index), region[index, 0])
        if math.isnan(expected):
            assert math.isnan(float(local_rmse[index]))
        else:
            assert float(local_rmse[index]) == pytest.approx(expected, rel=1e-5)
    assert math.isnan(float(local_rmse[1]))

    predicted = rng.random((5, 2, 6, 6)) < 0.4
    target = rng.random(predicted.shape) < 0.4
    predicted[0], target[0] = False, False  # both empty: 1
    predicted[1, 0], target[1, 1] = False, False  # one side empty: 0
    ious = metrics.batch_iou(torch.from_numpy(predicted), torch.from_numpy(target))
    assert ious.shape == (5, 2)
    for index, channel in np.ndindex(ious.shape):
        assert float(ious[index, channel]) == pytest.approx(
            metrics.iou(predicted[index, channel], target[index, channel]), abs=1e-12)
    assert ious[0].tolist() == [1.0, 1.0] and ious[1].tolist() == [0.0, 0.0]


def test_ssim_matches_scikit_image_and_piq():
    piq = pytest.importorskip("piq")
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(3)
    gt = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    pred = np.clip(gt.astype(int) + rng.integers(-40, 40, gt.shape), 0, 255).astype(np.uint8)
    ours = metrics.ssim(gt, pred)
    reference = structural_similarity(gt, pred, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, data_range=255,
                                      channel_axis=-1)

    def tensor(array):
        return torch.from_numpy(array).permute(2, 0, 1)[None].double()

    assert ours == pytest.approx(reference, abs=1e-9)
    assert ours == pytest.approx(float(piq.ssim(tensor(gt), tensor(pred), data_range=255.0)),
                                 abs=1e-9)
    assert metrics.ssim(gt, gt) == pytest.approx(1.0)
    # LSSIM: the map's mean over the region (cropped by the 5-pixel window radius)
    region = np.zeros(gt.shape[:2], bool)
    region[10:20, 10:30] = True
    _, full = structural_similarity(gt, pred, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=255,
                                    channel_axis=-1, full=True)
    assert metrics.ssim(gt, pred, region) == pytest.approx(full.mean(-1)[region].mean(), abs=1e-9)


def test_ber_acc_and_iou_by_hand():
    noshadow = np.full((4, 4, 3), 200, np.uint8)
    pred = noshadow.copy()
    pred[0, 0:2] = 100  # predicted shadow: (0,0), (0,1)
    region = np.zeros((4, 4), bool)
    region[0, 1:4] = True  # truth: (0,1), (0,2), (0,3)
    object_mask = np.zeros((4, 4), bool)
    object_mask[3, 3] = True
    predicted = metrics.predicted_shadow(pred, noshadow, object_mask, threshold=12.75)
    assert predicted.sum() == 2
    values = metrics.balanced_error(predicted, region, ~object_mask)
    tpr, tnr = 1 / 3, 11 / 12  # 15 valid pixels: 3 positive, 12 negative, 1 false positive
    assert values["GBER"] == pytest.approx(1 - (tpr + tnr) / 2)
    assert values["LBER"] == pytest.approx(1 - tpr)
    assert values["ACC"] == pytest.approx((1 + 11) / 15)
    top = metrics.predicted_shadow(pred, noshadow, object_mask, count=3)
    assert top.sum() == 2  # only two pixels differ at all
    assert metrics.iou(predicted, region) == pytest.approx(1 / 4)
    assert metrics.iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0
    identity = metrics.image_metrics(pred, noshadow, noshadow, region, object_mask)
    assert identity["LBER"] == 1.0 and identity["GBER"] == 0.5


def _ground(size: int = 64, level: int = 200) -> np.ndarray:
    return np.full((size, size, 3), level, np.uint8)


def test_edge_width_of_a_hard_and_a_ramped_shadow_by_hand():
    """A square shadow at half light with a hard edge: its 10-90 % band is empty, width 0; with
    a linear ramp of 10 pixels from full light to the shadow on each side, the band covers 8 of
    them (darkening 0.1-0.9 of the peak), so the width is the band's area over the half-
    darkening contour's length: about 8 px."""
    noshadow = _ground()
    hard = noshadow.copy()
    hard[20:44, 20:44] = 100
    excluded = np.zeros((64, 64), bool)
    assert metrics.edge_width(metrics.darkening(hard, noshadow), excluded) == pytest.approx(0)
    # a ramp: darkening d(x) = 0.5 * clip((distance inside the outer square) / 10, 0, 1)
    yy, xx = np.mgrid[0:64, 0:64]
    inside = np.minimum.reduce([xx - 10, 53 - xx, yy - 10, 53 - yy]).astype(np.float32)
    fraction = np.clip(inside / 10, 0, 1)
    ramp = (200 * (1 - 0.5 * fraction) + 0.5).astype(np.uint8)
    soft = np.repeat(ramp[..., None], 3, axis=2)
    width = metrics.edge_width(metrics.darkening(soft, noshadow), excluded)
    assert width == pytest.approx(8, rel=0.15)
    assert math.isnan(metrics.edge_width(metrics.darkening(noshadow, noshadow), excluded))


def test_spill_is_the_darkening_added_away_from_the_true_shadow():
    noshadow = _ground()
    shadow = noshadow.copy()
    shadow[20:30, 20:30] = 100  # the true shadow
    obj = np.zeros((64, 64), bool)
    obj[10:20, 20:30] = True
    assert metrics.spill(shadow, noshadow, shadow, obj) == 0  # the truth adds none
    assert metrics.spill(noshadow, noshadow, shadow, obj) == 0  # nor does identity
    blob = noshadow.copy()
    blob[:, :] = 180  # darkens the whole image by 20 gray levels
    # outside the true shadow dilated by SPILL_DILATE and the object: every pixel 20 darker
    assert metrics.spill(blob, noshadow, shadow, obj) == pytest.approx(20, abs=0.5)
    near = noshadow.copy()
    near[17:33, 17:33] = 150  # darkening within 3 px of the true shadow is not spill
    assert metrics.spill(near, noshadow, shadow, obj) == 0
    brighter = np.full_like(noshadow, 230)  # brightening is not darkening
    assert metrics.spill(brighter, noshadow, shadow, obj) == 0
