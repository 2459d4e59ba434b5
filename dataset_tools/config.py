"""One frozen configuration per `shadow-dataset` verb that has settings: the CLI takes its
options' defaults from these dataclasses (dataset_tools.settings.defaults) and fills them, so
each default is written once, here or in the module whose fact it is."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from dataset_tools.masks import (
    DARKENING_THRESHOLD,
    GRAY_THRESHOLD,
    MIN_AREA,
    SIGMA,
    VISIBLE_FRACTION,
)
from dataset_tools.split import GROUPINGS, TEST_FRACTION


class ConfigError(ValueError):
    """An option value that cannot work; the message names the option."""


def check_range(option: str, value: float, low: float, high: float = math.inf) -> None:
    """ConfigError naming `option` unless low <= value <= high (NaN never is)."""
    if not low <= value <= high:  # False for NaN
        expected = f">= {low:g}" if high == math.inf else f"a number in [{low:g}, {high:g}]"
        raise ConfigError(f"{option} {value:g}: expected {expected}")


# Gray levels of an 8-bit image: the domain of every gray threshold.
GRAY_LEVELS = (0.0, 255.0)


@dataclass(frozen=True)
class ValidateConfig:
    dataset: Path
    tolerance: float = 1.0  # largest mean |shadow - noshadow| (0-255) outside sregion
    show: int = 50  # problems printed (all go to --json)
    json_out: Path | None = None
    overwrite: bool = False  # replace an existing --json

    def __post_init__(self) -> None:
        check_range("--tolerance", self.tolerance, 0.0)
        check_range("--show", self.show, 0)


@dataclass(frozen=True)
class MasksConfig:
    dataset: Path
    darkening_threshold: float = DARKENING_THRESHOLD
    min_area: int = MIN_AREA
    sigma: float = SIGMA
    gray_threshold: float = GRAY_THRESHOLD  # datasets without passes
    visible_fraction: float = VISIBLE_FRACTION

    def __post_init__(self) -> None:
        check_range("--darkening-threshold", self.darkening_threshold, 0.0, 1.0)
        check_range("--min-area", self.min_area, 0)
        check_range("--sigma", self.sigma, 0.0)
        check_range("--gray-threshold", self.gray_threshold, *GRAY_LEVELS)
        check_range("--visible-fraction", self.visible_fraction, 0.0, 1.0)


MAX_SHARE = 0.9  # the largest --test or --val


@dataclass(frozen=True)
class SplitConfig:
    dataset: Path
    test: float = TEST_FRACTION  # share of groups in test
    val: float = 0.05  # share of groups in val
    seed: int = 0
    by: str = "scene"  # a key of dataset_tools.split.GROUPINGS
    overwrite: bool = False
    allow_empty: bool = False

    def __post_init__(self) -> None:
        if self.by not in GROUPINGS:
            raise ConfigError(f"--by must be one of {', '.join(GROUPINGS)}, got {self.by!r}")
        check_range("--test", self.test, 0.0, MAX_SHARE)
        check_range("--val", self.val, 0.0, MAX_SHARE)
        if not self.test + self.val < 1:
            raise ConfigError(f"--test {self.test:g} + --val {self.val:g} = "
                              f"{self.test + self.val:g}: the shares must leave train a part "
                              "(a sum below 1)")


@dataclass(frozen=True)
class InspectConfig:
    dataset: Path
    out: Path = Path("contact_sheet.png")
    seed: int = 0  # for --random
    tile: int = 160  # pixels
    random: int | None = None  # show this many random samples

    def __post_init__(self) -> None:
        check_range("--seed", self.seed, 0)  # numpy's seeds are >= 0
        if self.random is not None:
            check_range("--random", self.random, 1)


@dataclass(frozen=True)
class SidecarsConfig:
    scenes: Path
    sheet: Path = Path("sidecars.png")
    tile: int = 320  # pixels wide
    columns: int = 4


IMPORT_FORMATS = ("shadow-ar", "desoba")


@dataclass(frozen=True)
class ImportConfig:
    source: Path
    dataset: Path | None = None
    format_name: str = "shadow-ar"  # a key of IMPORT_FORMATS
    as_scenes: Path | None = None  # desoba only: a scenes folder instead of a dataset
    gray_threshold: float = GRAY_THRESHOLD  # smask of shadow-ar imports
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.format_name not in IMPORT_FORMATS:
            raise ConfigError(f"--format must be {' or '.join(IMPORT_FORMATS)}, got "
                              f"{self.format_name!r}")
        check_range("--gray-threshold", self.gray_threshold, *GRAY_LEVELS)
