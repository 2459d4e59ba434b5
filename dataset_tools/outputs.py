"""Output folders of the verbs that write a whole dataset (import, merge, pack, unpack, and
render-dataset): what in such a folder the layout owns, and clearing it for --overwrite, so
the folder ends as if written fresh and files the layout does not own stay."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dataset_tools.gather import SHARD_FILE, SHARDS_DIR, SUBMISSION
from dataset_tools.layout import (
    DATASET_JSON,
    KINDS,
    MANIFEST,
    PASSES_DIR,
    SPLITS,
    TMP_SUFFIX,
    DatasetError,
    refuse_outside_links,
)
from dataset_tools.pack_format import INDEX

# OUT/.claims/ID: the render run rendering sample ID now (`render.claims`, which imports it).
CLAIMS_DIR = ".claims"
# Lock files (`render.claims.locked`: .manifest.jsonl.lock, .claims/manifest.jsonl.lock) are
# never removed: a run clearing the folder holds them, and an empty lock file is harmless.
LOCK_SUFFIX = ".lock"
# Folders of the root, and which of their files the layout owns: shard manifests, statuses
# and the submission (`gather`); claims (lock files excepted). Nothing else in them, and no
# folder inside them, is ever removed.
OWNED_IN_FOLDERS = {
    SHARDS_DIR: lambda name: name == SUBMISSION or SHARD_FILE.fullmatch(name) is not None,
    CLAIMS_DIR: lambda name: not name.endswith(LOCK_SUFFIX),
}
# Files of the root that the layout owns: the records, a pack's index and shards.
OWNED_FILES = (MANIFEST, DATASET_JSON, INDEX)
SHARD_GLOB = "shard-*.tar"


def _owned_in(folder: Path, suffix: str) -> list[Path]:
    """The entries of `folder` (not followed if it is a link) that end with `suffix` or
    TMP_SUFFIX: sample files, passes and what a killed write left."""
    if folder.is_symlink() or not folder.is_dir():
        return []
    return [Path(entry.path) for entry in os.scandir(folder)
            if entry.name.endswith((suffix, TMP_SUFFIX))
            and not entry.is_dir(follow_symlinks=False)]


def owned_paths(root: Path) -> list[Path]:
    """Every file of the dataset (or shard) folder `root` that the layout owns:
    SPLIT/KIND/*.png, passes/*.npz, manifest.jsonl, dataset.json, the shard files of
    manifests/ and the claims of .claims/ (`OWNED_IN_FOLDERS`), shard-*.tar, index.json and
    *.partial files among them. Links are listed, never followed; no folder is listed but a
    link that stands where one of the layout's folders should be."""
    paths = [root / name for name in OWNED_FILES if os.path.lexists(root / name)]
    for name, owned in OWNED_IN_FOLDERS.items():
        folder = root / name
        if folder.is_symlink() or not folder.is_dir():
            paths += [folder] if folder.is_symlink() else []
            continue
        paths += [folder / entry.name for entry in sorted(os.scandir(folder),
                                                          key=lambda entry: entry.name)
                  if owned(entry.name) and not entry.is_dir(follow_symlinks=False)]
    paths += sorted(root.glob(SHARD_GLOB)) + _owned_in(root, TMP_SUFFIX)
    paths += _owned_in(root / PASSES_DIR, ".npz")
    for split in SPLITS:
        for kind in KINDS:
            paths += _owned_in(root / split / kind, ".png")
    return paths


def layout_folders(out: Path) -> list[Path]:
    """The folders of the layout that a run writes into."""
    return [out / PASSES_DIR, out / SHARDS_DIR, out / CLAIMS_DIR,
            *(out / split for split in SPLITS),
            *(out / split / kind for split in SPLITS for kind in KINDS)]


def owned_name(name: str) -> bool:
    """Whether a top-level entry of a render run's OUT is one the layout owns (a folder or
    file the run writes, a lock, a killed write's temporary file)."""
    layout = {*SPLITS, PASSES_DIR, SHARDS_DIR, CLAIMS_DIR, DATASET_JSON, MANIFEST}
    return name in layout or (name.startswith(".") and name.endswith((TMP_SUFFIX, LOCK_SUFFIX)))


def looks_like_output(root: Path) -> bool:
    """Whether `root` was written by shadowsynth (it has dataset.json, shard manifests or a
    *.partial file), not made by hand (a hand-made folder may have passes/ and no manifest):
    such a folder with samples needs its manifest.jsonl (`validate`)."""
    if any((root / name).exists() for name in (DATASET_JSON, SHARDS_DIR)):
        return True
    return any(path.name.endswith(TMP_SUFFIX) for path in owned_paths(root))


def clear_dataset(root: Path) -> int:
    """Remove what the layout owns in the folder `root` (`owned_paths`), then the split,
    kind, passes and shard-manifest folders left empty; returns how many entries went. Files
    the layout does not own stay. A link is removed as a link, never followed, and a folder
    holding a link out of it is refused first (DatasetError naming the link), before anything
    is removed."""
    if not root.is_dir():
        return 0
    refuse_outside_links(root)
    removed = 0
    for path in owned_paths(root):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            continue  # a folder under a file's name (a user's dataset.json/): never removed
        path.unlink()
        removed += 1
    folders = [root / split / kind for split in SPLITS for kind in KINDS]
    for folder in [*folders, *(root / split for split in SPLITS), root / PASSES_DIR,
                   root / SHARDS_DIR]:
        if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
            folder.rmdir()
    return removed


def prepare_output(target: Path, overwrite: bool, clear: bool = True) -> None:
    """Make `target` ready for a verb that writes a whole dataset (or shard set) into it:
    a missing or empty folder as it is; a non-empty one needs `overwrite` (else a DatasetError
    naming it) and is then cleared (`clear_dataset`; with clear=False only checked for links
    out of it, for a caller that clears it later itself), so nothing of its old content stays."""
    if target.exists() and not target.is_dir():
        raise DatasetError(target, "cannot write here: a file, not a folder")
    if target.exists() and any(target.iterdir()):
        if not overwrite:
            raise DatasetError(target, "exists and is not empty; use --overwrite to write "
                                       "into it")
        if clear:
            clear_dataset(target)
        else:
            refuse_outside_links(target)
