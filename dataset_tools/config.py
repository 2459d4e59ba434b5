"""One frozen configuration per `shadow-dataset` verb that has settings. Each field that the
command line sets is declared once, here (dataset_tools.options: default, help, domain or
choices); the CLI's options are built from these fields (dataset_tools.commands.verb)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dataset_tools.errors import UsageError
from dataset_tools.masks import (
    DARKENING_THRESHOLD,
    GRAY_THRESHOLD,
    MIN_AREA,
    SIGMA,
    VISIBLE_FRACTION,
)
from dataset_tools.options import PROBABILITY, Domain, check_fields, option
from dataset_tools.split import GROUPINGS, TEST_FRACTION

GRAY_LEVELS = Domain(0.0, 255.0)  # an 8-bit image's: the domain of every gray threshold
AT_LEAST_0 = Domain(0.0)
MAX_SHARE = 0.9  # the largest --test or --val


def dataset_argument(help: str = "Dataset folder") -> Path:
    return option(help=help, argument=True)


def overwrite_option(help: str) -> bool:
    return option(False, help)


@dataclass(frozen=True)
class ValidateConfig:
    dataset: Path = dataset_argument()
    tolerance: float = option(
        1.0, "Largest mean |shadow - noshadow| (0-255) allowed outside sregion (or smask "
        "dilated by 2 px)", domain=AT_LEAST_0)
    show: int = option(50, "Problems to print (all go to --json)", domain=AT_LEAST_0)
    json_out: Path | None = option(None, "Write the report as JSON", names="--json")
    overwrite: bool = overwrite_option("Replace an existing --json file")

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class MasksConfig:
    dataset: Path = dataset_argument()
    darkening_threshold: float = option(
        DARKENING_THRESHOLD, "Relative darkening (0-1) that counts as shadow", domain=PROBABILITY)
    min_area: int = option(MIN_AREA, "Drop shadow components smaller than this",
                           domain=AT_LEAST_0)
    sigma: float = option(SIGMA, "Blur of the darkening before the threshold", domain=AT_LEAST_0)
    gray_threshold: float = option(GRAY_THRESHOLD, "Gray-level threshold (0-255) for datasets "
                                   "without passes", domain=GRAY_LEVELS)
    visible_fraction: float = option(
        VISIBLE_FRACTION, "Share of the peak darkening (0-1) a shadow pixel must reach",
        domain=PROBABILITY)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class SplitConfig:
    dataset: Path = dataset_argument()
    test: float = option(TEST_FRACTION, "Share of groups in test (0-0.9; with --val below 1)",
                         domain=Domain(0.0, MAX_SHARE))
    val: float = option(0.05, "Share of groups in val (0-0.9; with --test below 1)",
                        domain=Domain(0.0, MAX_SHARE))
    seed: int = option(0, "Seed of the group order")
    by: str = option("scene", "scene, mesh, both or none", choices=tuple(GROUPINGS))
    overwrite: bool = overwrite_option("Replace files that are in the way")
    allow_empty: bool = option(False, "Accept a plan that leaves test/ empty (see --by both "
                                      "above)")

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.test + self.val < 1:
            raise UsageError(f"--test {self.test:g} + --val {self.val:g} = "
                             f"{self.test + self.val:g}: the shares must leave train a part "
                             "(a sum below 1)")


@dataclass(frozen=True)
class InspectConfig:
    dataset: Path = dataset_argument()
    out: Path = option(Path("contact_sheet.png"), "PNG to write")
    ids: str | None = option(None, "Comma-separated sample ids")
    random: int | None = option(None, "This many random samples", domain=Domain(1))
    split: str | None = option(None, "Only this split")
    seed: int = option(0, "Seed for --random", domain=AT_LEAST_0)  # numpy's seeds are >= 0
    tile: int = option(160, "Tile side in pixels", domain=Domain(32, 1024))
    overwrite: bool = overwrite_option("Overwrite an existing --out")
    html: Path | None = option(None, "Write a static gallery (index.html) into this folder "
                                     "instead")

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class SidecarsConfig:
    scenes: Path = option(help="Scenes folder (photos + NAME.json sidecars)", argument=True)
    sheet: Path = option(Path("sidecars.png"), "PNG (or .jpg) to write")
    tile: int = option(320, "Tile width in pixels", domain=Domain(64, 1024))
    columns: int = option(4, "Tiles per row", domain=Domain(1, 16))
    quality: int = option(85, "JPEG quality of a .jpg sheet", domain=Domain(1, 100))
    overwrite: bool = overwrite_option("Overwrite an existing --sheet")

    def __post_init__(self) -> None:
        check_fields(self)


IMPORT_FORMATS = ("shadow-ar", "desoba")


@dataclass(frozen=True)
class ImportConfig:
    source: Path = option(help="Existing dataset", argument=True)
    dataset: Path | None = option(None, "New dataset folder (not with --as-scenes)",
                                  argument=True)
    format_name: str = option("shadow-ar", "shadow-ar or desoba", names="--format",
                              choices=IMPORT_FORMATS)
    as_scenes: Path | None = option(None, "Desoba only: write a scenes folder with sidecars "
                                          "here instead")
    gray_threshold: float = option(GRAY_THRESHOLD, "Gray threshold (0-255) for smask",
                                   domain=GRAY_LEVELS)
    overwrite: bool = overwrite_option("Replace the dataset in a non-empty folder (its old "
                                       "files go)")

    def __post_init__(self) -> None:
        check_fields(self)
        if self.as_scenes is not None and self.format_name != "desoba":
            raise UsageError("--as-scenes needs --format desoba")
        if self.as_scenes is not None and self.dataset is not None:
            raise UsageError("give the new dataset folder or --as-scenes DIR, not both")
        if self.as_scenes is None and self.dataset is None:
            raise UsageError("give the new dataset folder (or --as-scenes DIR)")

    @property
    def out(self) -> Path:
        """The folder the import writes: the new dataset, or the scenes folder."""
        return self.as_scenes if self.as_scenes is not None else self.dataset  # type: ignore
