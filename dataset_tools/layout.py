"""The dataset contract's folder layout, and atomic file writing.

A dataset is SPLIT/KIND/ID.png for the splits train, val and test and the kinds below, plus
manifest.jsonl and dataset.json (their records: `dataset_tools.records`) and, for rendered
datasets, passes/ID.npz. A sample exists when its noshadow image does (`iter_ids`,
`iter_samples`); everything here is the one place these facts are written down
(docs/architecture.md tells the whole contract)."""

from __future__ import annotations

import errno
import functools
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dataset_tools.errors import ShadowsynthError, UsageError

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
Tick = Callable[[], None] | None  # a progress callback of the long verbs, once per sample


class DatasetError(ShadowsynthError, RuntimeError):
    """A problem with one file of a dataset; the message names the file."""

    def __init__(self, path: Path | str = "", reason: str = "", *,
                 message: str | None = None) -> None:
        if message is not None:  # re-raised by torch's DataLoader (dataset_tools.errors)
            super().__init__(message=message)
        else:
            super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


# What a file system says when it is full (no space, or the user's quota spent).
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(DatasetError):
    """A write that failed because the file system is full; the message names the file."""

    def __init__(self, path: Path | str = "", *, message: str | None = None) -> None:
        super().__init__(path, "no space left on device", message=message)
        if message is None:
            self.args = (f"no space left on device writing {path}",)


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, DiskFullError) or (
        isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS)


def sample_id(index: int) -> str:
    """The id of a rendered dataset's sample `index`: six digits."""
    return f"{index:06d}"


# What a sample id (and a part of one, a merge prefix) may be: letters, digits, "_", "-" and
# "." not first (a file starting with "." is hidden, and not a sample) and not "..".
_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def id_problem(text: str) -> str | None:
    """Why `text` cannot be a sample id written into a dataset (its files are ID.png in the
    kind folders), or None when it can: empty, a path separator, "..", a leading "." or "-"
    would write elsewhere, hide the sample or read as an option."""
    if not text:
        return "is empty"
    if not _ID.fullmatch(text) or ".." in text:
        return ("may hold only letters, digits, '_', '-' and '.', not start with '.' or '-' "
                "and not hold '..'")
    return None


def sample_path(root: Path, split: str, kind: str, sample_id: str) -> Path:
    return root / split / kind / f"{sample_id}.png"


def passes_path(root: Path, sample_id: str) -> Path:
    return root / PASSES_DIR / f"{sample_id}.npz"


@functools.cache
def file_mode() -> int:
    """The mode a plain new file gets under the process umask (0o644 under umask 022), read
    at the first write (not on import) and kept. Linux tells the umask in /proc; elsewhere
    it is set and restored at once, as no call reads it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


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
        os.chmod(tmp, file_mode())
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
    refuse_special_file(path)
    tmp = write_staged(path, write)
    try:
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if is_disk_full(error):
            raise DiskFullError(path) from None
        raise


def refuse_special_file(path: Path) -> None:
    """DatasetError naming `path` when it exists and is not a plain file: a folder, a device,
    a FIFO, a socket or a symbolic link. An atomic write renames a new file over its target,
    so writing there would replace the device (or the link) itself, not write into it."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        raise DatasetError(path, f"cannot write here ({error.strerror or error})") from None
    if stat.S_ISREG(mode):
        return
    what = ("a symbolic link (an output file is never written through a link)"
            if stat.S_ISLNK(mode) else "a folder" if stat.S_ISDIR(mode)
            else "a device, FIFO or socket")
    raise DatasetError(path, f"cannot write here: {what}, not a plain file")


def overlap(output: Path, source: Path) -> str | None:
    """How an output folder and an input path overlap, links resolved: "is" (the same),
    "holds" (the input lies inside the output), "lies inside" (the output lies inside the
    input), or None."""
    out, src = Path(output).resolve(), Path(source).resolve()
    if out == src:
        return "is"
    if out in src.parents:
        return "holds"
    if src in out.parents:
        return "lies inside"
    return None


def refuse_overlap(output: Path, inputs: Iterable[Path | None], inside_ok: bool = False) -> None:
    """UsageError (the command line's: exit code 2) naming `output` when it is, or holds, one
    of `inputs` (None = not given), or lies inside one unless `inside_ok`: an output never
    replaces or mixes with an input, even with --overwrite."""
    for source in inputs:
        if source is None:
            continue
        how = overlap(output, source)
        if how is None or (how == "lies inside" and inside_ok):
            continue
        raise UsageError(f"{output}: the output folder {how} the input {source}; choose an "
                         "output folder apart from the inputs")


def check_writable(path: Path, folder: bool = True) -> None:
    """Raise DatasetError naming `path` unless an output can be written there: a folder
    (folder=True) or a file written atomically, which must be a plain file if it exists (not
    a device, FIFO, socket, link or folder: `refuse_special_file`); what does not exist yet
    must be creatable. Creates nothing: one probe file in the nearest existing folder,
    removed at once."""
    path = Path(path)
    if not folder:
        refuse_special_file(path)
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


def swap_red_blue(image: np.ndarray) -> np.ndarray:
    """RGB(A) <-> OpenCV's BGR(A); a single-channel image as it is."""
    return image[..., [2, 1, 0, *range(3, image.shape[2])]] if image.ndim == 3 else image


def encode_image(suffix: str, image: np.ndarray, params: tuple[int, ...] = ()) -> bytes:
    """(H, W, 3|4) RGB(A) or (H, W) L, uint8 or uint16 -> the bytes of an image file in the
    format `suffix` names (".png", ".jpg", ".webp"), with OpenCV's `params`; ValueError when
    OpenCV cannot encode it."""
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(swap_red_blue(image)), list(params))
    if not ok:
        raise ValueError(f"cannot encode a {image.dtype} image of shape {image.shape} as {suffix}")
    return encoded.tobytes()


_DECODE_FLAGS = {"RGB": cv2.IMREAD_COLOR, "L": cv2.IMREAD_GRAYSCALE, "stored": cv2.IMREAD_UNCHANGED}


def decode_image(data: bytes | np.ndarray, mode: str) -> np.ndarray:
    """The bytes of an image file -> mode "RGB": (H, W, 3) uint8; "L": (H, W) uint8;
    "stored": as the file holds it (bit depth, 1-4 channels, RGB(A) order). ValueError when
    the bytes are not a readable image. The one image decoder of dataset_tools and model."""
    buffer = np.frombuffer(data, np.uint8) if isinstance(data, bytes) else data
    image = cv2.imdecode(buffer, _DECODE_FLAGS[mode]) if buffer.size else None
    if image is None:
        raise ValueError("not a readable image")
    return swap_red_blue(image)


def write_image(path: Path, image: np.ndarray, params: tuple[int, ...] = (),
                suffix: str | None = None) -> None:
    """Write an image atomically in the format `suffix` names, by default the path's own
    (see encode_image); DatasetError naming the file when it cannot be encoded."""
    try:
        encoded = encode_image(suffix or path.suffix.lower() or ".png", image, params)
    except ValueError as error:
        raise DatasetError(path, str(error)) from None
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(encoded))


def write_png(path: Path, image: np.ndarray) -> None:
    """Write (H, W, 3) RGB or (H, W) L uint8 atomically."""
    if image.dtype != np.uint8:
        raise ValueError(f"{path}: expected uint8 pixels, got {image.dtype}")
    write_image(path, image, (cv2.IMWRITE_PNG_COMPRESSION, 3), suffix=".png")


def read_image(path: Path, mode: str) -> np.ndarray:
    """Read `mode` "RGB" -> (H, W, 3) uint8, "L" -> (H, W) uint8 or "stored" (decode_image);
    DatasetError naming the file when it is missing or unreadable."""
    if not path.is_file():
        raise DatasetError(path, "missing")
    try:
        return decode_image(np.fromfile(path, dtype=np.uint8), mode)
    except ValueError as error:
        raise DatasetError(path, str(error)) from None


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
    not JSON (or nested too deep to parse) or not an object (a status file another run may be
    rewriting, for one)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


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


def refuse_nonempty(target: Path, overwrite: bool) -> None:
    """DatasetError unless `target` is missing or empty or `overwrite` is set, and (even
    then) when it holds a link out of it, which a write would go through."""
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise DatasetError(target, "exists and is not empty; use --overwrite to write into it")
    if target.is_dir():
        refuse_outside_links(target)


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
