"""`shadow-model`: train the attention and SG blocks, evaluate, predict, export."""

from __future__ import annotations

import dataclasses
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from dataset_tools.cli import progress  # the one progress bar (stderr, terminals only)
from dataset_tools.settings import defaults
from model.config import (
    JPEG_QUALITY,
    AttentionConfig,
    EvalConfig,
    ExportConfig,
    OptionValueError,
    PredictConfig,
    SGConfig,
    TrainConfig,
)

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Train, evaluate, run and export the attention + shadow-generation GAN "
                       "on Shadow-AR datasets.")
console = Console(stderr=True, soft_wrap=True)


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    console.print(f"[yellow]warning[/]: {message}", highlight=False)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Known failures (bad data, checkpoints, weights, NaN) become one line and exit code 1;
    an option value a verb's config refuses (OptionValueError, model/config.py) is an
    argument error: one line and exit code 2, here for every verb."""
    from model.errors import describe_error

    warnings.showwarning = _warning_line
    try:
        yield
    except OptionValueError as error:
        console.print(f"[red]error[/]: {escape(str(error))}", highlight=False)
        raise typer.Exit(2) from None
    except (RuntimeError, ValueError, OSError) as error:
        line = describe_error(error)
        if line is None:
            raise
        console.print(f"[red]error[/]: {line}", highlight=False)
        raise typer.Exit(1) from None


# Every option's default is its config field's default, read from the dataclass (model/config.py
# is the one place they are written); typer shows them in --help.
ATTENTION, SG, EVAL = defaults(AttentionConfig), defaults(SGConfig), defaults(EvalConfig)
PREDICT, EXPORT = defaults(PredictConfig), defaults(ExportConfig)

Data = Annotated[Path, typer.Option("--data", help="Shadow-AR dataset folder.")]
TrainData = Annotated[Path | None, typer.Option(
    "--data", help="Shadow-AR dataset folder, or `shadow-dataset pack` shards streamed as they "
    "are: their folder, a brace pattern 'shards/shard-{000000..000009}.tar' or a.tar,b.tar "
    "(not needed with --resume: the run's own).")]
Out = Annotated[Path, typer.Option(help="Runs go to OUT/NNNNN-KIND-DATASET/.")]
Size = Annotated[int, typer.Option(help="Square network input size (multiple of 32).")]
Batch = Annotated[int, typer.Option(help="Batch size per process.")]
Epochs = Annotated[int | None, typer.Option(help=f"Epochs in all (default {ATTENTION.epochs}; "
                                                 "on --resume, the run's own unless given).")]
Lr = Annotated[float, typer.Option(help="Learning rate (Adam).")]
Workers = Annotated[int, typer.Option(
    help="DataLoader worker processes (default: 4, or the usable CPU cores when fewer).")]
Seed = Annotated[int, typer.Option(help="Seed of init, data order and augmentation.")]
Device = Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N.")]
Amp = Annotated[bool, typer.Option(help="bf16 autocast on CUDA.")]
Compile = Annotated[bool, typer.Option(help="torch.compile the trained network.")]
Augment = Annotated[bool, typer.Option(help="albumentations augmentation.")]
ValFraction = Annotated[float, typer.Option(
    help="Share of train/ scenes held out for choosing the best epoch when there is no val/.")]
EncoderWeights = Annotated[str, typer.Option(
    help="auto (ImageNet from the torch/HF cache when present, else random init with a "
         "warning) | imagenet (required) | none | PATH.")]
Resume = Annotated[Path | None, typer.Option(
    help="Continue the run in this folder with everything from its config.json, --data "
         "included (only --epochs and how it runs, --device, --workers, --max-minutes, "
         "--validate-data, --log-every, --image-every, may change; another option that "
         "differs from the run's is refused).")]
MaxSteps = Annotated[int, typer.Option(help="Cap on steps per epoch (0: no cap).")]
LogEvery = Annotated[int, typer.Option(help="Steps between stats.jsonl lines.")]
MaxMinutes = Annotated[float, typer.Option(
    min=0.0, help="Wall-clock budget: train as many epochs (up to --epochs) as fit, estimated "
    "from the first epoch, with the learning-rate schedule fitted to them (0: no budget).")]
Validate = Annotated[bool, typer.Option(help="Validate every dataset file first.")]
NetworkSize = Annotated[int, typer.Option(
    help="Run the network at this square size, a multiple of 32 (0: the size it was trained "
         "at); its shadow is then resized to the photo.")]
MinConfidence = Annotated[float, typer.Option(
    help="With the light estimated from the photo: run without a light where the estimate's "
         "confidence (0-1, what --save-light writes) is below this (0: always use the "
         "estimate).")]
# train-attention's own
LightHead = Annotated[bool, typer.Option(
    help="Also learn the light the photo shows (direction, elevation, softness, whether it "
         "has a direction) from each sample's light label: what predict uses when given no "
         "--shadow-direction.")]
LightWeight = Annotated[float, typer.Option(help="Weight of the light head's loss beside the "
                                                 "Dice loss.")]
# train-sg's own
AttentionCheckpoint = Annotated[Path | None, typer.Option(
    "--attention", help="Attention checkpoint; without it G trains on ground-truth masks.")]
VggWeights = Annotated[str, typer.Option(
    help="VGG16 for the perceptual loss: auto (off when no weights are found) | imagenet | "
         "random | none | PATH.")]
Encoder = Annotated[str, typer.Option(
    help="U-Net encoder: any segmentation-models-pytorch encoder name (resnet18, "
         "mobilenet_v2, ...); ImageNet weights load for ResNets only.")]
DecoderWidth = Annotated[float, typer.Option(
    help="U-Net decoder channels x this factor (1 = 256, 128, 64, 32, 16).")]
RefineWidth = Annotated[int, typer.Option(help="Channels of the 4 refinement blocks.")]
Head = Annotated[str, typer.Option(
    help="factor: shadow = noshadow x a predicted factor in [0, 1] | residual: the "
         "article's added residual.")]
FactorWeight = Annotated[float, typer.Option(
    help="Factor head: weight of the squared error between the predicted factor and "
         "the pair's (shadow / noshadow).")]
Condition = Annotated[str, typer.Option(
    help="none | light: feed the light (image direction, elevation, softness, and its "
         "hard-shadow hint plane) into the SG network.")]
ConditionDropout = Annotated[float, typer.Option(
    help="With --condition light: share of training samples that go without their light, so "
         "that one network serves with and without a given light.")]
Hint = Annotated[bool, typer.Option(
    help="With --condition light: also give the hard shadow the object mask casts under the "
         "light (a projected silhouette) as an input plane.")]
Discriminator = Annotated[str, typer.Option(help="srgan | patchgan.")]
Conditional = Annotated[bool, typer.Option(help="D also sees noshadow and the masks.")]
GanMode = Annotated[str, typer.Option(help="vanilla | lsgan.")]
Betas = Annotated[tuple[float, float, float], typer.Option(
    help="Weights of L2, perceptual, adversarial.")]
RegionWeight = Annotated[float, typer.Option(
    help="L2 weight of the dilated shadow region (1 = plain L2; e.g. 6).")]
GtMaskProb = Annotated[float, typer.Option(
    help="Chance per sample of ground-truth masks instead of predicted.")]
DLr = Annotated[float, typer.Option(help="Discriminator learning rate.")]
GanWarmup = Annotated[int, typer.Option(help="First epochs without the adversarial term.")]


def given_options(context: typer.Context, *leave_out: str) -> dict[str, Any]:
    """The values of the options the command line (or the environment) gave, by parameter
    name, without those in `leave_out`; the ones left to their defaults are not here."""
    # by name: typer 0.29 carries its own click, whose ParameterSource is not click's
    given = ("COMMANDLINE", "ENVIRONMENT")
    return {name: value for name, value in context.params.items()
            if name not in leave_out and getattr(context.get_parameter_source(name), "name",
                                                 None) in given}


def _train(kind: str, new_config: Callable[..., TrainConfig], data: Path | None,
           epochs: int | None, resume: Path | None, given: dict[str, Any]) -> None:
    """Start or resume a run of `kind` (model/runs.py); Ctrl-C says how to resume, exit 130.
    `given`: the options the command line gave, which a resumed run's config must match."""
    from model.runs import RunInterrupted, train_run

    with one_line_errors():
        try:
            best = train_run(kind, new_config, data, epochs, resume, given)
        except RunInterrupted as stop:
            if stop.message is not None:
                console.print(stop.message, highlight=False)
            raise typer.Exit(130) from None
    if best is not None:
        console.print(f"done: {best} (weights: {best.parent / 'best.safetensors'})")


@app.command("train-attention", help="""Train the attention block: U-Net (resnet34) on
RGB + object mask -> occluder and occluder-shadow masks, Dice loss, IoU on val.

Example: shadow-model train-attention --data demo --epochs 50

Example: shadow-model train-attention --resume runs/00000-attention-demo""")
def train_attention(context: typer.Context, data: TrainData = None, out: Out = ATTENTION.out,
                    size: Size = ATTENTION.size,
                    batch_size: Batch = ATTENTION.batch_size, epochs: Epochs = None,
                    lr: Lr = ATTENTION.lr, workers: Workers = ATTENTION.workers,
                    seed: Seed = ATTENTION.seed, device: Device = ATTENTION.device,
                    amp: Amp = ATTENTION.amp, compile: Compile = ATTENTION.compile,
                    augment: Augment = ATTENTION.augment,
                    val_fraction: ValFraction = ATTENTION.val_fraction,
                    encoder_weights: EncoderWeights = ATTENTION.encoder_weights,
                    encoder: Encoder = ATTENTION.encoder,
                    decoder_width: DecoderWidth = ATTENTION.decoder_width,
                    light_head: LightHead = ATTENTION.light_head,
                    light_weight: LightWeight = ATTENTION.light_weight,
                    resume: Resume = None,
                    max_steps_per_epoch: MaxSteps = ATTENTION.max_steps_per_epoch,
                    log_every: LogEvery = ATTENTION.log_every,
                    validate_data: Validate = ATTENTION.validate_data,
                    max_minutes: MaxMinutes = ATTENTION.max_minutes) -> None:
    new_config = partial(AttentionConfig, out=out, size=size, batch_size=batch_size, lr=lr,
                         workers=workers, seed=seed, device=device, amp=amp, compile=compile,
                         augment=augment, val_fraction=val_fraction,
                         encoder_weights=encoder_weights, encoder=encoder,
                         decoder_width=decoder_width, light_head=light_head,
                         light_weight=light_weight, max_steps_per_epoch=max_steps_per_epoch,
                         log_every=log_every, validate_data=validate_data, max_minutes=max_minutes)
    _train("attention", new_config, data, epochs, resume,
           given_options(context, "data", "epochs", "resume"))


@app.command("train-sg", help="""Train the shadow-generation block as a GAN on the masks the
attention block predicts (as at inference). Loss: b1 L2 + b2 perceptual (VGG16 relu3_3) +
b3 adversarial.

Example: shadow-model train-sg --data demo
--attention runs/00000-attention-demo/checkpoints/best.pt

Example: shadow-model train-sg --resume runs/00001-sg-demo""")
def train_sg(context: typer.Context, data: TrainData = None,
             attention: AttentionCheckpoint = SG.attention,
             out: Out = SG.out, size: Size = SG.size, batch_size: Batch = SG.batch_size,
             epochs: Epochs = None, lr: Lr = SG.lr, workers: Workers = SG.workers,
             seed: Seed = SG.seed, device: Device = SG.device, amp: Amp = SG.amp,
             compile: Compile = SG.compile, augment: Augment = SG.augment,
             val_fraction: ValFraction = SG.val_fraction,
             encoder_weights: EncoderWeights = SG.encoder_weights,
             vgg_weights: VggWeights = SG.vgg_weights, encoder: Encoder = SG.encoder,
             decoder_width: DecoderWidth = SG.decoder_width,
             refine_width: RefineWidth = SG.refine_width, head: Head = SG.head,
             factor_weight: FactorWeight = SG.factor_weight,
             condition: Condition = SG.condition,
             condition_dropout: ConditionDropout = SG.condition_dropout,
             hint: Hint = SG.hint,
             discriminator: Discriminator = SG.discriminator,
             conditional: Conditional = SG.conditional, gan_mode: GanMode = SG.gan_mode,
             betas: Betas = SG.betas, region_weight: RegionWeight = SG.region_weight,
             gt_mask_prob: GtMaskProb = SG.gt_mask_prob, d_lr: DLr = SG.d_lr,
             gan_warmup_epochs: GanWarmup = SG.gan_warmup_epochs, resume: Resume = None,
             max_steps_per_epoch: MaxSteps = SG.max_steps_per_epoch,
             log_every: LogEvery = SG.log_every, validate_data: Validate = SG.validate_data,
             max_minutes: MaxMinutes = SG.max_minutes) -> None:
    new_config = partial(SGConfig, attention=attention, out=out, size=size,
                         batch_size=batch_size, lr=lr, workers=workers, seed=seed,
                         device=device, amp=amp, compile=compile, augment=augment,
                         val_fraction=val_fraction, encoder_weights=encoder_weights,
                         vgg_weights=vgg_weights, encoder=encoder, decoder_width=decoder_width,
                         refine_width=refine_width, head=head, factor_weight=factor_weight,
                         condition=condition, condition_dropout=condition_dropout, hint=hint,
                         discriminator=discriminator,
                         conditional=conditional, gan_mode=gan_mode, betas=betas,
                         region_weight=region_weight, gt_mask_prob=gt_mask_prob, d_lr=d_lr,
                         gan_warmup_epochs=gan_warmup_epochs,
                         max_steps_per_epoch=max_steps_per_epoch, log_every=log_every,
                         validate_data=validate_data, max_minutes=max_minutes)
    _train("sg", new_config, data, epochs, resume,
           given_options(context, "data", "epochs", "resume"))


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


def _refuse_overlap(output: Path, inputs: list[Path | None], inside_ok: bool) -> None:
    """dataset_tools.layout.refuse_overlap as an argument error (exit code 2)."""
    from dataset_tools.layout import DatasetError, refuse_overlap

    try:
        refuse_overlap(output, inputs, inside_ok=inside_ok)
    except DatasetError as error:
        raise OptionValueError(str(error)) from None


@app.command(help="""Metrics of docs/architecture.md (GRMSE, LRMSE, GSSIM, LSSIM, GBER,
LBER, ACC, attention IoU) on one split at --size (256x256 by default; a checkpoint runs at
its training size and its predictions are upsampled), the identity baseline beside them; writes
metrics.json and per_image.csv. --protocol desoba uses the DESOBA/DESOBAv2 evaluation code's
own definitions, for numbers beside the published tables. --predictions scores a folder of
any method's images (ID.png/.jpg) instead of a checkpoint.

Example: shadow-model evaluate --data demo --checkpoint runs/00001-sg-demo/checkpoints/best.pt

Example: shadow-model evaluate --data demo --predictions results/ --protocol desoba""")
def evaluate(data: Data,
             checkpoint: Annotated[Path | None, typer.Option(
                 help="SG checkpoint (.pt/.safetensors), or default: the pretrained model; "
                      "or --predictions.")] = None,
             predictions: Annotated[Path | None, typer.Option(
                 help="Folder of predicted images named by the dataset's ids (.png/.jpg), "
                      "from any method; scored without a checkpoint.")] = None,
             pred_masks: Annotated[Path | None, typer.Option(
                 help="With --predictions and --protocol desoba: the method's own predicted "
                      "shadow masks (ID.png) for GBER/LBER, as DESOBAv2 scores them "
                      "(default: gray(|pred - noshadow|) > 127.5*k).")] = None,
             protocol: Annotated[str, typer.Option(
                 help="ours | desoba (the DESOBA/DESOBAv2 evaluation code: zero-padded SSIM "
                      "with C1=0.01^2, C2=0.03^2 on 0-255 data, BER over every pixel; "
                      "256x256 only).")] = EVAL.protocol,
             split: Annotated[str, typer.Option(help="train | val | test.")] = EVAL.split,
             attention: Annotated[Path | None, typer.Option(
                 help="Attention checkpoint, if the SG one holds none.")] = None,
             out: Annotated[Path | None, typer.Option(
                 help="Folder for metrics.json, per_image.csv (default: next to the "
                      "checkpoint's run, or next to --predictions).")] = None,
             size: Annotated[int, typer.Option(
                 help="Metrics are computed at SIZE x SIZE (the model runs at its training "
                      "size, or --network-size; its shadow is resized).")] = EVAL.size,
             batch_size: Batch = EVAL.batch_size, device: Device = EVAL.device,
             workers: Workers = EVAL.workers,
             ber_k: Annotated[float, typer.Option(
                 help="Fixed BER threshold 127.5*k on "
                      "gray(|pred - noshadow|).")] = EVAL.ber_k,
             light: Annotated[str, typer.Option(
                 help="A light-conditioned model runs with each sample's true light (from "
                      "the manifest), the light estimated from the photo, or none (as predict "
                      "without --shadow-direction): true | estimated | none.")]
                 = EVAL.light,
             network_size: NetworkSize = EVAL.network_size,
             min_confidence: MinConfidence = EVAL.min_confidence,
             flat_object: Annotated[bool, typer.Option(
                 help="Give the model the inserted object at its mean colour, so that its "
                      "shading shows nothing of the light (what an estimated light then reads "
                      "comes from the rest of the photo); scored on the shadow, the object "
                      "as rendered.")] = EVAL.flat_object) -> None:
    from dataset_tools.layout import check_writable, count_samples
    from model.evaluate import RESULT_FILES, summary_table, write_results
    from model.evaluate import evaluate as run
    from model.runtime import pick_device

    with one_line_errors():
        from model.pipeline import DEFAULT_CHECKPOINT

        pretrained = checkpoint is not None and str(checkpoint) == DEFAULT_CHECKPOINT
        if checkpoint is not None:
            checkpoint = _checkpoint(checkpoint)
        config = EvalConfig(data=data, checkpoint=checkpoint, predictions=predictions,
                            pred_masks=pred_masks, protocol=protocol, split=split, size=size,
                            batch_size=batch_size, device=device, ber_k=ber_k, out=out,
                            workers=workers, light=light, network_size=network_size,
                            min_confidence=min_confidence,
                            flat_object=flat_object)
        name = f"{data.resolve().name}-{split}" + ("-desoba" if protocol == "desoba" else "")
        if pretrained:  # never into the installed package
            target = out or Path(f"eval-pretrained-{name}")
        elif checkpoint is not None:
            target = out or checkpoint.resolve().parent.parent / f"eval-{name}"
        else:
            target = out or predictions.resolve().parent / f"eval-{predictions.name}-{name}"
        config = dataclasses.replace(config, out=target)
        check_writable(target)  # before any work, both files included
        for name in RESULT_FILES:
            check_writable(target / name, folder=False)
        _refuse_overlap(target, [data, predictions, pred_masks], inside_ok=True)
        chosen = pick_device(device) if checkpoint is not None else None
        loaded = _load(checkpoint, attention) if checkpoint is not None else None
        total = count_samples(data, split)
        with progress(console) as bar:
            task = bar.add_task("evaluating", total=total or None)
            summary, rows = run(config, loaded, chosen, lambda n: bar.advance(task, n))
        write_results(target, summary, rows)
    Console().print(summary_table(summary, f"{data} {split}", size,
                                  "model" if checkpoint is not None else "predictions"))
    console.print(f"wrote {target / 'metrics.json'} and {target / 'per_image.csv'}")


@app.command(help="""Add the inserted object's shadow to photos of any size (the network runs
at its size; only the shadow is upsampled). Keeps file names. Without --checkpoint it uses
the pretrained model shipped with shadowsynth.

Example: shadow-model predict --images photos/ --masks masks/ --out shadowed/""")
def predict(images: Annotated[Path, typer.Option(help="Image folder or file.")],
            masks: Annotated[Path, typer.Option(help="Object masks: folder (same stems) or file.")],
            out: Annotated[Path, typer.Option(help="Output folder.")],
            checkpoint: Annotated[Path | None, typer.Option(
                help="SG checkpoint (.pt/.safetensors); default: the pretrained model "
                     "shipped with shadowsynth.")] = None,
            attention: Annotated[Path | None, typer.Option(
                help="Attention checkpoint, if the SG one holds none.")] = None,
            device: Device = PREDICT.device, batch_size: Batch = PREDICT.batch_size,
            save_shadow_mask: Annotated[bool, typer.Option(
                help="Also write shadow_mask/NAME.png (where the prediction "
                     "darkened).")] = PREDICT.save_shadow_mask,
            save_attention: Annotated[bool, typer.Option(
                help="Also write the attention masks under attention/.")] = PREDICT.save_attention,
            save_matte: Annotated[bool, typer.Option(
                help="Also write matte/NAME.png: the shadow factor as 16-bit RGB (65535 = "
                     "unchanged); multiply the photo by it.")] = PREDICT.save_matte,
            shadow_direction: Annotated[float | None, typer.Option(
                help="A light-conditioned model (the pretrained one is): the image direction "
                     "the shadow should point in from the object's foot, degrees (0 = right, "
                     "90 = down, clockwise). Without it the light is estimated from the photo "
                     "(or none with --no-light).")]
                = None,
            estimate_light: Annotated[bool, typer.Option(
                "--estimate-light/--no-light",
                help="Without --shadow-direction: estimate the light (direction, elevation, "
                     "softness) from the photo with the attention block's light head, or run "
                     "without a light (--no-light).")] = PREDICT.estimate_light,
            elevation: Annotated[float, typer.Option(
                help="With a light: its elevation above the ground, degrees "
                     "(0-90].")] = PREDICT.elevation,
            softness: Annotated[float, typer.Option(
                help="With a light: its softness in [0, 1] (a clear sun about 0.01, a lamp "
                     "0.1-0.7, overcast 1).")] = PREDICT.softness,
            save_light: Annotated[bool, typer.Option(
                help="Also write light/NAME.json: the light the model ran with (given, "
                     "estimated or none).")] = PREDICT.save_light,
            overwrite: Annotated[bool, typer.Option(
                help="Replace existing outputs.")] = PREDICT.overwrite,
            lights: Annotated[Path | None, typer.Option(
                help="A light per image: a JSON object or CSV (image,direction,elevation,"
                     "softness) naming images by file name or stem (docs/predict.md); an image "
                     "it does not name gets --shadow-direction's light, or none.")] = None,
            sheet: Annotated[Path | None, typer.Option(
                help="Also write a before/after contact sheet (input | shadowed | matte) of "
                     "the first images to this .jpg or .png file.")] = None,
            format: Annotated[str, typer.Option(
                help=f"Output format: same (the input's own; JPEG at quality {JPEG_QUALITY}) "
                     "| png | jpg.")] = PREDICT.format,
            max_pixels: Annotated[int, typer.Option(
                help="Refuse images larger than this many pixels, from their header, before "
                     "any is decoded (0: no limit).")] = PREDICT.max_pixels,
            network_size: NetworkSize = PREDICT.network_size,
            min_confidence: MinConfidence = PREDICT.min_confidence,
            ) -> None:
    from dataset_tools.layout import check_writable
    from model.predict import PredictInterrupted, plan
    from model.predict import predict as run
    from model.runtime import pick_device

    written = 0
    try:
        with one_line_errors():
            check_writable(out)  # before any work
            # the folders are listed, not walked: an output folder inside one is never read
            _refuse_overlap(out, [images, masks, lights], inside_ok=True)
            if sheet is not None:
                _check_sheet(sheet, [images, masks, lights], overwrite)
            checkpoint = _checkpoint(checkpoint)
            config = PredictConfig(images=images, masks=masks, out=out, checkpoint=checkpoint,
                                   device=device, batch_size=batch_size,
                                   save_shadow_mask=save_shadow_mask,
                                   save_attention=save_attention, save_matte=save_matte,
                                   shadow_direction=shadow_direction,
                                   estimate_light=estimate_light, elevation=elevation,
                                   softness=softness, save_light=save_light,
                                   overwrite=overwrite, lights=lights, sheet=sheet,
                                   format=format, max_pixels=max_pixels,
                                   network_size=network_size,
                                   min_confidence=min_confidence)
            chosen = pick_device(device)
            planned = plan(config)  # every input checked before the model loads
            loaded = _load(checkpoint, attention)
            if (loaded.pipeline.condition == "light" and shadow_direction is None
                    and estimate_light):
                console.print("light: estimated from each photo (--shadow-direction gives one, "
                              "--no-light runs without; --save-light writes what was used)",
                              highlight=False)
            with progress(console) as bar:
                task = bar.add_task("predicting", total=None)
                written, skipped = run(config, loaded, chosen,
                                       lambda done, total: bar.update(task, completed=done,
                                                                      total=total), planned)
    except (PredictInterrupted, KeyboardInterrupt) as stop:
        written = getattr(stop, "written", written)
        console.print(f"interrupted: {written} images written to {out}, each complete; run "
                      "the same command again to do the rest (written ones are skipped)",
                      highlight=False)
        raise typer.Exit(130) from None
    console.print(f"wrote {written} images to {out}"
                  + (f"; {skipped} already there (--overwrite to redo)" if skipped else "")
                  + (f"; contact sheet {sheet}" if sheet is not None and written else ""),
                  highlight=False)


def _check_sheet(sheet: Path, inputs: list[Path | None], overwrite: bool) -> None:
    """The --sheet file can be written: a plain file or none, not an input, not replaced
    without --overwrite."""
    from dataset_tools.layout import DatasetError, check_writable, overlap

    check_writable(sheet, folder=False)
    for source in inputs:
        if source is not None and overlap(sheet, source) == "is":
            raise OptionValueError(f"--sheet {sheet}: is the input {source}; choose another file")
    if sheet.exists() and not overwrite:
        raise DatasetError(sheet, "exists; use --overwrite to replace it")


@app.command(help="""Export the whole pipeline (attention -> threshold -> SG) as one graph,
verified against PyTorch (onnxruntime for ONNX).

Example: shadow-model export --checkpoint best.pt --format onnx --out shadow.onnx""")
def export(checkpoint: Annotated[Path, typer.Option(
               help="SG checkpoint (.pt/.safetensors), or default: the pretrained model.")],
           out: Annotated[Path, typer.Option(help="Graph file to write.")],
           format: Annotated[str, typer.Option(help="onnx | torchscript.")] = EXPORT.format,
           attention: Annotated[Path | None, typer.Option(
               help="Attention checkpoint, if the SG one holds none.")] = None,
           size: Annotated[int, typer.Option(
               help="Input size (0: the training size).")] = EXPORT.size,
           opset: Annotated[int, typer.Option(help="ONNX opset.")] = EXPORT.opset) -> None:
    from dataset_tools.layout import check_writable
    from model.export import ExportError, export_outputs
    from model.export import export as run

    with one_line_errors():
        for path in export_outputs(out):  # before any work
            check_writable(path, folder=False)
        checkpoint = _checkpoint(checkpoint)
        config = ExportConfig(checkpoint=checkpoint, out=out, format=format, size=size,
                              opset=opset)
        loaded = _load(checkpoint, attention)
        try:
            record = run(config, loaded)
        except ExportError as error:
            console.print(f"[red]error[/]: {error}", highlight=False)
            raise typer.Exit(1) from None
    difference = max(record["max_abs_difference"].values())
    console.print(f"wrote {out} ({format}, {record['size']}x{record['size']}); largest "
                  f"difference from PyTorch {difference:.2e}")


# What the model extra installs (pyproject.toml) by import name: a verb that meets one of them
# missing says how to install it, in one line, instead of a traceback.
MODEL_EXTRA_MODULES = ("torch", "torchvision", "segmentation_models_pytorch", "albumentations",
                       "piq", "safetensors", "tensorboard", "onnx", "onnxruntime", "webdataset",
                       "braceexpand")


def entry() -> None:
    """The `shadow-model` console script; exit code 1 with one line when the model extra is
    not installed (the verbs import torch when they run, so --help works without it)."""
    from dataset_tools.entry import run

    try:
        run(app)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in MODEL_EXTRA_MODULES:
            raise
        print(f"error: shadow-model needs {error.name}, which the model extra installs: "
              'pip install -e ".[model]" (or pip install "shadowsynth[model]")', file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":  # `python -m model.cli` (and torchrun ... -m model.cli)
    entry()
