"""Losses: a function plus, where it holds state, a thin module.

Images (N, 3, H, W) float in [0, 1]; masks (N, 1 or k, H, W) float in {0, 1}."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft Dice loss, 1 - mean over channels of 2|P∩T| / (|P| + |T|), summed over the batch
    and pixels per channel. logits, target (N, C, H, W); target in {0, 1}."""
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ")
    probabilities = torch.sigmoid(logits.float())
    dims = (0, 2, 3)
    intersection = (probabilities * target).sum(dims)
    total = probabilities.sum(dims) + target.sum(dims)
    return 1 - ((2 * intersection + eps) / (total + eps)).mean()


def dilated(smask: torch.Tensor, dilate: int) -> torch.Tensor:
    """(N, 1, H, W) smask dilated by `dilate` pixels (a square of side 2 * dilate + 1)."""
    return F.max_pool2d(smask, 2 * dilate + 1, stride=1, padding=dilate) if dilate else smask


def region_weights(smask: torch.Tensor, weight: float, dilate: int) -> torch.Tensor:
    """(N, 1, H, W): 1 everywhere, `weight` on smask dilated by `dilate` pixels."""
    if weight == 1.0:
        return torch.ones_like(smask)
    return 1 + (weight - 1) * dilated(smask, dilate)


def weighted_l2(prediction: torch.Tensor, target: torch.Tensor,
                weights: torch.Tensor) -> torch.Tensor:
    """Mean of weights * (prediction - target)^2, normalised by the mean weight so that the
    scale does not change with the weight (weights (N, 1, H, W) broadcast over channels)."""
    squared = (prediction.float() - target.float()).pow(2) * weights
    return squared.mean() / weights.mean()


class GANLoss(nn.Module):
    """pix2pix's GANLoss: builds its own real/fake targets. mode "vanilla" (BCE on logits)
    or "lsgan" (MSE)."""

    def __init__(self, mode: str = "vanilla") -> None:
        super().__init__()
        if mode not in ("vanilla", "lsgan"):
            raise ValueError(f"unknown GAN mode {mode!r}: expected vanilla or lsgan")
        self.mode = mode

    def forward(self, logits: torch.Tensor, real: bool) -> torch.Tensor:
        logits = logits.float()
        target = torch.full_like(logits, 1.0 if real else 0.0)
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(logits, target)
        return F.mse_loss(logits, target)


class PerceptualLoss(nn.Module):
    """piq's ContentLoss on VGG16 relu3_3 features. `weights` a local VGG16 weights file or
    None (random VGG: still a feature-space loss, but not the article's; warned by caller)."""

    def __init__(self, weights: str | None) -> None:
        super().__init__()
        import piq
        from piq.perceptual import VGG16_LAYERS
        from torchvision.models import vgg16

        from model.weights import read_state_dict

        network = vgg16(weights=None)
        if weights is not None:
            from pathlib import Path

            network.load_state_dict(read_state_dict(Path(weights)))
        layer = VGG16_LAYERS["relu3_3"]
        features = network.features[: int(layer) + 1]
        self.content = piq.ContentLoss(feature_extractor=features, layers=(layer,),
                                       weights=[1.0])
        self.content.model.eval()

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.content.model.eval()  # VGG is a fixed feature extractor
        return self

    def distance(self, prediction: torch.Tensor,
                 target_features: list[torch.Tensor]) -> torch.Tensor:
        """piq's ContentLoss.forward without its input checks, which read the tensors back
        to the CPU (a GPU sync per call): mean over the batch of the weighted feature MSE."""
        features = self.content.get_features(prediction.float().clamp(0, 1))
        distances = self.content.compute_distance(features, target_features)
        weighted = [(distance * weight.to(distance)).mean(dim=[2, 3])
                    for distance, weight in zip(distances, self.content.weights, strict=True)]
        return torch.cat(weighted, dim=1).sum(dim=1).mean()

    def forward(self, predictions: torch.Tensor | list[torch.Tensor],
                target: torch.Tensor) -> torch.Tensor:
        """Sum over `predictions` (one tensor or several) of the loss against target, whose
        VGG features are computed once."""
        if isinstance(predictions, torch.Tensor):
            predictions = [predictions]
        with torch.no_grad():
            target_features = self.content.get_features(target.float().clamp(0, 1))
        return sum(self.distance(prediction, target_features) for prediction in predictions)


# noshadow values (0-1) below which the pair's ratio is 8-bit noise: no factor target there
FACTOR_MIN_VALUE = 8 / 255


def factor_target(shadow: torch.Tensor, noshadow: torch.Tensor,
                  min_value: float = FACTOR_MIN_VALUE) -> tuple[torch.Tensor, torch.Tensor]:
    """(target, weight), both (N, 3, H, W): the factor that turns noshadow into shadow,
    shadow / noshadow clamped to [0, 1] per pixel and channel, weighted 1 where noshadow is
    at least `min_value` and 0 where it is too dark for the ratio to mean anything. A
    rendered pair is exactly noshadow outside its shadow region, so the target is 1 there."""
    weight = (noshadow >= min_value).to(noshadow.dtype)
    target = (shadow / noshadow.clamp_min(min_value)).clamp(0, 1)
    return torch.where(weight > 0, target, torch.ones_like(target)), weight


def factor_l2(factor: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean squared error between a predicted factor and `factor_target`'s, over weighted
    pixels (an L1 here stalled at the identity: most pixels' target is exactly 1)."""
    return (weight * (factor - target).square()).sum() / weight.sum().clamp_min(1.0)


def spill_l1(output: torch.Tensor, noshadow: torch.Tensor, smask: torch.Tensor,
             dilate: int, min_value: float = FACTOR_MIN_VALUE) -> torch.Tensor:
    """Mean darkening (1 - output / noshadow, at least 0) over the pixels outside smask
    dilated by `dilate` pixels where noshadow is bright enough for a ratio: what a rendered
    pair says is exactly 1 there. An L1, so that the faint wide tails of a blob cost as much
    per unit as its core (a squared error hardly sees them). output, noshadow (N, 3, H, W),
    smask (N, 1, H, W)."""
    weight = (1 - dilated(smask.float(), dilate)) * (noshadow.float() >= min_value)
    darkening = (1 - output.float() / noshadow.float().clamp_min(min_value)).clamp_min(0)
    return (weight * darkening).sum() / weight.sum().clamp_min(1.0)
