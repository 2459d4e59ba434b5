"""An image file's size read from its header alone, before anything is decoded: a 20000x20000
PNG is a few hundred KB on disk but 1.2 GB of pixels (and several times that while OpenCV
decodes it), so a verb that reads photos of any size (`shadow-model predict`) refuses it
from the first bytes. PNG (IHDR), JPEG (SOF markers), BMP, WebP (VP8, VP8L, VP8X) and TIFF
(first IFD), the formats `dataset_tools.layout.decode_image` is given by predict."""

from __future__ import annotations

import struct
from pathlib import Path

HEADER_BYTES = 64 * 1024  # what is read first
# a phone's JPEG may carry EXIF, XMP and ICC segments (64 KB each at most) before its SOF
LONG_HEADER_BYTES = 1024 * 1024
# JPEG start-of-frame markers: baseline, extended, progressive, lossless and their variants
# (not DHT C4, JPG C8 or DAC CC, which share the range)
JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _png(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR" or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _jpeg(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"\xff\xd8":
        return None
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2:position + 4])
        if marker in JPEG_SOF:
            if position + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            return width, height
        position += 2 + length
    return None


def _bmp(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"BM" or len(data) < 26:
        return None
    (header_size,) = struct.unpack("<I", data[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)  # a negative height is a top-down bitmap


def _webp(data: bytes) -> tuple[int, int] | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _tiff(data: bytes) -> tuple[int, int] | None:
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or struct.unpack(order + "H", data[2:4])[0] != 42:
        return None
    (offset,) = struct.unpack(order + "I", data[4:8])
    if offset + 2 > len(data):
        return None
    (count,) = struct.unpack(order + "H", data[offset:offset + 2])
    size: dict[int, int] = {}
    for index in range(count):
        entry = data[offset + 2 + 12 * index:offset + 14 + 12 * index]
        if len(entry) < 12:
            return None
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT (3) or LONG (4)
            size[tag] = struct.unpack(order + ("H" if kind == 3 else "I"),
                                      entry[8:10] if kind == 3 else entry[8:12])[0]
    if 256 not in size or 257 not in size:
        return None
    return size[256], size[257]


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the header of the image file at `path`, reading its first 64 KB
    (1 MB when a header runs longer); None when the format is none of the above or the header
    is cut short (the caller decides what to do then). OSError when the file cannot be read."""
    with open(path, "rb") as stream:
        data = stream.read(HEADER_BYTES)
        size = header_size(data)
        if size is None and len(data) == HEADER_BYTES:
            size = header_size(data + stream.read(LONG_HEADER_BYTES - HEADER_BYTES))
    return size


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first bytes of an image file; None as in image_size."""
    for reader in (_png, _jpeg, _bmp, _webp, _tiff):
        try:
            size = reader(data)
        except struct.error:  # a header cut short
            size = None
        if size is not None:
            return size
    return None
