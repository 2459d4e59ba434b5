"""One frozen configuration per `shadow-model` verb; the CLI fills them and every run writes
its resolved configuration as JSON next to its outputs."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataset_tools.masks import GRAY_THRESHOLD
from dataset_tools.settings import from_json


class ConfigError(ValueError):
    """Options that cannot work together, or a run folder that is not one; the message names
    the option (the CLI: one line, exit code 1)."""


class OptionValueError(ConfigError):
    """An argument error: one option's value outside its domain (a NaN or negative rate, zero
    workers' steps, an unknown encoder, a device this machine lacks) or options that do not go
    together; the message names the option and what is expected. The CLI prints one line and
    exits 2 (`model.cli`)."""


def expect(ok: bool, option: str, value: Any, expected: str) -> None:
    """OptionValueError "OPTION VALUE: expected EXPECTED" unless ok."""
    if not ok:
        raise OptionValueError(f"{option} {value}: expected {expected}")


def default_workers() -> int:
    """DataLoader worker processes by default: 4, or the CPU cores this process may use when
    fewer (more workers than cores only makes torch warn and the loader slower)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def choose(option: str, value: str, choices: tuple[str, ...]) -> None:
    expect(value in choices, option, repr(value), f"one of {', '.join(choices)}")


DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")  # the --device values every verb takes


def check_device(device: str) -> None:
    """The --device syntax; whether this machine has it is `model.runtime.pick_device`'s."""
    expect(DEVICE_PATTERN.fullmatch(device) is not None, "--device", repr(device),
           "auto, cpu, cuda or cuda:N")


def check_batch_size(batch_size: int) -> None:
    expect(batch_size >= 1, "--batch-size", batch_size, "at least 1")


def check_workers(workers: int) -> None:
    expect(workers >= 0, "--workers", workers, "0 (load in this process) or more")


def check_encoder(encoder: str) -> None:
    """A segmentation-models-pytorch encoder name (it is installed with the model extra)."""
    from segmentation_models_pytorch.encoders import encoders

    expect(encoder in encoders, "--encoder", repr(encoder),
           f"a segmentation-models-pytorch encoder such as resnet18, resnet34, mobilenet_v2 "
           f"(all {len(encoders)}: python -c \"import segmentation_models_pytorch as smp; "
           f"print(smp.encoders.get_encoder_names())\")")


CONDITIONS = ("none", "light")  # what the SG network can take beside the image (model/light.py)
HEADS = ("factor", "residual")  # what the SG network predicts (model.networks.SGNet)
# evaluate --light: a conditioned model gets each sample's true light (its manifest label), the
# light estimated from the photo (as predict does without --shadow-direction), or none
LIGHTS = ("true", "estimated", "none")


def check_width(width: float) -> None:
    expect(0 < width <= 4, "--decoder-width", width, "a factor in (0, 4]")


@dataclass(frozen=True)
class TrainConfig:
    """What both training verbs share."""

    data: Path
    out: Path = Path("runs")
    size: int = 256  # network input, square
    batch_size: int = 16
    epochs: int = 100
    lr: float = 2e-4
    weight_decay: float = 0.0
    workers: int = field(default_factory=default_workers)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    channels_last: bool = True  # on CUDA
    compile: bool = False  # torch.compile the networks
    augment: bool = True
    val_fraction: float = 0.1  # carved from train/ (grouped by scene) when there is no val/
    encoder_weights: str = "auto"  # auto | imagenet | none | PATH
    validate_data: bool = True
    image_every: int = 1  # epochs between TensorBoard/PNG image grids
    log_every: int = 50  # steps between stats.jsonl lines (and NaN checks)
    max_steps_per_epoch: int = 0  # 0 = the whole train split (a debugging/benchmark cap)
    max_minutes: float = 0.0  # wall-clock budget (0 = none): see model.train.TimeBudget

    def __post_init__(self) -> None:
        expect(self.size > 0 and not self.size % 32, "--size", self.size,
               "a positive multiple of 32")
        expect(self.batch_size >= 2, "--batch-size", self.batch_size, "at least 2 (batch norm)")
        expect(0 <= self.val_fraction < 1, "--val-fraction", self.val_fraction, "[0, 1)")
        expect(math.isfinite(self.lr) and self.lr > 0, "--lr", self.lr, "a positive rate")
        expect(self.epochs >= 1, "--epochs", self.epochs, "at least 1")
        check_workers(self.workers)
        check_device(self.device)
        expect(self.log_every >= 1, "--log-every", self.log_every, "at least 1 step")
        expect(self.max_steps_per_epoch >= 0, "--max-steps-per-epoch",
               self.max_steps_per_epoch, "0 (no cap) or more")
        expect(math.isfinite(self.max_minutes) and self.max_minutes >= 0, "--max-minutes",
               self.max_minutes, "0 (no budget) or more minutes")


@dataclass(frozen=True)
class AttentionConfig(TrainConfig):
    """train-attention: U-Net(resnet34) RGB + object mask -> occluder, occluder-shadow masks."""

    encoder: str = "resnet34"  # any segmentation-models-pytorch encoder
    decoder_width: float = 1.0  # U-Net decoder channels x this (1 = 256, 128, 64, 32, 16)
    attention_threshold: float = 0.5  # probability at which val IoU and grids binarise masks
    light_head: bool = True  # also learn the light the photo shows (model.networks.LightHead)
    light_weight: float = 1.0  # weight of the light head's loss beside the Dice loss

    def __post_init__(self) -> None:
        super().__post_init__()
        check_width(self.decoder_width)
        check_encoder(self.encoder)
        expect(self.light_weight >= 0, "--light-weight", self.light_weight, "at least 0")


@dataclass(frozen=True)
class SGConfig(TrainConfig):
    """train-sg: U-Net(resnet18) + 4 refinement blocks, trained as a GAN."""

    attention: Path | None = None  # attention checkpoint; None = ground-truth masks only
    gt_mask_prob: float = 0.0  # chance per sample of ground-truth instead of predicted masks
    encoder: str = "resnet18"  # any segmentation-models-pytorch encoder
    decoder_width: float = 1.0  # U-Net decoder channels x this (1 = 256, 128, 64, 32, 16)
    refine_width: int = 64  # channels of the 4 refinement blocks
    head: str = "factor"  # factor (noshadow x a factor in [0, 1]) | residual (the article's)
    factor_weight: float = 10.0  # factor head: weight of the factor's squared error (pair's)
    condition: str = "none"  # none | light: the light (direction, elevation, softness) as input
    condition_dropout: float = 0.3  # with --condition light: share of samples trained without
    hint: bool = True  # with --condition light: also the light's hard-shadow hint plane
    discriminator: str = "srgan"  # srgan | patchgan
    conditional: bool = True  # discriminator also sees noshadow + masks (article: False)
    gan_mode: str = "vanilla"  # vanilla (BCE) | lsgan
    betas: tuple[float, float, float] = (10.0, 1.0, 0.01)  # L2, perceptual, adversarial
    region_weight: float = 1.0  # weight of the dilated smask in the L2 loss (1 = plain L2)
    region_dilate: int = 7  # pixels of dilation of smask for the weighted region
    vgg_weights: str = "auto"  # auto (off when not found) | imagenet | random | none | PATH
    d_lr: float = 2e-4
    attention_threshold: float = 0.5  # attention masks binarised at this probability
    gan_warmup_epochs: int = 0  # epochs with β3 = 0 (reconstruction only)

    def __post_init__(self) -> None:
        super().__post_init__()
        choose("--discriminator", self.discriminator, ("srgan", "patchgan"))
        choose("--gan-mode", self.gan_mode, ("vanilla", "lsgan"))
        choose("--head", self.head, HEADS)
        choose("--condition", self.condition, CONDITIONS)
        expect(0 <= self.condition_dropout < 1, "--condition-dropout", self.condition_dropout,
               "a share in [0, 1)")
        check_width(self.decoder_width)
        check_encoder(self.encoder)
        expect(self.refine_width >= 1, "--refine-width", self.refine_width, ">= 1")
        expect(self.factor_weight >= 0, "--factor-weight", self.factor_weight, ">= 0")
        expect(self.region_weight >= 1, "--region-weight", self.region_weight, ">= 1")
        expect(math.isfinite(self.d_lr) and self.d_lr > 0, "--d-lr", self.d_lr,
               "a positive rate")
        expect(0 <= self.gt_mask_prob <= 1, "--gt-mask-prob", self.gt_mask_prob,
               "a chance in [0, 1]")
        expect(self.gan_warmup_epochs >= 0, "--gan-warmup-epochs", self.gan_warmup_epochs,
               "0 or more")
        expect(all(math.isfinite(beta) and beta >= 0 for beta in self.betas), "--betas",
               " ".join(map(str, self.betas)), "three weights >= 0")


PROTOCOLS = ("ours", "desoba")


# predict's and evaluate's default --min-confidence: on the val renders of the shipped model
# (docs/benchmarks.md) estimates at least this confident were 14 degrees off at the median and
# gave 3 % of overcast samples a direction (22 % without it)
MIN_CONFIDENCE = 0.5


@dataclass(frozen=True)
class EvalConfig:
    """evaluate: a checkpoint's predictions, or a folder of any method's, scored under one
    protocol (docs/architecture.md, "Evaluation protocols")."""

    data: Path
    checkpoint: Path | None = None  # SG checkpoint; or predictions
    predictions: Path | None = None  # folder of ID.png / ID.jpg predicted images
    pred_masks: Path | None = None  # with predictions: the method's own shadow masks
    protocol: str = "ours"  # ours | desoba (the DESOBA/DESOBAv2 evaluation code)
    split: str = "test"
    size: int = 256  # metrics at size x size; the model runs at its own size (upsampled)
    batch_size: int = 16
    device: str = "auto"
    # gray level 0-255 of |shadow - noshadow| that is shadow where a sample has no smask
    gray_threshold: float = GRAY_THRESHOLD
    ber_k: float = 0.1  # fixed BER threshold (model.metrics.ber_threshold)
    out: Path | None = None  # folder for metrics.json and per_image.csv
    workers: int = field(default_factory=default_workers)
    light: str = "none"  # a conditioned model's light: true | estimated | none (LIGHTS)
    network_size: int = 0  # the model runs at this square size (0: its training size)
    flat_object: bool = False  # the object's pixels at their mean colour in the model's input
    min_confidence: float = MIN_CONFIDENCE  # an estimate less confident: no light

    def __post_init__(self) -> None:
        choose("--protocol", self.protocol, PROTOCOLS)
        check_min_confidence(self.min_confidence)
        if self.flat_object and self.checkpoint is None:
            raise OptionValueError("--flat-object changes a checkpoint's input; it does not "
                                   "apply to --predictions")
        choose("--light", self.light, LIGHTS)
        check_network_size(self.network_size)
        if (self.checkpoint is None) == (self.predictions is None):
            raise OptionValueError("give either --checkpoint or --predictions")
        if self.pred_masks is not None and self.predictions is None:
            raise OptionValueError("--pred-masks goes with --predictions")
        if self.pred_masks is not None and self.protocol != "desoba":
            raise OptionValueError("--pred-masks is read by --protocol desoba only")
        expect(self.size > 0, "--size", self.size, "a positive size")
        if self.protocol == "desoba" and self.size != 256:
            raise OptionValueError(f"--size {self.size}: the desoba protocol is defined at 256x256")
        check_batch_size(self.batch_size)
        check_workers(self.workers)
        check_device(self.device)
        expect(math.isfinite(self.ber_k) and self.ber_k > 0, "--ber-k", self.ber_k,
               "a positive factor")


PREDICT_FORMATS = ("same", "png", "jpg")
JPEG_QUALITY = 95  # predict's JPEG outputs (a JPEG input, or --format jpg)


def check_network_size(size: int) -> None:
    expect(size == 0 or (size > 0 and size % 32 == 0), "--network-size", size,
           "0 (the training size) or a positive multiple of 32")


def check_min_confidence(value: float) -> None:
    expect(0 <= value <= 1, "--min-confidence", value, "a confidence in [0, 1]")


@dataclass(frozen=True)
class PredictConfig:
    images: Path
    masks: Path
    out: Path
    checkpoint: Path
    device: str = "auto"
    batch_size: int = 8
    save_shadow_mask: bool = False
    save_attention: bool = False
    save_matte: bool = False  # the shadow factor as a 16-bit PNG under OUT/matte/
    shadow_direction: float | None = None  # a conditioned model's light; None: see below
    estimate_light: bool = True  # without a direction: the light read from the photo (else none)
    elevation: float = 45.0  # degrees, with a given or estimated direction
    softness: float = 0.03  # [0, 1], likewise (model/light.py: a 2-degree sun)
    save_light: bool = False  # the light the model ran with as JSON under OUT/light/
    ber_k: float = 0.1
    overwrite: bool = False
    lights: Path | None = None  # JSON or CSV: a light per image (model/light_file.py)
    sheet: Path | None = None  # a before/after contact sheet (.jpg or .png) of the first images
    format: str = "same"  # outputs: the input's own format | png | jpg (PREDICT_FORMATS)
    # images above this many pixels are refused from their header (0: no limit); 50 MP lets
    # a 48 MP phone photo through and keeps a run near 3 GB (float copies of the photo)
    max_pixels: int = 50_000_000
    network_size: int = 0  # the model runs at this square size (0: its training size)
    min_confidence: float = MIN_CONFIDENCE  # an estimate less confident: no light

    def __post_init__(self) -> None:
        check_network_size(self.network_size)
        check_min_confidence(self.min_confidence)
        expect(0 < self.elevation <= 90, "--elevation", self.elevation, "degrees in (0, 90]")
        expect(0 <= self.softness <= 1, "--softness", self.softness, "a value in [0, 1]")
        expect(self.shadow_direction is None or math.isfinite(self.shadow_direction),
               "--shadow-direction", self.shadow_direction, "degrees")
        check_batch_size(self.batch_size)
        check_device(self.device)
        choose("--format", self.format, PREDICT_FORMATS)
        expect(self.max_pixels >= 0, "--max-pixels", self.max_pixels, "0 (no limit) or more")
        if self.sheet is not None:
            expect(self.sheet.suffix.lower() in (".jpg", ".jpeg", ".png"), "--sheet",
                   self.sheet, "a .jpg or .png file")


@dataclass(frozen=True)
class ExportConfig:
    checkpoint: Path
    out: Path
    format: str = "onnx"  # onnx | torchscript
    size: int = 0  # 0 = the model's training size
    opset: int = 17
    tolerance: float = 1e-3

    def __post_init__(self) -> None:
        choose("--format", self.format, ("onnx", "torchscript"))
        expect(self.size >= 0 and not self.size % 32, "--size", self.size,
               "0 or a positive multiple of 32")
        expect(self.opset >= 7, "--opset", self.opset, "an ONNX opset, 7 or later")


def load_config(cls: type, path: Path) -> Any:
    """The config of class `cls` a run wrote to `path` (its config.json)."""
    return from_json(cls, json.loads(path.read_text(encoding="utf-8")))
