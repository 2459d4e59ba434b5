"""`render-dataset`: render Shadow-AR training pairs from scene photos and meshes."""

from __future__ import annotations

import shlex
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from render.config import DEFAULT_MODELS, DEFAULT_SCENES, RenderConfig, RenderSettings

app = typer.Typer(add_completion=False, rich_markup_mode="rich")


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' -> (I, N) with 0 <= I < N."""
    try:
        index_text, count_text = text.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise typer.BadParameter(f"expected I/N (for example 0/4), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise typer.BadParameter(f"shard index must be in 0..{count - 1}, got {text!r}")
    return index, count


def _note_signals() -> list[int]:
    """Until the run installs its own handlers, SIGINT and SIGTERM are only noted here."""
    noted: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, frame: noted.append(number))
    return noted


@app.command(help="""Render N samples into OUT in the Shadow-AR layout (train/ and test/ with
noshadow, shadow, mask, robject, rshadow, smask), with manifest.jsonl and dataset.json.

A rerun with the same arguments renders only what is missing.

Ctrl-C stops the run cleanly (exit code 130): it prints how many samples are complete and the
command that resumes. Runs started at once on the same folder (here, or on machines that
share it) split the samples between them.

Examples:

  render-dataset --out demo -n 20

  render-dataset --scenes photos/ --models ShapeNetCore.v2/ --out data -n 10000 --workers 2

  render-dataset --scenes photos/ --models shapenet/ --out data -n 100000 --shard 3/64
""")
def main(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output dataset folder.")],
    scenes: Annotated[Path, typer.Option(help="Folder of scene photos (background).")] =
        DEFAULT_SCENES,
    models: Annotated[Path, typer.Option(help="ShapeNet v1/v2 folder or folder of mesh files.")]
        = DEFAULT_MODELS,
    count: Annotated[int, typer.Option("-n", "--count", min=1, help="Samples in the dataset.")]
        = 20,
    size: Annotated[int, typer.Option(min=16, max=4096, help="Image side in pixels.")] = 256,
    seed: Annotated[int, typer.Option(help="Global seed; sample i's seed derives from it.")] = 0,
    workers: Annotated[int, typer.Option(min=1, help="Parallel Blender processes.")] = 1,
    shard: Annotated[str, typer.Option(help="Render only samples i with i % N == I.")] = "0/1",
    samples: Annotated[int, typer.Option(
        min=1, help="Cycles samples per pixel.")] = RenderSettings.samples,
    adaptive_threshold: Annotated[float, typer.Option(
        min=0.0, help="Cycles adaptive sampling noise threshold (0 = off).")
    ] = RenderSettings.adaptive_threshold,
    device: Annotated[str, typer.Option(help="cpu, cuda or optix.")] = "cpu",
    threads: Annotated[int, typer.Option(min=0, help="Threads per worker (0 = all cores).")]
        = 0,
    test_fraction: Annotated[float, typer.Option(
        min=0.0, max=0.9, help="Share of scene photos whose samples go to test/.")] = 0.15,
    shadow_threshold: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Relative darkening that counts as shadow in the masks.")]
        = RenderConfig.shadow_threshold,
    shadow_visible_fraction: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="smask/rshadow keep pixels darkened by at least this share of "
        "the sample's peak darkening (0.5: the half-shadow line a person would outline; 0 keeps "
        "all above --shadow-threshold).")] = RenderConfig.shadow_visible_fraction,
    max_faces: Annotated[int, typer.Option(min=1, help="Skip meshes with more faces.")]
        = 1_000_000,
    restart_every: Annotated[int, typer.Option(
        min=1, help="Replace each worker after this many samples.")] = 100,
    overwrite: Annotated[bool, typer.Option(
        help="Render every sample again, and accept changed settings.")] = False,
) -> None:
    early_signals = _note_signals()  # Ctrl-C while starting: the run then stops at once
    from render.runner import RunError, print_summary, run

    console = Console(stderr=True, soft_wrap=True)
    if device not in ("cpu", "cuda", "optix"):
        raise typer.BadParameter(f"--device must be cpu, cuda or optix, got {device!r}")
    shard_index, shard_count = parse_shard(shard)
    config = RenderConfig(
        out=out.resolve(), scenes=scenes.resolve(), models=models.resolve(), count=count,
        size=size, seed=seed, workers=workers,
        shard_index=shard_index, shard_count=shard_count, overwrite=overwrite,
        restart_every=restart_every, test_fraction=test_fraction,
        shadow_threshold=shadow_threshold, shadow_visible_fraction=shadow_visible_fraction,
        max_faces=max_faces,
        render=RenderSettings(samples=samples, adaptive_threshold=adaptive_threshold,
                              device=device, threads=threads),  # type: ignore[arg-type]
    )
    try:
        summary = run(config, console, early_signals)
    except RunError as error:
        console.print(f"[red]error[/]: {error}")
        raise typer.Exit(2) from None
    if summary.interrupted:
        command = shlex.join(["render-dataset", *sys.argv[1:]])
        console.print(f"interrupted: {summary.complete} of {summary.requested} samples complete "
                      f"in {config.out}; resume with: {command}", markup=False, highlight=False)
        raise typer.Exit(128 + summary.interrupted)
    print_summary(summary, config, console)
    if summary.requested and summary.complete == 0:
        raise typer.Exit(1)


def entry() -> None:
    app()
