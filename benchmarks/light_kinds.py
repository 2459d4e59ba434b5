"""Light-kind benchmark: shadow edge width against light size, speed and noise per kind.

    python benchmarks/light_kinds.py            # 256x256, about 5 minutes on 2 cores
    python benchmarks/light_kinds.py --quick    # 128x128, fewer samples

For each light kind and size (sun angular size, area light size; overcast has none) it renders
--count samples with the embedded assets and reports:
- the shadow edge width: the 10-90 % transition of the inserted object's own darkening, in
  pixels, measured as the area of the band between 10 % and 90 % of the sample's peak
  darkening divided by the length of its 50 % contour (the mean width of the band);
- samples/s of the real run (`render.runner.run`, 1 worker, all threads);
then, per kind, the shadow-region noise: RMSE (0-255) of the shadow image inside smask at the
production sample count against --reference-samples, and the samples/s of the default mix.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import os
import tempfile
from pathlib import Path

import numpy as np
from machine_info import machine


def kind_ranges(kind: str, value: float | None):
    from render.config import SamplingRanges

    base = SamplingRanges()
    lights = dataclasses.replace(base.lights, weights={
        name: float(name == kind) for name in base.lights.weights})
    if kind == "sun" and value is not None:
        lights = dataclasses.replace(lights, sun=dataclasses.replace(lights.sun,
                                                                     angle=(value, value)))
    if kind == "area" and value is not None:
        lights = dataclasses.replace(lights, area=dataclasses.replace(lights.area,
                                                                      size=(value, value)))
    return dataclasses.replace(base, lights=lights)


def run_setting(root: Path, kind: str, value: float | None, count: int, size: int,
                seed: int, samples: int | None = None) -> dict:
    from rich.console import Console

    from model.metrics import edge_width
    from render.config import RenderConfig, RenderSettings
    from render.runner import run

    out = root / f"{kind}-{value}"
    render = RenderSettings() if samples is None else RenderSettings(samples=samples)
    ranges = kind_ranges(kind, value) if kind != "mix" else RenderConfig(out=out).ranges
    config = RenderConfig(out=out, count=count, size=size, seed=seed, ranges=ranges,
                          render=render)
    summary = run(config, Console(file=open(os.devnull, "w")))  # noqa: SIM115
    widths = []
    for npz in sorted((out / "passes").glob("*.npz")):
        with np.load(npz) as passes:
            width = edge_width(passes["darkening"].astype(np.float32),
                               passes["object_index"] == 1)
        if not np.isnan(width):
            widths.append(width)
    return {"kind": kind, "size": value, "samples_per_s": summary.rendered / summary.seconds,
            "edge_width_px": float(np.median(widths)) if widths else None,
            "measured": len(widths)}


def _noise_child(kind: str, size: int, seed: int, count: int, reference: int,
                 queue: mp.Queue) -> None:
    """In a spawned process (imports bpy): RMSE of production vs reference renders."""
    from rich.console import Console

    from render.blender import BlenderScene
    from render.catalog import build_catalog
    from render.config import RenderConfig
    from render.sample import PhotoCache, render_pair
    from render.sampler import SamplingError, sample_scene, sample_seed

    config = RenderConfig(out=Path(tempfile.mkdtemp()), size=size,
                          ranges=kind_ranges(kind, None))
    catalog, _ = build_catalog(config, Console(file=open(os.devnull, "w")))  # noqa: SIM115
    scene = BlenderScene(config.render, size, Path(tempfile.mkdtemp()))
    reference_config = dataclasses.replace(config, render=dataclasses.replace(
        config.render, samples=reference, first_render_samples=reference))
    photos, errors, index = PhotoCache(), [], 0
    while len(errors) < count and index < 50:
        index += 1
        rng = np.random.default_rng(sample_seed(seed, index))
        try:
            spec = sample_scene(rng, index=index, attempt=0, seed=seed, size=size,
                                photos=catalog.photos, meshes=catalog.meshes,
                                upright_meshes=catalog.upright, person_meshes=catalog.people,
                                extent_of=scene.load_mesh, ranges=config.ranges,
                                checks=config.checks, check_photo=photos.get)
        except SamplingError:
            continue
        photo = photos.get(spec.photo.path)
        slow = render_pair(scene, spec, photo, reference_config)
        inside = slow.masks["smask"] > 0
        if inside.sum() < 20:
            continue
        fast = render_pair(scene, spec, photo, config)
        difference = fast.shadow.astype(float) - slow.shadow.astype(float)
        errors.append(float(np.sqrt((difference[inside] ** 2).mean())))
    queue.put(errors)


def noise(kind: str, size: int, seed: int, count: int, reference: int) -> list[float]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_noise_child,
                              args=(kind, size, seed, count, reference, queue))
    process.start()
    result = queue.get(timeout=1800)
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--no-noise", action="store_true", help="skip the reference renders")
    args = parser.parse_args()
    size, count = (128, 6) if args.quick else (256, 12)
    reference = 128 if args.quick else 512
    settings = [("sun", 0.5), ("sun", 2.0), ("sun", 5.0), ("area", 0.3), ("area", 0.8),
                ("area", 1.6), ("overcast", None)]
    root = Path(tempfile.mkdtemp(prefix="light_kinds_"))
    rows = [run_setting(root, kind, value, count, size, seed=7) for kind, value in settings]
    mix = run_setting(root, "mix", None, 2 * count, size, seed=8)
    noise_rows = {} if args.no_noise else {
        kind: noise(kind, size, 9, 2 if args.quick else 3, reference)
        for kind in ("sun", "area", "overcast")}
    print(f"machine: {machine()}")
    print(f"{size}x{size}, {count} samples per setting, 1 worker x all threads")
    print("kind      size    edge 10-90% (px)   samples/s")
    for row in rows:
        width = "-" if row["edge_width_px"] is None else f"{row['edge_width_px']:.2f}"
        label = "-" if row["size"] is None else f"{row['size']:g}"
        print(f"{row['kind']:<9} {label:<7} {width:<18} {row['samples_per_s']:.2f}")
    print(f"default mix: {mix['samples_per_s']:.2f} samples/s")
    for kind, errors in noise_rows.items():
        print(f"noise {kind}: RMSE in smask vs {reference} spp: "
              + ", ".join(f"{error:.2f}" for error in errors)
              + (f"; mean {np.mean(errors):.2f}" if errors else ""))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "size": size, "rows": rows,
                                         "mix": mix, "noise": noise_rows,
                                         "reference_samples": reference}, indent=2) + "\n")


if __name__ == "__main__":
    main()
