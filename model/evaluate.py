"""evaluate: DESIGN.md's metrics of a trained pipeline on one split, with the identity
baseline (prediction = noshadow) beside them; a table, metrics.json and per_image.csv."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from dataset_tools.layout import DatasetError, write_json, write_text
from model.config import EvalConfig, to_json
from model.data import ShadowARDataset, collate, list_split
from model.metrics import SSIM_C1, SSIM_C2, image_metrics, iou
from model.pipeline import LoadedPipeline, run_any_size

HEADLINE = ("GRMSE", "LRMSE", "GSSIM", "LSSIM", "GBER", "LBER", "ACC",
            "GBER_ratio", "LBER_ratio", "ACC_ratio")


def to_uint8(batch: torch.Tensor) -> list[np.ndarray]:
    """(N, C, H, W) in [0, 1] -> N arrays (H, W, C) uint8, or (H, W) when C == 1."""
    arrays = (batch * 255 + 0.5).clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return [array[..., 0] if array.shape[-1] == 1 else array for array in arrays]


def mean(values: list[float]) -> float:
    finite = [value for value in values if not math.isnan(value)]
    return float(np.mean(finite)) if finite else math.nan


def evaluate(config: EvalConfig, loaded: LoadedPipeline, device: torch.device,
             progress: Any = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(summary, per-image rows). Metrics at config.size x config.size on uint8 images."""
    refs = list_split(config.data, config.split)
    if not refs:
        raise DatasetError(config.data / config.split / "noshadow",
                           f"no samples in the {config.split} split")
    loader = DataLoader(ShadowARDataset(refs, config.size, pair_threshold=config.shadow_threshold),
                        batch_size=config.batch_size, num_workers=config.workers,
                        collate_fn=collate)
    loaded.pipeline.to(device)
    rows: list[dict[str, Any]] = []
    for batch in loader:
        noshadow, shadow = to_uint8(batch["noshadow"]), to_uint8(batch["shadow"])
        masks = {kind: [mask >= 128 for mask in to_uint8(batch[kind])]
                 for kind in ("mask", "robject", "rshadow", "smask")}
        predictions, attention = run_any_size(loaded, noshadow, to_uint8(batch["mask"]), device)
        for index, sample_id in enumerate(batch["id"]):
            region, object_mask = masks["smask"][index], masks["mask"][index]
            model = image_metrics(shadow[index], predictions[index], noshadow[index], region,
                                  object_mask, config.ber_k)
            identity = image_metrics(shadow[index], noshadow[index], noshadow[index], region,
                                     object_mask, config.ber_k)
            probabilities = attention[index] > loaded.threshold
            model["IoU_occluder"] = iou(probabilities[..., 0], masks["robject"][index])
            model["IoU_occluder_shadow"] = iou(probabilities[..., 1], masks["rshadow"][index])
            rows.append({"id": sample_id, "shadow_pixels": int(region.sum()), **model,
                         **{f"identity_{name}": value for name, value in identity.items()}})
        if progress is not None:
            progress(len(batch["id"]))
    names = [name for name in rows[0] if name not in ("id", "shadow_pixels")
             and not name.startswith("identity_")]
    summary = {
        "data": str(config.data), "split": config.split, "checkpoint": str(config.checkpoint),
        "count": len(rows), "size": config.size,
        "with_shadow": sum(1 for row in rows if row["shadow_pixels"]),
        "ssim": {"window": 11, "sigma": 1.5, "C1": SSIM_C1, "C2": SSIM_C2, "range": 255},
        "ber_fixed_threshold": 127.5 * config.ber_k,
        "model": {name: mean([row[name] for row in rows]) for name in names},
        "identity": {name: mean([row[f"identity_{name}"] for row in rows])
                     for name in names if f"identity_{name}" in rows[0]},
        "config": to_json(config)}
    return summary, rows


def write_results(out: Path, summary: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    write_json(out / "metrics.json", summary)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "per_image.csv", buffer.getvalue())
