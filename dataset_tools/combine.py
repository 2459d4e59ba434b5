"""Bringing datasets into the layout: import a plain Shadow-AR folder, merge datasets."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from dataset_tools.errors import UsageError
from dataset_tools.layout import (
    KINDS,
    MANIFEST,
    REQUIRED_KINDS,
    RGB_KINDS,
    DatasetError,
    Tick,
    copy_file,
    id_problem,
    passes_path,
    read_image,
    sample_path,
    size_mismatch,
    write_png,
)
from dataset_tools.masks import GRAY_THRESHOLD, smask_from_pair
from dataset_tools.outputs import prepare_output
from dataset_tools.records import (
    DatasetInfo,
    ManifestRecord,
    read_manifest,
    split_counts,
    write_manifest,
)
from dataset_tools.resplit import find_samples

SHADOW_AR_KINDS = REQUIRED_KINDS  # what ARShadowGAN's Shadow-AR release has per sample


def _finish(target: Path, records: list[ManifestRecord], source: str) -> Counter:
    write_manifest(target / MANIFEST, records)
    splits = [str(record.split) for record in records]
    DatasetInfo(source=source, counts=split_counts(splits)).write(target)
    return Counter(splits)


@dataclass
class Imported:
    """What an import wrote (samples per split) and the samples it left out: the bad file
    of each and why, in the order met."""

    counts: Counter = field(default_factory=Counter)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _started(target: Path, records: list[ManifestRecord], source: str) -> None:
    """Before the first sample file of an import: dataset.json (without counts yet), so that
    a run stopped before its manifest leaves a folder `validate` calls incomplete."""
    if not records:
        DatasetInfo(source=source).write(target)


def _none_imported(source: Path, skipped: list[tuple[Path, str]]) -> DatasetError:
    path, reason = skipped[0]
    return DatasetError(source, f"no sample could be imported: all {len(skipped)} have a bad "
                                f"file, the first {path}: {reason}")


def import_shadow_ar(source: Path, target: Path, gray_threshold: float = GRAY_THRESHOLD,
                     overwrite: bool = False, tick: Tick = None) -> Imported:
    """Copy a Shadow-AR folder as released with ARShadowGAN (train/ test/ x noshadow shadow
    mask robject rshadow) and add smask = gray(|shadow - noshadow|) > gray_threshold minus mask.
    Every file must be there (else nothing is written); a sample with an unreadable file or
    images of two sizes is left out and listed in `Imported.skipped`."""
    located = find_samples(source)
    if not located:
        raise DatasetError(source, "no Shadow-AR samples (train/noshadow/*.png, ...)")
    for sample_id, split in located.items():
        for kind in SHADOW_AR_KINDS:
            path = sample_path(source, split, kind, sample_id)
            if not path.is_file():
                raise DatasetError(path, "missing")
    prepare_output(target, overwrite)
    result, records = Imported(), []
    what = f"shadow-ar import of {source}"
    for sample_id, split in sorted(located.items()):
        try:
            images = {kind: read_image(sample_path(source, split, kind, sample_id),
                                       "RGB" if kind in RGB_KINDS else "L")
                      for kind in SHADOW_AR_KINDS}
            size = images["noshadow"].shape[:2]
            for kind, image in images.items():
                problem = size_mismatch(image.shape, size, "noshadow")
                if problem:
                    raise DatasetError(sample_path(source, split, kind, sample_id), problem)
        except DatasetError as error:
            result.skipped.append((Path(error.path), error.reason))
            continue
        _started(target, records, what)
        for kind in SHADOW_AR_KINDS:
            copy_file(sample_path(source, split, kind, sample_id),
                      sample_path(target, split, kind, sample_id))
        write_png(sample_path(target, split, "smask", sample_id),
                  smask_from_pair(images["shadow"], images["noshadow"], images["mask"],
                                  gray_threshold))
        records.append(ManifestRecord(sample_id, split=split, source=str(source),
                                      smask=f"image difference > {gray_threshold}"))
        if tick:
            tick()
    if not records:
        raise _none_imported(source, result.skipped)
    result.counts = _finish(target, records, what)
    return result


class PrefixError(UsageError):
    """Merge prefixes that cannot work (an argument error, exit code 2); the message names
    them."""


def merge_ids(sources: list[Path], prefixes: list[str] | None = None
              ) -> list[dict[str, tuple[str, str]]]:
    """Per source: sample id -> (split, id in the merged dataset, PREFIX_ID); prefixes
    default to the folders' names. A prefix that is not an id part (`layout.id_problem`), two
    equal prefixes, or two samples that would get the same new id raise PrefixError; a source
    without samples raises DatasetError naming it."""
    given = bool(prefixes)
    prefixes = prefixes or [source.name for source in sources]
    for prefix in prefixes:
        problem = id_problem(prefix)
        if problem:
            raise PrefixError(f"--prefix {prefix!r}: {problem} (it starts every merged id)"
                              + ("" if given else "; the default is the folder's name: give "
                                                  "one --prefix per source"))
    repeated = sorted({prefix for prefix in prefixes if prefixes.count(prefix) > 1})
    if repeated:
        raise PrefixError(f"--prefix {repeated[0]!r}: given to two sources; each source "
                          "needs its own --prefix")
    plans: list[dict[str, tuple[str, str]]] = []
    owners: dict[str, str] = {}
    for source, prefix in zip(sources, prefixes, strict=True):
        located = find_samples(source)
        if not located:
            raise DatasetError(source, "no samples (*/noshadow/*.png)")
        plan = {}
        for sample_id, split in sorted(located.items()):
            new_id = f"{prefix}_{sample_id}"
            here = f"{source}/{split}/{sample_id}"
            if new_id in owners:
                raise PrefixError(f"{owners[new_id]} and {here} would both become {new_id}; "
                                  "choose prefixes that keep the ids apart")
            owners[new_id] = here
            plan[sample_id] = (split, new_id)
        plans.append(plan)
    return plans


def merge(sources: list[Path], target: Path, prefixes: list[str] | None = None,
          overwrite: bool = False, tick: Tick = None) -> Counter:
    """Join datasets into target; ids get a prefix per source (`merge_ids`). Everything is
    checked before a file is written; --overwrite clears target's old dataset first."""
    plans = merge_ids(sources, prefixes)
    prepare_output(target, overwrite)
    source_text = "merge of " + ", ".join(str(s) for s in sources)
    DatasetInfo(source=source_text).write(target)  # marks the folder as a shadowsynth output
    records = []
    for source, plan in zip(sources, plans, strict=True):
        manifest = read_manifest(source)
        for sample_id, (split, new_id) in plan.items():
            for kind in KINDS:
                path = sample_path(source, split, kind, sample_id)
                if path.is_file():
                    copy_file(path, sample_path(target, split, kind, new_id))
                elif kind == "smask":  # a source without smask: derive it like import does
                    write_png(sample_path(target, split, kind, new_id), smask_from_pair(
                        read_image(sample_path(source, split, "shadow", sample_id), "RGB"),
                        read_image(sample_path(source, split, "noshadow", sample_id), "RGB"),
                        read_image(sample_path(source, split, "mask", sample_id), "L")))
            if passes_path(source, sample_id).is_file():
                copy_file(passes_path(source, sample_id), passes_path(target, new_id))
            records.append(replace(manifest.get(sample_id) or ManifestRecord(sample_id),
                                   id=new_id, split=split, source=str(source),
                                   source_id=sample_id))
            if tick:
                tick()
    return _finish(target, records, source_text)


DESOBA_FOLDERS = ("ShadowImage", "DeshadowedImage", "InstanceMask", "ShadowMask")
NO_OWNER = 255  # DESOBA: a shadow whose caster is not in the image


def _by_stem(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise DatasetError(folder, "DESOBA folder is missing")
    return {path.stem: path for path in sorted(folder.iterdir())
            if path.suffix.lower() in {".png", ".jpg", ".jpeg"}}


def _name_list(source: Path, word: str, explicit: Path | None) -> set[str] | None:
    candidates = [explicit] if explicit else sorted(
        path for path in source.glob("*.txt") if word in path.name.lower())
    if not candidates:
        return None
    names: set[str] = set()
    for path in candidates:
        if not path.is_file():
            raise DatasetError(path, "list file is missing")
        data = path.read_bytes()
        try:
            if b"\0" in data:
                raise ValueError("binary")
            text = data.decode("utf-8")
        except ValueError:
            raise DatasetError(path, "not a text list of image names (UTF-8, one a line)") \
                from None
        names |= {Path(line.split()[0]).stem for line in text.splitlines() if line.strip()}
    return names


def desoba_pairs(shadow_image, deshadowed, instance, shadow_ids, dilate: int = 3):
    """Yield (object id, noshadow, masks) for each object with both a mask and a shadow.

    shadow_image, deshadowed (H, W, 3) uint8; instance, shadow_ids (H, W) uint8 ids."""
    import cv2
    import numpy as np

    kernel = np.ones((2 * dilate + 1, 2 * dilate + 1), np.uint8)
    for object_id in sorted(set(np.unique(instance).tolist()) - {0}):
        own_shadow = shadow_ids == object_id
        if not own_shadow.any():
            continue
        area = cv2.dilate(own_shadow.astype(np.uint8), kernel).astype(bool)
        area &= instance != object_id
        noshadow = shadow_image.copy()
        noshadow[area] = deshadowed[area]
        masks = {"mask": instance == object_id,
                 "robject": (instance > 0) & (instance != object_id),
                 "rshadow": (shadow_ids > 0) & (shadow_ids != object_id),
                 "smask": area}
        yield object_id, noshadow, {k: np.where(v, 255, 0).astype(np.uint8)
                                    for k, v in masks.items()}


def desoba_images(source: Path, train_list: Path | None = None,
                  test_list: Path | None = None) -> tuple[dict[str, dict[str, Path]],
                                                          dict[str, str]]:
    """A DESOBA folder's files ({folder: {image name: path}}) and each listed image's split
    (every image is "train" without name lists). Raises DatasetError naming a missing folder
    or file."""
    folders = {name: _by_stem(source / name) for name in DESOBA_FOLDERS}
    stems = sorted(folders["ShadowImage"])
    if not stems:
        raise DatasetError(source / "ShadowImage", "no images")
    for name, files in folders.items():
        for stem in stems:
            if stem not in files:
                raise DatasetError(source / name / f"{stem}.png", "missing")
    train = _name_list(source, "train", train_list)
    test = _name_list(source, "test", test_list)
    splits = {}
    for stem in stems:
        if test is not None and stem in test:
            splits[stem] = "test"
        elif train is None or stem in train:
            splits[stem] = "train"
    return folders, splits


def read_desoba_image(folders: dict[str, dict[str, Path]], stem: str) -> dict[str, np.ndarray]:
    """The four images of DESOBA image `stem`, by folder name (RGB (H, W, 3) for the photos,
    (H, W) uint8 ids for the masks); DatasetError names a file of another size."""
    images = {name: read_image(folders[name][stem], "L" if "Mask" in name else "RGB")
              for name in DESOBA_FOLDERS}
    for name, image in images.items():
        problem = size_mismatch(image.shape, images["ShadowImage"].shape, "ShadowImage")
        if problem:
            raise DatasetError(folders[name][stem], problem)
    return images


def import_desoba(source: Path, target: Path, overwrite: bool = False,
                  train_list: Path | None = None, test_list: Path | None = None,
                  tick: Tick = None) -> Imported:
    """DESOBA (ShadowImage, DeshadowedImage, InstanceMask, ShadowMask + name lists) -> one
    sample per object that has both a mask and a shadow (id = IMAGE_OBJECT). Every file must be
    there (else nothing is written); an image with an unreadable file or files of two sizes
    is left out and listed in `Imported.skipped`."""
    folders, splits = desoba_images(source, train_list, test_list)
    prepare_output(target, overwrite)
    result, records = Imported(), []
    what = f"desoba import of {source}"
    for stem in sorted(folders["ShadowImage"]):
        if tick:
            tick()
        if stem not in splits:
            continue
        split = splits[stem]
        try:
            images = read_desoba_image(folders, stem)
        except DatasetError as error:
            result.skipped.append((Path(error.path), error.reason))
            continue
        shadow_image = images["ShadowImage"]
        for object_id, noshadow, masks in desoba_pairs(
                shadow_image, images["DeshadowedImage"], images["InstanceMask"],
                images["ShadowMask"]):
            sample_id = f"{stem}_{object_id}"
            _started(target, records, what)
            write_png(sample_path(target, split, "noshadow", sample_id), noshadow)
            write_png(sample_path(target, split, "shadow", sample_id), shadow_image)
            for kind, mask in masks.items():
                write_png(sample_path(target, split, kind, sample_id), mask)
            records.append(ManifestRecord(sample_id, split=split, source=str(source), scene=stem,
                                          inserted_mesh=f"desoba object {object_id}"))
    if not records:
        if result.skipped:
            raise _none_imported(source, result.skipped)
        raise DatasetError(source, "no object has both an instance mask and a shadow")
    result.counts = _finish(target, records, what)
    return result
