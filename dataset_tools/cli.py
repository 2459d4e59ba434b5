"""`shadow-dataset`: tools around a Shadow-AR dataset (validate, masks, split, inspect, stats)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode="rich",
                  help="Check and derive files of Shadow-AR datasets (train/ test/ x noshadow "
                       "shadow mask robject rshadow [smask]).")
console = Console(stderr=True, soft_wrap=True)


@contextmanager
def dataset_errors() -> Iterator[None]:
    """A DatasetError becomes one line naming the file, and exit code 1."""
    from dataset_tools.layout import DatasetError

    try:
        yield
    except DatasetError as error:
        console.print(f"[red]error[/]: {error}", highlight=False)
        raise typer.Exit(1) from None


@app.command(help="""Check every file: all ids in every folder, readable PNGs, RGB images and
single-channel masks, equal sizes, binary masks, noshadow == shadow outside smask, duplicates,
manifest and files agree. Exit code 0 only when the dataset is valid.

Example: shadow-dataset validate demo --json report.json""")
def validate(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON.")]
        = None,
    tolerance: Annotated[float, typer.Option(
        help="Largest mean |shadow - noshadow| (0-255) allowed outside smask.")] = 1.0,
    show: Annotated[int, typer.Option(help="Problems to print (all go to --json).")] = 50,
) -> None:
    from dataset_tools.validate import validate_dataset

    total = sum(1 for _ in dataset.glob("*/noshadow/*.png"))
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("validating", total=total or None)
        report = validate_dataset(dataset, tolerance,
                                  lambda n: progress.update(task, advance=n))
    for problem in report.problems[:show]:
        console.print(str(problem), markup=False, highlight=False)
    if len(report.problems) > show:
        console.print(f"... {len(report.problems) - show} more (see --json)")
    counts = ", ".join(f"{split} {count}" for split, count in report.counts.items())
    verdict = "[green]valid[/]" if report.valid else "[red]invalid[/]"
    console.print(f"{dataset}: {verdict}; complete samples: {counts or 'none'}; "
                  f"{len(report.errors)} errors, {len(report.problems) - len(report.errors)} "
                  f"warnings")
    if json_out is not None:
        from dataset_tools.layout import write_json

        write_json(json_out, report.to_json())
    raise typer.Exit(0 if report.valid else 1)


@app.command(help="""Derive robject, rshadow and smask from the render passes (passes/ID.npz)
that render-dataset stores; rerunning with other options rewrites only these masks. Samples
without passes get smask = gray(|shadow - noshadow|) > --pair-threshold minus mask, and the
command says so.

Example: shadow-dataset masks demo --threshold 0.1 --min-area 16""")
def masks(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder.")],
    threshold: Annotated[float, typer.Option(help="Relative darkening that counts as shadow.")]
        = 0.06,
    min_area: Annotated[int, typer.Option(help="Drop shadow components smaller than this.")]
        = 8,
    sigma: Annotated[float, typer.Option(help="Blur of the darkening before the threshold.")]
        = 1.0,
    pair_threshold: Annotated[float, typer.Option(
        help="Gray-level threshold (0-255) for datasets without passes.")] = 10.0,
) -> None:
    from dataset_tools.masks import rewrite_masks

    samples = sorted(dataset.glob("*/noshadow/*.png"))
    if not samples:
        console.print(f"[red]error[/]: {dataset}: no */noshadow/*.png samples")
        raise typer.Exit(1)
    from_passes = from_pairs = 0
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("masks", total=len(samples))
        for noshadow in samples:
            with dataset_errors():
                used_passes = rewrite_masks(dataset, noshadow.parent.parent.name, noshadow.stem,
                                            threshold, min_area, sigma, pair_threshold)
            from_passes += used_passes
            from_pairs += not used_passes
            progress.update(task, advance=1)
    console.print(f"{dataset}: masks of {from_passes} samples derived from render passes, "
                  f"{from_pairs} from image differences (no passes/ID.npz)")
    print(json.dumps({"from_passes": from_passes, "from_pairs": from_pairs}))


@app.command(help="""Deterministic train/val/test split grouped by scene photo, inserted mesh,
both (train and test share no scene and no mesh; samples whose scene and mesh fall in
different splits go to val) or none. Files are moved, never copied or
deleted; the counts are checked before and after; manifest.jsonl and dataset.json record it.

Example: shadow-dataset split demo --test 0.15 --val 0.05 --by both --seed 0""")
def split(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder.")],
    test: Annotated[float, typer.Option(min=0.0, max=0.9, help="Share of groups in test.")]
        = 0.15,
    val: Annotated[float, typer.Option(min=0.0, max=0.9, help="Share of groups in val.")]
        = 0.05,
    seed: Annotated[int, typer.Option(help="Seed of the group order.")] = 0,
    by: Annotated[str, typer.Option(help="scene, mesh, both or none.")] = "scene",
    force: Annotated[bool, typer.Option(help="Replace files that are in the way.")] = False,
) -> None:
    from dataset_tools.resplit import resplit
    from dataset_tools.split import GROUPINGS

    if by not in GROUPINGS:
        raise typer.BadParameter(f"--by must be one of {', '.join(GROUPINGS)}, got {by!r}")
    with dataset_errors():
        counts = resplit(dataset, test, val, seed, by, force)
    console.print(f"{dataset}: " + ", ".join(f"{name} {counts.get(name, 0)}"
                                             for name in ("train", "val", "test")))


@app.command(help="""Contact sheet PNG, one row per sample: noshadow | shadow | mask | robject |
rshadow | smask (masks tinted over the image; a missing file shows as a crossed tile).

With --html DIR: a static gallery page with paging, filters by split/scene/mesh and each
sample's parameters (images are referenced from the dataset, not copied).

Examples: shadow-dataset inspect demo --random 8 --out sheet.png
          shadow-dataset inspect demo --ids 000003,000007 --out two.png
          shadow-dataset inspect demo --html demo_gallery""")
def inspect(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder.")],
    out: Annotated[Path, typer.Option(help="PNG to write.")] = Path("contact_sheet.png"),
    ids: Annotated[str | None, typer.Option(help="Comma-separated sample ids.")] = None,
    random: Annotated[int | None, typer.Option(help="This many random samples.")] = None,
    split_name: Annotated[str | None, typer.Option("--split", help="Only this split.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for --random.")] = 0,
    tile: Annotated[int, typer.Option(min=32, max=1024, help="Tile side in pixels.")] = 160,
    force: Annotated[bool, typer.Option(help="Overwrite an existing --out.")] = False,
    html_dir: Annotated[Path | None, typer.Option(
        "--html", help="Write a static gallery (index.html) into this folder instead.")] = None,
) -> None:
    import numpy as np

    if html_dir is not None:
        from dataset_tools.gallery import write_gallery

        if (html_dir / "index.html").exists() and not force:
            console.print(f"[red]error[/]: {html_dir / 'index.html'}: exists; use --force")
            raise typer.Exit(1)
        console.print(f"wrote {write_gallery(dataset, html_dir)}")
        return

    from dataset_tools.layout import write_png
    from dataset_tools.resplit import find_samples
    from dataset_tools.sheet import contact_sheet

    with dataset_errors():
        located = find_samples(dataset)
    if split_name is not None:
        located = {key: value for key, value in located.items() if value == split_name}
    if ids:
        wanted = [item.strip() for item in ids.split(",") if item.strip()]
        unknown = [item for item in wanted if item not in located]
        if unknown:
            console.print(f"[red]error[/]: {dataset}: no sample {unknown[0]}")
            raise typer.Exit(1)
        chosen = wanted
    else:
        chosen = sorted(located)
        if random is not None:
            rng = np.random.default_rng(seed)
            chosen = sorted(rng.choice(chosen, size=min(random, len(chosen)), replace=False))
        else:
            chosen = chosen[:16]
    if not chosen:
        console.print(f"[red]error[/]: {dataset}: no samples to show")
        raise typer.Exit(1)
    if out.exists() and not force:
        console.print(f"[red]error[/]: {out}: exists; use --force to overwrite it")
        raise typer.Exit(1)
    sheet = contact_sheet(dataset, [(located[item], item) for item in chosen], tile)
    write_png(out, sheet)
    console.print(f"{out}: {len(chosen)} samples")


@app.command(help="""Counts per split; distributions of object, shadow, occluder and occluder-
shadow areas, sun elevation and azimuth, occluders per sample; scenes and meshes used. Text on
screen, JSON with --json, histogram PNGs with --plots DIR.

Example: shadow-dataset stats demo --plots demo_stats""")
def stats(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the numbers as JSON.")]
        = None,
    plots: Annotated[Path | None, typer.Option(help="Folder for histogram PNGs.")] = None,
) -> None:
    from dataset_tools.layout import write_json
    from dataset_tools.stats import collect, plot, summarize

    with dataset_errors():
        data = collect(dataset)
    if not data["counts"]:
        console.print(f"[red]error[/]: {dataset}: no samples (*/noshadow/*.png)")
        raise typer.Exit(1)
    summary = summarize(data)
    console.print("samples: " + ", ".join(f"{k} {v}" for k, v in summary["counts"].items()))
    for kind, values in summary["area_fraction"].items():
        if values:
            console.print(f"{kind:>8} area: mean {values['mean']:.2%}, median "
                          f"{values['median']:.2%}, max {values['max']:.2%}")
    if summary["sun_elevation_deg"]:
        elevation = summary["sun_elevation_deg"]
        console.print(f"sun elevation: {elevation['min']:.0f}-{elevation['max']:.0f} deg, "
                      f"mean {elevation['mean']:.0f}")
    if summary["occluders"]:
        console.print("occluders per sample: " + ", ".join(
            f"{k}: {v}" for k, v in summary["occluders"].items()))
    console.print(f"scenes used: {len(summary['scenes'])}, meshes used: "
                  f"{len(summary['meshes'])}")
    if json_out is not None:
        write_json(json_out, summary)
    if plots is not None:
        for path in plot(data, plots):
            console.print(f"wrote {path}")


@app.command("import", help="""Bring an existing dataset into the layout. --format shadow-ar: a
folder as released with ARShadowGAN (train/ test/ x noshadow shadow mask robject rshadow);
smask is derived from the pair, and every file is checked before anything is written.
--format desoba: ShadowImage/, DeshadowedImage/, InstanceMask/ (object ids), ShadowMask/
(caster ids, 255 = no caster) and *train*.txt / *test*.txt name lists; one sample per
object with both a mask and a shadow, its noshadow made by taking its (dilated) shadow area
from the deshadowed image.

Examples: shadow-dataset import Shadow-AR/ shadowar_data --format shadow-ar
          shadow-dataset import DESOBA/ desoba_data --format desoba""")
def import_(
    source: Annotated[Path, typer.Argument(help="Existing dataset.")],
    dataset: Annotated[Path, typer.Argument(help="New dataset folder.")],
    format_name: Annotated[str, typer.Option("--format", help="shadow-ar or desoba.")]
        = "shadow-ar",
    threshold: Annotated[float, typer.Option(help="Gray threshold (0-255) for smask.")] = 10.0,
    force: Annotated[bool, typer.Option(help="Write into a non-empty folder.")] = False,
) -> None:
    from dataset_tools.combine import import_desoba, import_shadow_ar

    if format_name not in ("shadow-ar", "desoba"):
        raise typer.BadParameter(f"--format must be shadow-ar or desoba, got {format_name!r}")
    with dataset_errors():
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("importing", total=None)
            tick = lambda: progress.update(task, advance=1)  # noqa: E731
            if format_name == "desoba":
                counts = import_desoba(source, dataset, force, tick=tick)
            else:
                counts = import_shadow_ar(source, dataset, threshold, force, tick=tick)
    console.print(f"{dataset}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


@app.command(help="""Join datasets into OUT with an id prefix per source (default: each
folder's name), so real and synthetic data can be trained together. Manifests are joined.

Example: shadow-dataset merge synthetic/ shadowar/ combined/""")
def merge(
    folders: Annotated[list[Path], typer.Argument(help="Two or more datasets, then OUT.")],
    prefix: Annotated[list[str] | None, typer.Option(help="Id prefix per source.")] = None,
    force: Annotated[bool, typer.Option(help="Write into a non-empty OUT.")] = False,
) -> None:
    from dataset_tools.combine import merge as merge_datasets

    if len(folders) < 3:
        raise typer.BadParameter("give at least two datasets and the output folder")
    *sources, out = folders
    if prefix and len(prefix) != len(sources):
        raise typer.BadParameter(f"{len(sources)} sources but {len(prefix)} --prefix values")
    with dataset_errors():
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("merging", total=None)
            counts = merge_datasets(sources, out, prefix or None, force,
                                    tick=lambda: progress.update(task, advance=1))
    console.print(f"{out}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


def entry() -> None:
    app()
