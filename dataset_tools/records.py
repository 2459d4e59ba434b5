"""The dataset contract's two records and the only code that reads and writes them.

- `ManifestRecord`: one line of manifest.jsonl, what is known about one sample (its split,
  the scene photo and meshes its split groups come from, the scene spec it was rendered from,
  how long it took). `render.sample.make_sample` builds it; stats, gallery, split, validate,
  the runner and model.data read it here, by attribute.
- `DatasetInfo`: dataset.json, what is known about the whole dataset (format version, who made
  it, the render settings a resumed run must match, true counts per split, the split rule
  `shadow-dataset split` recorded).

Both keep the keys they do not know (a newer version's, a user's) and write them back
unchanged. Lines go through `record_line` and `parse_line` whoever writes or reads them (the
running render appends, `gather` merges shards' manifests, the runner follows other runs').
The folder layout, image files and sample enumeration are `dataset_tools.layout`'s.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from importlib import metadata
from pathlib import Path
from typing import Any

from dataset_tools.layout import (
    DATASET_JSON,
    FORMAT_VERSION,
    MANIFEST,
    DatasetError,
    read_json_object,
    write_json,
    write_text,
)


def generator_name() -> str:
    """What `generator` says of data this package writes: "shadowsynth VERSION", the version
    being the installed distribution's (pyproject.toml is its one owner)."""
    try:
        return f"shadowsynth {metadata.version('shadowsynth')}"
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "shadowsynth (not installed)"


def _split_known(cls: type, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`data`'s keys that are fields of dataclass `cls`, and the rest."""
    names = {item.name for item in fields(cls)} - {"extra"}
    known = {key: value for key, value in data.items() if key in names}
    return known, {key: value for key, value in data.items() if key not in names}


def _as_json(record: Any) -> dict[str, Any]:
    """A record's fields that are set (not None), its unknown keys, as one JSON object."""
    data = {item.name: getattr(record, item.name) for item in fields(record)
            if item.name != "extra" and getattr(record, item.name) is not None}
    return {**record.extra, **data}


@dataclass(frozen=True)
class ResampledAttempt:
    """One attempt at a sample that was drawn again (an entry of a record's `resampled`).
    None: not recorded (records made before reason codes existed have no `code`)."""

    attempt: int | None = None
    code: str | None = None  # why, a key of render.sampler.RESAMPLED_CODES
    reason: str | None = None  # why, in words with the numbers
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResampledAttempt:
        known, extra = _split_known(cls, data)
        return cls(**known, extra=extra)

    def to_json(self) -> dict[str, Any]:
        return _as_json(self)


@dataclass(frozen=True)
class RecordedLighting:
    """A record's `lighting`: the light of the sample matched to its photo
    (`render.lighting.lighting_for`). The light's kind is not kept here but read from the spec
    (`ManifestRecord.light_kind`); the JSON repeats it as "kind" (`repeats_kind`; lines written
    before it did, do not). None: not recorded."""

    level: float | None = None  # radiance of a white horizontal surface in full light
    ambient_rgb: tuple[float, ...] | None = None  # the world's radiance
    strength: float | None = None  # what Blender's light takes (sun W/m^2, area W)
    radiance: float | None = None  # the area light's emitted radiance
    repeats_kind: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], light_kind: str) -> RecordedLighting:
        """`data` of a record whose spec's light is of kind `light_kind` (a "kind" that says
        otherwise is kept as it is, among the unknown keys)."""
        known, extra = _split_known(cls, data)
        if "repeats_kind" in known:  # not a key of ours on disk
            extra["repeats_kind"] = known.pop("repeats_kind")
        kind = extra.pop("kind", None)
        if kind is not None and kind != light_kind:
            extra["kind"] = kind
        if isinstance(known.get("ambient_rgb"), list):
            known["ambient_rgb"] = tuple(known["ambient_rgb"])
        return cls(**known, repeats_kind=kind == light_kind, extra=extra)

    def to_json(self, light_kind: str) -> dict[str, Any]:
        ambient = None if self.ambient_rgb is None else list(self.ambient_rgb)
        values = {"level": self.level, "ambient_rgb": ambient, "strength": self.strength,
                  "radiance": self.radiance}
        data = {**self.extra, **{key: value for key, value in values.items()
                                 if value is not None}}
        return {**data, "kind": light_kind} if self.repeats_kind else data


@dataclass
class ManifestRecord:
    """One sample. Only `id` is required (a hand-made dataset's manifest may hold no more);
    rendered samples set every field up to `generator`. None: not known, and not written."""

    id: str
    split: str | None = None  # the split folder the sample is in (train, val, test)
    index: int | None = None  # the render index; the manifest is sorted by it
    scene: str | None = None  # the scene photo, relative to --scenes (a split group)
    inserted_mesh: str | None = None  # the inserted mesh, relative to --models (a split group)
    occluder_meshes: list[str] | None = None
    occluders: int | None = None
    hints: list[str] | None = None  # the photo sidecar's hint kinds the sample honours
    seed: int | None = None  # the sample's RNG seed (with attempt: the scene spec)
    attempt: int | None = None
    spec: dict[str, Any] | None = None  # render.spec.SceneSpec.to_json()
    lighting: RecordedLighting | None = None
    light_label: dict[str, Any] | None = None  # dataset_tools.light_labels.LightLabel as JSON
    shadow_region: list[int] | None = None  # (x0, y0, x1, y1) of the second render
    areas: dict[str, int] | None = None  # mask kind -> pixels set
    resampled: list[ResampledAttempt] | None = None  # attempts drawn again
    bad_assets: dict[str, str] | None = None  # asset path -> why it was skipped
    warnings: list[str] | None = None
    timings: dict[str, float] | None = None  # seconds per stage
    generator: str | None = None  # "shadowsynth VERSION" or "toy"
    split_groups: dict[str, str] | None = None  # group key -> split (`shadow-dataset split`)
    source: str | None = None  # the dataset an imported or merged sample came from
    source_id: str | None = None  # its id there (merge)
    smask: str | None = None  # how smask was made when no render passes made it
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ManifestRecord:
        known, extra = _split_known(cls, data)
        known["id"] = str(known["id"])
        lighting, resampled = known.pop("lighting", None), known.pop("resampled", None)
        record = cls(**known, extra=extra)
        if isinstance(lighting, dict):
            record.lighting = RecordedLighting.from_json(lighting, record.light_kind)
        elif lighting is not None:  # not what a render writes: kept as it is
            extra["lighting"] = lighting
        if isinstance(resampled, list) and all(isinstance(item, dict) for item in resampled):
            record.resampled = [ResampledAttempt.from_json(item) for item in resampled]
        elif resampled is not None:
            extra["resampled"] = resampled
        return record

    def to_json(self) -> dict[str, Any]:
        data = _as_json(self)
        if self.lighting is not None:
            data["lighting"] = self.lighting.to_json(self.light_kind)
        if self.resampled is not None:
            data["resampled"] = [attempt.to_json() for attempt in self.resampled]
        return data

    def group(self, key: str) -> str:
        """The value of split-group key `key` ("scene" or "inserted_mesh") as text; a
        DatasetError naming the manifest when the record lacks it."""
        value = getattr(self, key)
        if value is None:
            raise DatasetError(MANIFEST, f"the record of {self.id} has no {key}")
        return str(value)

    @property
    def light(self) -> dict[str, Any]:
        """The spec's light (`spec.light`; datasets made before area lights say `spec.sun`)."""
        spec = self.spec or {}
        return spec.get("light") or spec.get("sun") or {}

    @property
    def light_kind(self) -> str:
        return str(self.light.get("kind", "sun"))


def scene_group(record: ManifestRecord | None, sample_id: str) -> str:
    """A sample's scene for grouped splits: its scene photo, or the sample itself when the
    manifest has no record or no scene for it (a hand-made dataset)."""
    return str(record.scene) if record is not None and record.scene is not None else sample_id


def record_line(record: ManifestRecord) -> str:
    """One manifest line (no newline): the record's JSON with sorted keys, so that the same
    record is the same bytes whoever writes it (a shard, gather, a re-split)."""
    return json.dumps(record.to_json(), sort_keys=True)


def parse_line(line: str | bytes) -> ManifestRecord | None:
    """The record of one manifest line, or None for a torn line (a killed run), a line
    nested too deep for the parser (RecursionError) or a line that is not a record."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return ManifestRecord.from_json(data) if isinstance(data, dict) and "id" in data else None


def read_records(path: Path) -> dict[str, ManifestRecord]:
    """id -> record of one manifest file (manifest.jsonl, or a shard's own); a later line for
    the same id wins; lines `parse_line` rejects are skipped. A missing file is an empty
    manifest."""
    records: dict[str, ManifestRecord] = {}
    if not path.exists():
        return records
    for line in path.read_text(encoding="utf-8").splitlines():
        record = parse_line(line)
        if record is not None:
            records[record.id] = record
    return records


def unparsable_lines(path: Path) -> list[int]:
    """The numbers (from 1) of the non-blank lines of the manifest file at `path` that
    `parse_line` rejects: `validate` reports each as an error, and a verb that rewrites the
    manifest warns that it drops them (`unparsable_warnings`)."""
    if not path.is_file():
        return []
    return [number for number, line in enumerate(
        path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1)
        if line.strip() and parse_line(line) is None]


def unparsable_warnings(path: Path) -> list[str]:
    """One warning line per unparsable line of the manifest at `path`, for the verbs that
    rewrite (or copy) a manifest without it."""
    return [f"{path}: line {number} is not a manifest record (cannot be parsed); it is "
            "dropped" for number in unparsable_lines(path)]


def read_manifest(root: Path) -> dict[str, ManifestRecord]:
    """id -> record of the dataset at `root` (its manifest.jsonl; empty without one)."""
    return read_records(root / MANIFEST)


def by_index(records: Iterable[ManifestRecord]) -> list[ManifestRecord]:
    """The manifest's order: by render index (records without one first, by id)."""
    return sorted(records, key=lambda record: (record.index or 0, record.id))


def write_manifest(path: Path, records: Iterable[ManifestRecord]) -> None:
    """Write `records` (already in the order wanted) as one manifest file, atomically. (A
    running render appends single lines instead: `render.commit.append_manifest`.)"""
    write_text(path, manifest_text(records))


def manifest_text(records: Iterable[ManifestRecord]) -> str:
    """The text of a manifest file holding `records`, in the order given."""
    return "".join(f"{record_line(record)}\n" for record in records)


def split_counts(splits: Iterable[str]) -> dict[str, int]:
    """dataset.json's counts: the total and each split's, splits in name order."""
    counts = Counter(splits)
    return {"total": sum(counts.values()), **dict(sorted(counts.items()))}


@dataclass
class DatasetInfo:
    """dataset.json. None: not known, and not written."""

    format_version: int = FORMAT_VERSION
    generator: str | None = None  # "shadowsynth VERSION" or "toy"
    source: str | None = None  # what `shadow-dataset import`/`combine` made it from
    size: int | None = None  # the toy generator's image size
    settings: dict[str, Any] | None = None  # render.config.RenderConfig.identity()
    counts: dict[str, int] | None = None  # split_counts()
    split: dict[str, Any] | None = None  # the rule of `shadow-dataset split`: test, val, seed, by
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path) -> DatasetInfo | None:
        """The dataset.json at `root`, or None when it is missing or unreadable."""
        data = read_json_object(root / DATASET_JSON)
        if data is None:
            return None
        known, extra = _split_known(cls, data)
        return cls(**known, extra=extra)

    def write(self, root: Path) -> None:
        write_json(root / DATASET_JSON, self.to_json())

    def to_json(self) -> dict[str, Any]:
        return _as_json(self)

    @property
    def split_by(self) -> str | None:
        """The --by of the recorded split rule, if any."""
        by = self.split.get("by") if isinstance(self.split, dict) else None
        return by if isinstance(by, str) else None
