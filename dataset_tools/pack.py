"""WebDataset tar shards of a Shadow-AR dataset: `shadow-dataset pack` and `unpack`.

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

One member per mask kind would cost a 512-byte tar header and padding each (about 4 kB a
sample); bit planes keep a 256x256 sample near 30 kB. Decoding (`decode_sample`, which also
takes a webdataset sample dict) gives shadow' = clip(noshadow' + diff, 0, 255): equal to
noshadow' wherever the originals were equal, differing by exactly the original difference
elsewhere, except where the clip bites (counted).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tarfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dataset_tools.layout import (
    DATASET_JSON,
    KINDS,
    MANIFEST,
    MASK_KINDS,
    OPTIONAL_KINDS,
    RGB_KINDS,
    SPLITS,
    DatasetError,
    atomic_write,
    copy_file,
    iter_ids,
    read_image,
    refuse_outside_links,
    sample_path,
    size_mismatch,
    write_json,
    write_png,
)
from dataset_tools.records import ManifestRecord, read_manifest, write_manifest

CODECS = {"webp": "webp", "jpeg": "jpg", "png": "png"}  # --codec -> noshadow member extension
SHARD_NAME = "shard-{:06d}.tar"
INDEX = "index.json"
PACK_KEY = "_pack"
PACK_VERSION = 1
END_OF_ARCHIVE = bytes(2 * tarfile.BLOCKSIZE)
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9,
          "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
_LOSSLESS_WEBP = [cv2.IMWRITE_WEBP_QUALITY, 101]  # OpenCV: quality above 100 = lossless
Tick = Callable[[], None] | None


@dataclass(frozen=True)
class PackConfig:
    dataset: Path
    out: Path
    shard_size: int  # cap on each tar file, bytes
    codec: str = "webp"
    quality: int = 90
    force: bool = False


@dataclass(frozen=True)
class DecodedSample:
    split: str
    sample_id: str
    images: dict[str, np.ndarray]  # kind -> (H, W, 3) RGB or (H, W) L uint8
    record: dict[str, Any] | None  # the manifest line; None when the dataset had none
    clipped: int  # pixels where noshadow' + diff left 0-255


@dataclass
class _Totals:
    samples: int = 0
    member_bytes: Counter = field(default_factory=Counter)
    psnr: list[float] = field(default_factory=list)
    exact: int = 0
    clipped: int = 0


def parse_size(text: str) -> int:
    """"60MB" -> 60_000_000, "500KB", "1GB", "64MiB" -> 2**26, "1024" -> bytes."""
    number = text.strip().lower().rstrip("bikmg ")
    unit = text.strip().lower()[len(number):].strip()
    try:
        value = float(number) * _UNITS[unit]
    except (ValueError, KeyError):
        raise ValueError(f"expected a size like 60MB, 500KB, 1GB or 64MiB, got {text!r}") from None
    if value < 1:
        raise ValueError(f"a size must be positive, got {text!r}")
    return int(value)


def sample_key(split: str, sample_id: str) -> str:
    return f"{split}/" + sample_id.replace("%", "%25").replace(".", "%2E")


def _parse_key(key: str) -> tuple[str, str]:
    split, _, escaped = key.partition("/")
    if split not in SPLITS or not escaped:
        raise ValueError(f"sample key {key!r} is not SPLIT/ID")
    return split, escaped.replace("%2E", ".").replace("%25", "%")


def _swap_red_blue(image: np.ndarray) -> np.ndarray:
    """RGB(A) <-> OpenCV's BGR(A); a single-channel image as it is."""
    return image[..., [2, 1, 0, *range(3, image.shape[2])]] if image.ndim == 3 else image


def _encode(extension: str, image: np.ndarray, params: list[int]) -> bytes:
    ok, encoded = cv2.imencode(f".{extension}", np.ascontiguousarray(_swap_red_blue(image)),
                               params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {extension}")
    return encoded.tobytes()


def _decode(data: bytes, flag: int, what: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if image is None:
        raise ValueError(f"{what} is not a readable image")
    return _swap_red_blue(image)


def encode_noshadow(image: np.ndarray, codec: str, quality: int) -> bytes:
    """(H, W, 3) RGB uint8 -> WebP/JPEG at `quality` (1-100), or lossless PNG."""
    params = {"webp": [cv2.IMWRITE_WEBP_QUALITY, quality],
              "jpeg": [cv2.IMWRITE_JPEG_QUALITY, quality],
              "png": [cv2.IMWRITE_PNG_COMPRESSION, 9]}[codec]
    return _encode(CODECS[codec], image, params)


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
    return _encode("webp", low, _LOSSLESS_WEBP), [int(x0), int(y0), int(x1), int(y1)], offset


def decode_diff(data: bytes, box: list[int], offset: int, shape: tuple[int, int]) -> np.ndarray:
    """The (H, W, 3) int16 difference that encode_diff stored, with H, W = shape."""
    crop = _decode(data, cv2.IMREAD_UNCHANGED, "shadow_diff").astype(np.int16)
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
    return _encode("webp", bits, _LOSSLESS_WEBP)


def decode_masks(data: bytes, kinds: list[str]) -> dict[str, np.ndarray]:
    planes = _decode(data, cv2.IMREAD_GRAYSCALE, "masks")
    return {kind: ((planes >> index) & 1) * np.uint8(255) for index, kind in enumerate(kinds)}


def _read_sample(root: Path, split: str, sample_id: str) -> dict[str, np.ndarray]:
    images = {kind: read_image(sample_path(root, split, kind, sample_id), "RGB")
              for kind in RGB_KINDS}
    for kind in MASK_KINDS:
        path = sample_path(root, split, kind, sample_id)
        if kind in OPTIONAL_KINDS and not path.is_file():
            continue
        images[kind] = read_image(path, "L")
        odd = int(np.count_nonzero((images[kind] != 0) & (images[kind] != 255)))
        if odd:
            raise DatasetError(path, f"{odd} pixels are not 0 or 255 (pack keeps binary masks)")
    for kind, image in images.items():
        problem = size_mismatch(image.shape, images["noshadow"].shape, "noshadow")
        if problem:
            raise DatasetError(sample_path(root, split, kind, sample_id), problem)
    return images


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
            "masks.webp": mask_bytes, "json.gz": gzip.compress(text, 9, mtime=0)}


def decode_sample(members: Mapping[str, Any], key: str | None = None) -> DecodedSample:
    """Member suffix -> bytes (a webdataset sample dict works: "__key__" gives the key) ->
    the images of the folder layout. ValueError when a member is missing or damaged."""
    key = key or members.get("__key__")
    if not isinstance(key, str):
        raise ValueError("no sample key")
    split, sample_id = _parse_key(key)
    found = [name for name in members if not name.startswith("__")]
    noshadow_names = [name for name in found if name.startswith("noshadow.")]
    expected = {"shadow_diff.webp", "masks.webp", "json.gz", *noshadow_names[:1]}
    if len(noshadow_names) != 1 or set(found) != expected:
        raise ValueError(f"sample {key} has members {sorted(found)}, expected noshadow.*, "
                         f"shadow_diff.webp, masks.webp, json.gz")
    payload = json.loads(gzip.decompress(members["json.gz"]))
    if not isinstance(payload, dict) or not isinstance(payload.get(PACK_KEY), dict):
        raise ValueError(f"sample {key}: json.gz is not a packed sample record")
    meta = payload.pop(PACK_KEY)
    noshadow_bytes = members[noshadow_names[0]]
    if zlib.crc32(noshadow_bytes + members["shadow_diff.webp"] + members["masks.webp"]) \
            != meta["crc32"]:
        raise ValueError(f"sample {key}: checksum mismatch")
    noshadow = _decode(noshadow_bytes, cv2.IMREAD_COLOR, "noshadow")
    diff = decode_diff(members["shadow_diff.webp"], meta["diff_box"], meta["diff_offset"],
                       noshadow.shape[:2])
    summed = noshadow.astype(np.int16) + diff
    clipped = int(np.count_nonzero(((summed < 0) | (summed > 255)).any(axis=-1)))
    images = {"noshadow": noshadow, "shadow": np.clip(summed, 0, 255).astype(np.uint8)}
    images.update(decode_masks(members["masks.webp"], meta["masks"]))
    return DecodedSample(split, sample_id, images, payload if meta["manifest"] else None,
                         clipped)


def _tar_block(key: str, members: dict[str, bytes]) -> bytes:
    """The tar headers, data and padding of one sample's members (no end-of-archive)."""
    parts: list[bytes] = []
    for suffix, data in members.items():
        info = tarfile.TarInfo(f"{key}.{suffix}")
        info.size, info.mode, info.mtime = len(data), 0o644, 0
        parts += [info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"), data,
                  bytes(-len(data) % tarfile.BLOCKSIZE)]
    return b"".join(parts)


def _skipped(root: Path, manifest: dict[str, ManifestRecord], packed: set[str]) -> list[str]:
    """What pack leaves out: folders other than the splits' kinds, stray manifest lines."""
    notes = []
    folders = [path for path in root.iterdir() if path.name not in (*SPLITS, DATASET_JSON,
                                                                    MANIFEST)]
    folders += [path for split in SPLITS if (root / split).is_dir()
                for path in (root / split).iterdir() if path.name not in KINDS]
    for path in sorted(folders):
        if not path.name.startswith("."):
            files = sum(1 for item in path.rglob("*") if item.is_file()) if path.is_dir() else 1
            notes.append(f"{path.relative_to(root)}{'/' if path.is_dir() else ''} ({files} files)")
    stray = len(set(manifest) - packed)
    if stray:
        notes.append(f"{MANIFEST}: {stray} records of samples without files")
    return notes


def _samples(root: Path) -> list[tuple[str, str]]:
    """(split, id) of every sample, split by split; a file without noshadow is an error."""
    samples = []
    for split in SPLITS:
        ids = set(iter_ids(root, split))
        for kind in KINDS:
            for path in sorted((root / split / kind).glob("*.png")):
                if path.stem not in ids and not path.name.startswith("."):
                    raise DatasetError(path, "has no noshadow image with the same name")
        samples += [(split, sample_id) for sample_id in sorted(ids)]
    if not samples:
        raise DatasetError(root, "no samples (*/noshadow/*.png)")
    return samples


def pack_dataset(config: PackConfig, tick: Tick = None) -> dict[str, Any]:
    """Write OUT/shard-NNNNNN.tar (a new shard also at each split change), OUT/index.json and
    OUT/dataset.json; returns the index."""
    root, out = config.dataset, config.out
    if out.exists() and any(out.iterdir()) and not config.force:
        raise DatasetError(out, "exists and is not empty; use --force to write into it")
    if out.is_dir():
        refuse_outside_links(out)
    samples = _samples(root)
    manifest = read_manifest(root)
    totals = _Totals()

    def blocks() -> Iterator[tuple[str, str, bytes]]:
        for split, sample_id in samples:
            record = manifest.get(sample_id)
            if record is not None and PACK_KEY in record.extra:
                raise DatasetError(root / MANIFEST, f"the record of {sample_id} has a field "
                                                    f"{PACK_KEY!r}, which pack reserves")
            images = _read_sample(root, split, sample_id)
            members = encode_sample(images, record.to_json() if record else None, split,
                                    sample_id, config.codec, config.quality)
            _measure(totals, images, members, split, sample_id)
            if tick:
                tick()
            yield split, sample_id, _tar_block(sample_key(split, sample_id), members)

    staging = out / ".packing"  # a failed run leaves OUT as it was
    shutil.rmtree(staging, ignore_errors=True)
    try:
        shards = _write_shards(blocks(), staging, root, config.shard_size)
        for shard in shards:
            os.replace(staging / shard["name"], out / shard["name"])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    kept = {shard["name"] for shard in shards}
    for stale in out.glob("shard-*.tar"):
        if stale.name not in kept:
            stale.unlink()
    if (root / DATASET_JSON).is_file():
        copy_file(root / DATASET_JSON, out / DATASET_JSON)
    else:
        (out / DATASET_JSON).unlink(missing_ok=True)
    index = _index(config, shards, totals, _skipped(root, manifest, {i for _, i in samples}))
    write_json(out / INDEX, index)
    return index


def _write_shards(blocks: Iterator[tuple[str, str, bytes]], folder: Path, root: Path,
                  cap: int) -> list[dict[str, Any]]:
    """Fill folder/shard-NNNNNN.tar with (split, id, tar block)s, each file at most cap bytes
    and holding one split; returns name, splits, bytes and samples of each."""
    shards: list[dict[str, Any]] = []
    pending = next(blocks, None)
    while pending is not None:
        shard: dict[str, Any] = {"name": SHARD_NAME.format(len(shards)), "splits": Counter(),
                                 "bytes": len(END_OF_ARCHIVE)}

        def write(tmp: str, shard: dict[str, Any] = shard) -> None:
            nonlocal pending
            with open(tmp, "wb") as stream:
                while pending is not None:
                    split, sample_id, block = pending
                    fits = shard["bytes"] + len(block) <= cap
                    if shard["splits"] and (not fits or split not in shard["splits"]):
                        break
                    if not fits:
                        raise DatasetError(sample_path(root, split, "noshadow", sample_id),
                                           f"packed, this sample takes {len(block)} bytes: "
                                           f"more than the shard size cap")
                    stream.write(block)
                    shard["bytes"] += len(block)
                    shard["splits"][split] += 1
                    pending = next(blocks, None)
                stream.write(END_OF_ARCHIVE)

        atomic_write(folder / shard["name"], write)
        shards.append({**shard, "splits": dict(shard["splits"]),
                       "samples": sum(shard["splits"].values())})
    return shards


def _measure(totals: _Totals, images: dict[str, np.ndarray], members: dict[str, bytes],
             split: str, sample_id: str) -> None:
    """Decode what was encoded: exact diff and masks (else RuntimeError), PSNR, clipping."""
    decoded = decode_sample(members, sample_key(split, sample_id))
    for kind in MASK_KINDS:
        if kind in images and not np.array_equal(decoded.images[kind], images[kind]):
            raise RuntimeError(f"{split}/{kind}/{sample_id}: mask did not round-trip")
    diff = images["shadow"].astype(np.int16) - images["noshadow"].astype(np.int16)
    restored = decoded.images["shadow"].astype(np.int16) - decoded.images["noshadow"]
    summed = decoded.images["noshadow"].astype(np.int16) + diff
    if not np.array_equal(restored, np.clip(summed, 0, 255) - decoded.images["noshadow"]):
        raise RuntimeError(f"{split}/shadow/{sample_id}: difference did not round-trip")
    error = np.mean((decoded.images["noshadow"].astype(np.float64) - images["noshadow"]) ** 2)
    if error == 0:
        totals.exact += 1
    else:
        totals.psnr.append(float(10 * np.log10(255.0**2 / error)))
    totals.samples += 1
    totals.clipped += decoded.clipped
    for suffix, data in members.items():
        totals.member_bytes[suffix.split(".")[0]] += len(data)


def _index(config: PackConfig, shards: list[dict[str, Any]], totals: _Totals,
           skipped: list[str]) -> dict[str, Any]:
    total_bytes = sum(shard["bytes"] for shard in shards)
    payload = sum(totals.member_bytes.values())
    per_sample = {kind: round(size / totals.samples) for kind, size in
                  totals.member_bytes.items()}
    splits: Counter = Counter()
    for shard in shards:
        splits.update(shard["splits"])
    return {"format": "shadowsynth-webdataset", "pack_version": PACK_VERSION,
            "codec": config.codec, "quality": None if config.codec == "png" else config.quality,
            "shard_size_cap": config.shard_size, "shards": shards,
            "samples": totals.samples, "splits": dict(splits), "bytes": total_bytes,
            "kb_per_sample": round(total_bytes / totals.samples / 1000, 2),
            "bytes_per_sample": {**per_sample, "tar_headers_and_padding": round(
                (total_bytes - payload) / totals.samples)},
            "noshadow_psnr_db": round(float(np.mean(totals.psnr)), 3) if totals.psnr else None,
            "noshadow_exact_samples": totals.exact, "clipped_shadow_pixels": totals.clipped,
            "not_packed": skipped}


@dataclass(frozen=True)
class UnpackResult:
    counts: dict[str, int]  # split -> restored samples
    clipped: int  # shadow pixels where noshadow' + diff left 0-255


def read_index(index: Path) -> dict[str, dict[str, Any]]:
    """The shards an index.json lists, by file name, in its order: each entry's name, splits,
    samples and bytes. DatasetError naming the file when it is unreadable or not an index."""
    try:
        return {shard["name"]: shard for shard in json.loads(index.read_text())["shards"]}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DatasetError(index, f"not a pack index ({error})") from None


def shard_paths(sources: list[Path]) -> list[Path]:
    """Shard files in order: a folder gives the shards its index.json lists (else its
    shard-*.tar, sorted); a file is taken as it is."""
    paths: list[Path] = []
    for source in sources:
        if source.is_dir():
            index = source / INDEX
            if index.is_file():
                paths += [source / name for name in read_index(index)]
            else:
                found = sorted(source.glob("shard-*.tar"))
                if not found:
                    raise DatasetError(source, "no shard-*.tar files and no index.json")
                paths += found
        else:
            paths.append(source)
    for path in paths:
        if not path.is_file():
            raise DatasetError(path, "missing")
    return paths


def _expected_samples(path: Path) -> int | None:
    """The sample count index.json next to the shard gives for it, if any."""
    index = path.parent / INDEX
    try:
        entry = read_index(index).get(path.name) if index.is_file() else None
    except DatasetError:
        return None
    return entry.get("samples") if isinstance(entry, dict) else None


def _member_groups(tar: tarfile.TarFile) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, suffix -> bytes) for each run of members sharing a key."""
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
        handle = tar.extractfile(info)
        members[suffix] = handle.read() if handle else b""
    if key is not None:
        yield key, members


def iter_shard(path: Path) -> Iterator[DecodedSample]:
    """Decoded samples of one shard; DatasetError naming it when it is truncated or corrupt
    (after the samples read completely before the damage)."""
    errors = (tarfile.TarError, OSError, EOFError, ValueError, KeyError, TypeError, zlib.error)
    try:
        tar = tarfile.open(path, "r:")
    except errors as error:
        raise DatasetError(path, f"not a readable tar file ({error})") from None
    with tar:
        groups, count = _member_groups(tar), 0
        while True:
            try:
                group = next(groups, None)
                if group is None:
                    with open(path, "rb") as stream:
                        stream.seek(tar.offset)
                        if stream.read(tarfile.BLOCKSIZE) != bytes(tarfile.BLOCKSIZE):
                            raise ValueError("no end-of-archive marker")
                    expected = _expected_samples(path)
                    if expected is not None and expected != count:
                        raise ValueError(f"{count} samples, index.json says {expected}")
                    return
                sample = decode_sample(group[1], group[0])
            except errors as error:
                raise DatasetError(path, f"truncated or corrupt: {error}") from None
            count += 1
            yield sample


def _write_sample(out: Path, sample: DecodedSample) -> None:
    for kind, image in sample.images.items():
        write_png(sample_path(out, sample.split, kind, sample.sample_id), image)


def unpack_shards(sources: list[Path], out: Path, force: bool = False,
                  tick: Tick = None) -> UnpackResult:
    """Restore the folder layout from shards into out: images, manifest.jsonl (the records,
    in id order) and dataset.json (from the shards' folder). A sample is written only once
    all its members were read and decoded; on a damaged shard the samples before it stay
    and the DatasetError names the shard and how many samples were restored."""
    if out.exists() and any(out.iterdir()) and not force:
        raise DatasetError(out, "exists and is not empty; use --force to write into it")
    if out.is_dir():
        refuse_outside_links(out)
    paths = shard_paths(sources)
    counts: Counter = Counter()
    records: list[tuple[str, str, dict]] = []
    seen: set[tuple[str, str]] = set()
    clipped = 0
    try:
        for path in paths:
            for sample in iter_shard(path):
                if (sample.split, sample.sample_id) in seen:
                    raise DatasetError(path, f"sample {sample.split}/{sample.sample_id} "
                                             f"appears twice in the shards")
                _write_sample(out, sample)
                seen.add((sample.split, sample.sample_id))
                counts[sample.split] += 1
                clipped += sample.clipped
                if sample.record is not None:
                    records.append((sample.sample_id, sample.split, sample.record))
                if tick:
                    tick()
    except DatasetError as error:
        _finish_unpack(out, paths, records)
        raise DatasetError(error.path, f"{error.reason}; {sum(counts.values())} complete "
                                       f"samples restored before it") from None
    _finish_unpack(out, paths, records)
    return UnpackResult({split: counts[split] for split in SPLITS if counts[split]}, clipped)


def _finish_unpack(out: Path, paths: list[Path], records: list[tuple[str, str, dict]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if records:
        write_manifest(out / MANIFEST, [ManifestRecord.from_json(record) for *_, record
                                        in sorted(records, key=lambda r: r[:2])])
    dataset_json = paths[0].parent / DATASET_JSON
    if dataset_json.is_file():
        copy_file(dataset_json, out / DATASET_JSON)
