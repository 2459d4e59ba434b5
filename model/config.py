"""One frozen configuration per `shadow-model` verb. Each option is declared once, on the field
it fills (dataset_tools.options: default, help, domain or choices); the CLI is built from these
fields, and every run writes its resolved configuration as JSON next to its outputs."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from dataset_tools.errors import UsageError
from dataset_tools.layout import SPLITS
from dataset_tools.masks import GRAY_THRESHOLD
from dataset_tools.options import Domain, Rule, check_fields, option, refusal
from dataset_tools.settings import from_json


def default_workers() -> int:
    """DataLoader worker processes by default: 4, or the CPU cores this process may use when
    fewer (more workers than cores only makes torch warn and the loader slower)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")  # the --device values every verb takes
DEVICE = Rule(lambda value: DEVICE_PATTERN.fullmatch(value) is not None,
              "auto, cpu, cuda or cuda:N")
CONDITIONS = ("none", "light")  # what the SG network can take beside the image (model/light.py)
HEADS = ("factor", "residual")  # what the SG network predicts (model.networks.SGNet)
# evaluate --light: a conditioned model gets each sample's true light (its manifest label), the
# light estimated from the photo (as predict does without --shadow-direction), or none
LIGHTS = ("true", "estimated", "none")
PROTOCOLS = ("ours", "desoba")
PREDICT_FORMATS = ("same", "png", "jpg")
JPEG_QUALITY = 95  # predict's JPEG outputs (a JPEG input, or --format jpg)
AT_LEAST_0 = Domain(0.0)
RATE = Domain(0.0, open_low=True)
# predict's and evaluate's default --min-confidence: on the val renders of the shipped model
# (docs/benchmarks.md) estimates at least this confident were 14 degrees off at the median and
# gave 3 % of overcast samples a direction (22 % without it)
MIN_CONFIDENCE = 0.5


def _is_encoder(name: str) -> bool:
    from segmentation_models_pytorch.encoders import encoders  # the model extra installs it

    return name in encoders


# The options more than one verb takes, each declared once here.
def device_option(default: str = "auto") -> str:
    return option(default, "auto | cpu | cuda | cuda:N", domain=DEVICE)


def batch_option(default: int, least: int = 1) -> int:
    return option(default, "Batch size per process" + (" (batch norm: at least 2)" if least > 1
                                                       else ""),
                  domain=Rule(lambda value: value >= least, f"at least {least}"))


def workers_option() -> int:
    return option(help="DataLoader worker processes (default: 4, or the usable CPU cores when "
                       "fewer)", factory=default_workers, domain=AT_LEAST_0,
                  default_text="4 or the cores")


def encoder_option(default: str) -> str:
    return option(default, "U-Net encoder: any segmentation-models-pytorch encoder name "
                  "(resnet18, mobilenet_v2, ...); ImageNet weights load for ResNets only",
                  domain=Rule(_is_encoder, "a segmentation-models-pytorch encoder such as "
                              "resnet18, resnet34, mobilenet_v2 (all: python -c \"import "
                              "segmentation_models_pytorch as smp; "
                              "print(smp.encoders.get_encoder_names())\")"))


def width_option() -> float:
    return option(1.0, "U-Net decoder channels x this factor (1 = 256, 128, 64, 32, 16)",
                  domain=Domain(0.0, 4.0, open_low=True))


def network_size_option() -> int:
    return option(0, "Run the network at this square size, a multiple of 32 (0: the size it "
                  "was trained at); its shadow is then resized to the photo",
                  domain=Rule(lambda size: size == 0 or (size > 0 and size % 32 == 0),
                              "0 (the training size) or a positive multiple of 32"))


def min_confidence_option() -> float:
    return option(MIN_CONFIDENCE, "With the light estimated from the photo: run without a "
                  "light where the estimate's confidence (0-1, what --save-light writes) is "
                  "below this (0: always use the estimate)", domain=Domain(0.0, 1.0))


def crisp_option() -> bool:
    return option(False, "Redraw the network's shadow with a crisp outline at the photo's "
                  "size: its half-peak contour, one darkness, a 1.5 px edge per 256 px (sharper "
                  "edges and less darkening around the shadow, for a higher LRMSE: "
                  "docs/benchmarks.md)")


def attention_option(help: str) -> Path | None:
    return option(None, help)


def check_device(device: str) -> None:
    """The --device syntax (the `device_option` field's refusal); whether this machine has it
    is `model.runtime.pick_device`'s."""
    error = refusal(TrainConfig.__dataclass_fields__["device"], device)
    if error is not None:
        raise error


MULTIPLE_OF_32 = Rule(lambda size: size > 0 and size % 32 == 0, "a positive multiple of 32")


@dataclass(frozen=True)
class TrainConfig:
    """What both training verbs share."""

    data: Path  # the dataset or shards (the verb's --data, which --resume does without)
    out: Path = option(Path("runs"), "Runs go to OUT/NNNNN-KIND-DATASET/")
    size: int = option(256, "Square network input size (multiple of 32)", domain=MULTIPLE_OF_32)
    batch_size: int = batch_option(16, least=2)
    epochs: int = option(100, "Epochs in all (on --resume, the run's own unless given)",
                         domain=Domain(1))
    lr: float = option(2e-4, "Learning rate (Adam)", domain=RATE)
    weight_decay: float = 0.0
    workers: int = workers_option()
    seed: int = option(0, "Seed of init, data order and augmentation")
    device: str = device_option()
    amp: bool = option(True, "bf16 autocast on CUDA (ignored on CPU)")
    channels_last: bool = True  # on CUDA
    compile: bool = option(False, "torch.compile the trained network")
    augment: bool = option(True, "albumentations augmentation")
    val_fraction: float = option(
        0.1, "Share of train/ scenes held out for choosing the best epoch when there is no val/",
        domain=Domain(0.0, 1.0, open_high=True))
    encoder_weights: str = option(
        "auto", "auto (ImageNet from the torch/HF cache when present, else random init with a "
        "warning) | imagenet (required) | none | PATH")
    validate_data: bool = option(True, "Validate every dataset file first")
    image_every: int = 1  # epochs between TensorBoard/PNG image grids
    log_every: int = option(50, "Steps between stats.jsonl lines (and NaN checks)",
                            domain=Domain(1))
    max_steps_per_epoch: int = option(
        0, "Cap on steps per epoch (0: the whole train split; a debugging or benchmark cap)",
        names="--max-steps-per-epoch", domain=AT_LEAST_0)
    max_minutes: float = option(
        0.0, "Wall-clock budget: train as many epochs (up to --epochs) as fit, estimated from "
        "the first epoch, with the learning-rate schedule fitted to them (0: no budget; "
        "model.train.TimeBudget)", domain=AT_LEAST_0)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class AttentionConfig(TrainConfig):
    """train-attention: U-Net(resnet34) RGB + object mask -> occluder, occluder-shadow masks."""

    KIND: ClassVar[str] = "attention"  # run folders NNNNN-attention-DATASET

    encoder: str = encoder_option("resnet34")
    decoder_width: float = width_option()
    attention_threshold: float = 0.5  # probability at which val IoU and grids binarise masks
    light_head: bool = option(
        True, "Also learn the light the photo shows (direction, elevation, softness, whether "
        "it has a direction) from each sample's light label: what predict uses when given no "
        "--shadow-direction (model.networks.LightHead)")
    light_weight: float = option(1.0, "Weight of the light head's loss beside the Dice loss",
                                 domain=AT_LEAST_0)


@dataclass(frozen=True)
class SGConfig(TrainConfig):
    """train-sg: U-Net(resnet18) + 4 refinement blocks, trained as a GAN."""

    KIND: ClassVar[str] = "sg"

    attention: Path | None = attention_option(
        "Attention checkpoint; without it G trains on ground-truth masks")
    gt_mask_prob: float = option(0.0, "Chance per sample of ground-truth masks instead of "
                                 "predicted", domain=Domain(0.0, 1.0))
    encoder: str = encoder_option("resnet18")
    decoder_width: float = width_option()
    refine_width: int = option(64, "Channels of the 4 refinement blocks", domain=Domain(1))
    head: str = option("factor", "factor: shadow = noshadow x a predicted factor in [0, 1] | "
                       "residual: the article's added residual", choices=HEADS)
    factor_weight: float = option(
        10.0, "Factor head: weight of the squared error between the predicted factor and the "
        "pair's (shadow / noshadow)", domain=AT_LEAST_0)
    condition: str = option(
        "none", "none | light: feed the light (image direction, elevation, softness, and its "
        "hard-shadow hint plane) into the SG network", choices=CONDITIONS)
    condition_dropout: float = option(
        0.3, "with --condition light: share of training samples that go without their light, "
        "so that one network serves with and without a given light",
        domain=Domain(0.0, 1.0, open_high=True))
    hint: bool = option(True, "with --condition light: also give the hard shadow the object "
                        "mask casts under the light (a projected silhouette) as an input plane")
    discriminator: str = option("srgan", "srgan | patchgan", choices=("srgan", "patchgan"))
    conditional: bool = option(True, "D also sees noshadow and the masks (the article: not)")
    gan_mode: str = option("vanilla", "vanilla (BCE) | lsgan", choices=("vanilla", "lsgan"))
    betas: tuple[float, float, float] = option(
        (10.0, 1.0, 0.01), "Weights of L2, perceptual, adversarial", domain=AT_LEAST_0)
    region_weight: float = option(
        1.0, "L2 weight of the dilated shadow region (1 = plain L2; e.g. 6)", domain=Domain(1.0))
    region_dilate: int = 7  # pixels of dilation of smask for the weighted region (and spill)
    spill_weight: float = option(
        0.0, "Weight of the mean darkening the SG network adds outside the shadow region "
        "dilated by 7 px (an L1 term: it trims a blob's faint tails, which a squared error "
        "barely sees; 0: off)", domain=AT_LEAST_0)
    init: Path | None = option(
        None, "Start the SG network (and D, where the checkpoint holds one) from a checkpoint's "
        "weights instead of random init: fine-tuning (a run's .pt, a .safetensors, or default: "
        "the pretrained model); its architecture options must match this run's",
        metavar="CHECKPOINT")
    vgg_weights: str = option(
        "auto", "VGG16 for the perceptual loss: auto (off when no weights are found) | "
        "imagenet | random | none | PATH")
    d_lr: float = option(2e-4, "Discriminator learning rate", domain=RATE)
    attention_threshold: float = 0.5  # attention masks binarised at this probability
    gan_warmup_epochs: int = option(0, "First epochs without the adversarial term",
                                    domain=AT_LEAST_0)


@dataclass(frozen=True)
class EvalConfig:
    """evaluate: a checkpoint's predictions, or a folder of any method's, scored under one
    protocol (docs/architecture.md, "Evaluation protocols")."""

    data: Path = option(help="Shadow-AR dataset folder")
    checkpoint: Path | None = option(
        None, "SG checkpoint (.pt/.safetensors), or default: the pretrained model; or "
        "--predictions")
    predictions: Path | None = option(
        None, "Folder of predicted images named by the dataset's ids (.png/.jpg), from any "
        "method; scored without a checkpoint")
    attention: Path | None = attention_option("Attention checkpoint, if the SG one holds none")
    pred_masks: Path | None = option(
        None, "with --predictions and --protocol desoba: the method's own predicted shadow "
        "masks (ID.png) for GBER/LBER, as DESOBAv2 scores them (default: gray(|pred - "
        "noshadow|) > 127.5*k)")
    protocol: str = option(
        "ours", "ours | desoba (the DESOBA/DESOBAv2 evaluation code: zero-padded SSIM with "
        "C1=0.01^2, C2=0.03^2 on 0-255 data, BER over every pixel; 256x256 only)",
        choices=PROTOCOLS)
    split: str = option("test", "train | val | test", choices=SPLITS)
    size: int = option(256, "Metrics are computed at SIZE x SIZE (the model runs at its "
                       "training size, or --network-size; its shadow is resized)",
                       domain=Domain(1))
    batch_size: int = batch_option(16)
    device: str = device_option()
    # gray level 0-255 of |shadow - noshadow| that is shadow where a sample has no smask
    gray_threshold: float = GRAY_THRESHOLD
    ber_k: float = option(0.1, "Fixed BER threshold 127.5*k on gray(|pred - noshadow|)",
                          domain=RATE)
    out: Path | None = option(None, "Folder for metrics.json, per_image.csv (default: next to "
                              "the checkpoint's run, or next to --predictions)")
    workers: int = workers_option()
    light: str = option(
        "none", "A light-conditioned model runs with each sample's true light (from the "
        "manifest), the light estimated from the photo, or none (as predict without "
        "--shadow-direction): true | estimated | none", choices=LIGHTS)
    network_size: int = network_size_option()
    flat_object: bool = option(
        False, "Give the model the inserted object at its mean colour, so that its shading "
        "shows nothing of the light (what an estimated light then reads comes from the rest "
        "of the photo); scored on the shadow, the object as rendered")
    min_confidence: float = min_confidence_option()
    crisp: bool = crisp_option()

    def __post_init__(self) -> None:
        check_fields(self)
        if self.flat_object and self.checkpoint is None:
            raise UsageError("--flat-object changes a checkpoint's input; it does not apply to "
                             "--predictions")
        if self.crisp and self.checkpoint is None:
            raise UsageError("--crisp redraws a checkpoint's shadow; it does not apply to "
                             "--predictions")
        if (self.checkpoint is None) == (self.predictions is None):
            raise UsageError("give either --checkpoint or --predictions")
        if self.pred_masks is not None and self.predictions is None:
            raise UsageError("--pred-masks goes with --predictions")
        if self.pred_masks is not None and self.protocol != "desoba":
            raise UsageError("--pred-masks is read by --protocol desoba only")
        if self.protocol == "desoba" and self.size != 256:
            raise UsageError(f"--size {self.size}: the desoba protocol is defined at 256x256")


@dataclass(frozen=True)
class PredictConfig:
    images: Path = option(help="Image folder or file")
    masks: Path = option(help="Object masks: folder (same stems) or file")
    out: Path = option(help="Output folder")
    checkpoint: Path | None = option(
        None, "SG checkpoint (.pt/.safetensors); default: the pretrained model shipped with "
        "shadowsynth")
    attention: Path | None = attention_option("Attention checkpoint, if the SG one holds none")
    device: str = device_option()
    batch_size: int = batch_option(8)
    save_shadow_mask: bool = option(False, "Also write shadow_mask/NAME.png (where the "
                                    "prediction darkened)")
    save_attention: bool = option(False, "Also write the attention masks under attention/")
    save_matte: bool = option(False, "Also write matte/NAME.png: the shadow factor as 16-bit "
                              "RGB (65535 = unchanged); multiply the photo by it")
    shadow_direction: float | None = option(
        None, "A light-conditioned model (the pretrained one is): the image direction the "
        "shadow should point in from the object's foot, degrees (0 = right, 90 = down, "
        "clockwise). Without it the light is estimated from the photo (or none with "
        "--no-light)", domain=Rule(math.isfinite, "degrees"))
    estimate_light: bool = option(
        True, "without --shadow-direction: estimate the light (direction, elevation, softness) "
        "from the photo with the attention block's light head, or run without a light "
        "(--no-light)", names="--estimate-light/--no-light")
    elevation: float = option(45.0, "With a light: its elevation above the ground, degrees "
                              "(0-90]", domain=Domain(0.0, 90.0, open_low=True))
    softness: float = option(0.03, "With a light: its softness in [0, 1] (a clear sun about "
                             "0.01, a lamp 0.1-0.7, overcast 1; model/light.py)",
                             domain=Domain(0.0, 1.0))
    save_light: bool = option(False, "Also write light/NAME.json: the light the model ran "
                              "with (given, estimated or none)")
    ber_k: float = 0.1
    overwrite: bool = option(False, "Replace existing outputs")
    lights: Path | None = option(
        None, "A light per image: a JSON object or CSV (image,direction,elevation,softness) "
        "naming images by file name or stem (docs/predict.md); an image it does not name gets "
        "--shadow-direction's light, or none")
    sheet: Path | None = option(
        None, "Also write a before/after contact sheet (input | shadowed | matte) of the "
        "first images to this .jpg or .png file",
        domain=Rule(lambda path: path.suffix.lower() in (".jpg", ".jpeg", ".png"),
                    "a .jpg or .png file"))
    format: str = option("same", f"Output format: same (the input's own; JPEG at quality "
                         f"{JPEG_QUALITY}) | png | jpg", choices=PREDICT_FORMATS)
    # images above this many pixels are refused from their header (0: no limit); 50 MP lets
    # a 48 MP phone photo through and keeps a run near 3 GB (float copies of the photo)
    max_pixels: int = option(50_000_000, "Refuse images larger than this many pixels, from "
                             "their header, before any is decoded (0: no limit)",
                             domain=AT_LEAST_0)
    network_size: int = network_size_option()
    min_confidence: float = min_confidence_option()
    crisp: bool = crisp_option()

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class ExportConfig:
    checkpoint: Path = option(help="SG checkpoint (.pt/.safetensors), or default: the "
                              "pretrained model")
    out: Path = option(help="Graph file to write")
    attention: Path | None = attention_option("Attention checkpoint, if the SG one holds none")
    format: str = option("onnx", "onnx | torchscript", choices=("onnx", "torchscript"))
    size: int = option(0, "Input size (0: the training size)",
                       domain=Rule(lambda size: size >= 0 and not size % 32,
                                   "0 or a positive multiple of 32"))
    opset: int = option(17, "ONNX opset", domain=Rule(lambda opset: opset >= 7,
                                                      "an ONNX opset, 7 or later"))
    tolerance: float = 1e-3

    def __post_init__(self) -> None:
        check_fields(self)


def load_config(cls: type, path: Path) -> Any:
    """The config of class `cls` a run wrote to `path` (its config.json)."""
    return from_json(cls, json.loads(path.read_text(encoding="utf-8")))
