"""`shadow-model`: train the attention and SG blocks, evaluate, predict, export. Each verb's
options are its config's fields (model/config.py, declared once there); every error is one
line and an exit code from dataset_tools.errors (docs/errors.md)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dataset_tools.commands import Options, console, progress, say, verb
from dataset_tools.errors import UsageError
from model.config import (
    AttentionConfig,
    EvalConfig,
    ExportConfig,
    PredictConfig,
    SGConfig,
    TrainConfig,
)

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Train, evaluate, run and export the attention + shadow-generation GAN "
                       "on Shadow-AR datasets.")

TrainData = Annotated[Path | None, typer.Option(
    "--data", help="Shadow-AR dataset folder, or `shadow-dataset pack` shards streamed as they "
    "are: their folder, a brace pattern 'shards/shard-{000000..000009}.tar' or a.tar,b.tar "
    "(not needed with --resume: the run's own).")]
Resume = Annotated[Path | None, typer.Option(
    help="Continue the run in this folder with everything from its config.json, --data "
         "included (only --epochs and how it runs, --device, --workers, --max-minutes, "
         "--validate-data, --log-every, may change; another option that differs from the "
         "run's is refused).")]


def _train(config_class: type[TrainConfig], options: Options, data: Path | None,
           resume: Path | None) -> None:
    """Start or resume a run; Ctrl-C says how to resume, exit code 130. The options the
    command line gave must match a resumed run's config."""
    from model.runs import RunInterrupted, train_run

    values = options.of(config_class)
    epochs = values.pop("epochs")  # the default unless given: a resumed run keeps its own
    epochs = epochs if "epochs" in options.given else None
    try:
        best = train_run(config_class, lambda **more: config_class(**values, **more), data,
                         epochs, resume, {name: options.values[name] for name in options.given
                                          if name != "epochs"})
    except RunInterrupted as stop:
        if stop.line is not None:
            say(stop.line)
        raise typer.Exit(stop.exit_code) from None
    if best is not None:
        console.print(f"done: {best} (weights: {best.parent / 'best.safetensors'})")


@verb(app, "train-attention", configs=(AttentionConfig,), help="""Train the attention block:
U-Net (resnet34) on RGB + object mask -> occluder and occluder-shadow masks, Dice loss, IoU on
val.

\b
Examples:
  shadow-model train-attention --data demo --epochs 50
  shadow-model train-attention --resume runs/00000-attention-demo""")
def train_attention(options: Options, data: TrainData = None, resume: Resume = None) -> None:
    _train(AttentionConfig, options, data, resume)


@verb(app, "train-sg", configs=(SGConfig,), help="""Train the shadow-generation block as a GAN on
the masks the attention block predicts (as at inference). Loss: b1 L2 + b2 perceptual (VGG16
relu3_3) + b3 adversarial.

\b
Examples:
  shadow-model train-sg --data demo \\
      --attention runs/00000-attention-demo/checkpoints/best.pt
  shadow-model train-sg --resume runs/00001-sg-demo""")
def train_sg(options: Options, data: TrainData = None, resume: Resume = None) -> None:
    _train(SGConfig, options, data, resume)


def _load(checkpoint: Path, attention: Path | None):
    """The pipeline of `checkpoint`; says so when it is the pretrained model."""
    from model.pipeline import PRETRAINED, load_pipeline

    if checkpoint == PRETRAINED:
        console.print(f"using the pretrained model {checkpoint} (--checkpoint PATH for "
                      "another)", highlight=False)
    return load_pipeline(checkpoint, attention)


def _checkpoint(value: Path | None) -> Path:
    """--checkpoint as given, or the pretrained model (for None or "default"); `_load` says
    which, after the options are checked, so that an option's error stays one line."""
    from model.pipeline import checkpoint_path

    return checkpoint_path(value)


@verb(app, configs=(EvalConfig,), help="""Metrics of docs/architecture.md (GRMSE, LRMSE, GSSIM,
LSSIM, GBER, LBER, ACC, attention IoU) on one split at --size (256x256 by default; a checkpoint
runs at its training size and its predictions are upsampled), the identity baseline beside
them; writes metrics.json and per_image.csv. --protocol desoba uses the DESOBA/DESOBAv2
evaluation code's own definitions, for numbers beside the published tables. --predictions
scores a folder of any method's images (ID.png/.jpg) instead of a checkpoint.

\b
Examples:
  shadow-model evaluate --data demo \\
      --checkpoint runs/00001-sg-demo/checkpoints/best.pt
  shadow-model evaluate --data demo --predictions results/ --protocol desoba""")
def evaluate(options: Options) -> None:
    from dataset_tools.layout import check_writable, count_samples, refuse_overlap
    from model.evaluate import RESULT_FILES, summary_table, write_results
    from model.evaluate import evaluate as run
    from model.pipeline import DEFAULT_CHECKPOINT
    from model.runtime import pick_device

    config = options.build(EvalConfig)
    data, checkpoint, predictions, out = (config.data, config.checkpoint, config.predictions,
                                          config.out)
    pretrained = checkpoint is not None and str(checkpoint) == DEFAULT_CHECKPOINT
    if checkpoint is not None:
        checkpoint = _checkpoint(checkpoint)
    name = f"{data.resolve().name}-{config.split}" + ("-desoba" if config.protocol == "desoba"
                                                       else "")
    if pretrained:  # never into the installed package
        target = out or Path(f"eval-pretrained-{name}")
    elif checkpoint is not None:
        target = out or checkpoint.resolve().parent.parent / f"eval-{name}"
    else:
        target = out or predictions.resolve().parent / f"eval-{predictions.name}-{name}"
    config = dataclasses.replace(config, checkpoint=checkpoint, out=target)
    check_writable(target)  # before any work, both files included
    for result in RESULT_FILES:
        check_writable(target / result, folder=False)
    refuse_overlap(target, [data, predictions, config.pred_masks], inside_ok=True)
    chosen = pick_device(config.device) if checkpoint is not None else None
    loaded = _load(checkpoint, config.attention) if checkpoint is not None else None
    total = count_samples(data, config.split)
    with progress(console) as bar:
        task = bar.add_task("evaluating", total=total or None)
        summary, rows = run(config, loaded, chosen, lambda n: bar.advance(task, n))
    write_results(target, summary, rows)
    Console().print(summary_table(summary, f"{data} {config.split}", config.size,
                                  "model" if checkpoint is not None else "predictions"))
    console.print(f"wrote {target / 'metrics.json'} and {target / 'per_image.csv'}")


@verb(app, configs=(PredictConfig,), help="""Add the inserted object's shadow to photos of any
size (the network runs at its size; only the shadow is upsampled). Keeps file names. Without
--checkpoint it uses the pretrained model shipped with shadowsynth.

Example: shadow-model predict --images photos/ --masks masks/ --out shadowed/""")
def predict(options: Options) -> None:
    from dataset_tools.layout import check_writable, refuse_overlap
    from model.predict import PredictInterrupted, plan
    from model.predict import predict as run
    from model.runtime import pick_device

    config = options.build(PredictConfig)
    out, sheet = config.out, config.sheet
    written = 0
    try:
        check_writable(out)  # before any work
        # the folders are listed, not walked: an output folder inside one is never read
        inputs = [config.images, config.masks, config.lights]
        refuse_overlap(out, inputs, inside_ok=True)
        if sheet is not None:
            _check_sheet(sheet, inputs, config.overwrite)
        config = dataclasses.replace(config, checkpoint=_checkpoint(config.checkpoint))
        chosen = pick_device(config.device)
        planned = plan(config)  # every input checked before the model loads
        loaded = _load(config.checkpoint, config.attention)
        if (loaded.pipeline.condition == "light" and config.shadow_direction is None
                and config.estimate_light):
            say("light: estimated from each photo (--shadow-direction gives one, --no-light "
                "runs without; --save-light writes what was used)")
        with progress(console) as bar:
            task = bar.add_task("predicting", total=None)
            written, skipped = run(config, loaded, chosen,
                                   lambda done, total: bar.update(task, completed=done,
                                                                  total=total), planned)
    except (PredictInterrupted, KeyboardInterrupt) as stop:
        written = getattr(stop, "written", written)
        say(f"interrupted: {written} images written to {out}, each complete; run the same "
            "command again to do the rest (written ones are skipped)")
        raise typer.Exit(130) from None
    say(f"wrote {written} images to {out}"
        + (f"; {skipped} already there (--overwrite to redo)" if skipped else "")
        + (f"; contact sheet {sheet}" if sheet is not None and written else ""))


def _check_sheet(sheet: Path, inputs: list[Path | None], overwrite: bool) -> None:
    """The --sheet file can be written: a plain file or none, not an input, not replaced
    without --overwrite."""
    from dataset_tools.layout import DatasetError, check_writable, overlap

    check_writable(sheet, folder=False)
    for source in inputs:
        if source is not None and overlap(sheet, source) == "is":
            raise UsageError(f"--sheet {sheet}: is the input {source}; choose another file")
    if sheet.exists() and not overwrite:
        raise DatasetError(sheet, "exists; use --overwrite to replace it")


@verb(app, configs=(ExportConfig,), help="""Export the whole pipeline (attention -> threshold ->
SG) as one graph, verified against PyTorch (onnxruntime for ONNX).

Example: shadow-model export --checkpoint best.pt --format onnx --out shadow.onnx""")
def export(options: Options) -> None:
    from dataset_tools.layout import check_writable
    from model.export import export as run
    from model.export import export_outputs

    config = options.build(ExportConfig)
    for path in export_outputs(config.out):  # before any work
        check_writable(path, folder=False)
    config = dataclasses.replace(config, checkpoint=_checkpoint(config.checkpoint))
    loaded = _load(config.checkpoint, config.attention)
    record = run(config, loaded)
    difference = max(record["max_abs_difference"].values())
    console.print(f"wrote {config.out} ({config.format}, {record['size']}x{record['size']}); "
                  f"largest difference from PyTorch {difference:.2e}")


# What the model extra installs (pyproject.toml) by import name: a verb that meets one of them
# missing says how to install it, in one line, instead of a traceback.
MODEL_EXTRA_MODULES = ("torch", "torchvision", "segmentation_models_pytorch", "albumentations",
                       "piq", "safetensors", "tensorboard", "onnx", "onnxruntime", "webdataset",
                       "braceexpand")


def entry() -> None:
    """The `shadow-model` console script; exit code 1 with one line when the model extra is
    not installed (the verbs import torch when they run, so --help works without it)."""
    from dataset_tools.commands import run_app

    try:
        run_app(app)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in MODEL_EXTRA_MODULES:
            raise
        print(f"error: shadow-model needs {error.name}, which the model extra installs: "
              'pip install -e ".[model]" (or pip install "shadowsynth[model]")', file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":  # `python -m model.cli` (and torchrun ... -m model.cli)
    entry()
