"""A light-conditioned SG network from the command line: train-sg --condition light on the
toy dataset (its manifest records each sample's light), then predict with a given light,
with an estimated one, evaluate with the true light, and export with the light as an input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dataset_tools.layout import read_image
from model.cli import app


def cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def conditioned(toy_dataset, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("light-runs")
    common = ["--data", toy_dataset, "--out", out, "--size", "64", "--batch-size", "4",
              "--epochs", "1", "--workers", "0", "--device", "cpu", "--encoder-weights", "none"]
    code, output = cli("train-attention", *common, "--encoder", "resnet18",
                       "--decoder-width", "0.25")
    assert code == 0, output
    attention = next(out.glob("*-attention-toy")) / "checkpoints" / "best.pt"
    code, output = cli("train-sg", *common, "--attention", attention, "--vgg-weights", "none",
                       "--encoder", "resnet18", "--decoder-width", "0.25", "--refine-width", "8",
                       "--condition", "light", "--condition-dropout", "0.5")
    assert code == 0, output
    run = next(out.glob("*-sg-toy"))
    config = json.loads((run / "config.json").read_text())
    assert config["condition"] == "light" and config["condition_dropout"] == 0.5
    return {"sg": run / "checkpoints" / "best.pt", "attention": attention}


def one_photo(toy_dataset: Path) -> tuple[Path, Path]:
    sample = toy_dataset / "test"
    return sample / "noshadow" / "000012.png", sample / "mask" / "000012.png"


@pytest.mark.slow
def test_predict_with_a_given_light_writes_it_beside_the_image(conditioned, toy_dataset,
                                                               tmp_path):
    image, mask = one_photo(toy_dataset)
    code, output = cli("predict", "--images", image, "--masks", mask, "--out", tmp_path,
                       "--checkpoint", conditioned["sg"], "--device", "cpu",
                       "--shadow-direction", "135", "--elevation", "30", "--softness", "0.2",
                       "--save-light")
    assert code == 0, output
    light = json.loads((tmp_path / "light" / "000012.json").read_text())
    assert light["source"] == "given"
    assert light["direction_deg"] == pytest.approx(135.0, abs=1e-3)
    assert light["elevation_deg"] == pytest.approx(30.0, abs=1e-3)
    assert light["softness"] == pytest.approx(0.2, abs=1e-6)
    assert (tmp_path / "000012.png").is_file()


def test_predict_without_a_light_estimates_it_or_runs_without_with_no_light(conditioned,
                                                                         toy_dataset, tmp_path):
    image, mask = one_photo(toy_dataset)
    code, output = cli("predict", "--images", image, "--masks", mask, "--out", tmp_path / "a",
                       "--checkpoint", conditioned["sg"], "--device", "cpu", "--save-light",
                       "--min-confidence", "0")
    assert code == 0, output
    assert "light: estimated from each photo" in output
    light = json.loads((tmp_path / "a" / "light" / "000012.json").read_text())
    # the attention block's light head (train-attention's default) always gives a light: a
    # direction, or none (overcast), with an elevation and softness in range and a confidence
    assert light["source"] == "estimated" and 0 <= light["confidence"] <= 1
    assert 5 <= light["elevation_deg"] <= 85 and 0 <= light["softness"] <= 1
    assert light["direction_deg"] is None or 0 <= light["direction_deg"] < 360
    code, output = cli("predict", "--images", image, "--masks", mask, "--out", tmp_path / "b",
                       "--checkpoint", conditioned["sg"], "--device", "cpu", "--save-light",
                       "--no-light")
    assert code == 0, output
    assert "estimated" not in output
    light = json.loads((tmp_path / "b" / "light" / "000012.json").read_text())
    assert light["source"] == "none" and light["direction_deg"] is None


def test_predict_runs_without_a_light_where_the_estimate_is_less_confident_than_asked(
        conditioned, toy_dataset, tmp_path):
    """--min-confidence 1: every estimate (confidence below 1) falls back to no light, which
    --save-light says with the estimate's confidence, and the image is --no-light's; a
    threshold outside [0, 1] is refused in one line."""
    image, mask = one_photo(toy_dataset)
    code, output = cli("predict", "--images", image, "--masks", mask, "--out", tmp_path / "a",
                       "--checkpoint", conditioned["sg"], "--device", "cpu", "--save-light",
                       "--min-confidence", "1")
    assert code == 0, output
    light = json.loads((tmp_path / "a" / "light" / "000012.json").read_text())
    assert light["source"] == "none" and light["direction_deg"] is None
    assert "--min-confidence" in light["reason"] and 0 <= light["confidence"] < 1
    code, output = cli("predict", "--images", image, "--masks", mask, "--out", tmp_path / "b",
                       "--checkpoint", conditioned["sg"], "--device", "cpu", "--no-light")
    assert code == 0, output
    assert np.array_equal(read_image(tmp_path / "a" / "000012.png", "RGB"),
                          read_image(tmp_path / "b" / "000012.png", "RGB"))
    code, output = cli("predict", "--images", image, "--masks", mask, "--out", tmp_path / "c",
                       "--checkpoint", conditioned["sg"], "--device", "cpu",
                       "--min-confidence", "1.5")
    assert code == 2 and "--min-confidence" in output, output
    assert not (tmp_path / "c").exists()


def test_predict_runs_the_network_at_another_size_than_it_was_trained_at(conditioned,
                                                                        toy_dataset, tmp_path):
    """The networks are fully convolutional: trained at 64, run at 96 and 128 on a 64-px
    photo, the output keeps the photo's size; a size that is no multiple of 32 is refused."""
    image, mask = one_photo(toy_dataset)
    outputs = {}
    for size in (0, 96, 128):
        code, output = cli("predict", "--images", image, "--masks", mask, "--out",
                           tmp_path / str(size), "--checkpoint", conditioned["sg"], "--device",
                           "cpu", "--shadow-direction", "45", "--network-size", size)
        assert code == 0, output
        outputs[size] = read_image(tmp_path / str(size) / "000012.png", "RGB")
    assert outputs[96].shape == outputs[128].shape == outputs[0].shape
    code, output = cli("predict", "--images", image, "--masks", mask, "--out", tmp_path / "x",
                       "--checkpoint", conditioned["sg"], "--device", "cpu",
                       "--network-size", "100")
    assert code == 2 and "--network-size 100" in output


def test_a_light_for_a_model_that_takes_none_is_one_line(toy_dataset, tmp_path, monkeypatch):
    from model import checkpoint as ckpt
    from model.networks import AttentionNet, SGNet

    networks = {"sg": SGNet(), "attention": AttentionNet()}  # trained without a light
    ckpt.save(tmp_path / "sg.pt", {
        "kind": "sg", "config": {"size": 64},
        "models": {name: network.state_dict() for name, network in networks.items()},
        "archs": {name: network.arch for name, network in networks.items()}})
    image, mask = one_photo(toy_dataset)
    code, output = cli("predict", "--images", image, "--masks", mask, "--out", tmp_path / "o",
                       "--checkpoint", tmp_path / "sg.pt", "--device", "cpu",
                       "--shadow-direction", "90")
    lines = [line for line in output.splitlines() if line.strip()]
    assert code != 0 and "takes no light" in lines[-1], output
    code, output = cli("predict", "--images", image, "--masks", mask, "--out", tmp_path,
                       "--device", "cpu", "--softness", "2")
    assert code != 0 and "--softness 2" in output


def test_evaluate_gives_a_conditioned_model_the_true_light(conditioned, toy_dataset, tmp_path):
    code, output = cli("evaluate", "--data", toy_dataset, "--checkpoint", conditioned["sg"],
                       "--size", "64", "--workers", "0", "--out", tmp_path, "--device", "cpu",
                       "--light", "true")
    assert code == 0, output
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["config"]["light"] == "true" and np.isfinite(summary["model"]["LRMSE"])


def test_evaluate_scores_the_estimated_light_and_can_flatten_the_object(conditioned,
                                                                       toy_dataset, tmp_path):
    code, output = cli("evaluate", "--data", toy_dataset, "--checkpoint", conditioned["sg"],
                       "--size", "64", "--workers", "0", "--out", tmp_path, "--device", "cpu",
                       "--light", "estimated", "--flat-object")
    assert code == 0, output
    summary = json.loads((tmp_path / "metrics.json").read_text())
    estimate = summary["light_estimate"]
    directional = sum(row["true_light_deg"] != "nan" for row in
                      csv.DictReader((tmp_path / "per_image.csv").open()))
    assert estimate["count"] == directional > 0
    assert 0 <= estimate["median_deg"] <= 180 and 0 <= estimate["within_30"] <= 1
    assert summary["model"]["spill"] >= 0 and summary["identity"]["spill"] == 0
    code, output = cli("evaluate", "--data", toy_dataset, "--predictions", tmp_path,
                       "--flat-object", "--out", tmp_path / "x")
    assert code == 2 and "--flat-object" in output


def test_the_object_flattened_to_its_mean_colour():
    from model.evaluate import flat_object, keep_object

    image = np.zeros((4, 4, 3), np.uint8)
    image[:2, :2] = [[[10, 20, 30], [30, 40, 50]], [[10, 20, 30], [30, 40, 50]]]
    mask = np.zeros((4, 4), np.uint8)
    mask[:2, :2] = 255
    flat = flat_object(image, mask)
    assert (flat[:2, :2] == [20, 30, 40]).all() and (flat[2:] == 0).all()
    assert np.array_equal(keep_object(flat, image, mask), image)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_keeps_the_light_as_an_input(conditioned, tmp_path, fmt):
    from model.export import probe_inputs
    from model.pipeline import load_pipeline

    out = tmp_path / f"pipeline.{fmt}"
    code, output = cli("export", "--checkpoint", conditioned["sg"], "--format", fmt,
                       "--out", out)
    assert code == 0, output
    record = json.loads(out.with_suffix(out.suffix + ".json").read_text())
    assert set(record["inputs"]) == {"image", "mask", "light"}
    image, mask, light = probe_inputs(64, count=3, conditioned=True)  # another batch size
    with torch.no_grad():
        expected = load_pipeline(conditioned["sg"]).pipeline(image, mask, light)[0].numpy()
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = session.run(["shadow"], {"image": image.numpy(), "mask": mask.numpy(),
                                       "light": light.numpy()})[0]
    else:
        got = torch.jit.load(str(out))(image, mask, light)[0].detach().numpy()
    assert np.abs(got - expected).max() < 1e-3
