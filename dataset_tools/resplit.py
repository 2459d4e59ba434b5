"""Moving a dataset's samples between train/, val/ and test/ without ever losing a file."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from dataset_tools.layout import (
    DATASET_JSON,
    KINDS,
    MANIFEST,
    SPLITS,
    DatasetError,
    iter_samples,
    json_text,
    refuse_outside_links,
    write_staged,
)
from dataset_tools.records import (
    DatasetInfo,
    ManifestRecord,
    by_index,
    manifest_text,
    read_manifest,
    split_counts,
)
from dataset_tools.split import group_assignments, plan_split


def find_samples(root: Path) -> dict[str, str]:
    """sample id -> the split folder it is in (by its noshadow file); an id in two splits is a
    DatasetError."""
    located: dict[str, str] = {}
    for split, sample_id in iter_samples(root):
        if sample_id in located:
            raise DatasetError(root / split / "noshadow" / f"{sample_id}.png",
                               f"id {sample_id} is also in {located[sample_id]}/")
        located[sample_id] = split
    return located


def count_files(root: Path) -> int:
    return sum(1 for split in SPLITS for kind in KINDS
               for _ in (root / split / kind).glob("*.png"))


def empty_test_reason(records: dict[str, ManifestRecord], located: dict[str, str],
                      assignments: dict[str, dict[str, str]], test_fraction: float,
                      by: str) -> str:
    """One line: why a plan leaves test/ empty, and what it would do to the test/ there now."""
    groups = []
    for key, assignment in assignments.items():
        tested = sum(split == "test" for split in assignment.values())
        groups.append(f"{tested} of {len(assignment)} "
                      f"{'scenes' if key == 'scene' else 'meshes'}")
    if by == "both":
        why = f"no sample pairs a test scene with a test mesh ({' and '.join(groups)} are test"\
              " groups)"
    else:
        why = f"{groups[0]} are test groups" if groups else f"{len(records)} samples are too few"
    in_test = sum(split == "test" for split in located.values())
    lost = f"; the {in_test} samples now in test/ would move to train/ or val/" if in_test else ""
    return (f"--by {by} --test {test_fraction:g} leaves test/ empty: {why}{lost}; use "
            "--allow-empty to accept that, or --by scene, a larger --test or more assets")


def resplit(root: Path, test_fraction: float, val_fraction: float, seed: int, by: str,
            overwrite: bool = False, allow_empty: bool = False) -> Counter:
    """Move every sample to its planned split; returns the new counts per split. A plan that
    leaves test/ empty although test_fraction > 0 is refused (DatasetError, nothing moved)
    unless allow_empty. A dataset with a link out of its folder, or whose manifest lists a
    sample without files, is refused before anything moves (DatasetError)."""
    refuse_outside_links(root)
    located = find_samples(root)
    if not located:
        raise DatasetError(root, "no samples (*/noshadow/*.png)")
    manifest = read_manifest(root)
    stale = sorted(set(manifest) - set(located))
    if stale:
        more = f" (and {len(stale) - 1} more)" if len(stale) > 1 else ""
        raise DatasetError(root / MANIFEST, f"lists {stale[0]}{more}, which has no files; "
                           f"nothing was moved: run shadow-dataset validate {root} and "
                           "remove those lines or restore the files first")
    if by != "none":
        missing = sorted(set(located) - set(manifest))
        if missing:
            raise DatasetError(root / MANIFEST, f"has no record of {missing[0]} (and "
                               f"{len(missing) - 1} more): --by {by} needs one per sample; "
                               "use --by none for a dataset without manifest")
    records = {sample_id: manifest.get(sample_id, ManifestRecord(sample_id))
               for sample_id in located}
    plan = plan_split(records, test_fraction, val_fraction, seed, by)
    assignments = group_assignments(records, test_fraction, val_fraction, seed, by)
    if test_fraction > 0 and "test" not in plan.values() and not allow_empty:
        raise DatasetError(root, empty_test_reason(records, located, assignments,
                                                   test_fraction, by))
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
            if destination.exists() and not overwrite:
                raise DatasetError(destination, "already exists; use --overwrite to replace it")
            moves.append((origin, destination))
    # The new manifest and dataset.json are written first, as finished temporary files, and
    # renamed into place only after the moves: a full disk stops the split before any file
    # moves, and renames need no space.
    if manifest:
        for sample_id, record in manifest.items():
            if sample_id in plan:
                record.split = plan[sample_id]
                # With --by both a val sample's groups may be train or test: record them, so
                # that samples rendered into the dataset later follow them (SplitRule).
                record.split_groups = ({key: assignment[record.group(key)]
                                        for key, assignment in assignments.items()}
                                       if len(assignments) > 1 else None)
    info = DatasetInfo.read(root) or DatasetInfo()
    info.counts = split_counts(plan.values())
    info.split = {"test": test_fraction, "val": val_fraction, "seed": seed, "by": by}
    texts = {root / DATASET_JSON: json_text(info.to_json())}
    if manifest:
        texts[root / MANIFEST] = manifest_text(by_index(manifest.values()))
    staged: dict[Path, Path] = {}
    try:
        for path, text in texts.items():
            staged[path] = write_staged(path, lambda tmp, text=text: Path(tmp).write_text(
                text, encoding="utf-8"))
        for folder in sorted({destination.parent for _, destination in moves}):
            folder.mkdir(parents=True, exist_ok=True)
        before = count_files(root)
        for origin, destination in moves:
            os.replace(origin, destination)
    except BaseException:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        raise
    after = count_files(root)
    for path, tmp in staged.items():
        os.replace(tmp, path)
    if after != before and not overwrite:
        raise DatasetError(root, f"file count changed from {before} to {after} while moving")
    return Counter(plan.values())
