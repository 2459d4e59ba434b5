"""Where outputs may be written: never over a device, FIFO, socket, link or folder, and
never over or around an input (`dataset_tools.layout`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dataset_tools.errors import UsageError
from dataset_tools.layout import (
    DatasetError,
    atomic_write,
    check_writable,
    overlap,
    refuse_overlap,
)


def test_an_output_file_that_is_not_a_plain_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    target = tmp_path / "real.json"
    target.write_text("kept")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    folder = tmp_path / "folder"
    folder.mkdir()
    for path, what in ((fifo, "FIFO"), (link, "symbolic link"), (folder, "a folder"),
                       (Path("/dev/null"), "device")):
        with pytest.raises(DatasetError, match=what) as error:
            check_writable(path, folder=False)
        assert str(path) in str(error.value)
        with pytest.raises(DatasetError, match=what):
            atomic_write(path, lambda tmp: Path(tmp).write_text("new"))
    assert target.read_text() == "kept" and link.is_symlink() and fifo.exists()
    assert Path("/dev/null").is_char_device()
    check_writable(target, folder=False)  # a plain file may be replaced (when asked)
    atomic_write(target, lambda tmp: Path(tmp).write_text("new"))
    assert target.read_text() == "new"


def test_overlap_between_an_output_folder_and_its_inputs(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "masks").mkdir(parents=True)
    assert overlap(photos, photos) == "is"
    assert overlap(tmp_path, photos / "masks") == "holds"
    assert overlap(photos / "out", photos) == "lies inside"
    assert overlap(tmp_path / "elsewhere", photos) is None
    alias = tmp_path / "alias"
    alias.symlink_to(photos)
    assert overlap(alias, photos) == "is"  # links resolved
    with pytest.raises(UsageError, match="is the input"):
        refuse_overlap(photos, [None, photos])
    with pytest.raises(UsageError, match="holds the input"):
        refuse_overlap(photos, [photos / "masks"])
    with pytest.raises(UsageError, match="lies inside the input"):
        refuse_overlap(photos / "out", [photos])
    refuse_overlap(photos / "out", [photos], inside_ok=True)
    refuse_overlap(tmp_path / "elsewhere", [photos, None])
