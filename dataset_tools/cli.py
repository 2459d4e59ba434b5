"""`shadow-dataset`: tools around a Shadow-AR dataset (validate, masks, split, inspect,
sidecars, stats, import, merge, pack, unpack, gather). Every error is one line: a bad file
or dataset through `fail` (exit code 1), a bad argument as typer.BadParameter (exit code 2,
`dataset_tools.entry`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from dataset_tools import config as verbs
from dataset_tools.config import ConfigError
from dataset_tools.settings import defaults

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Check and derive files of Shadow-AR datasets (train/ val/ test/ x "
                       "noshadow shadow mask robject rshadow [smask sregion]).")
console = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

# Every option's default is its config field's (dataset_tools/config.py); --help shows them.
VALIDATE, MASKS, SPLIT = (defaults(verbs.ValidateConfig), defaults(verbs.MasksConfig),
                         defaults(verbs.SplitConfig))
INSPECT, SIDECARS = defaults(verbs.InspectConfig), defaults(verbs.SidecarsConfig)
IMPORT = defaults(verbs.ImportConfig)


def fail(message: str) -> NoReturn:
    """The one way a verb stops on an error: "error: MESSAGE" on stderr, exit code 1."""
    console.print(f"[red]error[/]: {escape(message)}", highlight=False)
    raise typer.Exit(1)


def warn(message: str) -> None:
    """A problem the verb goes on after: "warning: MESSAGE" on stderr."""
    console.print(f"[yellow]warning[/]: {escape(message)}", highlight=False)


@contextmanager
def dataset_errors() -> Iterator[None]:
    """A DatasetError, or a write that finds the disk full, becomes one line naming the file
    (`fail`)."""
    from dataset_tools.layout import DatasetError, is_disk_full

    try:
        yield
    except DatasetError as error:
        fail(str(error))
    except OSError as error:
        if not is_disk_full(error):
            raise
        fail(f"no space left on device writing {error.filename}")


def progress(on: Console | None = None) -> Progress:
    """A transient progress bar on a terminal; nothing at all elsewhere (a log, a pipe), where
    a transient bar would leave a blank line before every message. On this CLI's console, or
    on `on` (shadow-model's)."""
    on = on or console
    return Progress(console=on, transient=True, disable=not on.is_terminal)


def warn_unparsable(*manifests: Path) -> None:
    """A warning per manifest line that cannot be parsed, for the verbs that rewrite (or copy)
    a manifest without it."""
    from dataset_tools.records import unparsable_warnings

    for path in manifests:
        for line in unparsable_warnings(path):
            warn(line)


def verb_config(cls: type[T], *values: Any) -> T:
    """A verb's config (dataset_tools/config.py) from its option values; a value it refuses
    is a bad parameter (one line, exit code 2)."""
    try:
        return cls(*values)
    except ConfigError as error:
        raise typer.BadParameter(str(error)) from None


def refuse_existing_file(path: Path, overwrite: bool) -> None:
    """Stop (`fail`) when the output file `path` exists and --overwrite was not given."""
    if path.exists() and not overwrite:
        fail(f"{path}: exists; use --overwrite to overwrite it")


def _check_outputs(files: tuple[Path | None, ...] = (),
                   folders: tuple[Path | None, ...] = ()) -> None:
    """Before any work: each output given (None = not asked for) can be written; otherwise
    one line naming it, and exit code 1."""
    from dataset_tools.layout import check_writable

    with dataset_errors():
        for path in files:
            if path is not None:
                check_writable(path, folder=False)
        for path in folders:
            if path is not None:
                check_writable(path, folder=True)


def _check_reports(dataset: Path, files: tuple[Path | None, ...] = (),
                   folders: tuple[Path | None, ...] = ()) -> None:
    """Before any work, for the outputs of a verb that reports on `dataset` (None = not asked
    for): each can be written (`_check_outputs`, exit code 1), and one inside the dataset (or
    the dataset folder itself) is a bad parameter (exit code 2), as a report is never written
    among the files it reports on."""
    from dataset_tools.layout import overlap

    _check_outputs(files, folders)
    for path in (*files, *folders):
        how = None if path is None else overlap(path, dataset)
        if how in ("is", "lies inside"):
            raise typer.BadParameter(f"{path} {how} {dataset}, the folder it reports on; "
                                     "write it outside that folder")


def _check_dataset_output(out: Path, *inputs: Path) -> None:
    """Before any work, for a verb that writes a whole folder: `out` can be a folder (not a
    file, a device or a path under a file) and is apart from its inputs (it is not, holds
    none and lies inside none: `layout.refuse_overlap`); otherwise one line naming it, exit
    code 1."""
    from dataset_tools.layout import refuse_overlap

    _check_outputs(folders=(out,))
    with dataset_errors():
        refuse_overlap(out, inputs)


@app.command(help="""Check every file: all ids in every folder, readable PNGs, RGB images and
single-channel masks, equal sizes, binary masks, noshadow == shadow outside sregion, duplicates,
manifest and files agree. Exit code 0 only when the dataset is valid.

Example: shadow-dataset validate demo --json report.json""")
def validate(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON.")]
        = None,
    tolerance: Annotated[float, typer.Option(
        help="Largest mean |shadow - noshadow| (0-255) allowed outside sregion (or "
             "smask dilated by 2 px).")] = VALIDATE.tolerance,
    show: Annotated[int, typer.Option(help="Problems to print (all go to --json).")]
        = VALIDATE.show,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --json file.")] = False,
) -> None:
    from dataset_tools.layout import count_samples
    from dataset_tools.validate import validate_dataset

    config = verb_config(verbs.ValidateConfig, dataset, tolerance, show, json_out, overwrite)
    _check_reports(dataset, files=(json_out,))
    if json_out is not None:
        refuse_existing_file(json_out, overwrite)
    total = count_samples(dataset)
    with progress() as bar:
        task = bar.add_task("validating", total=total or None)
        report = validate_dataset(dataset, config.tolerance,
                                  lambda n: bar.update(task, advance=n))
    for problem in report.problems[:config.show]:
        console.print(str(problem), markup=False, highlight=False)
    if len(report.problems) > config.show:
        console.print(f"... {len(report.problems) - config.show} more (see --json)")
    counts = ", ".join(f"{split} {count}" for split, count in report.counts.items())
    verdict = "[green]valid[/]" if report.valid else "[red]invalid[/]"
    console.print(f"{dataset}: {verdict}; complete samples: {counts or 'none'}; "
                  f"{len(report.errors)} errors, {len(report.problems) - len(report.errors)} "
                  f"warnings")
    if json_out is not None:
        from dataset_tools.layout import write_json

        with dataset_errors():
            write_json(json_out, report.to_json())
    raise typer.Exit(0 if report.valid else 1)


@app.command(help="""Derive robject, rshadow and smask from the render passes (passes/ID.npz)
that render-dataset stores; rerunning with other options rewrites only these masks. smask and
rshadow are the visible cast shadows: darkening above --darkening-threshold and above
--visible-fraction of the sample's peak darkening (the half-shadow line through the penumbra;
0 keeps all above --darkening-threshold). The scene photo's own object and shadow masks, when its
sidecar gave them, stay in robject and rshadow (the passes keep them). sregion (where the
pair differs) is fixed by the render and not rewritten. Samples without passes get smask =
gray(|shadow - noshadow|) > --gray-threshold minus mask, and the command says so.

Example: shadow-dataset masks demo --darkening-threshold 0.1 --min-area 16""")
def masks(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder.")],
    darkening_threshold: Annotated[float, typer.Option(
        help="Relative darkening (0-1) that counts as shadow.")] = MASKS.darkening_threshold,
    min_area: Annotated[int, typer.Option(help="Drop shadow components smaller than this.")]
        = MASKS.min_area,
    sigma: Annotated[float, typer.Option(help="Blur of the darkening before the threshold.")]
        = MASKS.sigma,
    gray_threshold: Annotated[float, typer.Option(
        help="Gray-level threshold (0-255) for datasets without passes.")]
        = MASKS.gray_threshold,
    visible_fraction: Annotated[float, typer.Option(
        help="Share of the peak darkening (0-1) a shadow pixel must reach.")]
        = MASKS.visible_fraction,
) -> None:
    from dataset_tools.layout import iter_samples, refuse_outside_links
    from dataset_tools.masks import rewrite_masks

    config = verb_config(verbs.MasksConfig, dataset, darkening_threshold, min_area, sigma,
                         gray_threshold, visible_fraction)
    with dataset_errors():
        refuse_outside_links(dataset)
    samples = list(iter_samples(dataset))
    if not samples:
        fail(f"{dataset}: no */noshadow/*.png samples")
    from_passes = from_pairs = 0
    with progress() as bar:
        task = bar.add_task("masks", total=len(samples))
        for split, sample_id in samples:
            with dataset_errors():
                used_passes = rewrite_masks(
                    dataset, split, sample_id, config.darkening_threshold, config.min_area,
                    config.sigma, config.gray_threshold, config.visible_fraction)
            from_passes += used_passes
            from_pairs += not used_passes
            bar.update(task, advance=1)
    console.print(f"{dataset}: masks of {from_passes} samples derived from render passes, "
                  f"{from_pairs} from image differences (no passes/ID.npz)")
    print(json.dumps({"from_passes": from_passes, "from_pairs": from_pairs}))


@app.command(help="""Deterministic train/val/test split grouped by scene photo, inserted mesh,
both or none. Files are moved, never copied or deleted; the counts are checked before and
after; manifest.jsonl and dataset.json record it, and later render-dataset runs into the
folder place new samples by the same rule.

With --by both, scenes and meshes are split separately (--test and --val are shares of the
scenes, and of the meshes); a sample goes to test only when its scene AND its mesh are test
groups, to train only when both are train groups, and to val otherwise. Train and test then
share no scene and no mesh, but test holds only the samples that pair a test scene with a
test mesh, and val grows. On small asset sets (6 scenes, a few meshes) no sample may pair
them: split then says so and refuses (exit 1), since the render's own test split would be
lost, unless --allow-empty.

Example: shadow-dataset split demo --test 0.15 --val 0.05 --by both --seed 0""")
def split(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder.")],
    test: Annotated[float, typer.Option(
        help="Share of groups in test (0-0.9; with --val below 1).")] = SPLIT.test,
    val: Annotated[float, typer.Option(
        help="Share of groups in val (0-0.9; with --test below 1).")] = SPLIT.val,
    seed: Annotated[int, typer.Option(help="Seed of the group order.")] = SPLIT.seed,
    by: Annotated[str, typer.Option(help="scene, mesh, both or none.")] = SPLIT.by,
    overwrite: Annotated[bool, typer.Option(help="Replace files that are in the way.")]
        = False,
    allow_empty: Annotated[bool, typer.Option(
        help="Accept a plan that leaves test/ empty (see --by both above).")] = False,
) -> None:
    from dataset_tools.layout import MANIFEST
    from dataset_tools.resplit import resplit

    config = verb_config(verbs.SplitConfig, dataset, test, val, seed, by, overwrite,
                         allow_empty)
    warn_unparsable(dataset / MANIFEST)
    with dataset_errors():
        counts = resplit(config.dataset, config.test, config.val, config.seed, config.by,
                         config.overwrite, config.allow_empty)
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
    out: Annotated[Path, typer.Option(help="PNG to write.")] = INSPECT.out,
    ids: Annotated[str | None, typer.Option(help="Comma-separated sample ids.")] = None,
    random: Annotated[int | None, typer.Option(help="This many random samples.")] = None,
    split_name: Annotated[str | None, typer.Option("--split", help="Only this split.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for --random.")] = INSPECT.seed,
    tile: Annotated[int, typer.Option(min=32, max=1024, help="Tile side in pixels.")]
        = INSPECT.tile,
    overwrite: Annotated[bool, typer.Option(help="Overwrite an existing --out.")] = False,
    html_dir: Annotated[Path | None, typer.Option(
        "--html", help="Write a static gallery (index.html) into this folder instead.")] = None,
) -> None:
    config = verb_config(verbs.InspectConfig, dataset, out, seed, tile, random)
    _check_reports(dataset, files=(out if html_dir is None else None,), folders=(html_dir,))
    if html_dir is not None:
        from dataset_tools.gallery import write_gallery

        refuse_existing_file(html_dir / "index.html", overwrite)
        with dataset_errors():
            console.print(f"wrote {write_gallery(dataset, html_dir)}")
        return

    from dataset_tools.layout import write_png
    from dataset_tools.sheet import contact_sheet, select_samples

    with dataset_errors():
        chosen = select_samples(dataset, ids, config.random, split_name, config.seed)
    refuse_existing_file(out, overwrite)
    sheet = contact_sheet(dataset, chosen, config.tile)
    with dataset_errors():
        write_png(out, sheet)
    console.print(f"{out}: {len(chosen)} samples")


@app.command(help="""Draw each scene photo's sidecar hints onto it and write a contact sheet
of the folder: the horizon (magenta), the ground polygon (green), the shadow direction as an
arrow from the polygon's centre (yellow), the light kinds it allows as text. Lists every
photo or sidecar that cannot be read. Check an annotation by eye before rendering with it.

Example: shadow-dataset sidecars assets/real/scenes --sheet sidecars.png""")
def sidecars(
    scenes: Annotated[Path, typer.Argument(help="Scenes folder (photos + NAME.json sidecars).")],
    sheet: Annotated[Path, typer.Option(help="PNG (or .jpg) to write.")] = SIDECARS.sheet,
    tile: Annotated[int, typer.Option(min=64, max=1024, help="Tile width in pixels.")]
        = SIDECARS.tile,
    columns: Annotated[int, typer.Option(min=1, max=16, help="Tiles per row.")]
        = SIDECARS.columns,
    overwrite: Annotated[bool, typer.Option(help="Overwrite an existing --sheet.")] = False,
) -> None:
    from dataset_tools.layout import write_image, write_png
    from render.hint_sheet import hint_sheet, photo_tiles  # the CLI sees both packages

    _check_reports(scenes, files=(sheet,))
    refuse_existing_file(sheet, overwrite)
    with dataset_errors():
        tiles, problems = photo_tiles(scenes, tile)
    for path, reason in problems:
        warn(f"{path}: {reason}")
    if not tiles:
        fail(f"{scenes}: no readable photos")
    image = hint_sheet(tiles, columns)
    with dataset_errors():
        if sheet.suffix.lower() in (".jpg", ".jpeg"):  # a sheet of photos: JPEG is far smaller
            import cv2

            write_image(sheet, image, (cv2.IMWRITE_JPEG_QUALITY, 85), suffix=".jpg")
        else:
            write_png(sheet, image)
    console.print(f"{sheet}: {len(tiles)} photos" + (f", {len(problems)} problems"
                                                     if problems else ""))


@app.command(help="""Counts per split; distributions of object, shadow, occluder and occluder-
shadow areas, shadow darkness (the sRGB luminance ratio shadow/noshadow inside smask, per
sample, beside the figures of real sunny photo pairs), sun elevation and azimuth, occluders
per sample; scenes and meshes used. Text on screen, JSON with --json, histogram PNGs with
--plots DIR.

Example: shadow-dataset stats demo --plots demo_stats""")
def stats(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the numbers as JSON.")]
        = None,
    plots: Annotated[Path | None, typer.Option(help="Folder for histogram PNGs.")] = None,
    overwrite: Annotated[bool, typer.Option(
        help="Replace an existing --json file and the histogram PNGs in --plots.")] = False,
) -> None:
    from dataset_tools.layout import write_json
    from dataset_tools.stats import collect, plot, plot_paths, summarize, summary_lines

    _check_reports(dataset, files=(json_out,), folders=(plots,))
    for path in [json_out] + (plot_paths(plots) if plots is not None else []):
        if path is not None:
            refuse_existing_file(path, overwrite)
    with dataset_errors():
        data = collect(dataset)
    if not data["counts"]:
        fail(f"{dataset}: no samples (*/noshadow/*.png)")
    summary = summarize(data)
    for line in summary_lines(summary):
        console.print(line)
    with dataset_errors():
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
--format desoba --as-scenes DIR: instead of a dataset, a scenes folder for render-dataset
--scenes: each training photo with its real shadows, its object and shadow masks in DIR/masks/
and a sidecar naming them (README, sidecar files); images on the test list are left out.

Examples: shadow-dataset import Shadow-AR/ shadowar_data --format shadow-ar
          shadow-dataset import DESOBA/ desoba_data --format desoba
          shadow-dataset import --format desoba --as-scenes desoba_scenes DESOBA/""")
def import_(
    source: Annotated[Path, typer.Argument(help="Existing dataset.")],
    dataset: Annotated[Path | None, typer.Argument(
        help="New dataset folder (not with --as-scenes).")] = None,
    format_name: Annotated[str, typer.Option("--format", help="shadow-ar or desoba.")]
        = IMPORT.format_name,
    as_scenes: Annotated[Path | None, typer.Option(
        help="desoba only: write a scenes folder with sidecars here instead.")] = None,
    gray_threshold: Annotated[float, typer.Option(
        help="Gray threshold (0-255) for smask.")] = IMPORT.gray_threshold,
    overwrite: Annotated[bool, typer.Option(
        help="Replace the dataset in a non-empty folder (its old files go).")] = False,
) -> None:
    from dataset_tools.combine import import_desoba, import_shadow_ar
    from dataset_tools.scenes import desoba_as_scenes

    config = verb_config(verbs.ImportConfig, source, dataset, format_name, as_scenes,
                         gray_threshold, overwrite)
    if as_scenes is not None and format_name != "desoba":
        raise typer.BadParameter("--as-scenes needs --format desoba")
    if as_scenes is not None and dataset is not None:
        raise typer.BadParameter("give the new dataset folder or --as-scenes DIR, not both")
    out = as_scenes if as_scenes is not None else dataset
    if out is None:
        raise typer.BadParameter("give the new dataset folder (or --as-scenes DIR)")
    _check_dataset_output(out, source)
    with dataset_errors():
        with progress() as bar:
            task = bar.add_task("importing", total=None)
            tick = lambda: bar.update(task, advance=1)  # noqa: E731
            if as_scenes is not None:
                imported = desoba_as_scenes(source, as_scenes, overwrite, tick=tick)
            elif config.format_name == "desoba":
                imported = import_desoba(source, out, overwrite, tick=tick)
            else:
                imported = import_shadow_ar(source, out, config.gray_threshold, overwrite,
                                            tick=tick)
    what = "images" if as_scenes is not None or config.format_name == "desoba" else "samples"
    for path, reason in imported.skipped:
        warn(f"{path}: {reason}; left out")
    console.print(f"{out}: " + ", ".join(f"{k} {v}" for k, v in sorted(imported.counts.items()))
                  + (f"; {len(imported.skipped)} {what} left out for a bad file (listed above)"
                     if imported.skipped else ""))


@app.command(help="""Join datasets into OUT with an id prefix per source (default: each
folder's name), so real and synthetic data can be trained together. Manifests are joined.

Example: shadow-dataset merge synthetic/ shadowar/ combined/""")
def merge(
    folders: Annotated[list[Path], typer.Argument(help="Two or more datasets, then OUT.")],
    prefix: Annotated[list[str] | None, typer.Option(
        help="Id prefix per source: letters, digits, '_', '-' and '.' ('.' and '-' not "
             "first, no '..').")] = None,
    overwrite: Annotated[bool, typer.Option(
        help="Replace the dataset in a non-empty OUT (its old files go).")] = False,
) -> None:
    from dataset_tools.combine import PrefixError
    from dataset_tools.combine import merge as merge_datasets

    if len(folders) < 3:
        raise typer.BadParameter("give at least two datasets and the output folder")
    *sources, out = folders
    if prefix and len(prefix) != len(sources):
        raise typer.BadParameter(f"{len(sources)} sources but {len(prefix)} --prefix values")
    from dataset_tools.layout import MANIFEST

    _check_dataset_output(out, *sources)
    warn_unparsable(*(source / MANIFEST for source in sources))
    with dataset_errors():
        with progress() as bar:
            task = bar.add_task("merging", total=None)
            try:
                counts = merge_datasets(sources, out, prefix or None, overwrite,
                                        tick=lambda: bar.update(task, advance=1))
            except PrefixError as error:
                raise typer.BadParameter(str(error), param_hint="--prefix") from None
    console.print(f"{out}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


@app.command(help="""Write the dataset as WebDataset tar shards OUT/shard-000000.tar, ... (each
at most --shard-size; a new shard also starts at each split), plus OUT/index.json (shards,
samples per shard and split, codec, measured kB/sample and noshadow PSNR) and a copy of
dataset.json. Key SPLIT/ID; members noshadow.webp (or .jpg/.png), shadow_diff.webp (shadow -
noshadow, lossless, cropped), masks.webp (every mask as a bit plane, lossless) and json.gz
(the manifest record). Only the images, manifest.jsonl and dataset.json travel: passes/ and
other extra folders are left out (the summary lists them). Sizes: 60MB = 60*10^6 bytes,
64MiB = 2^26.

Examples: shadow-dataset pack demo demo_shards --shard-size 60MB
          shadow-dataset pack demo demo_shards --codec jpeg --quality 95 --overwrite""")
def pack(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder.")],
    out: Annotated[Path, typer.Argument(help="Folder for the shards.")],
    shard_size: Annotated[str, typer.Option(help="Cap on each tar file: 60MB, 500KB, 1GB.")]
        = "60MB",
    codec: Annotated[str, typer.Option(help="noshadow: webp, jpeg (lossy) or png (lossless).")]
        = "webp",
    quality: Annotated[int, typer.Option(min=1, max=100, help="WebP/JPEG quality.")] = 90,
    overwrite: Annotated[bool, typer.Option(
        help="Replace what a non-empty OUT holds of shards or a dataset (its old files go).")]
        = False,
) -> None:
    from dataset_tools.pack import PackConfig, pack_dataset, parse_size
    from dataset_tools.pack_format import CODECS

    if codec not in CODECS:
        raise typer.BadParameter(f"--codec must be one of {', '.join(CODECS)}, got {codec!r}")
    try:
        cap = parse_size(shard_size)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--shard-size") from None
    config = PackConfig(dataset, out, cap, codec, quality, overwrite)
    _check_dataset_output(out, dataset)
    with dataset_errors():
        with progress() as bar:
            task = bar.add_task("packing", total=None)
            index = pack_dataset(config, tick=lambda: bar.update(task, advance=1))
    for note in index.not_packed:
        console.print(f"not packed: {note}")
    psnr = index.noshadow_psnr_db
    console.print(f"{out}: {index.samples} samples ("
                  + ", ".join(f"{k} {v}" for k, v in index.splits.items())
                  + f") in {len(index.shards)} shards, {index.kb_per_sample:.2f} kB/sample "
                  f"(kB = 1000 bytes); noshadow {codec}"
                  + (f" q{quality}: PSNR {psnr:.2f} dB" if psnr is not None else ": lossless")
                  + f"; {index.clipped_shadow_pixels} shadow pixels clip to 0-255 on unpack")


@app.command(help="""Restore the folder layout from shards written by pack: the same splits and
ids, manifest.jsonl (the json records, in id order) and dataset.json (from the shards'
folder). noshadow comes back as decoded (lossy unless --codec png); shadow = clip(noshadow +
the exact difference), so the pair differs exactly where and as the original did (the number
of pixels where the clip bites is printed). A folder argument means the shards its index.json
lists (else its shard-*.tar). A truncated or corrupt shard stops with one line naming it;
samples read completely before it are kept, never a partial sample.

Examples: shadow-dataset unpack demo_shards demo_restored
          shadow-dataset unpack demo_shards/shard-000000.tar demo_shards/shard-000001.tar out""")
def unpack(
    paths: Annotated[list[Path], typer.Argument(help="Shard folder or tar files, then OUT.")],
    overwrite: Annotated[bool, typer.Option(
        help="Replace the dataset in a non-empty OUT (its old files go).")] = False,
) -> None:
    from dataset_tools.pack_reader import unpack_shards

    if len(paths) < 2:
        raise typer.BadParameter("give the shards (a folder or tar files) and the output folder")
    *sources, out = paths
    _check_dataset_output(out, *sources)
    with dataset_errors():
        with progress() as bar:
            task = bar.add_task("unpacking", total=None)
            result = unpack_shards(sources, out, overwrite,
                                   tick=lambda: bar.update(task, advance=1))
    console.print(f"{out}: restored " + ", ".join(f"{k} {v}" for k, v in result.counts.items())
                  + f"; {result.clipped} shadow pixels clipped to 0-255")


@app.command(help="""Merge the shards of a sharded render run (render-dataset --shard I/N, or
--executor slurm/local --jobs N) into one dataset: one manifest.jsonl (sorted, one line per
sample, only samples whose files are all there) and the true counts in dataset.json. The
images are already in place: nothing is copied. Each shard missing samples (failed, killed,
never started) is named with the command that re-runs just it; exit code 1 then.

Example: shadow-dataset gather data""")
def gather(
    dataset: Annotated[Path, typer.Argument(help="The run's output folder (--out).")],
) -> None:
    import shlex

    from dataset_tools.gather import gather as gather_shards
    from dataset_tools.gather import shard_manifests
    from dataset_tools.layout import MANIFEST

    warn_unparsable(dataset / MANIFEST, *shard_manifests(dataset))
    with dataset_errors():
        report = gather_shards(dataset)
    splits = ", ".join(f"{split} {count}" for split, count in report.counts.items())
    expected = "" if report.requested is None else f" of {report.requested}"
    console.print(f"{dataset}: {report.total}{expected} samples ({splits or 'none'}) gathered "
                  f"from {report.shard_manifests} shard manifests"
                  + (f"; {report.dropped} lines of incomplete samples dropped"
                     if report.dropped else ""), markup=False, highlight=False)
    for shard in report.incomplete:
        command = "no command recorded" if shard.command is None \
            else f"re-run: {shlex.join(shard.command)}"
        failed = f", {shard.failed} failed" if shard.failed else ""
        console.print(f"shard {shard.index}/{shard.count}: {shard.complete} of {shard.expected} "
                      f"samples ({shard.state}{failed}); {command}",
                      markup=False, highlight=False)
    if report.incomplete:
        raise typer.Exit(1)


def entry() -> None:
    from dataset_tools.entry import run

    run(app)


if __name__ == "__main__":  # `python -m dataset_tools.cli`, as on a GPU box without the scripts
    entry()
