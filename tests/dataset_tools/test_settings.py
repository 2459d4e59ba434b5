"""dataset_tools.settings: the one default lookup, JSON converter and identity rule."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dataset_tools.settings import IDENTITY, default, defaults, from_json, identity, to_json


def _role(value: object, role: object) -> object:
    if isinstance(value, list):
        return field(default_factory=lambda: list(value), metadata={IDENTITY: role})
    return field(default=value, metadata={IDENTITY: role})


@dataclass(frozen=True)
class Inner:
    samples: int = _role(16, True)
    threads: int = _role(0, False)
    span: tuple[float, float] = _role((1.0, 2.0), True)


@dataclass(frozen=True)
class Outer:
    out: Path = _role(Path("runs"), False)
    checkpoint: Path | None = _role(None, True)
    size: int = _role(64, True)
    inner: Inner = field(default_factory=Inner, metadata={IDENTITY: "fields"})
    names: list = _role(["a"], True)


@dataclass(frozen=True)
class Undeclared:
    size: int = 64
    workers: int = field(default=2, metadata={IDENTITY: False})


def test_defaults_call_factories_and_leave_out_required_fields():
    @dataclass(frozen=True)
    class Required:
        data: Path
        workers: int = field(default_factory=lambda: 3)

    assert vars(defaults(Required)) == {"workers": 3}
    assert default(Outer, "inner") == Inner()
    assert default(Outer, "size") == 64


def test_json_round_trip_restores_paths_tuples_and_nested_dataclasses():
    config = Outer(out=Path("/tmp/x"), checkpoint=Path("a/b.pt"),
                   inner=Inner(samples=4, span=(0.5, 3.0)))
    data = json.loads(json.dumps(to_json(config)))
    assert data == {"out": "/tmp/x", "checkpoint": "a/b.pt", "size": 64,
                    "inner": {"samples": 4, "threads": 0, "span": [0.5, 3.0]}, "names": ["a"]}
    back = from_json(Outer, data)
    assert back == config
    assert isinstance(back.checkpoint, Path) and isinstance(back.inner.span, tuple)
    assert from_json(Outer, {"size": 32}) == Outer(size=32)  # keys left out keep defaults


def test_an_unknown_key_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown Outer fields: colour"):
        from_json(Outer, {"size": 32, "colour": "red"})


def test_identity_keeps_declared_fields_only_and_refuses_undeclared_ones():
    config = Outer(out=Path("/elsewhere"), inner=Inner(threads=8))
    assert identity(config) == {"checkpoint": None, "size": 64,
                                "inner": {"samples": 16, "span": [1.0, 2.0]}, "names": ["a"]}
    assert identity(config) == identity(Outer())  # out and threads do not count
    with pytest.raises(TypeError, match="Undeclared.size"):
        identity(Undeclared())
