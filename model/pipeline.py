"""Loading the inference pipeline (attention -> threshold -> SG) from an SG checkpoint
(.pt) or its weights (.safetensors), and running it on images of any size.

At any size: the network runs at its training size; only the shadow residual
(prediction - input at that size) is upsampled and added to the full-resolution photo,
and the inserted object's own pixels are kept, so nothing but the shadow loses detail."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from model import checkpoint as ckpt
from model.config import SGConfig, defaults, renamed_fields
from model.networks import AttentionNet, SGNet, ShadowPipeline


@dataclass
class LoadedPipeline:
    pipeline: ShadowPipeline
    size: int  # the square size it was trained at
    attention_threshold: float  # probability at which the attention masks are binarised


def _weights(path: Path) -> tuple[dict, dict, dict]:
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
    network = AttentionNet(archs["attention"]["encoder"])
    ckpt.load_model(network, models["attention"], archs["attention"], path)
    return network.eval()


def load_attention(path: Path) -> AttentionNet:
    """The attention network of an attention or SG checkpoint (.pt/.safetensors), in eval
    mode."""
    models, archs, _ = _weights(path)
    return _attention(models, archs, path)


def load_pipeline(path: Path, attention: Path | None = None) -> LoadedPipeline:
    """The pipeline of an SG checkpoint; `attention` replaces (or supplies) its attention
    network from an attention checkpoint."""
    models, archs, config = _weights(path)
    if "sg" not in models:
        raise ckpt.CheckpointError(f"{path}: holds no SG network (kind "
                                   f"{next(iter(archs.values()), {}).get('kind')}); "
                                   "give the checkpoint of a train-sg run")
    sg = SGNet(archs["sg"]["encoder"], archs["sg"].get("refine_width", 64))
    ckpt.load_model(sg, models["sg"], archs["sg"], path)
    if attention is not None:
        attention_net = load_attention(attention)
    elif "attention" in models:
        attention_net = _attention(models, archs, path)
    else:
        raise ckpt.CheckpointError(f"{path}: was trained without --attention and holds no "
                                   "attention network; pass --attention CKPT")
    config = renamed_fields(config)  # a checkpoint from before the rename says "threshold"
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


@torch.no_grad()
def run_any_size(loaded: LoadedPipeline, images: list[np.ndarray], masks: list[np.ndarray],
                 device: torch.device) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Predictions for uint8 RGB images of any sizes (masks their size): returns the shadowed
    images (H, W, 3) uint8 and attention probabilities (H, W, 2) float32 at full size."""
    size = loaded.size
    small = [cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
             if image.shape[:2] != (size, size) else image for image in images]
    small_masks = [cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA)
                   if mask.shape[:2] != (size, size) else mask for mask in masks]
    image_tensor, mask_tensor = to_tensor(small, small_masks, device)
    shadowed, probabilities = loaded.pipeline(image_tensor, mask_tensor)
    residuals = (shadowed - image_tensor).permute(0, 2, 3, 1).float().cpu().numpy()
    attention = probabilities.permute(0, 2, 3, 1).float().cpu().numpy()
    outputs, attention_maps = [], []
    for image, mask, residual, attention_map in zip(images, masks, residuals, attention,
                                                    strict=True):
        height, width = image.shape[:2]
        if (height, width) != (size, size):
            residual = cv2.resize(residual, (width, height), interpolation=cv2.INTER_LINEAR)
            attention_map = cv2.resize(attention_map, (width, height),
                                       interpolation=cv2.INTER_LINEAR)
        result = np.clip(image.astype(np.float32) + residual * 255, 0, 255) + 0.5
        result = result.astype(np.uint8)
        keep = mask >= 128
        result[keep] = image[keep]
        outputs.append(result)
        attention_maps.append(attention_map)
    return outputs, attention_maps
