"""The crisp outline (`model.pipeline.crisp_factor`, predict and evaluate --crisp): on a
hand-made blob it keeps the shadow's place and darkness, narrows its edge and removes the
darkening around it, at any photo size; a factor without a shadow stays as it is."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from model.metrics import edge_width, spill
from model.pipeline import CRISP_SIGMA, crisp_factor


def blob(size: int, darkness: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(factor, true shadow (H, W) bool, object (H, W) bool): a disk of shadow beside a square
    object, the network-like prediction of it blurred by a Gaussian of 6 px per 256."""
    scale = size / 256
    shadow = np.zeros((size, size), np.uint8)
    cv2.circle(shadow, (int(150 * scale), int(128 * scale)), int(30 * scale), 1, -1)
    obj = np.zeros((size, size), bool)
    obj[int(100 * scale):int(156 * scale), int(60 * scale):int(100 * scale)] = True
    soft = cv2.GaussianBlur(shadow.astype(np.float32), (0, 0), 6 * scale)
    factor = np.repeat((1.0 - darkness * soft)[..., None], 3, axis=2).astype(np.float32)
    factor[obj] = 1.0
    return factor, shadow.astype(bool), obj


def as_image(factor: np.ndarray, grey: float = 160.0) -> np.ndarray:
    return (np.clip(grey * factor, 0, 255) + 0.5).astype(np.uint8)


@pytest.mark.parametrize("size", [256, 512])
def test_a_blob_gets_a_crisp_edge_and_no_darkening_around_it(size):
    factor, shadow, obj = blob(size)
    crisp = crisp_factor(factor, obj)
    assert crisp.shape == factor.shape and crisp.dtype == np.float32
    assert crisp.min() >= 0.0 and crisp.max() <= 1.0
    assert np.all(crisp[obj] == 1.0)
    # the same place: its half-darkening region is the true disk, give or take a pixel's rim
    darkened = (1.0 - crisp.mean(axis=2)) > 0.25 * 0.5
    assert np.count_nonzero(darkened ^ shadow) < 0.15 * np.count_nonzero(shadow)
    # the darkness inside: the blob's own over its half-peak region (a blurred disk: < 0.5)
    assert 0.3 < 1.0 - crisp[shadow].mean() < 0.5
    photo = np.full((size, size, 3), 160, np.uint8)
    truth = as_image(np.where(shadow[..., None], 0.6, 1.0))
    before, after = as_image(factor), as_image(crisp)
    darkening = lambda image: (160.0 - image.mean(axis=2)) / 160.0  # noqa: E731
    # the edge: CRISP_SIGMA per 256 px (10-90 %: 2.56 sigma), the blob's 6 px per 256 far wider
    expected = 2.56 * CRISP_SIGMA * size / 256
    assert edge_width(darkening(after), obj) == pytest.approx(expected, rel=0.35)
    assert edge_width(darkening(before), obj) > 3 * edge_width(darkening(after), obj)
    # spill: the darkening added outside the true shadow dilated by 5 px
    assert spill(after, photo, truth, obj) < 0.05 * spill(before, photo, truth, obj)


def test_a_shadow_that_meets_the_object_stays_dark_up_to_it():
    obj = np.zeros((256, 256), bool)
    obj[100:156, 60:100] = True
    shadow = np.zeros((256, 256), np.float32)
    shadow[130:156, 100:200] = 1.0  # from the object's right side to the right
    factor = np.repeat((1.0 - 0.5 * cv2.GaussianBlur(shadow, (0, 0), 6))[..., None], 3, axis=2)
    factor[obj] = 1.0
    crisp = crisp_factor(factor, obj)
    darkness = 1.0 - crisp.mean(axis=2)
    inside = darkness[140:146, 120:140].mean()
    assert inside > 0.3
    assert darkness[140:146, 100:102].mean() > 0.9 * inside  # no lighter seam at the object


def test_a_factor_without_a_shadow_is_left_as_it_is():
    factor, _, obj = blob(128, darkness=0.04)  # below the darkening that counts as shadow
    assert crisp_factor(factor, obj) is factor
    ones = np.ones((64, 64, 3), np.float32)
    assert crisp_factor(ones, np.zeros((64, 64), bool)) is ones


def test_predict_and_evaluate_take_crisp(toy_dataset, tmp_path):
    """predict --crisp with the shipped model on a toy photo: the object's pixels are the
    photo's, the shadow lies where the plain prediction darkens; evaluate --crisp scores it,
    and refuses it with --predictions (there is no factor to redraw)."""
    pytest.importorskip("segmentation_models_pytorch")
    from dataset_tools.layout import read_image
    from tests.model.test_predict_cli import cli

    photo = toy_dataset / "test" / "noshadow" / "000012.png"
    mask = toy_dataset / "test" / "mask" / "000012.png"
    for name, extra in (("plain", ()), ("crisp", ("--crisp",))):
        code, output = cli("predict", "--images", photo, "--masks", mask, "--out",
                           tmp_path / name, "--device", "cpu", "--shadow-direction", "90",
                           *extra)
        assert code == 0, output
    image, inside = read_image(photo, "RGB"), read_image(mask, "L") >= 128
    plain = read_image(tmp_path / "plain" / "000012.png", "RGB")
    crisp = read_image(tmp_path / "crisp" / "000012.png", "RGB")
    assert np.array_equal(crisp[inside], image[inside]) and not np.array_equal(crisp, plain)
    darkened = lambda result: (image.astype(int) - result).mean(axis=2) > 1  # noqa: E731
    near = cv2.dilate(darkened(plain).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert darkened(crisp).any() and not np.any(darkened(crisp) & ~near)
    spills = []
    for name, extra in (("eval", ()), ("eval-crisp", ("--crisp",))):
        code, output = cli("evaluate", "--data", toy_dataset, "--checkpoint", "default",
                           "--size", "64", "--workers", "0", "--out", tmp_path / name,
                           "--device", "cpu", *extra)
        assert code == 0, output
        summary = json.loads((tmp_path / name / "metrics.json").read_text())
        assert summary["config"]["crisp"] is bool(extra)
        spills.append(summary["model"]["spill"])
    assert spills[1] != spills[0]  # the crisp shadows were scored, not the network's own
    code, output = cli("evaluate", "--data", toy_dataset, "--predictions", tmp_path / "crisp",
                       "--crisp", "--out", tmp_path / "x")
    assert code == 2 and "--crisp" in output, output
