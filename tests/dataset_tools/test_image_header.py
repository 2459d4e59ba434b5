"""dataset_tools.image_header: an image's size from its first bytes, checked on files written
by OpenCV and on hand-made headers of images far too large to decode."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from dataset_tools.image_header import image_size


def huge_png(path: Path, width: int, height: int) -> Path:
    """A valid gray PNG of width x height zeros, built with zlib row by row (a 20000x20000
    one is about 20 KB on disk and 400 MB of pixels)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte 0, then the row
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body)
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".webp", ".tif"])
def test_the_size_of_files_opencv_writes(tmp_path, suffix):
    path = tmp_path / f"photo{suffix}"
    assert cv2.imwrite(str(path), np.zeros((37, 53, 3), np.uint8))
    assert image_size(path) == (53, 37)


def test_a_huge_png_is_measured_without_decoding(tmp_path):
    path = huge_png(tmp_path / "huge.png", 20000, 20000)
    assert path.stat().st_size < 1_000_000
    assert image_size(path) == (20000, 20000)


def test_a_jpeg_whose_frame_header_follows_long_metadata(tmp_path):
    # SOI, two 60 KB APP1 segments (EXIF/XMP-like), a baseline SOF0 of 30000x20000
    app1 = b"\xff\xe1" + struct.pack(">H", 60_002) + b"\0" * 60_000
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 20000, 30000, 1) + b"\x01\x11\x00"
    path = tmp_path / "long.jpg"
    path.write_bytes(b"\xff\xd8" + app1 + app1 + sof0 + b"\xff\xd9")
    assert image_size(path) == (30000, 20000)


def test_other_or_cut_short_files_give_none(tmp_path):
    cases = {"text.png": b"not an image", "cut.png": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0",
             "cut.jpg": b"\xff\xd8\xff\xe1\x00", "empty.bmp": b""}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        assert image_size(tmp_path / name) is None, name
