"""Bringing datasets into the layout: import a plain Shadow-AR folder, merge datasets."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

from dataset_tools.layout import (
    DATASET_JSON,
    FORMAT_VERSION,
    KINDS,
    MANIFEST,
    RGB_KINDS,
    DatasetError,
    passes_path,
    read_image,
    read_manifest,
    sample_path,
    write_json,
    write_lines,
    write_png,
)
from dataset_tools.masks import smask_from_pair
from dataset_tools.resplit import find_samples

SHADOW_AR_KINDS = ("noshadow", "shadow", "mask", "robject", "rshadow")


def _refuse_existing(target: Path, force: bool) -> None:
    if target.exists() and any(target.iterdir()) and not force:
        raise DatasetError(target, "exists and is not empty; use --force to write into it")


def _copy(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.partial")
    shutil.copyfile(source, partial)
    partial.replace(destination)


def _finish(target: Path, records: list[dict], source: str) -> Counter:
    write_lines(target / MANIFEST, records)
    counts = Counter(record["split"] for record in records)
    write_json(target / DATASET_JSON, {"format_version": FORMAT_VERSION, "source": source,
                                       "counts": {"total": len(records),
                                                  **dict(sorted(counts.items()))}})
    return counts


def import_shadow_ar(source: Path, target: Path, threshold: float = 10.0,
                     force: bool = False) -> Counter:
    """Copy a Shadow-AR folder as released with ARShadowGAN (train/ test/ x noshadow shadow
    mask robject rshadow) and add smask = gray(|shadow - noshadow|) > threshold minus mask.
    Every file is checked first; nothing is written if one is missing or unreadable."""
    _refuse_existing(target, force)
    located = find_samples(source)
    if not located:
        raise DatasetError(source, "no Shadow-AR samples (train/noshadow/*.png, ...)")
    for sample_id, split in located.items():
        for kind in SHADOW_AR_KINDS:
            path = sample_path(source, split, kind, sample_id)
            if not path.is_file():
                raise DatasetError(path, "missing")
    records = []
    for sample_id, split in sorted(located.items()):
        images = {kind: read_image(sample_path(source, split, kind, sample_id),
                                   "RGB" if kind in RGB_KINDS else "L")
                  for kind in SHADOW_AR_KINDS}
        size = images["noshadow"].shape[:2]
        for kind, image in images.items():
            if image.shape[:2] != size:
                raise DatasetError(sample_path(source, split, kind, sample_id),
                                   f"size {image.shape[1]}x{image.shape[0]} differs from "
                                   f"noshadow {size[1]}x{size[0]}")
        for kind in SHADOW_AR_KINDS:
            _copy(sample_path(source, split, kind, sample_id),
                  sample_path(target, split, kind, sample_id))
        write_png(sample_path(target, split, "smask", sample_id),
                  smask_from_pair(images["shadow"], images["noshadow"], images["mask"],
                                  threshold))
        records.append({"id": sample_id, "split": split, "source": str(source),
                        "smask": f"image difference > {threshold}"})
    return _finish(target, records, f"shadow-ar import of {source}")


def merge(sources: list[Path], target: Path, prefixes: list[str] | None = None,
          force: bool = False) -> Counter:
    """Join datasets into target; ids get a prefix per source (default: the folder name)."""
    _refuse_existing(target, force)
    prefixes = prefixes or [source.name for source in sources]
    if len(set(prefixes)) != len(prefixes):
        raise DatasetError(target, f"prefixes must differ, got {prefixes}")
    records = []
    for source, prefix in zip(sources, prefixes, strict=True):
        located = find_samples(source)
        if not located:
            raise DatasetError(source, "no samples (*/noshadow/*.png)")
        manifest = read_manifest(source)
        for sample_id, split in sorted(located.items()):
            new_id = f"{prefix}_{sample_id}"
            for kind in KINDS:
                path = sample_path(source, split, kind, sample_id)
                if path.is_file():
                    _copy(path, sample_path(target, split, kind, new_id))
                elif kind == "smask":  # a source without smask: derive it like import does
                    write_png(sample_path(target, split, kind, new_id), smask_from_pair(
                        read_image(sample_path(source, split, "shadow", sample_id), "RGB"),
                        read_image(sample_path(source, split, "noshadow", sample_id), "RGB"),
                        read_image(sample_path(source, split, "mask", sample_id), "L")))
            if passes_path(source, sample_id).is_file():
                _copy(passes_path(source, sample_id), passes_path(target, new_id))
            record = dict(manifest.get(sample_id, {}))
            record.update(id=new_id, split=split, source=str(source), source_id=sample_id)
            records.append(record)
    return _finish(target, records, "merge of " + ", ".join(str(s) for s in sources))
