"""How the CLIs fail and stop: outputs that cannot be written, files that are not checkpoints,
Ctrl-C during training and resuming from the run folder alone, runs that fail before their
first epoch, masks that are not 0/255 gray, the size evaluate computes its metrics at, and
the default number of loader workers. Tiny 64x64 models, one step per epoch."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import typer.main

pytest.importorskip("segmentation_models_pytorch")
from typer.testing import CliRunner  # noqa: E402

from dataset_tools.cli import app as dataset_app  # noqa: E402
from model import checkpoint as ckpt  # noqa: E402
from model.cli import app as model_app  # noqa: E402
from tests.helpers import ROOT, fill_disk  # noqa: E402

TINY = ["--size", "64", "--batch-size", "4", "--workers", "0", "--device", "cpu",
        "--encoder-weights", "none", "--max-steps-per-epoch", "1", "--log-every", "1"]


def run(app, *args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def one_error_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


def copy_of(dataset: Path, target: Path) -> Path:
    return Path(shutil.copytree(dataset, target))


def test_unwritable_outputs_fail_in_one_line_before_any_work(toy_dataset, tmp_path):
    blocker = tmp_path / "a_file"  # root may write anywhere, but not below a regular file
    blocker.write_text("not a folder")
    missing = tmp_path / "missing.pt"  # the output is checked before the checkpoint is read
    test = toy_dataset / "test"
    cases = [
        (dataset_app, blocker / "report.json", ["validate", toy_dataset, "--json"]),
        (dataset_app, blocker, ["stats", toy_dataset, "--plots"]),
        (dataset_app, blocker / "stats.json", ["stats", toy_dataset, "--json"]),
        (dataset_app, blocker / "sheet.png", ["inspect", toy_dataset, "--out"]),
        (dataset_app, toy_dataset, ["inspect", toy_dataset, "--out"]),  # a folder, not a file
        (dataset_app, blocker / "gallery", ["inspect", toy_dataset, "--html"]),
        (model_app, blocker, ["predict", "--images", test / "noshadow", "--masks",
                              test / "mask", "--checkpoint", missing, "--out"]),
        (model_app, blocker / "pipeline.onnx", ["export", "--checkpoint", missing, "--out"]),
        (model_app, Path("/proc/shadowsynth-eval"),
         ["evaluate", "--data", toy_dataset, "--checkpoint", missing, "--out"]),
        (model_app, blocker / "runs", ["train-attention", "--data", toy_dataset, *TINY, "--out"]),
        (model_app, blocker / "runs", ["train-sg", "--data", toy_dataset, *TINY, "--out"]),
    ]
    for app, out, args in cases:
        code, output = run(app, *args, out)
        line = one_error_line(output)
        assert code == 1 and line.startswith(f"error: {out}: cannot write"), (args, output)
    assert blocker.read_text() == "not a folder"


def test_a_foreign_pt_file_is_named_as_not_a_checkpoint(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": np.zeros(3)}, foreign)  # torch's weights_only refuses numpy
    noise = tmp_path / "noise.pt"
    noise.write_bytes(np.random.default_rng(0).bytes(512))
    for path in (foreign, noise):
        code, output = run(model_app, "export", "--checkpoint", path, "--out",
                           tmp_path / "pipeline.onnx")
        line = one_error_line(output)
        assert code == 1 and line.startswith(f"error: {path}: not a shadowsynth checkpoint")
        assert "weights_only" not in line.split("(")[0] and "trusted" not in output
    with pytest.raises(ckpt.CheckpointError, match="not a shadowsynth checkpoint"):
        ckpt.load(foreign)


def test_train_errors_carry_one_error_prefix(toy_dataset, tmp_path):
    broken = copy_of(toy_dataset, tmp_path / "broken")
    mask = broken / "train" / "mask" / "000003.png"
    cv2.imwrite(str(mask), np.zeros((32, 32), np.uint8))
    code, output = run(model_app, "train-attention", "--data", broken, "--out",
                       tmp_path / "runs", *TINY)
    line = one_error_line(output)
    assert code == 1 and line.startswith(f"error: dataset fails validation: {mask}: ")
    assert line.count("error: ") == 1, line


def interrupt_validation_at(monkeypatch, call: int) -> None:
    """Ctrl-C (a KeyboardInterrupt in the main thread) during the `call`-th validation."""
    import model.train

    real, calls = model.train.validation_metrics, []

    def validate(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(model.train, "validation_metrics", validate)


@pytest.mark.slow
def test_ctrl_c_names_the_last_epoch_and_resume_needs_only_the_run(toy_dataset, tmp_path,
                                                                    monkeypatch):
    out = tmp_path / "runs"
    interrupt_validation_at(monkeypatch, 2)  # in epoch 2, after its training step
    code, output = run(model_app, "train-attention", "--data", toy_dataset, "--out", out,
                       "--epochs", "2", *TINY)
    monkeypatch.undo()
    run_dir = next(out.glob("*-attention-toy"))
    assert code == 130, output
    assert (f"interrupted: epoch 1 of 2 is complete ({run_dir}/checkpoints/last.pt); resume "
            f"with: shadow-model train-attention --resume {run_dir}") in output
    logged = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in logged] == [1, 1, 2]  # epoch 2's step was logged

    code, output = run(model_app, "train-attention", "--resume", run_dir)  # no --data
    assert code == 0 and "resuming" in output, output
    assert ckpt.load(run_dir / "checkpoints" / "last.pt")["epoch"] == 2
    logged = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert [(line["epoch"], line["step"]) for line in logged] == [(1, 1), (1, 1), (2, 2), (2, 2)]

    code, output = run(model_app, "train-sg")
    assert code == 2 and "--data" in one_error_line(output) and "--resume" in output


@pytest.mark.slow
def test_a_real_sigint_with_loader_workers_exits_130_with_the_resume_command(toy_dataset,
                                                                             tmp_path):
    out = tmp_path / "runs"
    command = [sys.executable, "-m", "model.cli", "train-attention", "--data", str(toy_dataset),
               "--out", str(out), "--epochs", "50", *TINY[:4], "--workers", "1", *TINY[6:]]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True,  # its own group, as a shell
                               cwd=ROOT,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("*/checkpoints/last.pt")) and process.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint after 120 s"
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the loader worker too
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    run_dir = next(out.glob("*-attention-toy"))
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]
    match = re.search(r"interrupted: epoch (\d+) of 50 is complete \((.+)\); resume with: "
                      r"shadow-model train-attention --resume (.+)$", stderr, re.MULTILINE)
    assert match, stderr[-2000:]
    assert match.group(2) == f"{run_dir}/checkpoints/last.pt" and match.group(3) == str(run_dir)
    assert ckpt.load(run_dir / "checkpoints" / "last.pt")["epoch"] == int(match.group(1))


def test_a_run_that_ends_before_its_first_epoch_leaves_no_folder(toy_dataset, tmp_path,
                                                                  monkeypatch):
    out = tmp_path / "runs"
    unreadable = copy_of(toy_dataset, tmp_path / "unreadable")
    for path in (unreadable / "train" / "noshadow").iterdir():
        path.write_bytes(b"not a png")
    code, output = run(model_app, "train-attention", "--data", unreadable, "--out", out,
                       "--no-validate-data", *TINY)
    assert code == 1 and "not a readable image" in one_error_line(output)
    assert out.is_dir() and not list(out.iterdir())

    interrupt_validation_at(monkeypatch, 1)  # before the first checkpoint
    code, output = run(model_app, "train-attention", "--data", toy_dataset, "--out", out,
                       "--epochs", "2", *TINY)
    assert code == 130 and "nothing to resume" in output, output
    assert not list(out.iterdir())


@pytest.mark.slow
def test_masks_that_are_not_0_255_gray_are_binarised_with_one_warning(toy_dataset, tmp_path):
    from model.data import ShadowARDataset, list_split, read_mask

    odd = copy_of(toy_dataset, tmp_path / "odd")
    for path in sorted((odd / "train" / "mask").iterdir()):
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(path), (mask // 2 + 30).astype(np.uint8))  # 30 and 157
    for path in sorted((odd / "train" / "robject").iterdir()):
        cv2.imwrite(str(path), cv2.cvtColor(cv2.imread(str(path), 0), cv2.COLOR_GRAY2BGR))
    gray, note = read_mask(odd / "train" / "mask" / "000000.png")
    assert "000000.png: mask with" in note and "neither 0 nor 255" in note
    assert gray.ndim == 2 and set(np.unique(gray).tolist()) <= {30, 157}
    _, note = read_mask(odd / "train" / "robject" / "000000.png")
    assert "3 channels" in note
    assert read_mask(toy_dataset / "train" / "mask" / "000000.png")[1] == ""
    original = ShadowARDataset(list_split(toy_dataset, "train"), 64)[0]
    converted = ShadowARDataset(list_split(odd, "train"), 64)[0]
    for kind in ("mask", "robject"):
        assert torch.equal(original[kind], converted[kind]), kind

    code, output = run(model_app, "train-attention", "--data", odd, "--out", tmp_path / "runs",
                       "--epochs", "1", "--no-validate-data", *TINY)
    assert code == 0, output
    warnings = [line for line in output.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1 and f"{odd}/train/" in warnings[0], warnings
    assert "binarised" in warnings[0]


def small_sg_checkpoint(path: Path, size: int) -> Path:
    """An untrained SG checkpoint (with its attention network) that says it trained at
    `size`: what evaluate needs, without training."""
    from model.networks import AttentionNet, SGNet

    torch.manual_seed(0)
    networks = {"sg": SGNet("resnet18"), "attention": AttentionNet("resnet34")}
    ckpt.save(path, {"kind": "sg", "config": {"size": size, "threshold": 0.5}, "epoch": 1,
                     "step": 1, "best": None,
                     "models": {name: net.state_dict() for name, net in networks.items()},
                     "archs": {name: net.arch for name, net in networks.items()}})
    return path


def test_evaluate_computes_metrics_at_size_whatever_the_model_ran_at(toy_dataset, tmp_path):
    checkpoint = small_sg_checkpoint(tmp_path / "sg64.pt", 64)
    code, output = run(model_app, "evaluate", "--data", toy_dataset, "--checkpoint", checkpoint,
                       "--workers", "0", "--device", "cpu", "--out", tmp_path / "eval")
    assert code == 0, output
    summary = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert summary["size"] == 256 and summary["model_size"] == 64
    assert "metrics at 256x256 (model run at 64x64" in " ".join(output.split())
    code, output = run(model_app, "evaluate", "--help")
    assert "Metrics are computed at SIZE x SIZE" in " ".join(output.replace("│", " ").split())


def test_default_loader_workers_fit_the_machine(monkeypatch):
    from model import cli
    from model.config import EvalConfig, TrainConfig, default_workers

    expected = min(4, len(os.sched_getaffinity(0)))
    assert default_workers() == expected
    verbs = typer.main.get_command(cli.app).commands
    for name in ("train-attention", "train-sg", "evaluate"):
        workers = next(param for param in verbs[name].params if param.name == "workers")
        assert workers.default == expected
    assert TrainConfig(data=Path("data")).workers == expected
    assert EvalConfig(data=Path("data"), checkpoint=Path("sg.pt")).workers == expected
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert default_workers() == 1


@pytest.mark.slow
def test_a_full_disk_is_one_line_naming_the_file_in_every_writing_verb(toy_dataset, tmp_path,
                                                                       monkeypatch):
    checkpoint = small_sg_checkpoint(tmp_path / "sg64.pt", 64)
    test = toy_dataset / "test"
    out = tmp_path / "out"
    cases = [  # (arguments, the file that cannot be written)
        (["train-attention", "--data", toy_dataset, *TINY, "--out", out / "runs"], ".pt"),
        (["evaluate", "--data", toy_dataset, "--checkpoint", checkpoint, "--workers", "0",
          "--device", "cpu", "--out", out / "eval"], ""),
        (["predict", "--images", test / "noshadow", "--masks", test / "mask", "--checkpoint",
          checkpoint, "--device", "cpu", "--out", out / "predicted"], ""),
        (["export", "--checkpoint", checkpoint, "--format", "torchscript", "--out",
          out / "pipeline.pt"], ""),
    ]
    for args, suffix in cases:
        with monkeypatch.context() as patch:
            fill_disk(patch, out, suffix)
            code, output = run(model_app, *args)
        errors = [line for line in output.splitlines() if line.startswith("error")]
        assert code == 1 and "Traceback" not in output and len(errors) == 1, (args, output)
        assert errors[0].startswith(f"error: no space left on device writing {out}/"), output
        assert output.strip().splitlines()[-1] == errors[0]
    assert not list(out.rglob("*.partial"))


@pytest.mark.slow
def test_resume_from_a_truncated_last_pt_names_the_checkpoint_still_usable(toy_dataset,
                                                                           tmp_path):
    code, output = run(model_app, "train-attention", "--data", toy_dataset, "--out",
                       tmp_path / "runs", "--epochs", "1", *TINY)
    assert code == 0, output
    run_dir = next((tmp_path / "runs").glob("*-attention-toy"))
    checkpoints = run_dir / "checkpoints"
    for name in ("last.pt", "best.pt", "best.safetensors"):  # the umask's mode, all alike
        assert (checkpoints / name).stat().st_mode & 0o777 == 0o666 & ~current_umask(), name
    last = checkpoints / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    code, output = run(model_app, "train-attention", "--resume", run_dir, "--epochs", "2")
    line = one_error_line(output)
    assert code == 1 and line.startswith(f"error: {last}: damaged or truncated"), output
    assert (f"; {checkpoints / 'best.pt'} (epoch 1) can still be used: copy it over {last}"
            in line)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize(("module", "args"), [
    ("dataset_tools.cli", ["masks", ".", "--visible-fraction", "1.5"]),
    ("dataset_tools.cli", ["validate", "--bogus"]),
    ("model.cli", ["predict", "--images", "x"]),
    ("render.cli", ["--size", "0"]),
])
def test_a_bad_option_is_one_line_without_trailing_space(module, args, tmp_path):
    # the console scripts' own entry, as a user runs them (typer's panel wrapped and padded)
    result = subprocess.run([sys.executable, "-c", f"from {module} import entry; entry()",
                             *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert lines[0] == lines[0].rstrip() and lines[0] == lines[0].lstrip()


def test_every_file_a_verb_writes_is_checked_before_any_work(toy_dataset, tmp_path):
    missing = tmp_path / "missing.pt"  # reached only when the outputs pass
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link.onnx"
    link.symlink_to(tmp_path / "elsewhere.onnx")
    graph = tmp_path / "graph.onnx"
    os.mkfifo(tmp_path / "graph.onnx.json")  # the record export writes beside the graph
    for out, named in ((fifo, fifo), (tmp_path, tmp_path), (link, link),
                       (graph, tmp_path / "graph.onnx.json"),
                       (Path("/dev/null"), Path("/dev/null"))):
        code, output = run(model_app, "export", "--checkpoint", missing, "--out", out)
        line = one_error_line(output)
        assert code == 1 and line.startswith(f"error: {named}: cannot write here"), output
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and link.is_symlink() and not graph.exists()
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode) and not Path("/dev/null.json").exists()

    evaluation = tmp_path / "eval"
    evaluation.mkdir()
    os.mkfifo(evaluation / "per_image.csv")
    code, output = run(model_app, "evaluate", "--data", toy_dataset, "--checkpoint", missing,
                       "--out", evaluation)
    assert code == 1 and one_error_line(output).startswith(
        f"error: {evaluation / 'per_image.csv'}: cannot write here"), output

    test, predicted = toy_dataset / "test", tmp_path / "predicted"
    predicted.mkdir()
    os.mkfifo(predicted / "000013.png")  # the second output: found before the first is made
    code, output = run(model_app, "predict", "--images", test / "noshadow", "--masks",
                       test / "mask", "--out", predicted, "--device", "cpu")
    lines = [line for line in output.splitlines() if not line.startswith("using the pretrained")]
    assert code == 1 and lines == [f"error: {predicted / '000013.png'}: cannot write here: a "
                                   "device, FIFO or socket, not a plain file"], output
    assert sorted(path.name for path in predicted.iterdir()) == ["000013.png"]


@pytest.mark.parametrize("args", [
    ["train-attention", "--lr", "nan"], ["train-sg", "--lr", "-1"],
    ["train-attention", "--workers", "-1"], ["train-sg", "--log-every", "0"],
    ["train-sg", "--encoder", "nope"], ["train-attention", "--val-fraction", "1"],
    ["train-sg", "--device", "gpu"],
    ["predict", "--batch-size", "0"], ["predict", "--device", "cuda:x"],
    ["evaluate", "--batch-size", "0"], ["evaluate", "--size", "0"],
])
def test_an_option_value_outside_its_domain_is_one_line_and_exit_2(toy_dataset, tmp_path,
                                                                    args):
    verb, option = args[0], args[1]
    test = toy_dataset / "test"
    rest = {"predict": ["--images", test / "noshadow", "--masks", test / "mask", "--out",
                        tmp_path / "out"],
            "evaluate": ["--data", toy_dataset, "--checkpoint", "default", "--out",
                         tmp_path / "eval"]}.get(verb, ["--data", toy_dataset, "--out",
                                                        tmp_path / "runs"])
    code, output = run(model_app, *args, *rest)
    line = one_error_line(output)
    assert code == 2 and line.startswith(f"error: {option} "), output
    assert "expected" in line, output
    if option == "--encoder":
        assert "resnet18" in line and "get_encoder_names" in line
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_a_device_this_machine_lacks_is_one_line_and_exit_2(toy_dataset, tmp_path,
                                                            monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    test = toy_dataset / "test"
    for args in (["train-sg", "--data", toy_dataset, "--out", tmp_path / "runs"],
                 ["predict", "--images", test / "noshadow", "--masks", test / "mask", "--out",
                  tmp_path / "out"]):
        for device in ("cuda", "cuda:7"):
            code, output = run(model_app, *args, "--device", device)
            line = one_error_line(output)
            assert code == 2 and line.startswith(f"error: --device {device}: no CUDA device"), \
                output
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    code, output = run(model_app, "predict", "--images", test / "noshadow", "--masks",
                       test / "mask", "--out", tmp_path / "out", "--device", "cuda:7")
    assert code == 2 and "cuda:0 to cuda:0" in one_error_line(output), output


def test_resume_refuses_an_option_that_differs_from_the_run(toy_dataset, tmp_path):
    code, output = run(model_app, "train-attention", "--data", toy_dataset, "--out",
                       tmp_path / "runs", "--epochs", "1", *TINY)
    assert code == 0, output
    run_dir = next((tmp_path / "runs").glob("*-attention-toy"))
    code, output = run(model_app, "train-attention", "--resume", run_dir, "--epochs", "2",
                       "--size", "96")
    line = one_error_line(output)
    assert code == 2 and line.startswith(
        f"error: --size 96: the resumed run {run_dir} has --size 64"), output
    assert ckpt.load(run_dir / "checkpoints" / "last.pt")["epoch"] == 1
    # the options on how a run executes may change: a new time budget, the log interval
    code, output = run(model_app, "train-attention", "--resume", run_dir, "--epochs", "2",
                       "--max-minutes", "5", "--log-every", "2", "--no-validate-data")
    assert code == 0, output
    assert ckpt.load(run_dir / "checkpoints" / "last.pt")["epoch"] == 2
    assert json.loads((run_dir / "config.json").read_text())["max_minutes"] == 0.0


BLOCK_TORCH = """
import sys
class BlockTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, BlockTorch())
sys.argv = ["shadow-model", *sys.argv[1:]]
from model.cli import entry
entry()
"""


def test_without_torch_one_line_says_to_install_the_model_extra(toy_dataset, tmp_path):
    def shadow_model(*args: object) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", BLOCK_TORCH, *map(str, args)], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    test = toy_dataset / "test"
    done = shadow_model("predict", "--images", test / "noshadow", "--masks", test / "mask",
                        "--out", tmp_path / "out")
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        'error: shadow-model needs torch, which the model extra installs: pip install -e '
        '".[model]" (or pip install "shadowsynth[model]")'], done.stderr
    done = shadow_model("--help")
    assert done.returncode == 0 and "predict" in done.stdout, done.stderr
