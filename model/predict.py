"""predict: add the inserted object's shadow to photos of any size, keeping file names.

--images and --masks are two folders (masks matched by file stem, any image extension) or
two files. Each output is written atomically under --out with the input's file name;
outputs already there are skipped unless overwrite, so an interrupted run can be rerun."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dataset_tools.layout import (
    DatasetError,
    read_image,
    size_mismatch,
    write_image,
    write_json,
    write_png,
)
from model.config import PredictConfig
from model.light import given_light, light_vector
from model.metrics import ber_threshold, predicted_shadow
from model.pipeline import LoadedPipeline, predict_any_size

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class Job:
    image: Path
    mask: Path
    out: Path


def find_jobs(images: Path, masks: Path, out: Path) -> list[Job]:
    """Pairs of (image, mask) and the output path; DatasetError names what is missing."""
    if not images.exists():
        raise DatasetError(images, "not found")
    if images.is_file():
        if not masks.is_file():
            raise DatasetError(masks, "mask file not found (a single image needs a single mask)")
        return [Job(images, masks, out / images.name)]
    if not masks.is_dir():
        raise DatasetError(masks, "not a folder of masks (--images is a folder)")
    by_stem = {path.stem: path for path in sorted(masks.iterdir())
               if path.suffix.lower() in IMAGE_SUFFIXES}
    jobs = []
    for path in sorted(images.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if path.stem not in by_stem:
            raise DatasetError(path, f"no mask named {path.stem}.* in {masks}")
        jobs.append(Job(path, by_stem[path.stem], out / path.name))
    if not jobs:
        raise DatasetError(images, f"no images ({', '.join(IMAGE_SUFFIXES)})")
    return jobs


def write_matte(path: Path, factor: np.ndarray) -> None:
    """The shadow factor (H, W, 3) in [0, 1] as a 16-bit RGB PNG, atomically: 65535 = leave
    the pixel as it is, 0 = black; multiply the photo by it (value / 65535) in any tool."""
    write_image(path, (np.clip(factor, 0, 1) * 65535 + 0.5).astype(np.uint16), suffix=".png")


def read_pair(job: Job) -> tuple[np.ndarray, np.ndarray]:
    image = read_image(job.image, "RGB")
    mask = read_image(job.mask, "L")
    problem = size_mismatch(mask.shape, image.shape, f"its image {job.image.name}")
    if problem:
        raise DatasetError(job.mask, problem)
    if not (mask >= 128).any():
        raise DatasetError(job.mask, "empty mask: no object pixel (>= 128)")
    return image, mask


def predict(config: PredictConfig, loaded: LoadedPipeline, device: torch.device,
            progress: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Run every job; returns (written, skipped because present)."""
    jobs = find_jobs(config.images, config.masks, config.out)
    todo = [job for job in jobs if config.overwrite or not job.out.exists()]
    loaded.pipeline.to(device)
    for start in range(0, len(todo), config.batch_size):
        chunk = todo[start:start + config.batch_size]
        pairs = [read_pair(job) for job in chunk]
        images = [image for image, _ in pairs]
        masks = [mask for _, mask in pairs]
        lights = None  # estimated from the photo (ignored by a model that takes no light)
        if config.shadow_direction is not None:
            lights = [given_light(config.shadow_direction, config.elevation, config.softness)
                      ] * len(chunk)
        elif not config.estimate_light and loaded.pipeline.condition == "light":
            lights = [light_vector(None)] * len(chunk)  # no light: runs unconditioned
        predictions = predict_any_size(loaded, images, masks, device, lights,
                                       (config.elevation, config.softness))
        for job, image, mask, prediction in zip(chunk, images, masks, predictions, strict=True):
            output, probabilities = prediction.shadow, prediction.attention
            if config.save_shadow_mask:
                shadow = predicted_shadow(output, image, mask >= 128, ber_threshold(config.ber_k))
                write_png(config.out / "shadow_mask" / f"{job.image.stem}.png",
                          shadow.astype(np.uint8) * 255)
            if config.save_attention:
                for channel, name in enumerate(("occluder", "occluder_shadow")):
                    binary = probabilities[..., channel] > loaded.attention_threshold
                    write_png(config.out / "attention" / f"{job.image.stem}_{name}.png",
                              binary.astype(np.uint8) * 255)
            if config.save_matte:
                write_matte(config.out / "matte" / f"{job.image.stem}.png", prediction.factor)
            if config.save_light:
                write_json(config.out / "light" / f"{job.image.stem}.json",
                           prediction.light or {"source": "none", "reason": "the model takes "
                                                "no light"})
            write_image(job.out, output)  # last: its presence means the job is done
        if progress is not None:
            progress(len(chunk))
    return len(todo), len(jobs) - len(todo)
