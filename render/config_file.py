"""`render-dataset --config FILE.toml` and `--print-config`: every sampled distribution and
render setting in one TOML file, checked key by key.

The file mirrors `RenderConfig`: top-level keys (`size`, `seed`, ...), then the tables
`[render]`, `[ranges.camera]`, `[ranges.objects]`, `[ranges.photo]`, `[ranges.materials]`,
`[ranges.lights]` (with `[ranges.lights.sun]`, `.area`, `.overcast`) and `[checks]`. Keys left
out keep their defaults. An unknown key, a value of the wrong type, a range with min > max, a
probability outside [0, 1], a value outside its setting's domain (`render.config.Domain`:
NaN and infinity included) or a bad weight table (a weight that is negative, NaN or infinite,
or all of them 0) is one error naming the file, the key, the
value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
import tomllib
from pathlib import Path
from typing import Any

from dataset_tools.errors import UsageError
from dataset_tools.light_labels import LIGHT_KINDS
from render.config import (
    AREA_SHAPES,
    FILE_FIELDS,
    RenderConfig,
    setting_problem,
)

WEIGHT_KEYS = {"weights": LIGHT_KINDS, "shape_weights": AREA_SHAPES}


class ConfigFileError(UsageError):
    """A config file that cannot be used; the message names the file and the key."""


def _check_value(value: Any, default: Any, item: dataclasses.Field) -> Any:
    """`value` converted to the default's type; ValueError with the reason otherwise."""
    if isinstance(default, dict):
        allowed = WEIGHT_KEYS[item.name]
        if not isinstance(value, dict):
            raise ValueError(f"expected a table of weights for {', '.join(allowed)}")
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise ValueError(f"unknown entry {unknown[0]!r} (expected {', '.join(allowed)})")
        weights = {name: _number(value.get(name, 0.0)) for name in allowed}
        bad = next((name for name, weight in weights.items()
                    if not (math.isfinite(weight) and weight >= 0)), None)
        if bad is not None or not sum(weights.values()) > 0:
            got = f"{bad} = {weights[bad]}" if bad is not None else "all 0"
            raise ValueError(f"weights must be >= 0, finite and not all 0, got {got}")
        return weights
    if isinstance(default, tuple):
        if not isinstance(value, list) or len(value) != 2:
            raise ValueError("expected a range [min, max]")
        low, high = (_integer(value[0]), _integer(value[1])) if isinstance(default[0], int) \
            else (_number(value[0]), _number(value[1]))
        if low > high:
            raise ValueError(f"range min {low} > max {high}")
        if item.metadata.get("probability") and not 0 <= low <= high <= 1:
            raise ValueError(f"a probability must lie in [0, 1], got [{low}, {high}]")
        return (low, high)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    if isinstance(default, int):
        return _integer(value)
    if isinstance(default, float):
        number = _number(value)
        if item.metadata.get("probability") and not 0 <= number <= 1:
            raise ValueError(f"a probability must lie in [0, 1], got {number}")
        return number
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError("expected a string")
        return value
    raise ValueError(f"cannot be set from a file ({type(default).__name__})")


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _apply(instance: Any, table: dict[str, Any], prefix: str, allowed: tuple[str, ...] | None,
           source: Path) -> Any:
    fields = {item.name: item for item in dataclasses.fields(instance)}
    changes = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        item = fields.get(key)
        if item is None or (allowed is not None and key not in allowed):
            raise ConfigFileError(f"{source}: unknown key {name}")
        default = getattr(instance, key)
        if dataclasses.is_dataclass(default):
            if not isinstance(value, dict):
                raise ConfigFileError(f"{source}: {name}: expected a table")
            changes[key] = _apply(default, value, f"{name}.", None, source)
            continue
        try:
            changes[key] = _check_value(value, default, item)
        except ValueError as error:
            raise ConfigFileError(f"{source}: {name}: {error}") from None
        problem = setting_problem(item, changes[key])
        if problem is not None:
            raise ConfigFileError(f"{source}: {name}: {problem}")
    return dataclasses.replace(instance, **changes)


def load_config(path: Path, base: RenderConfig) -> RenderConfig:
    """`base` with every key of the TOML file at `path` applied. Raises ConfigFileError."""
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigFileError(f"{path}: cannot read the config file ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigFileError(f"{path}: not valid TOML ({error})") from None
    return _apply(base, table, "", FILE_FIELDS, path)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {_toml_value(item)}" for key, item in value.items()) \
            + " }"
    return repr(value)


def _comment(text: str) -> list[str]:
    return [f"# {line}" for line in textwrap.wrap(text, 94)]


def _table_lines(instance: Any, name: str) -> list[str]:
    lines = [""]
    doc = (type(instance).__doc__ or "").strip().splitlines()
    if doc and not doc[0].startswith(type(instance).__name__ + "("):
        lines += [f"# {line.strip()}" for line in doc if line.strip()]
    lines.append(f"[{name}]")
    nested = []
    for item in dataclasses.fields(instance):
        value = getattr(instance, item.name)
        if dataclasses.is_dataclass(value):
            nested.append((value, f"{name}.{item.name}"))
            continue
        if item.metadata.get("help"):
            lines += _comment(item.metadata["help"])
        lines.append(f"{item.name} = {_toml_value(value)}")
    for value, child in nested:
        lines += _table_lines(value, child)
    return lines


def print_config(config: RenderConfig) -> str:
    """The resolved settings of `config` as a commented TOML file that `load_config` reads
    back to the same settings."""
    lines = ["# render-dataset --config FILE.toml: every sampled distribution and render",
             "# setting. Ranges [min, max] are sampled uniformly; keys left out keep these",
             "# defaults; command-line options override the file.", ""]
    tables = []
    for name in FILE_FIELDS:
        value = getattr(config, name)
        if dataclasses.is_dataclass(value):
            tables.append((value, name))
            continue
        item = next(item for item in dataclasses.fields(config) if item.name == name)
        lines += [*_comment(item.metadata["help"]), f"{name} = {_toml_value(value)}"]
    for value, name in tables:
        if name == "ranges":  # only sub-tables: no empty [ranges] header
            for item in dataclasses.fields(value):
                lines += _table_lines(getattr(value, item.name), f"ranges.{item.name}")
        else:
            lines += _table_lines(value, name)
    return "\n".join(lines) + "\n"
