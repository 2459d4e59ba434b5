"""Loading the inference pipeline (attention -> threshold -> SG) from an SG checkpoint
(.pt) or its weights (.safetensors), and running it on images of any size.

At any size: the network runs at its training size; only the shadow (the factor head's
factor, multiplied, or the residual head's prediction - input, added) is upsampled and applied
to the full-resolution photo, and the inserted object's own pixels are kept, so nothing but
the shadow loses detail."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from dataset_tools.masks import DARKENING_THRESHOLD
from dataset_tools.settings import defaults
from model import checkpoint as ckpt
from model.config import SGConfig
from model.light import (
    DEFAULT_ELEVATION_DEG,
    DEFAULT_SOFTNESS,
    decode_light,
    estimated_light,
    is_light,
    light_report,
    light_vector,
)
from model.networks import AttentionNet, SGNet, ShadowPipeline

# The pretrained model shipped in the package (model/pretrained/README.md says how it was
# made); `--checkpoint default`, or no --checkpoint for predict, loads it.
PRETRAINED = Path(__file__).resolve().parent / "pretrained" / "shadowsynth-sg.safetensors"
DEFAULT_CHECKPOINT = "default"


def checkpoint_path(value: Path | str | None) -> Path:
    """The checkpoint a verb was given: PRETRAINED for None or "default", else the path."""
    if value is None or str(value) == DEFAULT_CHECKPOINT:
        if not PRETRAINED.is_file():
            raise ckpt.CheckpointError(f"{PRETRAINED}: the pretrained model is missing from "
                                       "this installation; reinstall shadowsynth or pass "
                                       "--checkpoint PATH")
        return PRETRAINED
    return Path(value)


@dataclass
class LoadedPipeline:
    pipeline: ShadowPipeline
    size: int  # the square size it was trained at
    attention_threshold: float  # probability at which the attention masks are binarised


def checkpoint_weights(path: Path) -> tuple[dict, dict, dict]:
    """(models: name -> state dict, archs, config) from a .pt checkpoint or .safetensors."""
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise ckpt.CheckpointError(f"{path}: weights file not found")
        from safetensors import safe_open

        try:
            with safe_open(str(path), "pt") as handle:
                metadata = {key: json.loads(value) for key, value in
                            (handle.metadata() or {}).items()}
                tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        except Exception as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
            raise ckpt.CheckpointError(f"{path}: not a shadowsynth checkpoint (not a readable "
                                       f"safetensors file: {reason})") from None
        if "archs" not in metadata:
            raise ckpt.CheckpointError(f"{path}: no shadowsynth metadata (archs)")
        models: dict[str, dict] = {}
        for key, tensor in tensors.items():
            name, parameter = key.split(".", 1)
            models.setdefault(name, {})[parameter] = tensor
        return models, metadata["archs"], metadata.get("config", {})
    state = ckpt.load(path)
    return state["models"], state["archs"], state.get("config", {})


def _attention(models: dict, archs: dict, path: Path) -> AttentionNet:
    if "attention" not in models:
        raise ckpt.CheckpointError(f"{path}: holds no attention network")
    network = AttentionNet.from_arch(archs["attention"])
    ckpt.load_model(network, models["attention"], archs["attention"], path)
    return network.eval()


def load_attention(path: Path) -> AttentionNet:
    """The attention network of an attention or SG checkpoint (.pt/.safetensors, or
    "default": the pretrained model's), in eval mode."""
    path = checkpoint_path(path)
    models, archs, _ = checkpoint_weights(path)
    return _attention(models, archs, path)


def load_pipeline(path: Path, attention: Path | None = None) -> LoadedPipeline:
    """The pipeline of an SG checkpoint; `attention` replaces (or supplies) its attention
    network from an attention checkpoint."""
    models, archs, config = checkpoint_weights(path)
    if "sg" not in models:
        raise ckpt.CheckpointError(f"{path}: holds no SG network (kind "
                                   f"{next(iter(archs.values()), {}).get('kind')}); "
                                   "give the checkpoint of a train-sg run")
    sg = SGNet.from_arch(archs["sg"])
    ckpt.load_model(sg, models["sg"], archs["sg"], path)
    if attention is not None:
        attention_net = load_attention(attention)
    elif "attention" in models:
        attention_net = _attention(models, archs, path)
    else:
        raise ckpt.CheckpointError(f"{path}: was trained without --attention and holds no "
                                   "attention network; pass --attention CKPT")
    trained = defaults(SGConfig)  # for a config that lacks a field
    threshold = float(config.get("attention_threshold", trained.attention_threshold))
    pipeline = ShadowPipeline(attention_net, sg, threshold).eval()
    return LoadedPipeline(pipeline, int(config.get("size", trained.size)), threshold)


def to_tensor(images: list[np.ndarray], masks: list[np.ndarray],
              device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (H, W, 3) images and (H, W) masks (>= 128 is object) -> (N, 3, H, W) in [0, 1]
    and (N, 1, H, W) in {0, 1}."""
    image = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255)
    mask = torch.from_numpy(np.stack(masks) >= 128).float()[:, None]
    return image.to(device), mask.to(device)


# `crisp_factor`: the outline is where the network's shadow reaches CRISP_FRACTION of its peak
# darkening (the peak: the 99th percentile of the pixels darkened by more than the renderer's
# DARKENING_THRESHOLD, with at least CRISP_MIN_PIXELS of them, else the network cast no shadow
# and nothing changes); its edge is a Gaussian of CRISP_SIGMA pixels at 256 px, scaled with
# the photo (a 10-90 % width of 2.56 sigma: 3.8 px against the renders' 3.6 px on sun-lit
# test samples).
CRISP_FRACTION = 0.5
CRISP_MIN_PIXELS = 20
CRISP_SIGMA = 1.5


def crisp_factor(factor: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """(H, W, 3) factor (photo x factor = shadowed; 1 = unchanged) -> the same shadow with a
    crisp outline and one darkness: inside the half-peak contour of its darkening (outside
    `keep`, (H, W) bool: the object), the mean darkening there per channel; outside, none; the
    contour softened by CRISP_SIGMA pixels per 256 of the photo's longer side, over the
    ground only (a shadow that meets the object stays dark up to it). A network trained with
    L1 on uncertain shadows predicts their mean, a blob whose wide rim darkens the ground
    around the shadow; its half-peak contour is the outline it is most sure of
    (docs/benchmarks.md measures what this buys and costs)."""
    darkening = 1.0 - factor.astype(np.float32)
    level = darkening.mean(axis=2)
    level[keep] = 0.0
    candidates = level[level > DARKENING_THRESHOLD]
    if candidates.size < CRISP_MIN_PIXELS:
        return factor
    core = level >= max(CRISP_FRACTION * float(np.percentile(candidates, 99)),
                        DARKENING_THRESHOLD)
    sigma = CRISP_SIGMA * max(factor.shape[:2]) / 256
    # blurred over the ground only: where the shadow meets the object it stays as dark
    ground = (~keep).astype(np.float32)
    edge = cv2.GaussianBlur(core * ground, (0, 0), sigma) / np.maximum(
        cv2.GaussianBlur(ground, (0, 0), sigma), 1e-6)
    result = 1.0 - edge[..., None] * darkening[core].mean(axis=0)
    result[keep] = 1.0
    return np.clip(result, 0.0, 1.0).astype(np.float32)


@dataclass
class Prediction:
    """One photo's prediction at its own size."""

    shadow: np.ndarray  # (H, W, 3) uint8
    attention: np.ndarray  # (H, W, 2) float32 probabilities
    factor: np.ndarray  # (H, W, 3) float32 in [0, 1]: shadow = photo x factor, 1 on the object
    light: dict[str, Any] | None = None  # the light a conditioned network ran with, and whence


def lights_for(loaded: LoadedPipeline, image: torch.Tensor, mask: torch.Tensor,
               lights: list[np.ndarray | None] | None,
               options: tuple[float, float], min_confidence: float = 0.0
               ) -> tuple[torch.Tensor | None, list[dict | None], torch.Tensor | None]:
    """The (N, LIGHT_CHANNELS) lights a conditioned SG network runs with: each given one, or
    one estimated from the photo, or none (a zero vector: unconditioned); with what to report,
    and the attention probabilities when an estimate needed them (the pipeline reuses them).
    The estimate is the attention block's light head's (`model.light.decode_light`, with its
    confidence) when it has one, and none where that confidence is below `min_confidence`; an
    older attention block's is the direction its occluders' shadows point in (`options`: the
    elevation and softness to assume then)."""
    if loaded.pipeline.condition != "light":
        if lights is not None and any(light is not None for light in lights):
            raise ckpt.CheckpointError("this model takes no light (trained without "
                                       "--condition light): drop --shadow-direction and --lights")
        return None, [None] * image.shape[0], None
    wanted = lights if lights is not None else [None] * image.shape[0]
    vectors, reports = [], []
    probabilities = estimates = confidences = None
    attention = loaded.pipeline.attention
    for index, light in enumerate(wanted):
        if light is not None:
            vectors.append(light)
            reports.append({"source": "given" if is_light(light) else "none",
                            **light_report(light)})
            continue
        if probabilities is None:
            if attention.light_head is not None:
                logits, raw, _ = attention(image, mask, with_light=True)
                estimates, confidences = (value.cpu().numpy() for value in decode_light(raw))
            else:
                logits = attention(image, mask)
            probabilities = torch.sigmoid(logits)
        if estimates is not None:
            confidence = float(confidences[index])
            confident = confidence >= min_confidence
            vector = (estimates[index].astype(np.float32) if confident
                      else light_vector(None))
            vectors.append(vector)
            source = ({"source": "estimated"} if confident else
                      {"source": "none", "reason": "the estimate is less confident than "
                       "--min-confidence"})
            reports.append({**source, "confidence": confidence, **light_report(vector)})
            continue
        binary = probabilities[index].cpu().numpy() > loaded.pipeline.threshold
        vector, direction = estimated_light(binary[0], binary[1], *options)
        vectors.append(vector)
        reports.append({"source": "estimated" if direction is not None else "none",
                        **light_report(vector)})
    return (torch.from_numpy(np.stack(vectors)).to(image.device, image.dtype), reports,
            probabilities)


def _shadowed(values: np.ndarray, image: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """(H, W, 3) float 0-255 -> uint8, with the photo's own pixels where `keep` (the object)."""
    result = (np.clip(values, 0, 255) + 0.5).astype(np.uint8)
    result[keep] = image[keep]
    return result


@torch.no_grad()
def predict_any_size(loaded: LoadedPipeline, images: list[np.ndarray], masks: list[np.ndarray],
                     device: torch.device, lights: list[np.ndarray | None] | None = None,
                     light_options: tuple[float, float] = (DEFAULT_ELEVATION_DEG,
                                                           DEFAULT_SOFTNESS),
                     network_size: int = 0, min_confidence: float = 0.0,
                     crisp: bool = False) -> list[Prediction]:
    """Predictions for uint8 RGB images of any sizes (masks their size). The network runs at
    `network_size` x `network_size` (a multiple of 32; 0: its training size; the networks
    are fully convolutional and the light's planes and hint plane are made at that size); the
    factor head's factor (the residual head's residual) is resized to the photo and applied
    to it at full resolution, and the object's pixels are kept. A conditioned network takes
    `lights` (LIGHT_CHANNELS vectors, `model.light`, a zero vector for none; None: estimated
    from the photo, and none where the estimate's confidence is below `min_confidence`).
    `crisp`: the shadow redrawn with a crisp outline at the photo's size (`crisp_factor`)."""
    if network_size % 32:
        raise ValueError(f"network size {network_size}: expected a multiple of 32")
    size = network_size or loaded.size
    small = [cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
             if image.shape[:2] != (size, size) else image for image in images]
    small_masks = [cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA)
                   if mask.shape[:2] != (size, size) else mask for mask in masks]
    image_tensor, mask_tensor = to_tensor(small, small_masks, device)
    light, reports, known = lights_for(loaded, image_tensor, mask_tensor, lights, light_options,
                                       min_confidence)
    shadowed, factors, probabilities = loaded.pipeline.with_factor(image_tensor, mask_tensor,
                                                                   light, known)
    multiply = loaded.pipeline.head == "factor"
    changes = (factors if multiply else shadowed - image_tensor).permute(0, 2, 3, 1)
    changes = changes.float().cpu().numpy()
    attention = probabilities.permute(0, 2, 3, 1).float().cpu().numpy()
    results = []
    for image, mask, change, attention_map, report in zip(images, masks, changes, attention,
                                                          reports, strict=True):
        height, width = image.shape[:2]
        if (height, width) != (size, size):
            change = cv2.resize(change, (width, height), interpolation=cv2.INTER_LINEAR)
            attention_map = cv2.resize(attention_map, (width, height),
                                       interpolation=cv2.INTER_LINEAR)
        photo = image.astype(np.float32)
        keep = mask >= 128
        if multiply:
            factor = np.clip(change, 0, 1)
            factor[keep] = 1.0
            result = photo * factor
        else:
            result = photo + change * 255
        result = _shadowed(result, image, keep)
        if not multiply:
            factor = np.where(photo > 0, result / np.maximum(photo, 1e-6), 1.0).clip(0, 1)
        if crisp and (crisped := crisp_factor(factor, keep)) is not factor:
            factor = crisped
            result = _shadowed(photo * factor, image, keep)
        results.append(Prediction(result, attention_map, factor.astype(np.float32), report))
    return results
