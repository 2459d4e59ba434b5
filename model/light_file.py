"""`predict --lights FILE`: a light per image, from a JSON object or a CSV table.

JSON: {"photo.jpg": {"direction": 135, "elevation": 40, "softness": 0.1}, "other": {...}}
CSV:  image,direction,elevation,softness  (a header row, then one row per image)

An image is named by its file name or its stem; direction is the shadow's image direction in
degrees (0 = right, 90 = down, clockwise), elevation degrees in (0, 90], softness in [0, 1].
Elevation and softness may be left out (a missing key, an empty cell): the command line's
--elevation and --softness stand in. An image the file does not name gets the command line's
light (or none). Every problem is a DatasetError naming the file and the entry."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

from dataset_tools.layout import DatasetError

FIELDS = ("direction", "elevation", "softness")


@dataclass(frozen=True)
class FileLight:
    """One image's light from the file; None: the command line's value."""

    direction: float  # degrees in the image, 0 = right, 90 = down
    elevation: float | None = None  # degrees in (0, 90]
    softness: float | None = None  # [0, 1]


def _number(path: Path, name: str, field: str, value: object, required: bool) -> float | None:
    if value is None or value == "":
        if required:
            raise DatasetError(path, f"entry {name!r}: no {field} (degrees)")
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DatasetError(path, f"entry {name!r}: {field} {value!r} is not a number") from None
    domains = {"direction": (math.isfinite(number), "finite degrees"),
               "elevation": (0 < number <= 90, "degrees in (0, 90]"),
               "softness": (0 <= number <= 1, "a value in [0, 1]")}
    ok, expected = domains[field]
    if not ok:
        raise DatasetError(path, f"entry {name!r}: {field} {value!r}, expected {expected}")
    return number


def _entry(path: Path, name: str, values: dict) -> FileLight:
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise DatasetError(path, f"entry {name!r}: unknown key {unknown[0]!r} (expected "
                                 f"{', '.join(FIELDS)})")
    direction = _number(path, name, "direction", values.get("direction"), required=True)
    return FileLight(direction,  # type: ignore[arg-type]
                     _number(path, name, "elevation", values.get("elevation"), required=False),
                     _number(path, name, "softness", values.get("softness"), required=False))


def _rows(path: Path, text: str) -> dict[str, dict]:
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as error:
            raise DatasetError(path, f"not JSON ({error})") from None
        except RecursionError:
            raise DatasetError(path, "JSON nested too deeply to read") from None
        if not isinstance(data, dict):
            raise DatasetError(path, "expected a JSON object of image name -> light")
        for name, values in data.items():
            if not isinstance(values, dict):
                raise DatasetError(path, f"entry {name!r}: expected an object with "
                                         f"{', '.join(FIELDS)}")
        return data
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or "image" not in reader.fieldnames:
        raise DatasetError(path, f"expected a CSV header image,{','.join(FIELDS)}")
    rows: dict[str, dict] = {}
    for line, row in enumerate(reader, start=2):
        name = (row.pop("image") or "").strip()
        if not name or None in row:
            raise DatasetError(path, f"line {line}: expected image,{','.join(FIELDS)}")
        if name in rows:
            raise DatasetError(path, f"entry {name!r}: named twice (line {line})")
        rows[name] = {key: value.strip() for key, value in row.items()}
    return rows


def read_lights(path: Path) -> dict[str, FileLight]:
    """Image name or stem -> its light, from a JSON or CSV lights file (see above)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise DatasetError(path, f"cannot read the lights file ({reason})") from None
    return {str(name): _entry(path, str(name), values)
            for name, values in _rows(path, text).items()}


def light_for(lights: dict[str, FileLight], image: Path) -> FileLight | None:
    """The file's light of `image`: by file name, else by stem; None when it names neither."""
    return lights.get(image.name, lights.get(image.stem))


def unmatched(lights: dict[str, FileLight], images: list[Path]) -> list[str]:
    """The names of the lights file that name none of `images` (a typo, most likely)."""
    known = {image.name for image in images} | {image.stem for image in images}
    return [name for name in lights if name not in known]
