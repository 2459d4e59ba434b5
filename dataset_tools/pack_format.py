"""The WebDataset member format of `shadow-dataset pack`, and its index.json.

One sample = one key `SPLIT/ID` ("." and "%" in an id escaped as %2E and %25: WebDataset
splits a member name at the first dot after the last slash) and four members:

  KEY.noshadow.webp|jpg|png  noshadow, lossy WebP or JPEG, or lossless PNG
  KEY.shadow_diff.webp       shadow - noshadow (int16, from the ORIGINAL noshadow) cropped to
                             the box of its nonzero pixels, minus its minimum, as lossless WebP
                             RGB; when it spans more than 255 levels an alpha channel
                             255 - (hi_r + 2 hi_g + 4 hi_b) holds bit 8 of each channel
  KEY.masks.webp             every mask kind of the sample as a bit plane of one lossless gray
                             WebP (bit k = the k-th kind in _pack.masks)
  KEY.json.gz                the manifest record, or {"id", "split"} when the dataset has no
                             line for it, plus "_pack": diff box and offset, mask kinds, crc32

Bit planes in one member spare a tar header and its padding per mask kind. Decoding
(`decode_sample`, which also takes a webdataset sample dict) gives
shadow' = clip(noshadow' + diff, 0, 255): equal to noshadow' wherever the originals were equal,
differing by exactly the original difference elsewhere, except where the clip bites (counted).
"""

from __future__ import annotations

import gzip
import json
import tarfile
import zlib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dataset_tools.layout import MASK_KINDS, SPLITS, DatasetError, decode_image, encode_image

CODECS = {"webp": "webp", "jpeg": "jpg", "png": "png"}  # --codec -> noshadow member extension
SHARD_NAME = "shard-{:06d}.tar"
INDEX = "index.json"
INDEX_FORMAT = "shadowsynth-webdataset"
PACK_KEY = "_pack"
PACK_VERSION = 1
RECORD_MEMBER = "json.gz"  # the sample's manifest record and its _pack metadata
MEMBERS = ("shadow_diff.webp", "masks.webp", RECORD_MEMBER)  # besides noshadow.EXT
END_OF_ARCHIVE = bytes(2 * tarfile.BLOCKSIZE)
_LOSSLESS_WEBP = (cv2.IMWRITE_WEBP_QUALITY, 101)  # OpenCV: quality above 100 = lossless


@dataclass(frozen=True)
class DecodedSample:
    split: str
    sample_id: str
    images: dict[str, np.ndarray]  # kind -> (H, W, 3) RGB or (H, W) L uint8
    record: dict[str, Any] | None  # the manifest line; None when the dataset had none
    clipped: int  # pixels where noshadow' + diff left 0-255


def sample_key(split: str, sample_id: str) -> str:
    return f"{split}/" + sample_id.replace("%", "%25").replace(".", "%2E")


def parse_key(key: str) -> tuple[str, str]:
    """SPLIT/ID (escaped) -> (split, id); ValueError for anything else."""
    split, _, escaped = key.partition("/")
    if split not in SPLITS or not escaped:
        raise ValueError(f"sample key {key!r} is not SPLIT/ID")
    return split, escaped.replace("%2E", ".").replace("%25", "%")


def _decode(data: bytes, mode: str, what: str) -> np.ndarray:
    try:
        return decode_image(data, mode)
    except ValueError:
        raise ValueError(f"{what} is not a readable image") from None


def encode_noshadow(image: np.ndarray, codec: str, quality: int) -> bytes:
    """(H, W, 3) RGB uint8 -> WebP/JPEG at `quality` (1-100), or lossless PNG."""
    params = {"webp": (cv2.IMWRITE_WEBP_QUALITY, quality),
              "jpeg": (cv2.IMWRITE_JPEG_QUALITY, quality),
              "png": (cv2.IMWRITE_PNG_COMPRESSION, 9)}[codec]
    return encode_image(f".{CODECS[codec]}", image, params)


def encode_diff(noshadow: np.ndarray, shadow: np.ndarray) -> tuple[bytes, list[int], int]:
    """Lossless shadow - noshadow (both (H, W, 3) uint8): (WebP bytes, box [x0, y0, x1, y1],
    offset). An all-zero difference is stored as the 1x1 box at the origin."""
    diff = shadow.astype(np.int16) - noshadow.astype(np.int16)
    rows, cols = np.nonzero(diff.any(axis=-1))
    x0, y0, x1, y1 = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1) if rows.size \
        else (0, 0, 1, 1)
    crop = diff[y0:y1, x0:x1]
    offset = int(crop.min())
    shifted = (crop - offset).astype(np.uint16)  # 0-510
    low = (shifted & 255).astype(np.uint8)
    if shifted.max() > 255:
        high = (shifted >> 8).astype(np.uint8)
        # never 0: lossless WebP may drop the RGB of fully transparent pixels
        alpha = 255 - (high[..., 0] + 2 * high[..., 1] + 4 * high[..., 2])
        low = np.dstack([low, alpha.astype(np.uint8)])
    return encode_image(".webp", low, _LOSSLESS_WEBP), [int(x0), int(y0), int(x1), int(y1)], \
        offset


def decode_diff(data: bytes, box: list[int], offset: int, shape: tuple[int, int]) -> np.ndarray:
    """The (H, W, 3) int16 difference that encode_diff stored, with H, W = shape."""
    crop = _decode(data, "stored", "shadow_diff").astype(np.int16)
    x0, y0, x1, y1 = box
    if crop.ndim != 3 or crop.shape[:2] != (y1 - y0, x1 - x0) or not (
            0 <= x0 < x1 <= shape[1] and 0 <= y0 < y1 <= shape[0]):
        raise ValueError(f"shadow_diff {crop.shape} does not fit box {box} in {shape}")
    if crop.shape[2] == 4:
        high = 255 - crop[..., 3:]
        crop = crop[..., :3] + 256 * ((high >> np.arange(3, dtype=np.int16)) & 1)
    diff = np.zeros((*shape, 3), np.int16)
    diff[y0:y1, x0:x1] = crop + offset
    return diff


def encode_masks(masks: dict[str, np.ndarray]) -> bytes:
    """Masks (H, W) uint8 0/255 -> one lossless WebP with mask k in bit k (dict order)."""
    bits = np.zeros(next(iter(masks.values())).shape, np.uint8)
    for index, mask in enumerate(masks.values()):
        bits |= (mask > 0).astype(np.uint8) << index
    return encode_image(".webp", bits, _LOSSLESS_WEBP)


def decode_masks(data: bytes, kinds: list[str]) -> dict[str, np.ndarray]:
    """One bit-plane WebP -> kind -> (H, W) uint8 0/255, bit k for kinds[k]."""
    planes = _decode(data, "L", "masks")
    return {kind: ((planes >> index) & 1) * np.uint8(255) for index, kind in enumerate(kinds)}


def encode_sample(images: dict[str, np.ndarray], record: dict | None, split: str,
                  sample_id: str, codec: str, quality: int) -> dict[str, bytes]:
    """Member suffix -> bytes for one sample (see the module docstring)."""
    noshadow = encode_noshadow(images["noshadow"], codec, quality)
    diff, box, offset = encode_diff(images["noshadow"], images["shadow"])
    masks = {kind: images[kind] for kind in MASK_KINDS if kind in images}
    mask_bytes = encode_masks(masks)
    meta = {"version": PACK_VERSION, "diff_box": box, "diff_offset": offset,
            "masks": list(masks), "manifest": record is not None,
            "crc32": zlib.crc32(noshadow + diff + mask_bytes)}
    payload = {**(record if record is not None else {"id": sample_id, "split": split}),
               PACK_KEY: meta}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return {f"noshadow.{CODECS[codec]}": noshadow, "shadow_diff.webp": diff,
            "masks.webp": mask_bytes, RECORD_MEMBER: gzip.compress(text, 9, mtime=0)}


def decode_sample(members: Mapping[str, Any], key: str | None = None) -> DecodedSample:
    """Member suffix -> bytes (a webdataset sample dict works: "__key__" gives the key) ->
    the images of the folder layout. ValueError when a member is missing or damaged."""
    key = key or members.get("__key__")
    if not isinstance(key, str):
        raise ValueError("no sample key")
    split, sample_id = parse_key(key)
    found = [name for name in members if not name.startswith("__")]
    noshadow_names = [name for name in found if name.startswith("noshadow.")]
    if len(noshadow_names) != 1 or set(found) != {*MEMBERS, *noshadow_names[:1]}:
        raise ValueError(f"sample {key} has members {sorted(found)}, expected noshadow.*, "
                         f"{', '.join(MEMBERS)}")
    payload = json.loads(gzip.decompress(members[RECORD_MEMBER]))
    if not isinstance(payload, dict) or not isinstance(payload.get(PACK_KEY), dict):
        raise ValueError(f"sample {key}: json.gz is not a packed sample record")
    meta = payload.pop(PACK_KEY)
    noshadow_bytes = members[noshadow_names[0]]
    if zlib.crc32(noshadow_bytes + members["shadow_diff.webp"] + members["masks.webp"]) \
            != meta["crc32"]:
        raise ValueError(f"sample {key}: checksum mismatch")
    noshadow = _decode(noshadow_bytes, "RGB", "noshadow")
    diff = decode_diff(members["shadow_diff.webp"], meta["diff_box"], meta["diff_offset"],
                       noshadow.shape[:2])
    summed = noshadow.astype(np.int16) + diff
    clipped = int(np.count_nonzero(((summed < 0) | (summed > 255)).any(axis=-1)))
    images = {"noshadow": noshadow, "shadow": np.clip(summed, 0, 255).astype(np.uint8)}
    images.update(decode_masks(members["masks.webp"], meta["masks"]))
    return DecodedSample(split, sample_id, images, payload if meta["manifest"] else None,
                         clipped)


def tar_block(key: str, members: dict[str, bytes]) -> bytes:
    """The tar headers, data and padding of one sample's members (no end-of-archive)."""
    parts: list[bytes] = []
    for suffix, data in members.items():
        info = tarfile.TarInfo(f"{key}.{suffix}")
        info.size, info.mode, info.mtime = len(data), 0o644, 0
        parts += [info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"), data,
                  bytes(-len(data) % tarfile.BLOCKSIZE)]
    return b"".join(parts)


def member_groups(tar: tarfile.TarFile, wanted: Collection[str] | None = None
                  ) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, suffix -> bytes) for each run of members sharing a key, as WebDataset groups
    them; only the suffixes in `wanted` are read (all when None), the others are seeked over.
    ValueError for a member that is not a regular file or has no extension."""
    key, members = None, {}
    for info in tar:
        if not info.isfile():
            raise ValueError(f"member {info.name} is not a regular file")
        folder, _, name = info.name.rpartition("/")
        stem, dot, suffix = name.partition(".")
        if not dot:
            raise ValueError(f"member {info.name} has no extension")
        if f"{folder}/{stem}" != key:
            if key is not None:
                yield key, members
            key, members = f"{folder}/{stem}", {}
        if wanted is None or suffix in wanted:
            handle = tar.extractfile(info)
            members[suffix] = handle.read() if handle else b""
    if key is not None:
        yield key, members


@dataclass(frozen=True)
class ShardEntry:
    """One shard as index.json lists it."""

    name: str  # shard-NNNNNN.tar, next to index.json
    splits: dict[str, int]  # split -> samples (pack puts one split in a shard)
    bytes: int  # the file's size
    samples: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShardEntry:
        return cls(str(data["name"]), {str(k): int(v) for k, v in data["splits"].items()},
                   int(data["bytes"]), int(data["samples"]))


@dataclass(frozen=True)
class PackIndex:
    """index.json: how the shards were packed, what they hold, and what pack measured."""

    codec: str  # a key of CODECS
    quality: int | None  # None for png
    shard_size_cap: int  # bytes
    shards: tuple[ShardEntry, ...]  # in order
    samples: int
    splits: dict[str, int]  # split -> samples
    bytes: int  # all shards
    kb_per_sample: float  # kB = 1000 bytes
    bytes_per_sample: dict[str, int]  # member kind (and tar_headers_and_padding) -> mean bytes
    noshadow_psnr_db: float | None  # mean over lossy samples; None when all were exact
    noshadow_exact_samples: int
    clipped_shadow_pixels: int  # shadow pixels that clip to 0-255 on decoding
    not_packed: tuple[str, ...]  # what the dataset folder held that pack leaves out
    format: str = INDEX_FORMAT
    pack_version: int = PACK_VERSION

    def shard(self, name: str) -> ShardEntry | None:
        return next((entry for entry in self.shards if entry.name == name), None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["not_packed"] = list(self.not_packed)
        data["shards"] = [asdict(entry) for entry in self.shards]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PackIndex:
        """KeyError, TypeError or ValueError when `data` is not an index."""
        if data["format"] != INDEX_FORMAT:
            raise ValueError(f"format {data['format']!r}, expected {INDEX_FORMAT!r}")
        return cls(
            codec=str(data["codec"]), quality=data["quality"],
            shard_size_cap=int(data["shard_size_cap"]),
            shards=tuple(ShardEntry.from_json(entry) for entry in data["shards"]),
            samples=int(data["samples"]), splits=dict(data["splits"]), bytes=int(data["bytes"]),
            kb_per_sample=float(data["kb_per_sample"]),
            bytes_per_sample=dict(data["bytes_per_sample"]),
            noshadow_psnr_db=data["noshadow_psnr_db"],
            noshadow_exact_samples=int(data["noshadow_exact_samples"]),
            clipped_shadow_pixels=int(data["clipped_shadow_pixels"]),
            not_packed=tuple(data["not_packed"]), format=data["format"],
            pack_version=int(data["pack_version"]))


def read_index(path: Path) -> PackIndex:
    """The index.json at `path`; DatasetError naming it when it is unreadable or not one."""
    try:
        return PackIndex.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise DatasetError(path, f"not a pack index ({error})") from None
