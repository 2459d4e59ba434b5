"""`shadow-dataset`: tools around a Shadow-AR dataset (validate, masks, split, inspect,
sidecars, stats, import, merge, pack, unpack, gather). The options of a verb with settings are
its config's fields (dataset_tools/config.py); every error is one line and an exit code from
dataset_tools.errors (docs/errors.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dataset_tools import config as configs
from dataset_tools.commands import Options, console, progress, say, verb, warn
from dataset_tools.errors import ShadowsynthError, UsageError
from dataset_tools.pack import PackConfig

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Check and derive files of Shadow-AR datasets (train/ val/ test/ x "
                       "noshadow shadow mask robject rshadow [smask sregion]).")
DatasetFolder = Annotated[Path, typer.Argument(help="Dataset folder.", metavar="DATASET")]


def warn_unparsable(*manifests: Path) -> None:
    """A warning per manifest line that cannot be parsed, for the verbs that rewrite (or copy)
    a manifest without it."""
    from dataset_tools.records import unparsable_warnings

    for path in manifests:
        for line in unparsable_warnings(path):
            warn(line)


def refuse_existing_file(path: Path, overwrite: bool) -> None:
    """A ShadowsynthError (exit code 1) when the output file `path` exists and --overwrite was
    not given."""
    if path.exists() and not overwrite:
        raise ShadowsynthError(f"{path}: exists; use --overwrite to overwrite it")


def _check_outputs(files: tuple[Path | None, ...] = (),
                   folders: tuple[Path | None, ...] = ()) -> None:
    """Before any work: each output given (None = not asked for) can be written; otherwise
    one line naming it, and exit code 1."""
    from dataset_tools.layout import check_writable

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
            raise UsageError(f"{path} {how} {dataset}, the folder it reports on; "
                             "write it outside that folder")


def _check_dataset_output(out: Path, *inputs: Path) -> None:
    """Before any work, for a verb that writes a whole folder: `out` can be a folder (not a
    file, a device or a path under a file) and is apart from its inputs (it is not, holds
    none and lies inside none: `layout.refuse_overlap`, exit code 2); otherwise one line
    naming it, exit code 1."""
    from dataset_tools.layout import refuse_overlap

    _check_outputs(folders=(out,))
    refuse_overlap(out, inputs)


@verb(app, configs=(configs.ValidateConfig,), help="""Check every file: all ids in every folder,
readable PNGs, RGB images and single-channel masks, equal sizes, binary masks, noshadow ==
shadow outside sregion, duplicates, manifest and files agree. Exit code 0 only when the
dataset is valid.

Example: shadow-dataset validate demo --json report.json""")
def validate(options: Options) -> None:
    from dataset_tools.layout import count_samples, write_json
    from dataset_tools.validate import validate_dataset

    config = options.build(configs.ValidateConfig)
    dataset, json_out = config.dataset, config.json_out
    _check_reports(dataset, files=(json_out,))
    if json_out is not None:
        refuse_existing_file(json_out, config.overwrite)
    total = count_samples(dataset)
    with progress() as bar:
        task = bar.add_task("validating", total=total or None)
        report = validate_dataset(dataset, config.tolerance,
                                  lambda n: bar.update(task, advance=n))
    for problem in report.problems[:config.show]:
        say(str(problem))
    if len(report.problems) > config.show:
        console.print(f"... {len(report.problems) - config.show} more (see --json)")
    counts = ", ".join(f"{split} {count}" for split, count in report.counts.items())
    verdict = "[green]valid[/]" if report.valid else "[red]invalid[/]"
    console.print(f"{dataset}: {verdict}; complete samples: {counts or 'none'}; "
                  f"{len(report.errors)} errors, {len(report.problems) - len(report.errors)} "
                  f"warnings")
    if json_out is not None:
        write_json(json_out, report.to_json())
    raise typer.Exit(0 if report.valid else 1)


@verb(app, configs=(configs.MasksConfig,), help="""Derive robject, rshadow and smask from the render
passes (passes/ID.npz) that render-dataset stores; rerunning with other options rewrites only
these masks. smask and rshadow are the visible cast shadows: darkening above
--darkening-threshold and above --visible-fraction of the sample's peak darkening (the
half-shadow line through the penumbra; 0 keeps all above --darkening-threshold). The scene
photo's own object and shadow masks, when its sidecar gave them, stay in robject and rshadow
(the passes keep them). sregion (where the pair differs) is fixed by the render and not
rewritten. Samples without passes get smask = gray(|shadow - noshadow|) > --gray-threshold
minus mask, and the command says so.

Example: shadow-dataset masks demo --darkening-threshold 0.1 --min-area 16""")
def masks(options: Options) -> None:
    from dataset_tools.layout import iter_samples, refuse_outside_links
    from dataset_tools.masks import rewrite_masks

    config = options.build(configs.MasksConfig)
    dataset = config.dataset
    refuse_outside_links(dataset)
    samples = list(iter_samples(dataset))
    if not samples:
        raise ShadowsynthError(f"{dataset}: no */noshadow/*.png samples")
    from_passes = from_pairs = 0
    with progress() as bar:
        task = bar.add_task("masks", total=len(samples))
        for split_name, sample_id in samples:
            used_passes = rewrite_masks(
                dataset, split_name, sample_id, config.darkening_threshold, config.min_area,
                config.sigma, config.gray_threshold, config.visible_fraction)
            from_passes += used_passes
            from_pairs += not used_passes
            bar.update(task, advance=1)
    console.print(f"{dataset}: masks of {from_passes} samples derived from render passes, "
                  f"{from_pairs} from image differences (no passes/ID.npz)")
    print(json.dumps({"from_passes": from_passes, "from_pairs": from_pairs}))


@verb(app, configs=(configs.SplitConfig,),
      help="""Deterministic train/val/test split grouped by scene
photo, inserted mesh, both or none. Files are moved, never copied or deleted; the counts are
checked before and after; manifest.jsonl and dataset.json record it, and later render-dataset
runs into the folder place new samples by the same rule.

With --by both, scenes and meshes are split separately (--test and --val are shares of the
scenes, and of the meshes); a sample goes to test only when its scene AND its mesh are test
groups, to train only when both are train groups, and to val otherwise. Train and test then
share no scene and no mesh, but test holds only the samples that pair a test scene with a
test mesh, and val grows. On small asset sets (6 scenes, a few meshes) no sample may pair
them: split then says so and refuses (exit 1), since the render's own test split would be
lost, unless --allow-empty.

Example: shadow-dataset split demo --test 0.15 --val 0.05 --by both --seed 0""")
def split(options: Options) -> None:
    from dataset_tools.layout import MANIFEST
    from dataset_tools.resplit import resplit

    config = options.build(configs.SplitConfig)
    warn_unparsable(config.dataset / MANIFEST)
    counts = resplit(config.dataset, config.test, config.val, config.seed, config.by,
                     config.overwrite, config.allow_empty)
    console.print(f"{config.dataset}: " + ", ".join(f"{name} {counts.get(name, 0)}"
                                                    for name in ("train", "val", "test")))


@verb(app, configs=(configs.InspectConfig,),
      help="""Contact sheet PNG, one row per sample: noshadow |
shadow | mask | robject | rshadow | smask (masks tinted over the image; a missing file shows as
a crossed tile).

With --html DIR: a static gallery page with paging, filters by split/scene/mesh and each
sample's parameters (images are referenced from the dataset, not copied).

\b
Examples:
  shadow-dataset inspect demo --random 8 --out sheet.png
  shadow-dataset inspect demo --ids 000003,000007 --out two.png
  shadow-dataset inspect demo --html demo_gallery""")
def inspect(options: Options) -> None:
    config = options.build(configs.InspectConfig)
    dataset, out, html_dir = config.dataset, config.out, config.html
    _check_reports(dataset, files=(out if html_dir is None else None,), folders=(html_dir,))
    if html_dir is not None:
        from dataset_tools.gallery import write_gallery

        refuse_existing_file(html_dir / "index.html", config.overwrite)
        console.print(f"wrote {write_gallery(dataset, html_dir)}")
        return

    from dataset_tools.layout import write_png
    from dataset_tools.sheet import contact_sheet, select_samples

    chosen = select_samples(dataset, config.ids, config.random, config.split, config.seed)
    refuse_existing_file(out, config.overwrite)
    sheet = contact_sheet(dataset, chosen, config.tile)
    write_png(out, sheet)
    console.print(f"{out}: {len(chosen)} samples")


@verb(app, configs=(configs.SidecarsConfig,),
      help="""Draw each scene photo's sidecar hints onto it and
write a contact sheet of the folder: the horizon (magenta), the ground polygon (green), the
shadow direction as an arrow from the polygon's centre (yellow), the light kinds it allows as
text. Lists every photo or sidecar that cannot be read. Check an annotation by eye before
rendering with it.

Example: shadow-dataset sidecars assets/real/scenes --sheet sidecars.png""")
def sidecars(options: Options) -> None:
    from dataset_tools.layout import write_image, write_png
    from render.hint_sheet import hint_sheet, photo_tiles  # the CLI sees both packages

    config = options.build(configs.SidecarsConfig)
    scenes, sheet = config.scenes, config.sheet
    _check_reports(scenes, files=(sheet,))
    refuse_existing_file(sheet, config.overwrite)
    tiles, problems = photo_tiles(scenes, config.tile)
    for path, reason in problems:
        warn(f"{path}: {reason}")
    if not tiles:
        raise ShadowsynthError(f"{scenes}: no readable photos")
    image = hint_sheet(tiles, config.columns)
    if sheet.suffix.lower() in (".jpg", ".jpeg"):  # a sheet of photos: JPEG is far smaller
        import cv2

        write_image(sheet, image, (cv2.IMWRITE_JPEG_QUALITY, config.quality), suffix=".jpg")
    else:
        write_png(sheet, image)
    console.print(f"{sheet}: {len(tiles)} photos" + (f", {len(problems)} problems"
                                                     if problems else ""))


@verb(app, help="""Counts per split; distributions of object, shadow, occluder and occluder-
shadow areas, shadow darkness (the sRGB luminance ratio shadow/noshadow inside smask, per
sample, beside the figures of real sunny photo pairs), sun elevation and azimuth, occluders
per sample; scenes and meshes used. Text on screen, JSON with --json, histogram PNGs with
--plots DIR.

Example: shadow-dataset stats demo --plots demo_stats""")
def stats(
    options: Options,
    dataset: DatasetFolder,
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
    data = collect(dataset)
    if not data["counts"]:
        raise ShadowsynthError(f"{dataset}: no samples (*/noshadow/*.png)")
    summary = summarize(data)
    for line in summary_lines(summary):
        console.print(line)
    if json_out is not None:
        write_json(json_out, summary)
    if plots is not None:
        for path in plot(data, plots):
            console.print(f"wrote {path}")


@verb(app, "import", configs=(configs.ImportConfig,), help="""Bring an existing dataset into the
layout. --format shadow-ar: a folder as released with ARShadowGAN (train/ test/ x noshadow
shadow mask robject rshadow); smask is derived from the pair, and every file is checked before
anything is written. --format desoba: ShadowImage/, DeshadowedImage/, InstanceMask/ (object
ids), ShadowMask/ (caster ids, 255 = no caster) and *train*.txt / *test*.txt name lists; one
sample per object with both a mask and a shadow, its noshadow made by taking its (dilated)
shadow area from the deshadowed image. --format desoba --as-scenes DIR: instead of a dataset,
a scenes folder for render-dataset --scenes: each training photo with its real shadows, its
object and shadow masks in DIR/masks/ and a sidecar naming them (README, sidecar files);
images on the test list are left out.

\b
Examples:
  shadow-dataset import Shadow-AR/ shadowar_data --format shadow-ar
  shadow-dataset import DESOBA/ desoba_data --format desoba
  shadow-dataset import --format desoba --as-scenes desoba_scenes DESOBA/""")
def import_(options: Options) -> None:
    from dataset_tools.combine import import_desoba, import_shadow_ar
    from dataset_tools.scenes import desoba_as_scenes

    config = options.build(configs.ImportConfig)
    source, out = config.source, config.out
    _check_dataset_output(out, source)
    with progress() as bar:
        task = bar.add_task("importing", total=None)
        tick = lambda: bar.update(task, advance=1)  # noqa: E731
        if config.as_scenes is not None:
            imported = desoba_as_scenes(source, out, config.overwrite, tick=tick)
        elif config.format_name == "desoba":
            imported = import_desoba(source, out, config.overwrite, tick=tick)
        else:
            imported = import_shadow_ar(source, out, config.gray_threshold, config.overwrite,
                                        tick=tick)
    what = "images" if config.format_name == "desoba" else "samples"
    for path, reason in imported.skipped:
        warn(f"{path}: {reason}; left out")
    console.print(f"{out}: " + ", ".join(f"{k} {v}" for k, v in sorted(imported.counts.items()))
                  + (f"; {len(imported.skipped)} {what} left out for a bad file (listed above)"
                     if imported.skipped else ""))


@verb(app, help="""Join datasets into OUT with an id prefix per source (default: each
folder's name), so real and synthetic data can be trained together. Manifests are joined.

Example: shadow-dataset merge synthetic/ shadowar/ combined/""")
def merge(
    options: Options,
    folders: Annotated[list[Path], typer.Argument(help="Two or more datasets, then OUT.",
                                                  metavar="FOLDER")],
    prefix: Annotated[list[str] | None, typer.Option(
        help="Id prefix per source: letters, digits, '_', '-' and '.' ('.' and '-' not "
             "first, no '..').")] = None,
    overwrite: Annotated[bool, typer.Option(
        help="Replace the dataset in a non-empty OUT (its old files go).")] = False,
) -> None:
    from dataset_tools.combine import merge as merge_datasets
    from dataset_tools.layout import MANIFEST

    if len(folders) < 3:
        raise UsageError("give at least two datasets and the output folder")
    *sources, out = folders
    if prefix and len(prefix) != len(sources):
        raise UsageError(f"{len(sources)} sources but {len(prefix)} --prefix values")
    _check_dataset_output(out, *sources)
    warn_unparsable(*(source / MANIFEST for source in sources))
    with progress() as bar:
        task = bar.add_task("merging", total=None)
        counts = merge_datasets(sources, out, prefix or None, overwrite,
                                tick=lambda: bar.update(task, advance=1))
    console.print(f"{out}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


@verb(app, configs=(PackConfig,), help="""Write the dataset as WebDataset tar shards
OUT/shard-000000.tar, ... (each at most --shard-size; a new shard also starts at each split),
plus OUT/index.json (shards, samples per shard and split, codec, measured kB/sample and
noshadow PSNR) and a copy of dataset.json. Key SPLIT/ID; members noshadow.webp (or
.jpg/.png), shadow_diff.webp (shadow - noshadow, lossless, cropped), masks.webp (every mask as
a bit plane, lossless) and json.gz (the manifest record). Only the images, manifest.jsonl and
dataset.json travel: passes/ and other extra folders are left out (the summary lists them).
Sizes: 60MB = 60*10^6 bytes, 64MiB = 2^26.

\b
Examples:
  shadow-dataset pack demo demo_shards --shard-size 60MB
  shadow-dataset pack demo demo_shards --codec jpeg --quality 95 --overwrite""")
def pack(options: Options) -> None:
    from dataset_tools.pack import pack_dataset

    config = options.build(PackConfig)
    out = config.out
    _check_dataset_output(out, config.dataset)
    with progress() as bar:
        task = bar.add_task("packing", total=None)
        index = pack_dataset(config, tick=lambda: bar.update(task, advance=1))
    for note in index.not_packed:
        console.print(f"not packed: {note}")
    psnr = index.noshadow_psnr_db
    console.print(f"{out}: {index.samples} samples ("
                  + ", ".join(f"{k} {v}" for k, v in index.splits.items())
                  + f") in {len(index.shards)} shards, {index.kb_per_sample:.2f} kB/sample "
                  f"(kB = 1000 bytes); noshadow {config.codec}"
                  + (f" q{config.quality}: PSNR {psnr:.2f} dB" if psnr is not None
                     else ": lossless")
                  + f"; {index.clipped_shadow_pixels} shadow pixels clip to 0-255 on unpack")


@verb(app, help="""Restore the folder layout from shards written by pack: the same splits and
ids, manifest.jsonl (the json records, in id order) and dataset.json (from the shards'
folder). noshadow comes back as decoded (lossy unless --codec png); shadow = clip(noshadow +
the exact difference), so the pair differs exactly where and as the original did (the number
of pixels where the clip bites is printed). A folder argument means the shards its index.json
lists (else its shard-*.tar). A truncated or corrupt shard stops with one line naming it;
samples read completely before it are kept, never a partial sample.

\b
Examples:
  shadow-dataset unpack demo_shards demo_restored
  shadow-dataset unpack shards/shard-000000.tar shards/shard-000001.tar out""")
def unpack(
    options: Options,
    paths: Annotated[list[Path], typer.Argument(help="Shard folder or tar files, then OUT.",
                                                metavar="PATH")],
    overwrite: Annotated[bool, typer.Option(
        help="Replace the dataset in a non-empty OUT (its old files go).")] = False,
) -> None:
    from dataset_tools.pack_reader import unpack_shards

    if len(paths) < 2:
        raise UsageError("give the shards (a folder or tar files) and the output folder")
    *sources, out = paths
    _check_dataset_output(out, *sources)
    with progress() as bar:
        task = bar.add_task("unpacking", total=None)
        result = unpack_shards(sources, out, overwrite, tick=lambda: bar.update(task, advance=1))
    console.print(f"{out}: restored " + ", ".join(f"{k} {v}" for k, v in result.counts.items())
                  + f"; {result.clipped} shadow pixels clipped to 0-255")


@verb(app, help="""Merge the shards of a sharded render run (render-dataset --shard I/N, or
--executor slurm/local --jobs N) into one dataset: one manifest.jsonl (sorted, one line per
sample, only samples whose files are all there) and the true counts in dataset.json. The
images are already in place: nothing is copied. Each shard missing samples (failed, killed,
never started) is named with the command that re-runs just it; exit code 1 then.

Example: shadow-dataset gather data""")
def gather(
    options: Options,
    dataset: Annotated[Path, typer.Argument(help="The run's output folder (--out).",
                                            metavar="DATASET")],
) -> None:
    import shlex

    from dataset_tools.gather import gather as gather_shards
    from dataset_tools.gather import shard_manifests
    from dataset_tools.layout import MANIFEST

    warn_unparsable(dataset / MANIFEST, *shard_manifests(dataset))
    report = gather_shards(dataset)
    splits = ", ".join(f"{name} {count}" for name, count in report.counts.items())
    expected = "" if report.requested is None else f" of {report.requested}"
    say(f"{dataset}: {report.total}{expected} samples ({splits or 'none'}) gathered from "
        f"{report.shard_manifests} shard manifests"
        + (f"; {report.dropped} lines of incomplete samples dropped" if report.dropped else ""))
    for shard in report.incomplete:
        command = "no command recorded" if shard.command is None \
            else f"re-run: {shlex.join(shard.command)}"
        failed = f", {shard.failed} failed" if shard.failed else ""
        say(f"shard {shard.index}/{shard.count}: {shard.complete} of {shard.expected} "
            f"samples ({shard.state}{failed}); {command}")
    if report.incomplete:
        raise typer.Exit(1)


def entry() -> None:
    from dataset_tools.commands import run_app

    run_app(app)


if __name__ == "__main__":  # `python -m dataset_tools.cli`, as on a GPU box without the scripts
    entry()
