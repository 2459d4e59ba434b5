"""Each setting declared once, on the config field it fills: its default, help, domain or
choices, and whether (and how) the command line sets it. `dataset_tools.commands` builds a
verb's options from these fields; the configs check their values with `field_problem`.

    tolerance: float = option(1.0, "largest mean |shadow - noshadow| (0-255) outside sregion",
                              domain=Domain(0, math.inf))

`option(..., cli=False)` declares a setting the command line does not take (a config file's
only); a field without `option` metadata is internal to the config.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field
from typing import Any

from dataset_tools.errors import UsageError
from dataset_tools.settings import IDENTITY

OPTION = "option"  # metadata key: the field's `Flag` when the command line sets it


@dataclass(frozen=True)
class Domain:
    """The values a setting may take: finite numbers from `low` to `high` (inf: no bound),
    each end included unless `open_low` / `open_high`."""

    low: float
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False

    def __contains__(self, value: float) -> bool:
        if not math.isfinite(value):  # also NaN, which every comparison lets through
            return False
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        return above and below

    def __str__(self) -> str:
        if self.high == math.inf:
            return f"{'>' if self.open_low else '>='} {self.low:g}"
        return (f"{'(' if self.open_low else '['}{self.low:g}, {self.high:g}"
                f"{')' if self.open_high else ']'}")

    def expected(self) -> str:
        return f"a number {self}" if self.high == math.inf else f"a number in {self}"


PROBABILITY = Domain(0.0, 1.0)


@dataclass(frozen=True)
class Rule:
    """A domain no interval says: `test(value)` is True for the values allowed, `expected`
    says which in words ("a positive multiple of 32")."""

    test: Callable[[Any], bool]
    expected: str


@dataclass(frozen=True)
class Flag:
    """How the command line sets a field: `names` (default `--field-name`; a bool gets
    `--name/--no-name`), or a positional argument."""

    names: tuple[str, ...] = ()
    argument: bool = False
    metavar: str | None = None
    parser: Callable[[str], Any] | None = None  # text -> value, where the type is not enough
    default_text: str | None = None  # the default as --help shows it, where not str(default)


def option(default: Any = MISSING, help: str = "", *, names: tuple[str, ...] | str = (),
           argument: bool = False, metavar: str | None = None, cli: bool = True,
           parser: Callable[[str], Any] | None = None, default_text: str | None = None,
           domain: Domain | Rule | None = None, choices: tuple[str, ...] | None = None,
           identity: bool | str | None = None, factory: Callable[[], Any] | None = None,
           **extra: Any) -> Any:
    """A dataclass field declaring one setting: `help` is the command line's help and a config
    file's comment, `domain` or `choices` the values it may take (every value of a range or a
    tuple), `identity` whether it decides what a run produces (dataset_tools.settings), `cli`
    whether the command line sets it; `extra` metadata (probability, weights) is the config
    file's."""
    metadata: dict[str, Any] = {"help": help, **extra}
    if domain is not None:
        metadata["domain"] = domain
    if choices is not None:
        metadata["choices"] = choices
    if identity is not None:
        metadata[IDENTITY] = identity
    if cli:
        metadata[OPTION] = Flag((names,) if isinstance(names, str) else names, argument,
                                metavar, parser, default_text)
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    if isinstance(default, dict | list):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def domain_of(item: dataclasses.Field) -> Domain | Rule | None:
    domain = item.metadata.get("domain")
    if domain is None and item.metadata.get("probability"):
        return PROBABILITY
    return domain


def violation(item: dataclasses.Field, value: Any) -> Domain | Rule | tuple[str, ...] | None:
    """What `value` (of the field's type; a range or a tuple as a tuple) breaks of what the
    setting `item` declares: its Domain (some number outside it), its Rule, or its choices;
    None when it is one of its values (or None is given). The one check of every setting's
    value, for the command line and the config file alike."""
    if value is None:
        return None
    domain = domain_of(item)
    if isinstance(domain, Rule) and not domain.test(value):
        return domain
    if isinstance(domain, Domain) and isinstance(value, int | float | tuple) \
            and not isinstance(value, bool):
        values = value if isinstance(value, tuple) else (value,)
        if not all(number in domain for number in values):
            return domain
    choices = item.metadata.get("choices")
    if choices is not None and value not in choices:
        return tuple(choices)
    return None


def expected(item: dataclasses.Field, value: Any) -> str | None:
    """What the setting `item` expects, in words, when `value` is not one of its values
    (`violation`); None when it is."""
    broken = violation(item, value)
    if isinstance(broken, Rule):
        return broken.expected
    if isinstance(broken, Domain):
        if not isinstance(value, tuple) or len(value) == 1:
            return broken.expected()
        return f"numbers {broken}" if broken.high == math.inf else f"numbers in {broken}"
    if broken is not None:
        return f"one of {', '.join(broken)}"
    return None


def flag_name(item: dataclasses.Field) -> str:
    """The option that sets `item` on the command line (its first name), else its name."""
    flag = item.metadata.get(OPTION)
    if flag is None or flag.argument:
        return item.name.upper() if flag is not None else item.name
    names = [name.split("/")[0] for name in flag.names]
    return next((name for name in names if name.startswith("--")),
                names[0] if names else "--" + item.name.replace("_", "-"))


def shown(value: Any) -> str:
    """A value as an error line shows it: text quoted, a tuple as its numbers."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, tuple):
        return " ".join(f"{item:g}" if isinstance(item, float) else str(item) for item in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def refusal(item: dataclasses.Field, value: Any) -> UsageError | None:
    """UsageError "--OPTION VALUE: expected WHAT" when `value` is outside the domain or choices
    `item` declares; None when it is one of its values."""
    wanted = expected(item, value)
    if wanted is None:
        return None
    return UsageError(f"{flag_name(item)} {shown(value)}: expected {wanted}")


def check_fields(config: Any) -> None:
    """The `refusal` of the first field of the dataclass instance `config` whose value is
    outside its declared domain or choices, raised."""
    for item in dataclasses.fields(config):
        error = refusal(item, getattr(config, item.name))
        if error is not None:
            raise error
