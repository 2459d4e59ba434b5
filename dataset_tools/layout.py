"""The dataset contract's folder layout, and atomic file writing.

A dataset is SPLIT/KIND/ID.png for the splits train, val and test and the kinds below, plus
manifest.jsonl and dataset.json (their records: `dataset_tools.records`) and, for rendered
datasets, passes/ID.npz. A sample exists when its noshadow image does (`iter_ids`,
`iter_samples`); everything here is the one place these facts are written down
(docs/architecture.md tells the whole contract)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

RGB_KINDS = ("noshadow", "shadow")
# smask: the inserted object's visible cast shadow (what a person would outline); sregion: every
# pixel where shadow differs from noshadow (smask plus the faint ambient-occlusion halo around
# it). Both are optional: a hand-made Shadow-AR folder has neither.
MASK_KINDS = ("mask", "robject", "rshadow", "smask", "sregion")
OPTIONAL_KINDS = ("smask", "sregion")
KINDS = RGB_KINDS + MASK_KINDS
REQUIRED_KINDS = tuple(kind for kind in KINDS if kind not in OPTIONAL_KINDS)
# The masks a model reads (sregion only serves the pair's check, `validate`).
MODEL_MASK_KINDS = ("mask", "robject", "rshadow", "smask")
# Object pass index of the inserted mesh in the render passes (passes/ID.npz object_index);
# occluders get the indices above it, the ground 0.
INSERTED_INDEX = 1
SPLITS = ("train", "val", "test")
PASSES_DIR = "passes"  # render passes the masks derive from: passes/ID.npz
MANIFEST = "manifest.jsonl"
DATASET_JSON = "dataset.json"
FORMAT_VERSION = 1
TMP_SUFFIX = ".partial"
_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


class DatasetError(RuntimeError):
    """A problem with one file of a dataset; the message names the file."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


# What a file system says when it is full (no space, or the user's quota spent).
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(DatasetError):
    """A write that failed because the file system is full; the message names the file."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(path, "no space left on device")
        self.args = (f"no space left on device writing {path}",)


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, DiskFullError) or (
        isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS)


def sample_path(root: Path, split: str, kind: str, sample_id: str) -> Path:
    return root / split / kind / f"{sample_id}.png"


def passes_path(root: Path, sample_id: str) -> Path:
    return root / PASSES_DIR / f"{sample_id}.npz"


def write_staged(path: Path, write: Any) -> Path:
    """Call write(tmp) on a temporary file next to path and return it, finished (mode 0644
    under the usual umask) but not yet renamed: the caller renames it over path with
    os.replace, which needs no space, once its other steps have worked, or removes it. A full
    file system raises DiskFullError naming `path` (the temporary file is removed)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX,
                                       dir=path.parent)
    except OSError as error:
        if is_disk_full(error):
            raise DiskFullError(path) from None
        raise
    os.close(handle)
    try:
        write(tmp)
        # mkstemp makes 0600, and a writer that replaces the file (safetensors) may too:
        # finished files get the usual mode
        os.chmod(tmp, FILE_MODE)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if is_disk_full(error):
            raise DiskFullError(path) from None
        raise
    return Path(tmp)


def atomic_write(path: Path, write: Any) -> None:
    """Call write(tmp) on a temporary file next to path, then rename it over path: readers
    see the old file or the whole new one, never a part (a killed run leaves *.partial). A
    full file system raises DiskFullError naming `path` (the temporary file is removed)."""
    tmp = write_staged(path, write)
    try:
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if is_disk_full(error):
            raise DiskFullError(path) from None
        raise


def check_writable(path: Path, folder: bool = True) -> None:
    """Raise DatasetError naming `path` unless an output can be written there: a folder
    (folder=True) or a file written atomically; what does not exist yet must be creatable.
    Creates nothing: one probe file in the nearest existing folder, removed at once."""
    path = Path(path)
    if path.is_dir() != folder and path.exists():
        raise DatasetError(path, f"cannot write here: a {'file' if folder else 'folder'}, "
                                 f"not a {'folder' if folder else 'file'}")
    existing = path.absolute() if folder else path.absolute().parent
    while not existing.exists() and not existing.is_symlink():
        existing = existing.parent
    if not existing.is_dir():
        raise DatasetError(path, f"cannot write here: {existing} is a file, not a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".write-test.", suffix=TMP_SUFFIX, dir=existing)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise DatasetError(path, f"cannot write in {existing} ({error.strerror or error})") \
            from None


def write_png(path: Path, image: np.ndarray) -> None:
    """Write (H, W, 3) RGB or (H, W) L uint8 atomically."""
    if image.dtype != np.uint8:
        raise ValueError(f"{path}: expected uint8 pixels, got {image.dtype}")
    data = image[..., ::-1] if image.ndim == 3 else image
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(data), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise DatasetError(path, "PNG encoding failed")

    def write(tmp: str) -> None:
        with open(tmp, "wb") as stream:
            stream.write(encoded.tobytes())

    atomic_write(path, write)


def read_image(path: Path, mode: str) -> np.ndarray:
    """Read `mode` "RGB" -> (H, W, 3) uint8 or "L" -> (H, W) uint8; DatasetError if unreadable."""
    flag = cv2.IMREAD_COLOR if mode == "RGB" else cv2.IMREAD_GRAYSCALE
    data = np.fromfile(path, dtype=np.uint8) if path.is_file() else None
    image = cv2.imdecode(data, flag) if data is not None and data.size else None
    if image is None:
        reason = "missing" if data is None else "not a readable image"
        raise DatasetError(path, reason)
    return image[..., ::-1].copy() if mode == "RGB" else image


def copy_file(source: Path, destination: Path) -> None:
    """Copy a file atomically (temp file + rename), creating folders."""
    atomic_write(destination, lambda tmp: shutil.copyfile(source, tmp))


def size_mismatch(shape: tuple[int, ...], reference: tuple[int, ...], name: str) -> str | None:
    """The one-line reason an image of `shape` does not match `reference` (named `name`),
    or None when their heights and widths agree."""
    if shape[:2] == reference[:2]:
        return None
    return (f"size {shape[1]}x{shape[0]} differs from {name} "
            f"{reference[1]}x{reference[0]}")


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as stream:
            np.savez_compressed(stream, **arrays)

    atomic_write(path, write)


def json_text(data: Any) -> str:
    """The text of a JSON file as every writer here writes it (indented, keys sorted)."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def write_json(path: Path, data: Any) -> None:
    write_text(path, json_text(data))


def read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in the file at `path`, or None when the file is missing, unreadable,
    not JSON or not an object (a status file another run may be rewriting, for one)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_lines(path: Path, records: Iterable[dict]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as stream:
            for record in records:
                stream.write(json.dumps(record, sort_keys=True) + "\n")

    atomic_write(path, write)


def outside_link(root: Path) -> Path | None:
    """The first symbolic link inside the folder `root` (itself may be one) whose target lies
    outside it, or None: a verb that moves, rewrites or deletes files in a dataset refuses such
    a dataset rather than write through the link into another folder."""
    top = Path(os.path.realpath(root))
    pending = [Path(root)]
    while pending:
        folder = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            path = Path(entry.path)
            if entry.is_symlink():
                target = Path(os.path.realpath(path))
                if target != top and top not in target.parents:
                    return path
            elif entry.is_dir(follow_symlinks=False):
                pending.append(path)
    return None


def refuse_outside_links(root: Path) -> None:
    """DatasetError naming the first link of `root` that leads out of it (see outside_link)."""
    link = outside_link(root)
    if link is not None:
        raise DatasetError(link, f"a symbolic link to {os.path.realpath(link)}, outside "
                                 f"{root}: shadow-dataset does not move, rewrite or delete "
                                 "files through it; replace the link by the files")


def remove_partials(root: Path) -> int:
    """Delete temporary files a killed run left behind; returns how many."""
    count = 0
    for path in root.rglob(f"*{TMP_SUFFIX}"):
        path.unlink(missing_ok=True)
        count += 1
    return count


def iter_ids(root: Path, split: str) -> Iterator[str]:
    """The ids of one split's samples, sorted (a sample is its noshadow image)."""
    folder = root / split / "noshadow"
    if folder.is_dir():
        yield from sorted(path.stem for path in folder.glob("*.png")
                          if not path.name.startswith("."))


def iter_samples(root: Path) -> Iterator[tuple[str, str]]:
    """(split, id) of every sample, split by split in SPLITS order, ids sorted."""
    for split in SPLITS:
        for sample_id in iter_ids(root, split):
            yield split, sample_id


def count_samples(root: Path, split: str | None = None) -> int:
    """How many samples the dataset (or one split of it) holds."""
    splits = SPLITS if split is None else (split,)
    return sum(1 for name in splits for _ in iter_ids(root, name))
