"""The `desoba` evaluation protocol (the DESOBA/DESOBAv2 evaluation code's definitions) on
hand-made arrays with values worked out by hand, and `evaluate --predictions` on a toy
dataset: perfect predictions, the identity baseline, missing and unreadable files."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from model.cli import app
from model.metrics import desoba_ber, desoba_pixels, desoba_rmse, desoba_ssim

C1, C2 = 0.01 ** 2, 0.03 ** 2
# The 11-tap Gaussian of sigma 1.5, normalised: the centre tap and its neighbour.
TAPS = [math.exp(-k * k / 4.5) for k in range(-5, 6)]
G0, G1 = TAPS[5] / sum(TAPS), TAPS[6] / sum(TAPS)


def flat(value: float, shape: tuple[int, int] = (4, 4)) -> np.ndarray:
    return np.full((*shape, 3), value, np.uint8)


def ssim_from_moments(mu_x: float, mu_y: float, xx: float, yy: float, xy: float) -> float:
    """SSIM of one window from its weighted sums E[x], E[y], E[x^2], E[y^2], E[xy]."""
    var_x, var_y, cov = xx - mu_x ** 2, yy - mu_y ** 2, xy - mu_x * mu_y
    return ((2 * mu_x * mu_y + C1) * (2 * cov + C2)) / (
        (mu_x ** 2 + mu_y ** 2 + C1) * (var_x + var_y + C2))


def test_their_loading_brings_1_to_63_one_level_down():
    # x / 255 * 2 - 1 and back, (x + 1) / 2 * 255 in float32, truncated to uint8
    values = np.array([[0, 1, 63], [64, 128, 255]], np.uint8)[..., None].repeat(3, axis=2)
    assert desoba_pixels(values)[..., 0].tolist() == [[0, 0, 62], [64, 128, 255]]


def test_grmse_and_lrmse_by_hand():
    gt, pred = flat(100), flat(100)
    pred[0, 0] = 120  # one pixel, all three channels, 20 off
    assert desoba_rmse(gt, pred) == pytest.approx(5.0)  # sqrt(3 * 400 / 48)
    mask = np.zeros((4, 4), np.uint8)
    mask[0, :2] = 255  # two pixels
    # sqrt(MSE(gt*m, pred*m) * H*W / sum(m)) = sqrt(1200 / 48 * 16 / 2): sum(m) counts
    # pixels, so this is the RMSE over the 2 * 3 masked values
    assert desoba_rmse(gt, pred, mask) == pytest.approx(math.sqrt(200.0))
    # their (mask > 0.5) on [-1, 1]: 191 is outside, 192 inside
    mask[0, :2] = 191
    assert math.isnan(desoba_rmse(gt, pred, mask))
    mask[0, :2] = 192
    assert desoba_rmse(gt, pred, mask) == pytest.approx(math.sqrt(200.0))
    # 10 is read as 9 (their uint8 round trip), 70 stays 70
    assert desoba_rmse(flat(10), flat(70)) == pytest.approx(61.0)


def test_lrmse_with_a_full_mask_is_grmse():
    rng = np.random.default_rng(3)
    gt = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    pred = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    full = np.full((256, 256), 255, np.uint8)
    assert desoba_rmse(gt, pred, full) == pytest.approx(desoba_rmse(gt, pred), rel=1e-12)
    assert desoba_ssim(gt, pred, full) == pytest.approx(desoba_ssim(gt, pred), rel=1e-5)


def test_ssim_by_hand_with_zero_padding_and_their_constants():
    image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    assert desoba_ssim(image, image) == pytest.approx(1.0, abs=1e-6)
    # 1x1 images: zero padding leaves only the centre weight w = G0^2 inside the window
    w = G0 * G0
    gt = np.array([[[100, 200, 0]]], np.uint8)
    pred = np.array([[[50, 200, 255]]], np.uint8)
    expected = np.mean([ssim_from_moments(a * w, b * w, a * a * w, b * b * w, a * b * w)
                        for a, b in ((100, 50), (200, 200), (0, 255))])
    assert desoba_ssim(gt, pred) == pytest.approx(expected, rel=1e-4)


def test_lssim_is_the_map_averaged_over_the_mask():
    # 1x2 gray images; the window at a pixel weighs it G0^2 and its neighbour G0 * G1
    x, y = (100.0, 20.0), (60.0, 180.0)
    gt = np.array([[[x[0]] * 3, [x[1]] * 3]], np.uint8)
    pred = np.array([[[y[0]] * 3, [y[1]] * 3]], np.uint8)
    near, far = G0 * G0, G0 * G1

    def at(i: int) -> float:
        j = 1 - i
        return ssim_from_moments(near * x[i] + far * x[j], near * y[i] + far * y[j],
                                 near * x[i] ** 2 + far * x[j] ** 2,
                                 near * y[i] ** 2 + far * y[j] ** 2,
                                 near * x[i] * y[i] + far * x[j] * y[j])

    mask = np.array([[255, 0]], np.uint8)
    assert desoba_ssim(gt, pred, mask) == pytest.approx(at(0), rel=1e-4)
    assert desoba_ssim(gt, pred) == pytest.approx((at(0) + at(1)) / 2, rel=1e-4)
    assert math.isnan(desoba_ssim(gt, pred, np.zeros((1, 2), np.uint8)))


def test_ber_by_hand_over_every_pixel():
    truth = np.zeros((4, 4), np.uint8)
    truth[0] = 255  # 4 shadow pixels, 12 others
    predicted = np.zeros((4, 4), np.uint8)
    predicted[0, :3] = 255  # 3 found, 1 missed
    predicted[3, :2] = 255  # 2 false alarms
    predicted[2, 0] = 191  # their reading (p / 255 * 2 - 1) * 255 >= 127.5: p >= 192
    values = desoba_ber(predicted, truth)
    assert values["LBER"] == pytest.approx(1 - 3 / 4)
    assert values["GBER"] == pytest.approx(1 - (3 / 4 + 10 / 12) / 2)
    predicted[2, 0] = 192  # now a third false alarm
    assert desoba_ber(predicted, truth)["GBER"] == pytest.approx(1 - (3 / 4 + 9 / 12) / 2)
    empty = desoba_ber(predicted, np.zeros((4, 4), np.uint8))
    assert math.isnan(empty["GBER"]) and math.isnan(empty["LBER"])


@pytest.fixture(scope="module")
def toy256(tmp_path_factory) -> Path:
    from dataset_tools.toy import make_toy_dataset

    return make_toy_dataset(tmp_path_factory.mktemp("toy256") / "toy", train=0, test=3,
                            size=256)


def cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def score_folder(data: Path, folder: Path, out: Path, protocol: str) -> tuple[dict, list]:
    code, output = cli("evaluate", "--data", data, "--predictions", folder, "--protocol",
                       protocol, "--workers", "0", "--out", out)
    assert code == 0, output
    assert f"protocol {protocol}" in output
    rows = list(csv.DictReader((out / "per_image.csv").open()))
    return json.loads((out / "metrics.json").read_text()), rows


@pytest.mark.parametrize("protocol", ["ours", "desoba"])
def test_predictions_folder_perfect_and_identity(toy256, tmp_path, protocol):
    perfect = shutil.copytree(toy256 / "test" / "shadow", tmp_path / "perfect")
    summary, rows = score_folder(toy256, perfect, tmp_path / "a", protocol)
    assert summary["protocol"] == protocol and summary["checkpoint"] is None
    assert summary["model"]["GRMSE"] == 0 and summary["model"]["LRMSE"] == 0
    assert summary["model"]["LBER"] == 0 and summary["model"]["GBER"] == 0
    assert summary["identity"]["LRMSE"] > 10
    constants = {"ours": ((0.01 * 255) ** 2, (0.03 * 255) ** 2), "desoba": (C1, C2)}[protocol]
    assert (summary["ssim"]["C1"], summary["ssim"]["C2"]) == pytest.approx(constants)
    assert {row["protocol"] for row in rows} == {protocol}
    assert float(rows[0]["ssim_C1"]) == pytest.approx(constants[0])

    unchanged = shutil.copytree(toy256 / "test" / "noshadow", tmp_path / "unchanged")
    summary, rows = score_folder(toy256, unchanged, tmp_path / "b", protocol)
    assert summary["model"] == summary["identity"]
    for row in rows:
        for name in summary["identity"]:
            assert row[name] == row[f"identity_{name}"], (row["id"], name)


def test_missing_or_unreadable_prediction_is_one_line(toy256, tmp_path):
    folder = shutil.copytree(toy256 / "test" / "shadow", tmp_path / "pred")
    image = cv2.imread(str(folder / "000001.png"))
    (folder / "000001.png").unlink()
    cv2.imwrite(str(folder / "000001.jpg"), image)  # .jpg is read as well
    code, output = cli("evaluate", "--data", toy256, "--predictions", folder, "--protocol",
                       "desoba", "--workers", "0", "--out", tmp_path / "ok")
    assert code == 0, output

    (folder / "000001.jpg").unlink()
    code, output = cli("evaluate", "--data", toy256, "--predictions", folder, "--workers", "0",
                       "--out", tmp_path / "missing")
    assert code == 1 and len(output.strip().splitlines()) == 1
    assert f"{folder / '000001.png'}: missing prediction" in output
    assert not (tmp_path / "missing").exists()

    (folder / "000001.png").write_bytes(b"not a png")
    code, output = cli("evaluate", "--data", toy256, "--predictions", folder, "--workers", "0",
                       "--out", tmp_path / "unreadable")
    assert code == 1 and len(output.strip().splitlines()) == 1
    assert f"{folder / '000001.png'}: not a readable image" in output

    code, output = cli("evaluate", "--data", toy256, "--predictions", folder, "--protocol",
                       "desoba", "--size", "64")
    assert code == 2 and "256x256" in output  # argument errors exit 2 (issue 28)
    code, output = cli("evaluate", "--data", toy256)
    assert code == 2 and "--checkpoint or --predictions" in output


class DarkenLowerHalf(torch.nn.Module):
    """A stand-in pipeline: (image, mask) -> (image darkened below the middle, attention),
    with ShadowPipeline's factor interface."""

    head, condition = "factor", "none"

    def with_factor(self, image: torch.Tensor, mask: torch.Tensor,
                    light: torch.Tensor | None = None,
                    probabilities: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        factor = torch.ones_like(image)
        factor[..., image.shape[2] // 2:, :] = 0.7
        return image * factor, factor, torch.full_like(image[:, :2], 0.6)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        shadowed, _, attention = self.with_factor(image, mask)
        return shadowed, attention


def test_a_checkpoint_and_a_folder_of_its_predictions_score_alike(toy256, tmp_path):
    from dataset_tools.layout import write_png
    from model.config import EvalConfig
    from model.evaluate import batches, evaluate
    from model.pipeline import LoadedPipeline, predict_any_size

    loaded, cpu = LoadedPipeline(DarkenLowerHalf(), 256, 0.5), torch.device("cpu")
    config = EvalConfig(toy256, checkpoint=Path("stand-in.pt"), protocol="desoba", workers=0)
    summary, _ = evaluate(config, loaded, cpu)
    assert "IoU_occluder" in summary["model"] and summary["predictions"] is None
    assert summary["model"]["GRMSE"] > summary["identity"]["GRMSE"]
    for batch in batches(config):
        outputs = predict_any_size(loaded, batch["noshadow"], batch["mask"], cpu)
        for sample_id, output in zip(batch["id"], outputs, strict=True):
            write_png(tmp_path / "pred" / f"{sample_id}.png", output.shadow)
    from_files, _ = evaluate(dataclasses.replace(config, checkpoint=None,
                                                 predictions=tmp_path / "pred"))
    assert from_files["identity"] == summary["identity"]
    for name, value in from_files["model"].items():
        assert value == summary["model"][name], name
