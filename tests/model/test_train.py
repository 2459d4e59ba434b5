"""Training, resume, DDP, evaluate, predict and export of model/ on CPU with tiny real models
trained on a toy dataset; bad input gives one line naming the file."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.helpers import ROOT

pytest.importorskip("segmentation_models_pytorch")
from typer.testing import CliRunner  # noqa: E402

from model import checkpoint as ckpt  # noqa: E402
from model.cli import app  # noqa: E402
from model.config import AttentionConfig, SGConfig  # noqa: E402
from model.data import ShadowARDataset, collate, list_split  # noqa: E402
from model.errors import TrainingError  # noqa: E402
from model.pipeline import PRETRAINED, checkpoint_weights  # noqa: E402
from model.runtime import Runtime  # noqa: E402
from model.train import fit  # noqa: E402
from model.train_attention import AttentionTask  # noqa: E402
from model.train_sg import SGTask  # noqa: E402

CPU = Runtime(torch.device("cpu"))
TINY = {"size": 64, "batch_size": 4, "workers": 0, "device": "cpu", "encoder_weights": "none",
        "log_every": 1, "val_fraction": 0.25}


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def first_batch(data: Path, count: int = 4) -> dict:
    dataset = ShadowARDataset(list_split(data, "train")[:count], 64)
    return collate([dataset[index] for index in range(count)])


@pytest.mark.slow
def test_attention_steps_lower_the_dice_loss(toy_dataset, tmp_path):
    task = AttentionTask(AttentionConfig(data=toy_dataset, out=tmp_path, lr=1e-3, **TINY), CPU)
    batch = first_batch(toy_dataset)
    losses = [float(task.train_step(batch, 0)["dice"]) for _ in range(15)]
    assert losses[-1] < losses[0] - 0.02, losses


@pytest.mark.slow
def test_sg_steps_lower_the_reconstruction_loss(toy_dataset, tmp_path):
    config = SGConfig(data=toy_dataset, out=tmp_path, lr=1e-3, vgg_weights="none",
                      region_weight=6.0, **TINY)
    with pytest.warns(UserWarning, match="ground-truth masks"):
        task = SGTask(config, CPU)
    batch = first_batch(toy_dataset)
    losses = [float(task.train_step(batch, 0)["l2"]) for _ in range(15)]
    assert losses[-1] < losses[0] * 0.8, losses


def state_of(path: Path) -> dict[str, torch.Tensor]:
    models = ckpt.load(path)["models"]
    return {f"{name}.{key}": value for name, state in models.items()
            for key, value in state.items()}


class Killed(Exception):
    pass


@pytest.mark.slow
def test_killed_and_resumed_run_matches_an_uninterrupted_one(toy_dataset, trained, tmp_path):
    # predicted masks mixed with ground truth at random: the RNG state must resume too
    config = SGConfig(data=toy_dataset, out=tmp_path, epochs=2, vgg_weights="none",
                      discriminator="patchgan", attention=trained["attention"],
                      gt_mask_prob=0.5, **TINY)

    def run(run_dir: Path, stop_after: int | None = None, resume: Path | None = None) -> None:
        def kill(epoch: int) -> None:
            if epoch == stop_after:
                raise Killed

        task = SGTask(config, CPU)
        fit(task, config, CPU, run_dir, resume, on_epoch=kill)

    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    run(straight)
    with pytest.raises(Killed):
        run(interrupted, stop_after=1)
    assert ckpt.load(interrupted / "checkpoints" / "last.pt")["epoch"] == 1
    run(interrupted, resume=interrupted / "checkpoints" / "last.pt")
    expected = state_of(straight / "checkpoints" / "last.pt")
    resumed = state_of(interrupted / "checkpoints" / "last.pt")
    assert expected.keys() == resumed.keys()
    different = [key for key in expected if not torch.equal(expected[key], resumed[key])]
    assert not different, different[:5]
    assert not list(interrupted.rglob("*.partial"))
    lines = [json.loads(line) for line in (straight / "stats.jsonl").read_text().splitlines()]
    assert {"train/l2", "train/d", "train/g_adv"} <= set(lines[0])
    assert any("val/lrmse" in line for line in lines)


def test_nan_loss_stops_before_any_checkpoint(toy_dataset, tmp_path):
    config = AttentionConfig(data=toy_dataset, out=tmp_path, epochs=1, **TINY)
    task = AttentionTask(config, CPU)
    real_step = task.train_step

    def poisoned(batch, epoch):
        losses = real_step(batch, epoch)
        return {"dice": losses["dice"] * float("nan")}

    task.train_step = poisoned
    with pytest.raises(TrainingError, match=r"step 1: train/dice is nan"):
        fit(task, config, CPU, tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.fixture(scope="module")
def trained(toy_dataset, tmp_path_factory) -> dict[str, Path]:
    """Attention, then SG on its predictions, through the CLI: 1 epoch each."""
    out = tmp_path_factory.mktemp("runs")
    common = ["--data", toy_dataset, "--out", out, "--size", "64", "--batch-size", "4",
              "--epochs", "1", "--workers", "0", "--device", "cpu", "--encoder-weights", "none"]
    code, output = cli("train-attention", *common)
    assert code == 0, output
    attention = next(out.glob("*-attention-toy")) / "checkpoints" / "best.pt"
    code, output = cli("train-sg", *common, "--attention", attention, "--vgg-weights", "none",
                       "--region-weight", "6")
    assert code == 0, output
    run = next(out.glob("*-sg-toy"))
    for name in ("config.json", "stats.jsonl", "images/epoch_0001.png",
                 "checkpoints/best.safetensors", "checkpoints/last.pt"):
        assert (run / name).is_file(), name
    assert list((run / "tensorboard").glob("events.*"))
    assert json.loads((run / "config.json").read_text())["attention"] == str(attention)
    return {"attention": attention, "sg": run / "checkpoints" / "best.pt", "run": run}



def test_init_fine_tunes_from_a_checkpoint_with_the_spill_term(trained, toy_dataset, tmp_path,
                                                                capsys):
    common = {"data": toy_dataset, "out": tmp_path, "vgg_weights": "none",
              "attention": trained["attention"], **TINY}
    stored = ckpt.load(trained["sg"])["models"]
    task = SGTask(SGConfig(init=trained["sg"], **common), CPU)
    for name, network in (("sg", task.generator), ("discriminator", task.discriminator)):
        state = network.state_dict()
        assert all(torch.equal(state[key], value) for key, value in stored[name].items()), name
    # the exported weights hold no discriminator: G from them, D from random init (said)
    exported = trained["run"] / "checkpoints" / "best.safetensors"
    task = SGTask(SGConfig(init=exported, betas=(10.0, 1.0, 0.01), **common), CPU)
    assert "discriminator starts from random init" in capsys.readouterr().out
    state = task.generator.state_dict()
    assert all(torch.equal(state[key], value) for key, value in stored["sg"].items())
    with pytest.raises(ckpt.CheckpointError, match="does not match"):
        SGTask(SGConfig(init=trained["sg"], refine_width=8, **common), CPU)
    # the pretrained model, both networks, under its own architecture options (its card's)
    card = json.loads((ROOT / "model" / "pretrained" / "card.json").read_text())["config"]
    arch = {key: card[key] for key in ("encoder", "decoder_width", "refine_width", "head",
                                       "condition", "hint")}
    task = SGTask(SGConfig(**{**common, "attention": Path("default")}, init=Path("default"),
                           **arch), CPU)
    shipped = checkpoint_weights(PRETRAINED)[0]
    state = task.generator.state_dict()
    assert all(torch.equal(state[key], value.float() if value.is_floating_point() else value)
               for key, value in shipped["sg"].items())
    start = shutil.copy(trained["sg"], tmp_path / "start.pt")
    code, output = cli("train-sg", "--data", toy_dataset, "--out", tmp_path / "cli", "--size",
                       "64", "--batch-size", "4", "--epochs", "1", "--workers", "0", "--device",
                       "cpu", "--attention", trained["attention"], "--vgg-weights", "none",
                       "--init", start, "--spill-weight", "1", "--log-every", "1")
    assert code == 0, output
    run = next((tmp_path / "cli").glob("*-sg-toy"))
    lines = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert all(line["train/spill"] >= 0 for line in lines if "train/spill" in line)
    assert any("train/spill" in line for line in lines)
    assert json.loads((run / "config.json").read_text())["init"] == str(start)
    # a resumed run takes its weights from last.pt: the --init file is no longer needed
    Path(start).unlink()
    code, output = cli("train-sg", "--resume", run, "--epochs", "2")
    assert code == 0, output
    assert ckpt.load(run / "checkpoints" / "last.pt")["epoch"] == 2


def test_evaluate_writes_metrics_with_the_identity_baseline(trained, toy_dataset, tmp_path):
    code, output = cli("evaluate", "--data", toy_dataset, "--checkpoint", trained["sg"],
                       "--size", "64", "--workers", "0", "--out", tmp_path, "--device", "cpu")
    assert code == 0, output
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["count"] == 4
    for name in ("GRMSE", "LRMSE", "GSSIM", "LSSIM", "GBER", "LBER", "ACC", "IoU_occluder"):
        assert np.isfinite(summary["model"][name]), name
    rows = list(csv.DictReader((tmp_path / "per_image.csv").open()))
    assert [row["id"] for row in rows] == sorted(path.stem for path in
                                                 (toy_dataset / "test" / "noshadow").iterdir())
    # the identity baseline, recomputed here from the files
    from model.metrics import rmse

    values = []
    for row in rows:
        shadow = cv2.imread(str(toy_dataset / "test" / "shadow" / f"{row['id']}.png"))
        noshadow = cv2.imread(str(toy_dataset / "test" / "noshadow" / f"{row['id']}.png"))
        smask = cv2.imread(str(toy_dataset / "test" / "smask" / f"{row['id']}.png"), 0) > 127
        values.append(rmse(shadow, noshadow, smask))
        assert float(row["identity_LRMSE"]) == pytest.approx(values[-1])
    assert summary["identity"]["LRMSE"] == pytest.approx(np.mean(values))
    assert "LRMSE" in output and "identity" in output


def test_predict_keeps_names_and_sizes(trained, toy_dataset, tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    sizes = {"a.png": (90, 70), "b.jpg": (64, 64), "c.png": (33, 120)}
    for index, (name, (width, height)) in enumerate(sizes.items()):
        sample_id = f"{12 + index:06d}"
        image = cv2.imread(str(toy_dataset / "test" / "noshadow" / f"{sample_id}.png"))
        mask = cv2.imread(str(toy_dataset / "test" / "mask" / f"{sample_id}.png"), 0)
        cv2.imwrite(str(images / name), cv2.resize(image, (width, height)))
        cv2.imwrite(str(masks / f"{Path(name).stem}.png"),
                    cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST))
    out = tmp_path / "out"
    code, output = cli("predict", "--images", images, "--masks", masks, "--out", out,
                       "--checkpoint", trained["sg"].with_suffix(".safetensors"),
                       "--device", "cpu", "--save-shadow-mask")
    assert code == 0, output
    for name, (width, height) in sizes.items():
        result = cv2.imread(str(out / name))
        assert result.shape == (height, width, 3), name
        assert cv2.imread(str(out / "shadow_mask" / f"{Path(name).stem}.png"), 0).shape == \
            (height, width)
        original = cv2.imread(str(images / name))
        inside = cv2.imread(str(masks / f"{Path(name).stem}.png"), 0) >= 128
        if name.endswith(".png"):  # the object's own pixels are kept exactly
            assert np.array_equal(result[inside], original[inside])
    code, output = cli("predict", "--images", images / "a.png", "--masks", masks / "a.png",
                       "--out", out, "--checkpoint", trained["sg"], "--device", "cpu")
    assert code == 0 and "already there" in output


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_matches_pytorch(trained, tmp_path, fmt):
    out = tmp_path / f"pipeline.{fmt}"
    code, output = cli("export", "--checkpoint", trained["sg"], "--format", fmt, "--out", out)
    assert code == 0, output
    record = json.loads(out.with_suffix(out.suffix + ".json").read_text())
    assert max(record["max_abs_difference"].values()) <= 1e-3
    from model.export import probe_inputs
    from model.pipeline import load_pipeline

    image, mask = probe_inputs(64, count=3)  # another batch size than the traced one
    with torch.no_grad():
        expected = load_pipeline(trained["sg"]).pipeline(image, mask)[0].numpy()
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = session.run(["shadow"], {"image": image.numpy(), "mask": mask.numpy()})[0]
    else:
        got = torch.jit.load(str(out))(image, mask)[0].detach().numpy()
    assert got.shape == (3, 3, 64, 64)
    assert np.abs(got - expected).max() < 1e-3


def broken_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def test_bad_inputs_give_one_line_naming_the_file(trained, toy_dataset, tmp_path):
    common = ["--size", "64", "--batch-size", "4", "--epochs", "1", "--workers", "0",
              "--device", "cpu", "--encoder-weights", "none", "--out", tmp_path / "runs"]
    wrong_size = broken_copy(toy_dataset, tmp_path / "wrong_size")
    mask_path = wrong_size / "train" / "mask" / "000003.png"
    cv2.imwrite(str(mask_path), np.zeros((32, 32), np.uint8))
    code, output = cli("train-attention", "--data", wrong_size, *common)
    assert code == 1 and str(mask_path) in output and "validation" in output
    assert "Traceback" not in output

    unreadable = broken_copy(toy_dataset, tmp_path / "unreadable")
    for index in range(12):  # every train image: whichever the loader reads first
        (unreadable / "train" / "noshadow" / f"{index:06d}.png").write_bytes(b"not a png")
    code, output = cli("train-attention", "--data", unreadable, *common, "--no-validate-data")
    assert code == 1 and "Traceback" not in output
    assert re.search(rf"{unreadable}/train/noshadow/0000\d\d.png: not a readable image", output)
    assert not list((tmp_path / "runs").rglob("*.pt"))

    code, output = cli("evaluate", "--data", toy_dataset, "--checkpoint", trained["attention"],
                       "--device", "cpu")
    assert code == 1 and "holds no SG network" in output and str(trained["attention"]) in output

    code, output = cli("train-sg", "--data", toy_dataset, *common, "--attention",
                       trained["sg"].parent / "missing.pt")
    assert code == 1 and "missing.pt: checkpoint not found" in output
    assert not list((tmp_path / "runs").glob("*-sg-*"))  # no run folder for a failed start

    from model.networks import SGNet

    state = ckpt.load(trained["sg"])
    with pytest.raises(ckpt.CheckpointError, match="does not match"):
        ckpt.load_model(SGNet("resnet34"), state["models"]["sg"], state["archs"]["sg"],
                        trained["sg"])

    code, output = cli("predict", "--images", toy_dataset / "test" / "noshadow", "--masks",
                       tmp_path, "--out", tmp_path / "p", "--checkpoint", trained["sg"])
    assert code == 1 and "no mask named 000012.*" in output


def test_pretrained_weights_from_a_local_file_or_a_clear_error(tmp_path, monkeypatch):
    from torchvision.models import resnet18

    from model.networks import SGNet
    from model.weights import WeightsError, load_encoder, resolve

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(WeightsError, match="resnet18-f37072fd.pth"):
        resolve("imagenet", "resnet18", "SG encoder")
    reference = resnet18(weights=None)
    path = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    assert resolve("auto", "resnet18", "SG encoder") == path
    network = SGNet()
    load_encoder(network.unet.encoder, path)
    assert torch.equal(network.unet.encoder.layer1[0].conv1.weight,
                       reference.layer1[0].conv1.weight)
    conv = network.unet.encoder.conv1.weight
    assert conv.shape[1] == 6
    assert torch.allclose(conv[:, 3:], reference.conv1.weight.detach() * 0.5)
    with pytest.raises(WeightsError, match="not found"):
        resolve(str(tmp_path / "nope.pth"), "resnet18", "SG encoder")


@pytest.mark.slow
def test_ddp_on_cpu_with_two_gloo_processes(toy_dataset, tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", "2", "-m", "model.cli", "train-attention",
               "--data", str(toy_dataset), "--out", str(tmp_path), "--size", "64",
               "--batch-size", "2", "--epochs", "1", "--workers", "0", "--device", "cpu",
               "--encoder-weights", "none"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = list(tmp_path.glob("*-attention-toy"))
    assert len(runs) == 1  # rank 0 alone made the run folder
    state = ckpt.load(runs[0] / "checkpoints" / "last.pt", "attention")
    assert state["epoch"] == 1
    lines = [json.loads(line) for line in (runs[0] / "stats.jsonl").read_text().splitlines()]
    assert np.isfinite(lines[-1]["val/iou"])


@pytest.mark.slow
def test_cli_resume_extends_a_run(toy_dataset, tmp_path):
    common = ["--data", toy_dataset, "--out", tmp_path, "--size", "64", "--batch-size", "4",
              "--workers", "0", "--device", "cpu", "--encoder-weights", "none"]
    code, output = cli("train-attention", *common, "--epochs", "1")
    assert code == 0, output
    run = next(tmp_path.glob("*-attention-toy"))
    code, output = cli("train-attention", *common, "--resume", run, "--epochs", "2")
    assert code == 0 and "resuming" in output, output
    assert ckpt.load(run / "checkpoints" / "last.pt")["epoch"] == 2
    epochs = [json.loads(line)["epoch"] for line in (run / "stats.jsonl").read_text().splitlines()
              if "val/iou" in line]
    assert epochs == [1, 2]
    code, output = cli("train-attention", *common, "--resume", tmp_path / "nothing")
    assert code == 1 and "not a run folder" in output


def test_a_hand_made_dataset_without_smask_or_manifest_trains(toy_dataset, tmp_path):
    from dataset_tools.masks import smask_from_pair

    plain = broken_copy(toy_dataset, tmp_path / "plain")
    for name in ("manifest.jsonl", "dataset.json"):
        (plain / name).unlink()
    for split in ("train", "test"):
        shutil.rmtree(plain / split / "smask")
    sample = ShadowARDataset(list_split(plain, "train"), 64)[0]
    shadow = cv2.imread(str(plain / "train" / "shadow" / "000000.png"))[..., ::-1]
    noshadow = cv2.imread(str(plain / "train" / "noshadow" / "000000.png"))[..., ::-1]
    mask = cv2.imread(str(plain / "train" / "mask" / "000000.png"), 0)
    expected = smask_from_pair(shadow, noshadow, mask) > 0
    assert np.array_equal(sample["smask"][0].numpy() > 0, expected)
    code, output = cli("train-attention", "--data", plain, "--out", tmp_path / "runs", "--size",
                       "64", "--batch-size", "4", "--epochs", "1", "--workers", "0",
                       "--device", "cpu", "--encoder-weights", "none")
    assert code == 0, output


@pytest.mark.slow
def test_time_budget_plans_the_epochs_and_fits_the_schedule(toy_dataset, tmp_path):
    common = ["--data", toy_dataset, "--out", tmp_path, "--size", "64", "--batch-size", "4",
              "--workers", "0", "--device", "cpu", "--encoder-weights", "none"]
    # A budget far below one epoch: the run stops after its first epoch, out of 50.
    code, output = cli("train-attention", *common, "--epochs", "50", "--max-minutes", "0.001")
    assert code == 0 and "time budget" in output and "1 epochs" in output, output
    state = ckpt.load(next(tmp_path.glob("*-attention-toy")) / "checkpoints" / "last.pt")
    assert state["epoch"] == 1
    assert state["schedulers"]["attention"]["T_max"] == 1


@pytest.mark.slow
def test_predict_save_matte_writes_the_factor_as_16_bits(trained, toy_dataset, tmp_path):
    sample = toy_dataset / "test"
    out = tmp_path / "out"
    code, output = cli("predict", "--images", sample / "noshadow" / "000012.png",
                       "--masks", sample / "mask" / "000012.png", "--out", out,
                       "--checkpoint", trained["sg"], "--device", "cpu", "--save-matte")
    assert code == 0, output
    matte = cv2.imread(str(out / "matte" / "000012.png"), cv2.IMREAD_UNCHANGED)
    photo = cv2.imread(str(sample / "noshadow" / "000012.png"))
    shadowed = cv2.imread(str(out / "000012.png"))
    assert matte.dtype == np.uint16 and matte.shape == photo.shape
    inside = cv2.imread(str(sample / "mask" / "000012.png"), 0) >= 128
    assert (matte[inside] == 65535).all()  # the object is left as it is
    # the written image is the photo times the matte, to 8-bit rounding
    product = photo.astype(np.float64) * matte / 65535
    assert np.abs(product - shadowed).max() <= 1.0


@pytest.mark.slow
def test_predict_without_checkpoint_uses_the_pretrained_model(tmp_path, toy_dataset,
                                                              monkeypatch):
    from model import pipeline

    sample = toy_dataset / "test"
    args = ("predict", "--images", sample / "noshadow" / "000012.png", "--masks",
            sample / "mask" / "000012.png", "--out", tmp_path / "out", "--device", "cpu")
    assert pipeline.PRETRAINED.is_file(), "the pretrained model is not in the package"
    code, output = cli(*args)
    assert code == 0, output
    assert output.splitlines()[0].startswith("using the pretrained model ")
    assert (tmp_path / "out" / "000012.png").is_file()
    monkeypatch.setattr(pipeline, "PRETRAINED", tmp_path / "gone.safetensors")
    code, output = cli(*args)
    assert code == 1 and len(output.strip().splitlines()) == 1, output
    assert "pretrained model is missing" in output
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"\0" * 64)
    monkeypatch.setattr(pipeline, "PRETRAINED", damaged)
    code, output = cli(*args, "--overwrite")
    assert code == 1, output
    lines = [line for line in output.strip().splitlines() if "pretrained" not in line]
    assert len(lines) == 1 and str(damaged) in lines[0], output


def test_the_pretrained_model_ships_in_the_wheel(tmp_path):
    """A plain `pip install` carries the weights and their card (package data)."""
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(root)], check=True, capture_output=True,
                   timeout=300)
    wheel = next(tmp_path.glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "model/pretrained/shadowsynth-sg.safetensors" in names
    assert "model/pretrained/card.json" in names


def test_write_pretrained_keeps_the_inference_networks_in_half_precision(trained, toy_dataset,
                                                                        tmp_path):
    """The shipped file holds SG and attention only (no discriminator), as float16, and
    predicts what the checkpoint predicts, to half-precision rounding."""
    from safetensors import safe_open

    from model.pipeline import load_pipeline, predict_any_size
    from model.pretrained import write_pretrained

    weights = tmp_path / "shipped.safetensors"
    size = write_pretrained(trained["sg"], weights, {"name": "test"})
    assert size == weights.stat().st_size
    assert json.loads((tmp_path / "card.json").read_text()) == {"name": "test"}
    with safe_open(str(weights), "pt") as handle:
        names = {key.split(".", 1)[0] for key in handle.keys()}  # noqa: SIM118
        dtypes = {handle.get_tensor(key).dtype for key in handle.keys()  # noqa: SIM118
                  if handle.get_tensor(key).is_floating_point()}
        archs = json.loads(handle.metadata()["archs"])
    assert names == {"sg", "attention"} and set(archs) == {"sg", "attention"}
    assert dtypes == {torch.float16}
    sample = toy_dataset / "test"
    image = cv2.cvtColor(cv2.imread(str(sample / "noshadow" / "000012.png")), cv2.COLOR_BGR2RGB)
    mask = cv2.imread(str(sample / "mask" / "000012.png"), 0)
    device = torch.device("cpu")
    full, half = (predict_any_size(load_pipeline(path), [image], [mask], device)[0]
                  for path in (trained["sg"], weights))
    assert np.abs(full.shadow.astype(int) - half.shadow.astype(int)).max() <= 3
