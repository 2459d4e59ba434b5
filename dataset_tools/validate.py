"""Checks of a Shadow-AR folder: every file there, readable, right shape, binary masks,
pairs that differ only in the shadow, no duplicates, manifest and files agree, no scene or
mesh in two splits."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from dataset_tools.layout import (
    MANIFEST,
    MASK_KINDS,
    OPTIONAL_KINDS,
    REQUIRED_KINDS,
    RGB_KINDS,
    SPLITS,
    decode_image,
    size_mismatch,
)
from dataset_tools.outputs import looks_like_output
from dataset_tools.records import DatasetInfo, ManifestRecord, read_manifest, unparsable_lines
from dataset_tools.split import GROUP_KEYS, GROUPINGS


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    severity: str = "error"  # "error" makes the dataset invalid; "warning" does not

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: {self.message}"


@dataclass
class Report:
    root: str
    counts: dict[str, int] = field(default_factory=dict)  # split -> complete samples
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.severity == "error"]

    @property
    def valid(self) -> bool:
        return bool(self.counts) and not self.errors

    def to_json(self) -> dict:
        return {"root": self.root, "valid": self.valid, "counts": self.counts,
                "errors": len(self.errors),
                "warnings": len(self.problems) - len(self.errors),
                "problems": [asdict(problem) for problem in self.problems]}


def check_pair(root: Path, split: str, sample_id: str, images: dict[str, np.ndarray],
               report: Report, tolerance: float) -> None:
    """The pair differs only in the inserted object's shadow: outside `sregion` (every pixel
    the renderer let differ) or, without it, outside a 2-pixel dilation of `smask`, the mean
    absolute difference stays within `tolerance` gray levels; smask lies inside sregion."""
    shadow, noshadow = images.get("shadow"), images["noshadow"]
    size = noshadow.shape[:2]
    regions = {kind: images[kind] for kind in OPTIONAL_KINDS
               if kind in images and images[kind].shape == size}
    if "smask" in regions and "sregion" in regions:
        stray = int(np.count_nonzero((regions["smask"] > 0) & (regions["sregion"] == 0)))
        if stray:
            report.problems.append(Problem(str(root / split / "smask" / f"{sample_id}.png"),
                                           f"{stray} pixels lie outside sregion"))
    if shadow is None or shadow.shape != noshadow.shape or not regions:
        return
    if "sregion" in regions:
        kind, outside = "sregion", regions["sregion"] == 0
    else:
        kind = "smask"
        outside = ~cv2.dilate(regions["smask"], np.ones((5, 5), np.uint8)).astype(bool)
    difference = np.abs(shadow.astype(np.int16) - noshadow.astype(np.int16)).max(axis=-1)
    if outside.any() and float(difference[outside].mean()) > tolerance:
        report.problems.append(Problem(
            str(root / split / "shadow" / f"{sample_id}.png"),
            f"differs from noshadow outside {kind} by {difference[outside].mean():.2f} "
            f"on average (tolerance {tolerance})"))


def check_sample(root: Path, split: str, sample_id: str, kinds: tuple[str, ...],
                 report: Report, tolerance: float) -> bytes | None:
    """Check one sample's files; returns the noshadow digest (for duplicates) or None."""
    images: dict[str, np.ndarray] = {}
    for kind in kinds:
        path = root / split / kind / f"{sample_id}.png"
        if not path.is_file():
            report.problems.append(Problem(str(path), "missing"))
            continue
        try:
            image = decode_image(np.fromfile(path, dtype=np.uint8), "stored")
        except ValueError:
            report.problems.append(Problem(str(path), "not a readable PNG image"))
            continue
        if image.dtype != np.uint8:
            report.problems.append(Problem(str(path), f"expected 8-bit pixels, got {image.dtype}"))
            continue
        channels = 1 if image.ndim == 2 else image.shape[2]
        if kind in RGB_KINDS and channels != 3:
            report.problems.append(Problem(str(path), f"expected RGB, got {channels} channel(s)"))
            continue
        if kind in MASK_KINDS and channels != 1:
            report.problems.append(Problem(
                str(path), f"expected a single-channel (L) mask, got {channels} channels"))
            continue
        images[kind] = image
    if "noshadow" not in images:
        return None
    size = images["noshadow"].shape[:2]
    for kind, image in images.items():
        path = root / split / kind / f"{sample_id}.png"
        problem = size_mismatch(image.shape, size, "noshadow")
        if problem:
            report.problems.append(Problem(str(path), problem))
            continue
        if kind in MASK_KINDS:
            odd = int(np.count_nonzero((image != 0) & (image != 255)))
            if odd:
                report.problems.append(Problem(str(path), f"{odd} pixels are not 0 or 255"))
            elif kind in ("mask", "smask") and not image.any():
                report.problems.append(Problem(str(path), "empty mask", "warning"))
    check_pair(root, split, sample_id, images, report, tolerance)
    return hashlib.sha1(images["noshadow"].tobytes()).digest()


def recorded_grouping(root: Path) -> str:
    """The --by of the split recorded in dataset.json, or "scene" (the renderer's own split,
    by scene photo) when none is recorded."""
    info = DatasetInfo.read(root)
    by = info.split_by if info is not None else None
    return by if by in GROUPINGS else "scene"


def check_split_leaks(root: Path, ids_by_split: dict[str, set[str]],
                      manifest: dict[str, ManifestRecord], report: Report) -> None:
    """An error per scene (and, split --by mesh or both, per inserted mesh) whose samples lie in
    two splits. --by both keeps only train and test apart: val takes the samples whose scene
    and mesh disagree, so it shares groups with either by design."""
    by = recorded_grouping(root)
    apart = ("train", "test") if by == "both" else SPLITS
    for key in GROUP_KEYS[by]:
        counts: dict[str, Counter] = defaultdict(Counter)
        for split in apart:
            for sample_id in ids_by_split.get(split, ()):
                record = manifest.get(sample_id)
                if record is not None and getattr(record, key) is not None:
                    counts[record.group(key)][split] += 1
        for group, where in sorted(counts.items()):
            if len(where) > 1:
                found = " and ".join(f"{split} ({where[split]} samples)" for split in apart
                                     if where[split])
                label = "scene" if key == "scene" else "mesh"
                report.problems.append(Problem(
                    str(root / MANIFEST),
                    f"{label} {group} is in {found}: a leak across splits (split --by {by})"))


def validate_dataset(root: Path, tolerance: float = 1.0,
                     progress: Callable[[int], None] | None = None) -> Report:
    """Check every file of the dataset at root; see Report.valid."""
    report = Report(str(root))
    splits = [split for split in SPLITS if (root / split).is_dir()]
    if not splits:
        report.problems.append(Problem(str(root), "no train/, val/ or test/ folder"))
        return report
    digests: dict[bytes, list[str]] = defaultdict(list)
    seen: set[str] = set()
    ids_by_split: dict[str, set[str]] = {}
    for split in splits:
        kinds = REQUIRED_KINDS + tuple(kind for kind in OPTIONAL_KINDS
                                       if (root / split / kind).is_dir())
        # Every file of every kind, not only the samples (`layout.iter_ids`): a mask without
        # its noshadow image, or a stray file, is a problem to report.
        ids: set[str] = set()
        for kind in kinds:
            folder = root / split / kind
            if not folder.is_dir():
                report.problems.append(Problem(str(folder), "folder is missing"))
                continue
            for path in folder.iterdir():
                if path.name.startswith("."):
                    continue
                if path.suffix.lower() != ".png" or not path.is_file():
                    report.problems.append(Problem(str(path), "not a .png file"))
                    continue
                ids.add(path.stem)
        complete = 0
        for sample_id in sorted(ids):
            errors_before = len(report.errors)
            digest = check_sample(root, split, sample_id, kinds, report, tolerance)
            if digest is not None:
                digests[digest].append(f"{split}/{sample_id}")
            complete += len(report.errors) == errors_before
            if progress:
                progress(1)
        report.counts[split] = complete
        ids_by_split[split] = ids
        seen |= ids
    for names in digests.values():
        if len(names) > 1:
            report.problems.append(Problem(str(root), "identical noshadow images: "
                                                      + ", ".join(names), "warning"))
    for number in unparsable_lines(root / MANIFEST):
        report.problems.append(Problem(str(root / MANIFEST), f"line {number} is not a "
                                       "manifest record (cannot be parsed)"))
    if seen and not (root / MANIFEST).is_file() and looks_like_output(root):
        report.problems.append(Problem(str(root), f"has samples but no {MANIFEST}, and "
                                       "shadowsynth wrote it (dataset.json, manifests/ or "
                                       "*.partial files): a run that stopped before its "
                                       "manifest; rerun it (or `shadow-dataset gather`)"))
    manifest = read_manifest(root)
    if manifest:
        for sample_id in sorted(set(manifest) - seen):
            report.problems.append(Problem(str(root / "manifest.jsonl"),
                                           f"lists {sample_id}, which has no files"))
        for sample_id in sorted(seen - set(manifest)):
            report.problems.append(Problem(str(root / "manifest.jsonl"),
                                           f"does not list {sample_id}", "warning"))
        check_split_leaks(root, ids_by_split, manifest, report)
    return report
