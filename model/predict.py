"""predict: add the inserted object's shadow to photos of any size, keeping file names.

--images and --masks are two folders (masks matched by file stem, any image extension; the
folders are listed, not walked, so an output folder inside one is never read back) or two
files. Each output is written atomically under --out with the input's file name and format
(JPEG at quality JPEG_QUALITY) unless --format png|jpg says otherwise; outputs already there
are skipped unless overwrite, so an interrupted run can be rerun. Images above
config.max_pixels are refused from their header (`dataset_tools.image_header`), before any
is decoded."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from dataset_tools.image_header import image_size
from dataset_tools.layout import (
    DatasetError,
    read_image,
    refuse_special_file,
    size_mismatch,
    write_image,
    write_json,
    write_png,
)
from model.config import JPEG_QUALITY, PredictConfig
from model.light import given_light, light_vector
from model.light_file import FileLight, light_for, read_lights, unmatched
from model.metrics import ber_threshold, predicted_shadow
from model.pipeline import LoadedPipeline, predict_any_size
from model.visuals import SHEET_ROWS, before_after_row, contact_sheet

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# what each format writes: OpenCV's parameters (WebP at quality > 100 is lossless)
ENCODING = {".jpg": (cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY),
            ".jpeg": (cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY),
            ".webp": (cv2.IMWRITE_WEBP_QUALITY, 101), ".png": (cv2.IMWRITE_PNG_COMPRESSION, 3)}


class PredictInterrupted(Exception):
    """Ctrl-C: `written` outputs are complete (atomic writes leave no half-written one)."""

    def __init__(self, written: int) -> None:
        super().__init__(f"interrupted after {written} images")
        self.written = written


@dataclass(frozen=True)
class Job:
    image: Path
    mask: Path
    out: Path


def output_name(image: Path, format: str) -> str:
    """The output's file name: the image's own (format "same"), or its stem with .png/.jpg."""
    return image.name if format == "same" else f"{image.stem}.{format}"


def _masks_by_stem(masks: Path) -> dict[str, Path]:
    """Mask files by stem; DatasetError naming both when two share a stem (a.png, a.jpg)."""
    by_stem: dict[str, Path] = {}
    for path in sorted(masks.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if path.stem in by_stem:
            raise DatasetError(path, f"two masks for the photo {path.stem}: "
                                     f"{by_stem[path.stem].name} and {path.name}; keep one")
        by_stem[path.stem] = path
    return by_stem


def find_jobs(images: Path, masks: Path, out: Path, format: str = "same") -> list[Job]:
    """Pairs of (image, mask) and the output path; DatasetError names what is missing."""
    if not images.exists():
        raise DatasetError(images, "not found")
    if images.is_file():
        if not masks.is_file():
            raise DatasetError(masks, "mask file not found (a single image needs a single mask)")
        return [Job(images, masks, out / output_name(images, format))]
    if not images.is_dir():
        raise DatasetError(images, "not a folder of images, nor an image file")
    if not masks.is_dir():
        raise DatasetError(masks, "not a folder of masks (--images is a folder)")
    by_stem = _masks_by_stem(masks)
    jobs: dict[str, Job] = {}  # by stem: a mask, and the side outputs, are named by it
    for path in sorted(images.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if path.stem not in by_stem:
            raise DatasetError(path, f"no mask named {path.stem}.* in {masks}")
        if path.stem in jobs:
            raise DatasetError(path, f"two photos named {path.stem}: "
                                     f"{jobs[path.stem].image.name} and {path.name} would share "
                                     "a mask and outputs; keep one")
        jobs[path.stem] = Job(path, by_stem[path.stem], out / output_name(path, format))
    if not jobs:
        raise DatasetError(images, f"no images ({', '.join(IMAGE_SUFFIXES)})")
    return list(jobs.values())


def side_outputs(config: PredictConfig, job: Job) -> list[Path]:
    """The files beside the image output that the config asks for, for one job."""
    stem, out = job.image.stem, config.out
    paths = []
    if config.save_shadow_mask:
        paths.append(out / "shadow_mask" / f"{stem}.png")
    if config.save_attention:
        paths += [out / "attention" / f"{stem}_{name}.png"
                  for name in ("occluder", "occluder_shadow")]
    if config.save_matte:
        paths.append(out / "matte" / f"{stem}.png")
    if config.save_light:
        paths.append(out / "light" / f"{stem}.json")
    return paths


def check_outputs(config: PredictConfig, jobs: list[Job]) -> None:
    """DatasetError naming the first output path that exists and is not a plain file (a
    folder, a device, a FIFO, a link): found before any work, not half-way through."""
    for job in jobs:
        for path in (job.out, *side_outputs(config, job)):
            refuse_special_file(path)


def refuse_large(path: Path, max_pixels: int, size: tuple[int, int] | None) -> None:
    """DatasetError naming `path` when its (width, height) is above max_pixels (0: no limit)."""
    if size is not None and max_pixels and size[0] * size[1] > max_pixels:
        raise DatasetError(path, f"{size[0]}x{size[1]} is {size[0] * size[1] / 1e6:.0f} "
                                 f"megapixels, above --max-pixels {max_pixels} (raise it to "
                                 "predict this image, with memory to match)")


def check_sizes(jobs: list[Job], max_pixels: int) -> None:
    """Refuse, before any image is decoded, an image or mask whose header says it is larger
    than max_pixels; a header that cannot be read is measured after decoding (read_pair)."""
    if not max_pixels:
        return
    for job in jobs:
        for path in (job.image, job.mask):
            try:
                size = image_size(path)
            except OSError as error:
                raise DatasetError(path, f"cannot read ({error.strerror or error})") from None
            refuse_large(path, max_pixels, size)


def write_matte(path: Path, factor: np.ndarray) -> None:
    """The shadow factor (H, W, 3) in [0, 1] as a 16-bit RGB PNG, atomically: 65535 = leave
    the pixel as it is, 0 = black; multiply the photo by it (value / 65535) in any tool."""
    write_image(path, (np.clip(factor, 0, 1) * 65535 + 0.5).astype(np.uint16), suffix=".png")


def read_pair(job: Job, max_pixels: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 RGB image and its (H, W) uint8 mask; DatasetError naming the file."""
    image = read_image(job.image, "RGB")
    refuse_large(job.image, max_pixels, (image.shape[1], image.shape[0]))
    mask = read_image(job.mask, "L")
    problem = size_mismatch(mask.shape, image.shape, f"its image {job.image.name}")
    if problem:
        raise DatasetError(job.mask, problem)
    if not (mask >= 128).any():
        raise DatasetError(job.mask, "empty mask: no object pixel (>= 128)")
    return image, mask


def job_lights(config: PredictConfig, loaded: LoadedPipeline, jobs: list[Job],
               from_file: dict[str, FileLight]) -> list[np.ndarray | None] | None:
    """The light vector each job runs with: the lights file's for an image it names, else
    --shadow-direction's; None for an image to estimate from the photo (or for a model that
    takes no light and is given none), a zero vector for none."""
    default = None  # estimated from the photo (ignored by a model that takes no light)
    if config.shadow_direction is not None:
        default = given_light(config.shadow_direction, config.elevation, config.softness)
    elif not config.estimate_light and loaded.pipeline.condition == "light":
        default = light_vector(None)  # no light: runs unconditioned
    lights = []
    for job in jobs:
        entry = light_for(from_file, job.image)
        lights.append(default if entry is None else given_light(
            entry.direction, config.elevation if entry.elevation is None else entry.elevation,
            config.softness if entry.softness is None else entry.softness))
    return None if all(light is None for light in lights) else lights


@dataclass(frozen=True)
class Plan:
    """What a predict run will do, checked before any model is loaded or image decoded."""

    jobs: list[Job]
    lights: dict[str, FileLight]  # the lights file's, by image name or stem


def plan(config: PredictConfig) -> Plan:
    """The jobs and the lights file of `config`, every input and output checked (names,
    pairs, outputs that are not plain files, image sizes from their headers); DatasetError
    naming the first bad file."""
    jobs = find_jobs(config.images, config.masks, config.out, config.format)
    from_file = read_lights(config.lights) if config.lights is not None else {}
    strays = unmatched(from_file, [job.image for job in jobs])
    if strays:
        warnings.warn(f"{config.lights}: {len(strays)} entries name no image of {config.images} "
                      f"(first: {strays[0]!r})", stacklevel=1)
    check_outputs(config, jobs)
    check_sizes(jobs, config.max_pixels)
    return Plan(jobs, from_file)


def predict(config: PredictConfig, loaded: LoadedPipeline, device: torch.device,
            progress: Callable[[int, int], None] | None = None,
            planned: Plan | None = None) -> tuple[int, int]:
    """Run every job of `planned` (default: plan(config)); returns (written, skipped because
    present). progress(done, total) is called after each batch; Ctrl-C raises
    PredictInterrupted with the count written."""
    planned = planned or plan(config)
    jobs, from_file = planned.jobs, planned.lights
    todo = [job for job in jobs if config.overwrite or not job.out.exists()]
    loaded.pipeline.to(device)
    done: list[Job] = []  # jobs whose image output is written
    rows: list[np.ndarray] = []
    try:
        for start in range(0, len(todo), config.batch_size):
            chunk = todo[start:start + config.batch_size]
            rows += _predict_chunk(config, loaded, device, chunk,
                                   job_lights(config, loaded, chunk, from_file), done,
                                   room=SHEET_ROWS - len(rows) if config.sheet else 0)
            if progress is not None:
                progress(len(done), len(todo))
    except KeyboardInterrupt:
        raise PredictInterrupted(len(done)) from None
    if config.sheet is not None and rows:
        write_image(config.sheet, contact_sheet(rows), ENCODING.get(config.sheet.suffix.lower(),
                                                                    ()))
    return len(done), len(jobs) - len(todo)


def _predict_chunk(config: PredictConfig, loaded: LoadedPipeline, device: torch.device,
                   chunk: list[Job], lights: list[np.ndarray | None] | None,
                   done: list[Job], room: int) -> list[np.ndarray]:
    """Predict and write one batch of jobs, adding each to `done` once its image output is
    written; returns contact-sheet rows for the first `room`."""
    pairs = [read_pair(job, config.max_pixels) for job in chunk]
    images = [image for image, _ in pairs]
    masks = [mask for _, mask in pairs]
    predictions = predict_any_size(loaded, images, masks, device, lights,
                                   (config.elevation, config.softness), config.network_size,
                                   config.min_confidence, config.crisp)
    rows = []
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
        # last: its presence means the job is done
        write_image(job.out, output, ENCODING.get(job.out.suffix.lower(), ()))
        done.append(job)
        if len(rows) < room:
            rows.append(before_after_row(image, output, prediction.factor, job.image.name))
    return rows
