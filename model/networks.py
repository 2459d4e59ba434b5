"""The networks of docs/architecture.md: attention U-Net, shadow-generation (SG) U-Net with
refinement, SRGAN-style and conditional PatchGAN discriminators, and the attention -> SG
pipeline.

Conventions everywhere in model/: images (N, 3, H, W) float in [0, 1]; masks (N, 1, H, W)
float in {0, 1}. Each network normalises its own inputs, so callers never do."""

from __future__ import annotations

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from torch import nn

from dataset_tools.settings import defaults
from model.config import HEADS, SGConfig
from model.light import CONDITIONS, LIGHT_CHANNELS, light_inputs

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class InputNorm(nn.Module):
    """RGB with ImageNet statistics, masks {0, 1} -> {-1, 1}; (N, 3 + k, H, W) in and out."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor, *masks: torch.Tensor) -> torch.Tensor:
        parts = [(image - self.mean) / self.std] + [mask * 2 - 1 for mask in masks]
        return torch.cat(parts, dim=1)


def check_input(image: torch.Tensor, *masks: torch.Tensor) -> None:
    """ValueError naming the shapes unless `image` is (N, 3, H, W) and each mask (N, 1, H, W),
    H and W multiples of 32 (the encoders' stride): what the pipeline is called with."""
    if image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"expected an image of shape (N, 3, H, W), got {tuple(image.shape)}")
    for mask in masks:
        if mask.shape != (image.shape[0], 1, *image.shape[2:]):
            raise ValueError(f"expected masks of shape {(image.shape[0], 1, *image.shape[2:])}, "
                             f"got {tuple(mask.shape)}")
    if image.shape[2] % 32 or image.shape[3] % 32:
        raise ValueError(f"height and width must be multiples of 32, got {tuple(image.shape[2:])}")


DECODER_CHANNELS = (256, 128, 64, 32, 16)  # smp.Unet's default, the article's width


def decoder_channels(width: float) -> tuple[int, ...]:
    """The U-Net decoder's channels at `width` times the article's (1 = 256, ..., 16)."""
    if not 0 < width <= 4:
        raise ValueError(f"decoder width {width}: expected a factor in (0, 4]")
    return tuple(max(4, int(round(channels * width))) for channels in DECODER_CHANNELS)


def _unet(encoder: str, in_channels: int, classes: int, decoder_width: float) -> smp.Unet:
    return smp.Unet(encoder, encoder_weights=None, in_channels=in_channels, classes=classes,
                    decoder_channels=decoder_channels(decoder_width))


def _sized(arch: dict, decoder_width: float) -> dict:
    """An arch description; the decoder width only when it is not the article's, so that
    checkpoints written before the option existed keep their description."""
    return arch if decoder_width == 1 else {**arch, "decoder_width": decoder_width}


class LightHead(nn.Module):
    """What of the light is one number per photo, read off the attention encoder's deepest
    features: a 1x1 reduction, average-pooled to a GRID x GRID map (where in the picture a
    feature lies is kept) and an MLP to [directional logit, elevation / 90, softness]."""

    GRID, REDUCED, HIDDEN, OUTPUTS = 4, 32, 128, 3

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(channels, self.REDUCED, 1, bias=False),
                                    nn.BatchNorm2d(self.REDUCED), nn.ReLU(inplace=True),
                                    nn.AdaptiveAvgPool2d(self.GRID), nn.Flatten())
        self.mlp = nn.Sequential(nn.Linear(self.REDUCED * self.GRID ** 2, self.HIDDEN),
                                 nn.ReLU(inplace=True), nn.Linear(self.HIDDEN, self.OUTPUTS))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.reduce(features))


DIRECTION_BINS = 16  # the direction field's classes: image directions 360 / 16 degrees apart


def direction_units(bins: int = DIRECTION_BINS) -> torch.Tensor:
    """(bins, 2): the unit vectors (cos, sin) of the bins' centre directions."""
    angles = torch.arange(bins, dtype=torch.float32) * (2 * torch.pi / bins)
    return torch.stack([angles.cos(), angles.sin()], dim=1)


class DirectionField(nn.Module):
    """Per cell of a stride-16 feature map, a distribution over DIRECTION_BINS image
    directions of the light: each shadow and each shaded surface votes where it is."""

    WIDTH = 64

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(channels, self.WIDTH, 3, padding=1, bias=False),
                                    nn.BatchNorm2d(self.WIDTH), nn.ReLU(inplace=True),
                                    nn.Conv2d(self.WIDTH, DIRECTION_BINS, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


FIELD_FLOOR = 0.05  # every cell's share in the pooled vote, beside the evidence's


def pooled_direction(field: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(N, 2): the vote of a (N, DIRECTION_BINS, h, w) field of logits, each cell's softmax
    weighted by (N, 1, H, W) `weights` (area-resized to h x w) plus FIELD_FLOOR, as the mean
    of the bins' unit vectors: its direction is the light's, its length (at most 1) how much
    the cells agree."""
    weights = F.adaptive_avg_pool2d(weights, field.shape[2:]) + FIELD_FLOOR
    votes = (torch.softmax(field, dim=1) * weights).sum(dim=(2, 3)) / weights.sum(dim=(2, 3))
    return votes @ direction_units(field.shape[1]).to(votes)


class AttentionNet(nn.Module):
    """U-Net: image + object mask -> logits (N, 2, H, W) of [occluder, occluder shadow].

    With `light_head`, it also reads the light the photo shows. Its direction is a field
    (`DirectionField`, on the encoder's stride-16 features): a distribution over image
    directions per cell, trained with the light's direction as a soft class, most where the
    evidence is (the occluders, their shadows, the object: `model.light.field_loss`), so that
    each shadow and each shaded surface votes locally, at any size; the photo's direction is
    the vote weighted by the predicted occluders and shadows and the object mask
    (`pooled_direction`). Whether there is a direction, the elevation and the softness come
    from the deepest features (`LightHead`). `forward(..., with_light=True)`. A distribution
    per cell, not a regressed (cos, sin): a regression pulled towards the circle's mean by its
    uncertainty learnt nothing in 3 epochs (val error 99-109 degrees, chance), and its two
    channels beside the masks in the decoder's last 4 cost the masks their IoU."""

    def __init__(self, encoder: str = "resnet34", decoder_width: float = 1.0,
                 light_head: bool = False) -> None:
        super().__init__()
        arch = {"kind": "attention", "encoder": encoder, "in_channels": 4, "classes": 2}
        if light_head:
            arch["light_head"] = True
        self.arch = _sized(arch, decoder_width)
        self.norm = InputNorm()
        self.unet = _unet(encoder, 4, 2, decoder_width)
        channels = self.unet.encoder.out_channels
        self.light_head = LightHead(channels[-1]) if light_head else None
        self.direction = DirectionField(channels[-2]) if light_head else None

    def forward(self, image: torch.Tensor, mask: torch.Tensor, with_light: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mask logits (N, 2, H, W); `with_light`: (those, the light's raw numbers
        (N, LIGHT_OUTPUTS): [directional logit, cos, sin, elevation / 90, softness], the
        direction field (N, 2, H, W)) from one pass (a flag, not a method, so that a DDP or
        compiled wrapper runs it)."""
        if self.light_head is None:
            if with_light:
                raise ValueError("this attention network has no light head (trained without "
                                 "--light-head)")
            return self.unet(self.norm(image, mask))
        features = self.unet.encoder(self.norm(image, mask))
        logits = self.unet.segmentation_head(self.unet.decoder(features))
        if not with_light:
            return logits
        field = self.direction(features[-2]).float()
        with torch.no_grad():
            weights = torch.sigmoid(logits.float()).sum(dim=1, keepdim=True) + mask
        direction = pooled_direction(field, weights)
        kind, elevation, softness = self.light_head(features[-1]).float().unbind(dim=1)
        raw = torch.stack([kind, direction[:, 0], direction[:, 1], elevation, softness], dim=1)
        return logits, raw, field

    @classmethod
    def from_arch(cls, arch: dict) -> AttentionNet:
        return cls(arch["encoder"], arch.get("decoder_width", 1.0), arch.get("light_head", False))


def bn_relu_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
                         nn.Conv2d(in_channels, out_channels, 3, padding=1))


FACTOR_LEAK = 0.05  # slope share of the factor head's matte below 0 (a leaky tanh)


def shadow_factor(logits: torch.Tensor) -> torch.Tensor:
    """The factor head's bound: 1 - matte, matte = tanh(logits) above 0 and FACTOR_LEAK x
    tanh(logits) below, so the factor lies in [0, 1 + FACTOR_LEAK] and zero logits are the
    identity with a live gradient. A one-sided hinge (factor <= 1 exactly) let Adam's first
    steps push every pixel under the hinge, where nothing learns again; a sigmoid started
    near 1 learns too slowly from its saturated start. `ShadowPipeline.with_factor` clamps
    the factor to 1."""
    matte = torch.tanh(logits)
    return 1 - torch.where(logits >= 0, matte, FACTOR_LEAK * matte)


SG = defaults(SGConfig)  # the network's defaults are train-sg's


class SGNet(nn.Module):
    """U-Net on image + mask + occluder + occluder-shadow masks (6 channels) -> a coarse
    output; 4 BN-ReLU-Conv refinement blocks on (inputs, coarse output) -> a refined one.

    head "factor": each output is a per-pixel, per-channel factor in [0, 1] (`shadow_factor`)
    that multiplies the image (shadow = noshadow x factor: a cast shadow scales the ground's
    light), the refined logits adding to the coarse ones; the object's own pixels are kept.
    head "residual" (the article's): tanh-bounded residuals added to the image everywhere.
    Both start exactly as the identity (zero-initialised heads). Returns (coarse, refined) images
    (N, 3, H, W); the residual head's are not clamped (the losses see them raw).

    condition "light": the light (N, LIGHT_CHANNELS) joins the inputs as constant planes, with
    its hard-shadow hint plane unless `hint` is off (`model.light.light_inputs`); None (or a
    zero vector) runs the network unconditioned."""

    def __init__(self, encoder: str = SG.encoder, width: int = SG.refine_width,
                 head: str = SG.head, decoder_width: float = SG.decoder_width,
                 condition: str = SG.condition, hint: bool = SG.hint) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"unknown SG head {head!r}: expected one of {', '.join(HEADS)}")
        if condition not in CONDITIONS:
            raise ValueError(f"unknown SG condition {condition!r}: expected one of "
                             f"{', '.join(CONDITIONS)}")
        in_channels = 6 + (LIGHT_CHANNELS + hint if condition == "light" else 0)
        arch = {"kind": "sg", "encoder": encoder, "in_channels": in_channels,
                "refine_width": width}
        if head != "residual":
            arch["head"] = head
        if condition != "none":
            arch["condition"] = condition
            if not hint:
                arch["hint"] = False
        self.arch = _sized(arch, decoder_width)
        self.head = head
        self.condition = condition
        self.hint = hint
        self.norm = InputNorm()
        self.unet = _unet(encoder, in_channels, 3, decoder_width)
        self.refine = nn.Sequential(bn_relu_conv(in_channels + 3, width),
                                    bn_relu_conv(width, width),
                                    bn_relu_conv(width, width), bn_relu_conv(width, 3))
        for output in (self.unet.segmentation_head[0], self.refine[-1][-1]):
            nn.init.zeros_(output.weight)  # both outputs start at 0: G starts as the identity
            nn.init.zeros_(output.bias)

    @classmethod
    def from_arch(cls, arch: dict) -> SGNet:
        return cls(arch["encoder"], arch.get("refine_width", 64), arch.get("head", "residual"),
                   arch.get("decoder_width", 1.0), arch.get("condition", "none"),
                   arch.get("hint", True))

    def inputs(self, image: torch.Tensor, mask: torch.Tensor, occluder: torch.Tensor,
               occluder_shadow: torch.Tensor, light: torch.Tensor | None = None) -> torch.Tensor:
        """The network's input planes: image and masks, and the light's when conditioned."""
        inputs = self.norm(image, mask, occluder, occluder_shadow)
        if self.condition == "light":
            inputs = torch.cat([inputs, light_inputs(mask, light, self.hint)], dim=1)
        return inputs

    def factors(self, image: torch.Tensor, mask: torch.Tensor, occluder: torch.Tensor,
                occluder_shadow: torch.Tensor,
                light: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The factor head's (coarse, refined) factors (N, 3, H, W) in [0, 1], 1 on the
        object's pixels."""
        if self.head != "factor":
            raise ValueError("factors() belongs to the factor head")
        inputs = self.inputs(image, mask, occluder, occluder_shadow, light)
        coarse_logits = self.unet(inputs)
        coarse = shadow_factor(coarse_logits)
        refined = shadow_factor(coarse_logits + self.refine(torch.cat([inputs, coarse], dim=1)))
        background = 1 - mask
        return 1 - (1 - coarse) * background, 1 - (1 - refined) * background

    def forward(self, image: torch.Tensor, mask: torch.Tensor, occluder: torch.Tensor,
                occluder_shadow: torch.Tensor,
                light: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.head == "factor":
            coarse, refined = self.factors(image, mask, occluder, occluder_shadow, light)
            return image * coarse, image * refined
        inputs = self.inputs(image, mask, occluder, occluder_shadow, light)
        coarse = torch.tanh(self.unet(inputs))
        refined = torch.tanh(self.refine(torch.cat([inputs, coarse], dim=1)))
        return image + coarse, image + refined


def _conv_block(in_channels: int, out_channels: int, stride: int, norm: bool,
                kernel: int = 3) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel, stride,
                                         padding=kernel // 2 if kernel % 2 else 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return layers


class SRGANDiscriminator(nn.Module):
    """Ledig et al.'s discriminator: 8 conv blocks (64 -> 512, stride 2 every second one),
    global pooling and a 1024-unit head -> (N, 1) logits. Any input size."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        widths = (64, 64, 128, 128, 256, 256, 512, 512)
        layers = _conv_block(in_channels, widths[0], 1, norm=False)
        for index in range(1, len(widths)):
            layers += _conv_block(widths[index - 1], widths[index], 2 if index % 2 else 1, True)
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(512, 1024, 1),
                                  nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(1024, 1, 1),
                                  nn.Flatten())

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(inputs))


class PatchDiscriminator(nn.Module):
    """pix2pix's 70x70 PatchGAN (3 layers) -> (N, 1, H/8 - 2, W/8 - 2) logits."""

    def __init__(self, in_channels: int = 9, width: int = 64) -> None:
        super().__init__()
        layers = _conv_block(in_channels, width, 2, norm=False, kernel=4)
        layers += _conv_block(width, width * 2, 2, True, kernel=4)
        layers += _conv_block(width * 2, width * 4, 2, True, kernel=4)
        layers += _conv_block(width * 4, width * 8, 1, True, kernel=4)
        layers.append(nn.Conv2d(width * 8, 1, 4, 1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs)


def make_discriminator(kind: str, conditional: bool) -> nn.Module:
    """kind "srgan" | "patchgan"; conditional: it also sees noshadow + 3 masks (9 channels)."""
    in_channels = 9 if conditional else 3
    if kind == "srgan":
        return SRGANDiscriminator(in_channels)
    if kind == "patchgan":
        return PatchDiscriminator(in_channels)
    raise ValueError(f"unknown discriminator {kind!r}: expected srgan or patchgan")


class ShadowPipeline(nn.Module):
    """attention -> threshold -> SG, the whole inference graph.

    image (N, 3, H, W) in [0, 1], mask (N, 1, H, W) in {0, 1} -> (shadow image (N, 3, H, W)
    clamped to [0, 1], attention probabilities (N, 2, H, W))."""

    def __init__(self, attention: AttentionNet, sg: SGNet, threshold: float = 0.5) -> None:
        super().__init__()
        self.attention = attention
        self.sg = sg
        self.threshold = threshold

    @property
    def head(self) -> str:
        """The SG network's head: "factor" or "residual"."""
        return self.sg.head

    @property
    def condition(self) -> str:
        """What the SG network takes beside the image: "none" or "light"."""
        return self.sg.condition

    def forward(self, image: torch.Tensor, mask: torch.Tensor,
                light: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        shadow, _, probabilities = self.with_factor(image, mask, light)
        return shadow, probabilities

    def with_factor(self, image: torch.Tensor, mask: torch.Tensor,
                    light: torch.Tensor | None = None,
                    probabilities: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(shadow image, factor (N, 3, H, W) in [0, 1], attention probabilities): the factor
        head's own factor, or the residual head's shadow / image where the image is not
        black (1 where it is). `light` (N, LIGHT_CHANNELS) reaches a conditioned SG network;
        an unconditioned one ignores it. `probabilities`: the attention block's, when the
        caller has them already (the light estimate needs them first)."""
        check_input(image, mask)
        if probabilities is None:
            probabilities = torch.sigmoid(self.attention(image, mask))
        binary = (probabilities > self.threshold).to(image.dtype)
        occluder, occluder_shadow = binary[:, :1], binary[:, 1:]
        if self.sg.head == "factor":
            _, factor = self.sg.factors(image, mask, occluder, occluder_shadow, light)
            factor = factor.clamp(0, 1)
            return image * factor, factor, probabilities
        _, refined = self.sg(image, mask, occluder, occluder_shadow, light)
        shadow = refined.clamp(0, 1)
        factor = torch.where(image > 0, shadow / image.clamp_min(1e-6), 1.0).clamp(0, 1)
        return shadow, factor, probabilities
