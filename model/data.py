"""Shadow-AR folders as torch datasets: uint8 on disk, [0, 1] floats in one place (here).

A sample is a dict of tensors: noshadow, shadow (3, S, S) in [0, 1]; mask, robject, rshadow,
smask (1, S, S) in {0, 1}; light (LIGHT_CHANNELS,), the sample's light as `model.light`
encodes it (zeros when the manifest knows none); plus its id and a note ("" or why a mask file
was not a 0/255 gray image). `smask` comes from the file when the dataset has it, otherwise
from the image pair (the fallback of docs/architecture.md, 2.2), so hand-made datasets train
too."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from dataset_tools.layout import (
    MODEL_MASK_KINDS,
    RGB_KINDS,
    DatasetError,
    iter_ids,
    read_image,
    sample_path,
    size_mismatch,
)
from dataset_tools.light_labels import LightLabel, label_of
from dataset_tools.masks import GRAY_THRESHOLD, smask_from_pair
from dataset_tools.records import read_manifest, scene_group
from dataset_tools.split import assign_groups
from model.light import light_vector


@dataclass(frozen=True)
class SampleRef:
    root: Path
    split: str
    id: str


def list_split(root: Path, split: str) -> list[SampleRef]:
    return [SampleRef(root, split, sample_id) for sample_id in iter_ids(root, split)]


def train_val_samples(root: Path, val_fraction: float,
                      seed: int) -> tuple[list[SampleRef], list[SampleRef]]:
    """train/ and val/ when the dataset has a val/ folder; otherwise val is carved from
    train/, grouped by the manifest's scene (by id without a manifest). Never test/."""
    train = list_split(root, "train")
    if not train:
        raise DatasetError(root / "train" / "noshadow", "no training samples (*.png) found")
    val = list_split(root, "val")
    if val or val_fraction <= 0:
        return train, val
    manifest = read_manifest(root)
    in_val = carve_val([scene_group(manifest.get(ref.id), ref.id) for ref in train],
                       val_fraction, seed)
    return ([ref for ref, val in zip(train, in_val, strict=True) if not val],
            [ref for ref, val in zip(train, in_val, strict=True) if val])


def carve_val(scenes: Sequence[str], val_fraction: float, seed: int) -> list[bool]:
    """Which training samples (given their scenes, in order) go to val: whole scenes, so
    that no scene is in both. Folders and shards (model/shards.py) both split with this."""
    assignment = assign_groups(sorted(set(scenes)), 0.0, val_fraction, seed)
    return [assignment[scene] == "val" for scene in scenes]


def read_mask(path: Path) -> tuple[np.ndarray, str]:
    """A mask file as (H, W) uint8, and a note naming the file ("" when it is a plain 0/255
    gray image): RGB(A) masks are converted to gray, 16-bit ones to 8 bits, and every mask is
    binarised at 128 by load_sample. DatasetError for a missing or unreadable file."""
    image = read_image(path, "stored")
    found = []
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
        found.append("16 bits")
    if image.ndim == 3:
        channels = image.shape[2]
        found.append(f"{channels} channels (converted to gray)")
        image = (cv2.cvtColor(image, cv2.COLOR_RGBA2GRAY if channels == 4 else cv2.COLOR_RGB2GRAY)
                 if channels in (3, 4) else image[..., 0])
    other = int(np.count_nonzero((image != 0) & (image != 255)))
    if other:
        found.append(f"{other} pixels neither 0 nor 255")
    note = (f"{path}: mask with {', '.join(found)}; masks are binarised at 128 (warned once; "
            "`shadow-dataset validate` lists every such file)") if found else ""
    return np.ascontiguousarray(image.astype(np.uint8, copy=False)), note


def load_sample(ref: SampleRef, size: int, gray_threshold: float = GRAY_THRESHOLD,
                notes: list[str] | None = None) -> dict[str, np.ndarray]:
    """uint8 arrays resized to size x size: RGB (S, S, 3), masks (S, S) in {0, 255}; smask
    from the pair (gray difference > gray_threshold) when the sample has none. A mask that is
    not a 0/255 gray image is converted and binarised, its note appended to `notes`.
    Raises DatasetError naming the file for a missing, unreadable or mismatched one."""
    images = {kind: read_image(sample_path(ref.root, ref.split, kind, ref.id), "RGB")
              for kind in RGB_KINDS}
    masks = {}
    for kind in MODEL_MASK_KINDS:
        path = sample_path(ref.root, ref.split, kind, ref.id)
        if kind == "smask" and not path.is_file():
            continue
        masks[kind], note = read_mask(path)
        if note and notes is not None:
            notes.append(note)
    for kind, image in {**images, **masks}.items():
        problem = size_mismatch(image.shape, images["noshadow"].shape[:2], "noshadow")
        if problem:
            raise DatasetError(sample_path(ref.root, ref.split, kind, ref.id), problem)
    return network_arrays(images, masks, size, gray_threshold)


def network_arrays(images: dict[str, np.ndarray], masks: dict[str, np.ndarray], size: int,
                   gray_threshold: float) -> dict[str, np.ndarray]:
    """What load_sample returns, from a sample's images (RGB (H, W, 3) uint8) and masks
    ((H, W) uint8, smask optional) of one size however they were read: folders and
    shards (model/shards.py) give the network the same arrays."""
    reference = images["noshadow"].shape[:2]
    if "smask" not in masks:
        masks["smask"] = smask_from_pair(images["shadow"], images["noshadow"], masks["mask"],
                                         gray_threshold)
    if reference != (size, size):
        images = {kind: cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
                  for kind, image in images.items()}
        masks = {kind: cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA)
                 for kind, mask in masks.items()}
    masks = {kind: np.where(mask >= 128, 255, 0).astype(np.uint8) for kind, mask in masks.items()}
    return {**images, **masks}


def augmentation(size: int):
    """Geometric transforms shared by every image and mask of a sample; photometric ones
    applied with the same parameters to noshadow and shadow (their difference stays the
    shadow). Masks are never interpolated (nearest). The left-right flip is `sample_tensors`'
    own, since the light's direction must flip with the image."""
    import albumentations as A

    targets = {"shadow": "image", **{kind: "mask" for kind in MODEL_MASK_KINDS}}
    return A.Compose([
        A.Affine(scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), rotate=(-5, 5),
                 border_mode=cv2.BORDER_REFLECT_101, p=0.5),
        A.RandomBrightnessContrast(brightness_limit=0.15, contrast_limit=0.15, p=0.5),
        A.HueSaturationValue(hue_shift_limit=8, sat_shift_limit=15, val_shift_limit=0, p=0.3),
    ], additional_targets=targets)


def item_seed(seed: int, epoch: int, sample: int | str) -> int:
    """The augmentation seed of one sample in one epoch; `sample` is its key SPLIT/ID
    (dataset_tools.pack.sample_key), so a folder and its packed shards augment alike."""
    digest = hashlib.sha256(f"{seed}:{epoch}:{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def labels(root: Path) -> dict[str, LightLabel]:
    """id -> light label of every sample whose manifest record knows its light."""
    found = {}
    for sample_id, record in read_manifest(root).items():
        label = label_of(record)
        if label is not None:
            found[sample_id] = label
    return found


def sample_tensors(arrays: dict[str, np.ndarray], sample_id: str, note: str,
                   transform: Any | None, seed: int,
                   label: LightLabel | None = None) -> dict[str, torch.Tensor | str]:
    """network_arrays' output, augmented by `transform` (augmentation(), or None for none)
    with `seed` (then also mirrored left-right, light and all, on a coin drawn from `seed`),
    as the sample dict this module's docstring describes."""
    flipped = False
    if transform is not None:
        flipped = bool(np.random.default_rng(seed).random() < 0.5)
        if flipped:
            arrays = {kind: np.ascontiguousarray(array[:, ::-1]) for kind, array in arrays.items()}
        transform.set_random_seed(seed)
        out = transform(image=arrays["noshadow"], shadow=arrays["shadow"],
                        **{kind: arrays[kind] for kind in MODEL_MASK_KINDS})
        arrays = {"noshadow": out["image"], "shadow": out["shadow"],
                  **{kind: out[kind] for kind in MODEL_MASK_KINDS}}
    sample: dict[str, torch.Tensor | str] = {"id": sample_id, "note": note,
                                             "light": torch.from_numpy(light_vector(label,
                                                                                    flipped))}
    for kind in RGB_KINDS:
        sample[kind] = torch.from_numpy(np.ascontiguousarray(arrays[kind])).permute(
            2, 0, 1).float().div_(255)
    for kind in MODEL_MASK_KINDS:
        sample[kind] = torch.from_numpy(
            (np.ascontiguousarray(arrays[kind]) >= 128).astype(np.float32))[None]
    return sample


class ShadowARDataset(Dataset):
    """Samples of one or more splits; index with an int, or (int, augmentation seed) as the
    EpochSampler yields, so a resumed run sees exactly the same augmented batches."""

    def __init__(self, refs: Sequence[SampleRef], size: int, augment: bool = False,
                 gray_threshold: float = GRAY_THRESHOLD) -> None:
        self.refs = list(refs)
        self.labels = {root: labels(root) for root in {ref.root for ref in self.refs}}
        self.size = size
        self.augment = augment
        self.gray_threshold = gray_threshold
        self._transform = None

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor | str]:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        notes: list[str] = []
        arrays = load_sample(self.refs[index], self.size, self.gray_threshold, notes)
        if self.augment and self._transform is None:
            self._transform = augmentation(self.size)
        ref = self.refs[index]
        return sample_tensors(arrays, ref.id, notes[0] if notes else "",
                              self._transform if self.augment else None, seed,
                              self.labels[ref.root].get(ref.id))


class EpochSampler(Sampler):
    """Yields (index, augmentation seed): a permutation that depends only on (seed, epoch),
    split evenly across `world` ranks (padded by wrapping), seeds from (seed, epoch, key of
    the sample) where `keys` (SPLIT/ID, one per index) are given, else (seed, epoch, index)."""

    def __init__(self, length: int, seed: int, shuffle: bool = True, rank: int = 0,
                 world: int = 1, keys: Sequence[str] | None = None) -> None:
        self.length, self.seed, self.shuffle = length, seed, shuffle
        self.rank, self.world = rank, world
        self.keys = list(keys) if keys is not None else None
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.length // self.world)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.length)
        else:
            order = np.arange(self.length)
        padded = np.resize(order, len(self) * self.world)
        for index in padded[self.rank::self.world].tolist():
            key = self.keys[index] if self.keys is not None else index
            yield index, item_seed(self.seed, self.epoch, key)


def collate(samples: list[dict]) -> dict[str, torch.Tensor | list[str]]:
    """Tensors stacked; strings (id, note) as lists."""
    batch: dict[str, torch.Tensor | list[str]] = {}
    for key, value in samples[0].items():
        values = [sample[key] for sample in samples]
        batch[key] = values if isinstance(value, str) else torch.stack(values)
    return batch


class NoteOnce:
    """Warns with the first note a batch carries, once: the loader's worker processes
    cannot share a "once" between them, so the process that reads the batches does it."""

    def __init__(self) -> None:
        self.shown = False

    def __call__(self, batch: dict) -> None:
        if self.shown:
            return
        note = next((note for note in batch.get("note", ()) if note), None)
        if note:
            self.shown = True
            warnings.warn(note, stacklevel=2)
