"""The output folder of a run, before any sample is rendered: what a run refuses to write
into (`check_output`), and what --overwrite removes first (`clear_for_overwrite`), both done
by `prepare_output`. The folder layout is `dataset_tools.layout`'s, the shard files
`dataset_tools.gather`'s, the claims `render.claims`'s; this module only applies them.

The rules:
- OUT is never, never holds and never lies inside --scenes or --models: a run would render
  its own outputs as inputs.
- OUT, and each file or folder of the layout in it that exists, is what the layout expects:
  OUT, SPLIT/, SPLIT/KIND/, passes/, manifests/ and .claims/ folders, dataset.json and
  manifest.jsonl plain files (not a folder, device, FIFO, socket or link).
- Without --overwrite, a folder that holds samples is rendered into only when its
  dataset.json records these settings (`RenderConfig.identity`): a merged, imported or
  hand-made folder, or a render of other settings, is refused.
- With --overwrite, OUT must be missing, empty or a dataset (it holds dataset.json,
  manifest.jsonl or a sample); every file of the layout in it is removed first, so the run
  ends as if rendered fresh, while files the layout does not own stay. A folder another run
  renders into right now (a live claim in OUT/.claims) is refused.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dataset_tools.layout import (
    DATASET_JSON,
    MANIFEST,
    DatasetError,
    is_disk_full,
    iter_samples,
    outside_link,
    refuse_overlap,
    refuse_special_file,
)
from dataset_tools.outputs import (
    CLAIMS_DIR,
    LOCK_SUFFIX,
    clear_dataset,
    layout_folders,
    owned_name,
)
from dataset_tools.records import DatasetInfo
from render.catalog import RunError
from render.claims import Claims, locked
from render.config import RenderConfig

AFRESH = "--overwrite starts afresh (it deletes the folder's samples), or use another --out"


def prepare_output(config: RenderConfig, clear: bool = True) -> None:
    """Check OUT (`check_output`), create it, make sure this process can write there and
    that no link leads out of it, and with --overwrite and `clear` empty it
    (`clear_for_overwrite`; a run clears only once its inputs are read, so that a bad
    --scenes or a Ctrl-C during the scan leaves the old dataset as it was). Raises RunError,
    one line naming the path."""
    check_output(config)
    try:
        config.out.mkdir(parents=True, exist_ok=True)
        # A probe of this process's own: concurrent runs on the folder must not race on it.
        handle, probe = tempfile.mkstemp(prefix=".write-test-", dir=config.out)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise RunError(f"{config.out}: cannot write the output folder ({error.strerror})") from None
    refuse_links_out(config.out)
    if config.overwrite and clear:
        clear_for_overwrite(config.out)


def refuse_links_out(out: Path) -> None:
    """RunError naming the first symbolic link in `out` that leads out of it: samples are
    moved and deleted in here, never through a link."""
    link = outside_link(out)
    if link is not None:
        raise RunError(f"{link}: a symbolic link to {os.path.realpath(link)}, outside "
                       f"{out}; render-dataset does not write through it: replace the "
                       "link by the files, or use another --out")


def check_output(config: RenderConfig) -> None:
    """RunError, one line naming the path, when the run must not write into config.out (the
    module docstring's rules), or when it cannot be looked at (a name too long, say); creates
    and changes nothing."""
    try:
        _check_output(config)
    except OSError as error:
        raise RunError(f"{error.filename or config.out}: cannot write the output folder "
                       f"({error.strerror or error})") from None


def _check_output(config: RenderConfig) -> None:
    out = config.out
    refuse_overlap(out, [config.scenes, config.models])  # UsageError: the command line's
    if not _is_folder_or_missing(out):
        raise RunError(f"{out}: cannot write the output folder: it exists and is not a folder")
    if not out.exists():
        return
    for folder in layout_folders(out):
        if not _is_folder_or_missing(folder):
            raise RunError(f"{folder}: cannot write here: a file, not a folder")
    for name in (DATASET_JSON, MANIFEST):
        try:
            refuse_special_file(out / name)
        except DatasetError as error:
            raise RunError(str(error)) from None
    if config.overwrite:
        if not is_dataset(out) and any(not owned_name(name) for name in os.listdir(out)):
            raise RunError(f"{out}: not a dataset (no {DATASET_JSON}, {MANIFEST} or sample) "
                           "and not empty; --overwrite empties only a dataset folder: give "
                           "--out an empty or new folder")
        return
    _refuse_other_origin(config)


def _refuse_other_origin(config: RenderConfig) -> None:
    """RunError unless the folder's samples, if any, were rendered with config's settings."""
    out, settings_path = config.out, config.out / DATASET_JSON
    if not settings_path.exists():
        if (out / MANIFEST).exists() or next(iter_samples(out), None) is not None:
            raise RunError(f"{out}: holds samples but no {DATASET_JSON}, so they were not "
                           f"rendered with these settings; {AFRESH}")
        return
    info = DatasetInfo.read(out)
    if info is None:
        raise RunError(f"{settings_path}: not a readable JSON object, so the folder's samples "
                       f"cannot be matched to these settings; {AFRESH}")
    if not info.settings:
        made_by = info.source or info.generator or "another tool"
        raise RunError(f"{out}: made by {made_by} ({DATASET_JSON} records no render "
                       f"settings), not rendered with these settings; {AFRESH}")
    identity = config.identity()
    if info.settings != identity:
        changed = sorted(key for key in set(info.settings) | set(identity)
                         if info.settings.get(key) != identity.get(key))
        raise RunError(f"{settings_path}: this folder was rendered with other settings "
                       f"({', '.join(changed)}); use --overwrite or another --out")


def is_dataset(out: Path) -> bool:
    """Whether `out` holds dataset.json, manifest.jsonl or a sample."""
    return (out / DATASET_JSON).exists() or (out / MANIFEST).exists() \
        or next(iter_samples(out), None) is not None


def clear_for_overwrite(out: Path) -> int:
    """Remove every file of the dataset layout from `out` (`dataset_tools.outputs.
    clear_dataset`: samples, passes, shard manifests, claims, manifest.jsonl, dataset.json,
    the *.partial files of killed writes, then the layout's folders left empty), under the
    manifest lock. Nothing else (a user's notes, an image of another name), never through a
    link. Raises RunError when a link leads out of `out` or another live run holds a claim
    there. Returns how many files it removed."""
    refuse_links_out(out)
    claims = Claims(out / CLAIMS_DIR)
    with locked(out / MANIFEST):
        folder = claims.folder
        names = sorted(os.listdir(folder)) if folder.is_dir() and not folder.is_symlink() else []
        busy = [name for name in names
                if not name.endswith(LOCK_SUFFIX) and claims.held_elsewhere(name)]
        if busy:
            raise RunError(f"{folder / busy[0]}: another run is rendering into {out} now; "
                           "--overwrite would delete its samples: let it end or stop it")
        try:
            return clear_dataset(out)
        except DatasetError as error:
            raise RunError(str(error)) from None
        except OSError as error:
            if is_disk_full(error):
                raise
            raise RunError(f"{error.filename or out}: cannot remove it for --overwrite "
                           f"({error.strerror or error})") from None


def _is_folder_or_missing(path: Path) -> bool:
    """Whether `path` is a folder (a link to one too) or does not exist."""
    return path.is_dir() or not (path.exists() or path.is_symlink())
