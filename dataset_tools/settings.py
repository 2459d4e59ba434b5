"""What the configurations of all three packages share: a frozen dataclass per command whose
field defaults are written once (the CLI's options read them from here, so `--help` shows
them), its JSON form (written next to a run's outputs and read back), and which of its
fields decide what the run produces.

`render.config`, `model.config` and `dataset_tools.config` hold the dataclasses; this module
holds the machinery, so there is one default lookup, one JSON converter and one identity rule.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

# Field metadata key: True when the field decides what a run produces (a resumed run must
# match it), False when it only says how or where the run goes (workers, threads, out).
IDENTITY = "identity"


def field_default(item: dataclasses.Field) -> Any:
    """The default of one dataclass field, its factory called; MISSING when it has none."""
    if item.default is not dataclasses.MISSING:
        return item.default
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return dataclasses.MISSING


def default(cls: type, name: str) -> Any:
    """The default of field `name` of dataclass `cls`."""
    return field_default(cls.__dataclass_fields__[name])  # type: ignore[attr-defined]


def defaults(cls: type) -> SimpleNamespace:
    """The field defaults of a config class by name (factories called, so a default that
    depends on this machine is this machine's); fields without a default are left out."""
    values = {item.name: field_default(item) for item in dataclasses.fields(cls)}
    return SimpleNamespace(**{name: value for name, value in values.items()
                              if value is not dataclasses.MISSING})


def plain(value: Any) -> Any:
    """`value` as JSON-ready data: dataclasses as dicts, paths as strings, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: plain(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def to_json(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (nested ones as dicts)."""
    return plain(config)


def _typed(hint: Any, value: Any) -> Any:
    """A JSON value back as the type `hint` says: Path, tuple, a nested dataclass."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):  # X | None
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _typed(options[0], value) if len(options) == 1 else value
    if hint is Path:
        return Path(value)
    if origin is tuple or hint is tuple:
        return tuple(value)
    if dataclasses.is_dataclass(hint):
        return from_json(hint, value)
    return value


def from_json(cls: type, data: dict[str, Any]) -> Any:
    """The inverse of to_json for the config class `cls`; an unknown key is a ValueError.
    Keys left out keep their defaults."""
    hints = typing.get_type_hints(cls)
    names = {item.name for item in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {', '.join(sorted(unknown))}")
    return cls(**{name: _typed(hints[name], value) for name, value in data.items()})


def identity(config: Any) -> dict[str, Any]:
    """The fields of `config` that decide what a run produces, as JSON: each field says so in
    its metadata (`IDENTITY`: True, False, or "fields" for a nested dataclass some of whose
    fields do). A field that does not say is an error, so no new setting is silently counted
    in or out."""
    kept: dict[str, Any] = {}
    for item in dataclasses.fields(config):
        if IDENTITY not in item.metadata:
            raise TypeError(f"{type(config).__name__}.{item.name}: the field does not say "
                            f"whether it is part of the run's identity (metadata {IDENTITY!r})")
        role = item.metadata[IDENTITY]
        value = getattr(config, item.name)
        if role == "fields":
            kept[item.name] = identity(value)
        elif role:
            kept[item.name] = plain(value)
    return kept
