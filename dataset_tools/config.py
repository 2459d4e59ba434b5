"""One frozen configuration per `shadow-dataset` verb that has settings: the CLI takes its
options' defaults from these dataclasses (dataset_tools.settings.defaults) and fills them, so
each default is written once, here or in the module whose fact it is."""

from __future__ import annotations

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


@dataclass(frozen=True)
class ValidateConfig:
    dataset: Path
    tolerance: float = 1.0  # largest mean |shadow - noshadow| (0-255) outside sregion
    show: int = 50  # problems printed (all go to --json)
    json_out: Path | None = None


@dataclass(frozen=True)
class MasksConfig:
    dataset: Path
    darkening_threshold: float = DARKENING_THRESHOLD
    min_area: int = MIN_AREA
    sigma: float = SIGMA
    gray_threshold: float = GRAY_THRESHOLD  # datasets without passes
    visible_fraction: float = VISIBLE_FRACTION

    def __post_init__(self) -> None:
        if not 0 <= self.darkening_threshold <= 1:
            raise ConfigError(f"--darkening-threshold {self.darkening_threshold}: expected a "
                              "share in [0, 1]")
        if self.min_area < 0 or self.sigma < 0:
            raise ConfigError(f"--min-area {self.min_area} / --sigma {self.sigma}: expected "
                              ">= 0")


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


@dataclass(frozen=True)
class InspectConfig:
    dataset: Path
    out: Path = Path("contact_sheet.png")
    seed: int = 0  # for --random
    tile: int = 160  # pixels


@dataclass(frozen=True)
class SidecarsConfig:
    scenes: Path
    sheet: Path = Path("sidecars.png")
    tile: int = 320  # pixels wide
    columns: int = 4
