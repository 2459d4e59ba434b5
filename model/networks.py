"""The networks of docs/architecture.md: attention U-Net, shadow-generation (SG) U-Net with
refinement, SRGAN-style and conditional PatchGAN discriminators, and the attention -> SG
pipeline.

Conventions everywhere in model/: images (N, 3, H, W) float in [0, 1]; masks (N, 1, H, W)
float in {0, 1}. Each network normalises its own inputs, so callers never do."""

from __future__ import annotations

import segmentation_models_pytorch as smp
import torch
from torch import nn

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
    if image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"expected an image of shape (N, 3, H, W), got {tuple(image.shape)}")
    for mask in masks:
        if mask.shape != (image.shape[0], 1, *image.shape[2:]):
            raise ValueError(f"expected masks of shape {(image.shape[0], 1, *image.shape[2:])}, "
                             f"got {tuple(mask.shape)}")
    if image.shape[2] % 32 or image.shape[3] % 32:
        raise ValueError(f"height and width must be multiples of 32, got {tuple(image.shape[2:])}")


class AttentionNet(nn.Module):
    """U-Net: image + object mask -> logits (N, 2, H, W) of [occluder, occluder shadow]."""

    def __init__(self, encoder: str = "resnet34") -> None:
        super().__init__()
        self.arch = {"kind": "attention", "encoder": encoder, "in_channels": 4, "classes": 2}
        self.norm = InputNorm()
        self.unet = smp.Unet(encoder, encoder_weights=None, in_channels=4, classes=2)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.unet(self.norm(image, mask))


def bn_relu_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
                         nn.Conv2d(in_channels, out_channels, 3, padding=1))


class SGNet(nn.Module):
    """U-Net on image + mask + occluder + occluder-shadow masks (6 channels) -> a coarse
    residual; 4 BN-ReLU-Conv refinement blocks on (inputs, coarse residual) -> a refined one.
    Both residuals are tanh-bounded and added to the image: returns (coarse, refined) images
    (N, 3, H, W), not clamped (the losses see them raw, the pipeline clamps)."""

    def __init__(self, encoder: str = "resnet18", width: int = 64) -> None:
        super().__init__()
        self.arch = {"kind": "sg", "encoder": encoder, "in_channels": 6, "refine_width": width}
        self.norm = InputNorm()
        self.unet = smp.Unet(encoder, encoder_weights=None, in_channels=6, classes=3)
        self.refine = nn.Sequential(bn_relu_conv(9, width), bn_relu_conv(width, width),
                                    bn_relu_conv(width, width), bn_relu_conv(width, 3))
        for head in (self.unet.segmentation_head[0], self.refine[-1][-1]):
            nn.init.zeros_(head.weight)  # both residuals start at 0: G starts as the identity
            nn.init.zeros_(head.bias)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, occluder: torch.Tensor,
                occluder_shadow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = self.norm(image, mask, occluder, occluder_shadow)
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

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probabilities = torch.sigmoid(self.attention(image, mask))
        binary = (probabilities > self.threshold).to(image.dtype)
        _, refined = self.sg(image, mask, binary[:, :1], binary[:, 1:])
        return refined.clamp(0, 1), probabilities
