"""Moving a dataset's samples between train/, val/ and test/ without ever losing a file."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from dataset_tools.layout import (
    DATASET_JSON,
    KINDS,
    MANIFEST,
    SPLITS,
    DatasetError,
    read_manifest,
    write_json,
    write_lines,
)
from dataset_tools.split import plan_split


def find_samples(root: Path) -> dict[str, str]:
    """sample id -> the split folder it is in (by its noshadow file)."""
    located: dict[str, str] = {}
    for split in SPLITS:
        for path in sorted((root / split / "noshadow").glob("*.png")):
            if path.stem in located:
                raise DatasetError(path, f"id {path.stem} is also in {located[path.stem]}/")
            located[path.stem] = split
    return located


def count_files(root: Path) -> int:
    return sum(1 for split in SPLITS for kind in KINDS
               for _ in (root / split / kind).glob("*.png"))


def resplit(root: Path, test_fraction: float, val_fraction: float, seed: int, by: str,
            force: bool = False) -> Counter:
    """Move every sample to its planned split; returns the new counts per split."""
    located = find_samples(root)
    if not located:
        raise DatasetError(root, "no samples (*/noshadow/*.png)")
    manifest = read_manifest(root)
    if by != "none":
        missing = sorted(set(located) - set(manifest))
        if missing:
            raise DatasetError(root / MANIFEST, f"has no record of {missing[0]} (and "
                               f"{len(missing) - 1} more): --by {by} needs one per sample; "
                               "use --by none for a dataset without manifest")
    records = {sample_id: manifest.get(sample_id, {"id": sample_id}) for sample_id in located}
    plan = plan_split(records, test_fraction, val_fraction, seed, by)
    moves = []
    for sample_id, source in located.items():
        target = plan[sample_id]
        if target == source:
            continue
        for kind in KINDS:
            origin = root / source / kind / f"{sample_id}.png"
            if not origin.exists():
                continue
            destination = root / target / kind / f"{sample_id}.png"
            if destination.exists() and not force:
                raise DatasetError(destination, "already exists; use --force to replace it")
            moves.append((origin, destination))
    before = count_files(root)
    for origin, destination in moves:
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(origin, destination)
    after = count_files(root)
    if after != before and not force:
        raise DatasetError(root, f"file count changed from {before} to {after} while moving")
    if manifest:
        for sample_id, record in manifest.items():
            if sample_id in plan:
                record["split"] = plan[sample_id]
        write_lines(root / MANIFEST, sorted(manifest.values(),
                                            key=lambda record: record.get("index", 0)))
    counts = Counter(plan.values())
    info_path = root / DATASET_JSON
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    info["counts"] = {"total": len(plan), **dict(sorted(counts.items()))}
    info["split"] = {"test": test_fraction, "val": val_fraction, "seed": seed, "by": by}
    write_json(info_path, info)
    return counts
