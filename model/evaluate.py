"""evaluate: the metrics of docs/architecture.md, under the `ours` or the `desoba` protocol,
of a trained pipeline or of a folder of any method's predicted images, on one split, with the
identity baseline (prediction = noshadow) beside them; a table, metrics.json and
per_image.csv."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from rich.table import Table
from torch.utils.data import DataLoader

from dataset_tools.layout import DatasetError, read_image, write_json, write_text
from dataset_tools.light_labels import DIRECTIONAL_KINDS
from dataset_tools.settings import to_json
from model.config import EvalConfig
from model.data import NoteOnce, ShadowARDataset, collate, list_split
from model.direction import (
    WITHIN_DEG,
    angle_error,
    shadow_direction,
    summarise,
)
from model.light import light_report
from model.metrics import (
    DESOBA_SSIM_C1,
    DESOBA_SSIM_C2,
    SSIM_C1,
    SSIM_C2,
    SSIM_SIGMA,
    SSIM_WINDOW,
    ber_threshold,
    desoba_metrics,
    difference_gray,
    image_metrics,
    iou,
    predicted_shadow,
    shape_metrics,
    spill,
)
from model.pipeline import LoadedPipeline, predict_any_size

PREDICTION_SUFFIXES = (".png", ".jpg", ".jpeg")
DESOBA_CODE = ("bcmi/Object-Shadow-Generation-Dataset-DESOBAv2 eval_result.py, ssim.py, ber.py; "
               "bcmi/Object-Shadow-Generation-Dataset-DESOBA src/models/SGRNet_model.py")


def to_uint8(batch: torch.Tensor) -> list[np.ndarray]:
    """(N, C, H, W) in [0, 1] -> N arrays (H, W, C) uint8, or (H, W) when C == 1."""
    arrays = (batch * 255 + 0.5).clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return [array[..., 0] if array.shape[-1] == 1 else array for array in arrays]


def mean(values: list[float]) -> float:
    finite = [value for value in values if not math.isnan(value)]
    return float(np.mean(finite)) if finite else math.nan


def _ssim_settings(c1: float, c2: float, padding: str) -> dict[str, Any]:
    return {"window": SSIM_WINDOW, "sigma": SSIM_SIGMA, "C1": c1, "C2": c2, "range": 255,
            "padding": padding, "LSSIM": "map averaged over M"}


def protocol_settings(config: EvalConfig) -> dict[str, Any]:
    """What metrics.json records of the protocol: SSIM constants, masks, thresholds."""
    fixed = ber_threshold(config.ber_k)
    if config.protocol == "desoba":
        predicted = (f"{config.pred_masks}/ID.* (pixels >= 192, as their eval reads them)"
                     if config.pred_masks else f"gray(|pred - noshadow|) > {fixed:g}")
        return {"protocol": "desoba", "code": DESOBA_CODE,
                "ssim": _ssim_settings(DESOBA_SSIM_C1, DESOBA_SSIM_C2, "zeros (full H x W map)"),
                "shadow_mask": "ground-truth smask >= 192 (their > 0.5 on [-1, 1])",
                "predicted_mask": predicted, "ber_pixels": "every pixel"}
    crop = SSIM_WINDOW - 1
    return {"protocol": "ours",
            "ssim": _ssim_settings(SSIM_C1, SSIM_C2, f"valid ((H - {crop}) x (W - {crop}) map)"),
            "shadow_mask": "ground-truth smask >= 128",
            "predicted_mask": f"gray(|pred - noshadow|) > {fixed:g}, and the top-|M| pixels",
            "ber_pixels": "every pixel outside the inserted object"}


def prediction_files(folder: Path, ids: list[str]) -> dict[str, Path]:
    """id -> ID.png / ID.jpg / ID.jpeg in folder; DatasetError naming the first missing
    (or doubled) file."""
    if not folder.is_dir():
        raise DatasetError(folder, "predictions folder not found")
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in PREDICTION_SUFFIXES:
            found.setdefault(path.stem, []).append(path)
    files = {}
    for sample_id in ids:
        paths = found.get(sample_id, [])
        if not paths:
            raise DatasetError(folder / f"{sample_id}.png",
                               "missing prediction (expected ID.png or ID.jpg)")
        if len(paths) > 1:
            raise DatasetError(paths[1], f"a second prediction for {sample_id} "
                                         f"(also {paths[0].name})")
        files[sample_id] = paths[0]
    return files


def read_at(path: Path, mode: str, size: int) -> np.ndarray:
    """A prediction read like the dataset's images: uint8, resized to size x size (area)."""
    image = read_image(path, mode)
    if image.shape[:2] != (size, size):
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return image


def batches(config: EvalConfig) -> Iterator[dict[str, Any]]:
    """The split as uint8 arrays at config.size, a batch at a time: id, noshadow, shadow
    (H, W, 3); mask, robject, rshadow, smask (H, W) in {0, 255}."""
    refs = list_split(config.data, config.split)
    if not refs:
        raise DatasetError(config.data / config.split / "noshadow",
                           f"no samples in the {config.split} split")
    loader = DataLoader(ShadowARDataset(refs, config.size, gray_threshold=config.gray_threshold),
                        batch_size=config.batch_size, num_workers=config.workers,
                        collate_fn=collate)
    note = NoteOnce()  # a mask file that is not 0/255 gray: converted, binarised, warned once
    for batch in loader:
        note(batch)
        yield {"id": batch["id"], "light": list(batch["light"].numpy()),
               **{kind: to_uint8(batch[kind]) for kind in ("noshadow", "shadow", "mask",
                                                           "robject", "rshadow", "smask")}}


def score(config: EvalConfig, shadow: np.ndarray, pred: np.ndarray, noshadow: np.ndarray,
          smask: np.ndarray, object_mask: np.ndarray,
          pred_mask: np.ndarray | None = None) -> dict[str, float]:
    """One prediction's metrics under config.protocol; smask, object_mask (H, W) uint8 0/255;
    pred_mask: the method's own shadow mask (desoba only; default the gray difference)."""
    if config.protocol == "desoba":
        if pred_mask is None:
            darkened = difference_gray(pred, noshadow) > ber_threshold(config.ber_k)
            pred_mask = darkened.astype(np.uint8) * 255
        return desoba_metrics(shadow, pred, smask, pred_mask)
    return image_metrics(shadow, pred, noshadow, smask >= 128, object_mask >= 128, config.ber_k)


def light_kinds(config: EvalConfig) -> dict[str, str]:
    """id -> the kind of the sample's light (sun, area, overcast) from the manifest; empty
    for a dataset without one (hand-made, imported)."""
    from dataset_tools.records import read_manifest

    try:
        manifest = read_manifest(config.data)
    except DatasetError:
        return {}
    return {sample_id: record.light_kind for sample_id, record in manifest.items()
            if record.spec is not None}


def batch_lights(config: EvalConfig, batch: dict[str, Any]) -> list[np.ndarray | None]:
    """What a conditioned model runs with under --light: the samples' true lights, None
    (estimated from the photo), or zero vectors (no light)."""
    if config.light == "true":
        return list(batch["light"])
    if config.light == "none":
        return [np.zeros_like(light) for light in batch["light"]]
    return [None] * len(batch["id"])


def edge_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The predicted shadows' edge width against the truth's on the sun-lit samples (all
    samples when the manifest names no light): the median of their ratios, over the samples
    where both have a shadow to measure, and the median widths."""
    sun = [row for row in rows if row["light"] in ("sun", "")]
    pairs = [(row["edge_width_px"], row["truth_edge_width_px"]) for row in sun
             if not math.isnan(row["edge_width_px"]) and not math.isnan(row["truth_edge_width_px"])
             and row["truth_edge_width_px"] > 0]
    if not pairs:
        return {"count": 0, "of": len(sun)}
    predicted, truth = (np.array(values) for values in zip(*pairs, strict=True))
    return {"count": len(pairs), "of": len(sun),
            "median_ratio": float(np.median(predicted / truth)),
            "median_px": float(np.median(predicted)), "truth_median_px": float(np.median(truth))}


def nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value


def light_summary(rows: list[dict[str, Any]], by_kind: bool = True) -> dict[str, Any]:
    """The estimated light's direction against the label's, over the samples whose true
    light has a direction (`evaluate --light estimated`), and per light kind: an estimate
    with no direction counts as 180 degrees off."""
    errors = [row["light_direction_error_deg"] for row in rows
              if not math.isnan(row["true_light_deg"])]
    errors = [180.0 if math.isnan(error) else error for error in errors]
    if not errors:
        return {"count": 0}
    summary = {"count": len(errors), "median_deg": float(np.median(errors)),
               "mean_deg": float(np.mean(errors)),
               "within_30": float(np.mean(np.array(errors) <= WITHIN_DEG))}
    if by_kind:
        for kind in sorted({row["light"] for row in rows} - {""}):
            summary[kind] = light_summary([row for row in rows if row["light"] == kind],
                                          by_kind=False)
    return summary


def flat_object(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with the inserted object's pixels (mask >= 128) set to their mean colour:
    its shading then shows nothing of the light (`evaluate --flat-object`)."""
    inside = mask >= 128
    flat = image.copy()
    if inside.any():
        flat[inside] = image[inside].mean(axis=0).round().astype(np.uint8)
    return flat


def keep_object(prediction: np.ndarray, shadow: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The prediction with the object's own pixels as rendered: a flattened input is scored
    on the shadow only."""
    inside = mask >= 128
    kept = prediction.copy()
    kept[inside] = shadow[inside]
    return kept


def evaluate(config: EvalConfig, loaded: LoadedPipeline | None = None,
             device: torch.device | None = None,
             progress: Any = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(summary, per-image rows). Predictions from `loaded` (on `device`; the network runs at
    its training size and its residual is upsampled), or read from config.predictions when
    `loaded` is None; metrics at config.size x config.size, uint8."""
    files = masks = None
    if loaded is None:
        ids = [ref.id for ref in list_split(config.data, config.split)]
        files = prediction_files(config.predictions, ids)
        masks = prediction_files(config.pred_masks, ids) if config.pred_masks else None
    else:
        loaded.pipeline.to(device)
    settings = protocol_settings(config)
    constants = {"ssim_C1": settings["ssim"]["C1"], "ssim_C2": settings["ssim"]["C2"]}
    lights = light_kinds(config)
    rows: list[dict[str, Any]] = []
    for batch in batches(config):
        attention = used = None
        if loaded is None:
            predictions = [read_at(files[sample_id], "RGB", config.size)
                           for sample_id in batch["id"]]
        else:
            inputs = ([flat_object(image, mask) for image, mask
                       in zip(batch["noshadow"], batch["mask"], strict=True)]
                      if config.flat_object else batch["noshadow"])
            predicted = predict_any_size(loaded, inputs, batch["mask"], device,
                                         lights=batch_lights(config, batch)
                                         if loaded.pipeline.condition == "light" else None,
                                         network_size=config.network_size,
                                         min_confidence=config.min_confidence,
                                         crisp=config.crisp)
            predictions = [item.shadow for item in predicted]
            attention = [item.attention for item in predicted]
            used = [item.light for item in predicted]
            if config.flat_object:
                predictions = [keep_object(prediction, shadow, mask) for prediction, shadow, mask
                               in zip(predictions, batch["shadow"], batch["mask"], strict=True)]
        for index, sample_id in enumerate(batch["id"]):
            shadow, noshadow = batch["shadow"][index], batch["noshadow"][index]
            smask, object_mask = batch["smask"][index], batch["mask"][index]
            pred_mask = read_at(masks[sample_id], "L", config.size) if masks else None
            model = score(config, shadow, predictions[index], noshadow, smask, object_mask,
                          pred_mask)
            identity = score(config, shadow, noshadow, noshadow, smask, object_mask)
            shape = shape_metrics(shadow, predictions[index], noshadow, object_mask >= 128)
            truth_edge = shape.pop("truth_edge_width_px")
            model.update(shape)
            identity["spill"] = spill(noshadow, noshadow, shadow, object_mask >= 128)
            identity["edge_width_px"] = math.nan  # it casts no shadow
            if attention is not None:
                probabilities = attention[index] > loaded.attention_threshold
                model["IoU_occluder"] = iou(probabilities[..., 0],
                                            batch["robject"][index] >= 128)
                model["IoU_occluder_shadow"] = iou(probabilities[..., 1],
                                                   batch["rshadow"][index] >= 128)
            inside = object_mask >= 128
            true = shadow_direction(inside, smask >= 128)
            found = shadow_direction(inside, predicted_shadow(
                predictions[index], noshadow, inside, ber_threshold(config.ber_k)))
            model["direction_error_deg"] = angle_error(found, true)
            true_light = light_report(batch["light"][index])["direction_deg"]
            light_error = math.nan
            if used is not None and config.light == "estimated" and used[index] is not None:
                light_error = angle_error(used[index].get("direction_deg"), true_light)
            rows.append({"id": sample_id, "protocol": config.protocol, **constants,
                         "shadow_pixels": int((smask >= 128).sum()),
                         "light": lights.get(sample_id, ""),
                         "true_direction_deg": math.nan if true is None else true,
                         "truth_edge_width_px": truth_edge,
                         "true_light_deg": nan_if_none(true_light),
                         "light_direction_error_deg": light_error, **model,
                         **{f"identity_{name}": value for name, value in identity.items()}})
        if progress is not None:
            progress(len(batch["id"]))
    names = [name for name in rows[0] if name not in ("id", "protocol", "shadow_pixels",
                                                      "light", "true_direction_deg",
                                                      "truth_edge_width_px",
                                                      "light_direction_error_deg",
                                                      "true_light_deg",
                                                      "direction_error_deg", *constants)
             and not name.startswith("identity_")]
    directional = [row for row in rows if row["light"] in (*DIRECTIONAL_KINDS, "")]
    summary = {
        "data": str(config.data), "split": config.split,
        "checkpoint": None if config.checkpoint is None else str(config.checkpoint),
        "predictions": None if config.predictions is None else str(config.predictions),
        "count": len(rows), "size": config.size,  # metrics at size x size
        # it ran there, its factor resized to size
        "model_size": None if loaded is None else config.network_size or loaded.size,
        "with_shadow": sum(1 for row in rows if row["shadow_pixels"]),
        **settings,
        "ber_fixed_threshold": ber_threshold(config.ber_k),
        "model": {name: mean([row[name] for row in rows]) for name in names},
        "identity": {name: mean([row[f"identity_{name}"] for row in rows])
                     for name in names if f"identity_{name}" in rows[0]},
        # model.direction: sun- and area-lit samples (all, when the manifest names no light)
        "direction": summarise([row["direction_error_deg"] for row in directional],
                               [not math.isnan(row["true_direction_deg"])
                                for row in directional]),
        "edge": edge_summary(rows),
        "light_estimate": light_summary(rows) if config.light == "estimated" else None,
        "config": to_json(config)}
    return summary, rows


METRICS_FILE, PER_IMAGE_FILE = "metrics.json", "per_image.csv"
RESULT_FILES = (METRICS_FILE, PER_IMAGE_FILE)  # what write_results writes in its folder


def write_results(out: Path, summary: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """metrics.json (`summary`) and per_image.csv (`rows`) in `out`, each atomically."""
    write_json(out / METRICS_FILE, summary)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / PER_IMAGE_FILE, buffer.getvalue())


def summary_table(summary: dict[str, Any], title: str, size: int, scored: str) -> Table:
    """`summary` (what `run` returns) as the table `shadow-model evaluate` prints: each metric
    of the scored model or predictions beside the identity baseline, then the direction."""
    ssim = summary["ssim"]
    model_size = summary.get("model_size")
    ran = (f" (model run at {model_size}x{model_size}, upsampled)"
           if model_size is not None and model_size != size else "")
    table = Table(title=f"{title}: {summary['count']} images "
                        f"({summary['with_shadow']} with a shadow), metrics at "
                        f"{size}x{size}{ran}, protocol {summary['protocol']}",
                  caption=f"SSIM: {ssim['window']}x{ssim['window']} Gaussian, sigma "
                          f"{ssim['sigma']:g}, C1={ssim['C1']:g}, "
                          f"C2={ssim['C2']:g} on 0-255 data, {ssim['padding']}; predicted "
                          f"shadow mask: {summary['predicted_mask']}")
    for column in ("metric", scored, "identity"):
        table.add_column(column, justify="right")
    for name, value in summary["model"].items():
        identity = summary["identity"].get(name)
        table.add_row(name, f"{value:.4f}", "" if identity is None else f"{identity:.4f}")
    direction = summary["direction"]
    table.add_row("direction median (deg)", f"{direction['median_deg']:.1f}", "-")
    table.add_row(f"direction within 30 deg ({direction['found']}/{direction['count']} "
                  "found)", f"{direction['within_30']:.3f}", "0")
    estimate = summary.get("light_estimate") or {}
    if estimate.get("count"):
        table.add_row(f"estimated light: direction median (deg, {estimate['count']})",
                      f"{estimate['median_deg']:.1f}", "-")
        table.add_row("estimated light: within 30 deg", f"{estimate['within_30']:.3f}", "-")
    edge = summary.get("edge", {})
    if edge.get("count"):
        table.add_row(f"edge width / truth's, median ({edge['count']} of {edge['of']} sun-lit)",
                      f"{edge['median_ratio']:.2f}", "-")
    return table
