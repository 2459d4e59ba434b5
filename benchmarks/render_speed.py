"""Render benchmark: production throughput against a naive baseline, shadow noise, memory.

    python benchmarks/render_speed.py                 # full run, 256x256 (about 10 minutes)
    python benchmarks/render_speed.py --quick         # smaller counts, same table

Prints, for the machine it runs on:
- samples/s of `render-dataset` (the real run: workers, compositing, PNG writes) at 256x256,
  with 1 worker x all threads and with N workers x 1 thread;
- samples/s of a naive baseline in the same run: per sample, a fresh Blender scene with
  Blender's default Cycles settings (4096 samples, adaptive 0.01, denoiser, light tree, 12
  bounces), two full renders;
- shadow noise: RMSE (0-255) of the production shadow image inside the shadow mask against a
  reference render of the same sample at --reference-samples samples per pixel (and at the
  --noise-sweep spp counts);
- worker memory: resident set after 50 and after 500 samples in one persistent Blender scene.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import queue as queue_module
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from machine_info import machine


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def production_rate(out: Path, count: int, workers: int, threads: int, samples: int,
                    pattern: str, scenes: Path | None = None,
                    environment: str = "uniform") -> float:
    from rich.console import Console

    from render.config import RenderConfig, RenderSettings
    from render.runner import run

    shutil.rmtree(out, ignore_errors=True)
    config = RenderConfig(out=out, count=count, workers=workers,
                          render=RenderSettings(samples=samples, threads=threads,
                                                sampling_pattern=pattern,
                                                environment=environment))
    if scenes is not None:
        config = dataclasses.replace(config, scenes=scenes)
    summary = run(config, Console(file=open(os.devnull, "w")))  # noqa: SIM115
    return summary.rendered / summary.seconds


def _child(task: str, args: dict, queue: mp.Queue) -> None:
    """Runs in a spawned process: imports bpy."""
    from render.blender import BlenderScene
    from render.catalog import build_catalog
    from render.config import RenderConfig, RenderSettings
    from render.sample import PhotoCache, make_sample, render_pair
    from render.spec import SceneSpec

    scratch = Path(tempfile.mkdtemp())
    out = Path(args["out"])
    config = RenderConfig(out=out, count=1, size=args["size"],
                          render=RenderSettings(samples=args["samples"],
                                                sampling_pattern=args["pattern"],
                                                environment=args.get("environment", "uniform")))
    from rich.console import Console

    catalog, _ = build_catalog(config, Console(file=open(os.devnull, "w")))  # noqa: SIM115
    photos = PhotoCache()
    result: dict = {}
    if task == "naive":
        naive = dataclasses.replace(config, render=RenderSettings(
            tuned=False, border_shadow_render=False, ground_reach=0.0))
        specs = [SceneSpec.from_json(spec) for spec in args["specs"]]
        start = time.perf_counter()
        for spec in specs:
            scene = BlenderScene(naive.render, naive.size, scratch)
            for obj in spec.objects:
                scene.load_mesh(obj.mesh_path)
            render_pair(scene, spec, photos.get(spec.photo.path), naive)
        result["rate"] = len(specs) / (time.perf_counter() - start)
    elif task == "noise":
        def at_samples(spp: int, adaptive: float, first: int | None = None) -> RenderConfig:
            """The production config with the shadow render (and `first`) at `spp`."""
            return dataclasses.replace(config, render=dataclasses.replace(
                config.render, samples=spp, adaptive_threshold=adaptive,
                first_render_samples=first or config.render.first_render_samples))

        # per production spp count: RMSE of each spec against its one reference render
        errors: dict[int, list[float]] = {spp: [] for spp in args["sweep"]}
        identity = []
        scene = BlenderScene(config.render, config.size, scratch)
        for raw in args["specs"]:
            spec = SceneSpec.from_json(raw)
            photo = photos.get(spec.photo.path)
            for obj in spec.objects:
                scene.load_mesh(obj.mesh_path)
            reference = args["reference_samples"]
            slow = render_pair(scene, spec, photo, at_samples(reference, 0.0, reference))
            inside = slow.masks["smask"] > 0
            for spp in args["sweep"]:
                fast = render_pair(scene, spec, photo,
                                   at_samples(spp, config.render.adaptive_threshold))
                difference = fast.shadow.astype(float) - slow.shadow.astype(float)
                errors[spp].append(float(np.sqrt((difference[inside] ** 2).mean())))
            plain = fast.noshadow.astype(float) - slow.shadow.astype(float)
            identity.append(float(np.sqrt((plain[inside] ** 2).mean())))
        result.update(rmse=errors, shadow_depth=identity)
    elif task == "memory":
        memory = dataclasses.replace(config, out=out)
        scene = BlenderScene(memory.render, memory.size, scratch)
        readings = {}
        for index in range(args["count"]):
            make_sample(scene, photos, catalog, memory, index)
            scene.clear()
            scene.purge()
            if index + 1 in (50, args["count"]):
                readings[index + 1] = rss_mib()
        result["rss"] = readings
    queue.put(result)


def spawned(name: str, target: Callable[..., None], *args: Any) -> Any:
    """Run target(*args, queue) in a spawned process (where bpy may be imported) and return
    what it puts on the queue; RuntimeError naming the step when the process dies first."""
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    while True:
        try:
            result = queue.get(timeout=5)
            break
        except queue_module.Empty:  # check that the child still lives
            if not process.is_alive():
                raise RuntimeError(
                    f"benchmark step {name!r} died (exit {process.exitcode})") from None
    process.join()
    return result


def in_child(task: str, **args) -> dict:
    return spawned(task, _child, task, args)


def measure_set(options: argparse.Namespace, work: Path, scenes: Path | None, cores: int,
                naive_too: bool, environment: str = "uniform") -> None:
    """Production rates, (the naive baseline,) and the shadow noise per light kind of one set
    of scenes, printed."""
    from dataset_tools.records import read_manifest

    rows = []
    rate_single = production_rate(work / "single", options.count, 1, 0, options.samples,
                                  options.sampling_pattern, scenes, environment)
    rows.append((f"production, 1 worker x {cores} threads", rate_single))
    rate_multi = production_rate(work / "multi", options.count, cores, 1, options.samples,
                                 options.sampling_pattern, scenes, environment)
    rows.append((f"production, {cores} workers x 1 thread", rate_multi))
    records = sorted(read_manifest(work / "single").values(), key=lambda r: r.index)
    specs = [record.spec for record in records]
    best = max(rate_single, rate_multi)
    if naive_too:
        naive = in_child("naive", out=str(work / "naive"), size=256, samples=options.samples,
                         pattern=options.sampling_pattern, specs=specs[:options.naive])
        rows.append(("naive baseline (Blender defaults, rebuilt per sample)", naive["rate"]))
    print(f"\n{'setup':<58}{'samples/s':>10}{'s/sample':>10}")
    for name, rate in rows:
        print(f"{name:<58}{rate:>10.3f}{1 / rate:>10.2f}")
    if naive_too:
        print(f"speed-up of production over naive: {best / naive['rate']:.1f}x  (target >= 5x)")
    print(f"production rate: {best:.2f} samples/s  (target >= 1 on 2 cores)")

    sweep = sorted({options.samples, *(int(v) for v in options.noise_sweep.split(",") if v)})
    chosen = specs[:options.noise]
    noise = in_child("noise", out=str(work / "noise"), size=256, samples=options.samples,
                     reference_samples=options.reference_samples, sweep=sweep,
                     pattern=options.sampling_pattern, specs=chosen, environment=environment)
    print(f"\nshadow-region noise vs {options.reference_samples}-spp reference "
          f"(RMSE on 0-255 inside the reference smask):")
    production = noise["rmse"][options.samples]
    kinds = [spec["light"]["kind"] for spec in chosen]
    for index, (rmse, depth) in enumerate(zip(production, noise["shadow_depth"], strict=True)):
        print(f"  sample {index} ({kinds[index]}): {rmse:.2f}  (shadow depth, noshadow vs "
              f"reference: {depth:.1f})")
    print(f"  mean: {np.mean(production):.2f}  (target <= 2.0; {len(production)} samples)")
    for kind in sorted(set(kinds)):
        values = [rmse for rmse, of in zip(production, kinds, strict=True) if of == kind]
        print(f"  {kind}: mean {np.mean(values):.2f} over {len(values)}")
    for spp in sweep:
        print(f"  at {spp:>3} spp: mean {np.mean(noise['rmse'][spp]):.2f}, "
              f"max {np.max(noise['rmse'][spp]):.2f}")


def main() -> None:
    from render.config import RenderSettings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int, default=30, help="production samples per setup")
    parser.add_argument("--naive", type=int, default=2, help="naive baseline samples")
    parser.add_argument("--noise", type=int, default=3, help="samples for the noise check")
    parser.add_argument("--reference-samples", type=int, default=1024)
    parser.add_argument("--noise-sweep", default="",
                        help="also measure the noise at these spp counts, e.g. 8,12,16")
    parser.add_argument("--memory", type=int, default=500, help="samples for the memory check")
    parser.add_argument("--memory-size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=RenderSettings.samples,
                        help="production samples per pixel")
    parser.add_argument("--compare-scenes", type=Path, action="append", default=[],
                        help="also measure production and noise on this scenes folder, side "
                             "by side (repeatable)")
    parser.add_argument("--compare-environment", action="store_true",
                        help="also measure the default scenes with environment = panorama "
                             "(the panorama as the world light), side by side")
    parser.add_argument("--sampling-pattern", default="BLUE_NOISE",
                        help="Cycles sampling pattern of the production settings")
    options = parser.parse_args()
    if options.quick:
        options.count, options.naive, options.noise = 8, 1, 1
        options.reference_samples, options.memory = 256, 100

    cores = os.cpu_count() or 1
    work = Path(tempfile.mkdtemp(prefix="render-bench-"))
    print(f"machine: {machine()}")
    sets = [("default scenes", None, "uniform")]
    if options.compare_environment:
        sets.append(("default scenes, environment = panorama", None, "panorama"))
    sets += [(f"--compare-scenes {folder}", folder, "uniform")
             for folder in options.compare_scenes]
    for number, (title, scenes, environment) in enumerate(sets):
        print(f"\n== {title} ==")
        measure_set(options, work / f"set{number}", scenes, cores, naive_too=number == 0,
                    environment=environment)

    memory = in_child("memory", out=str(work / "memory"), size=options.memory_size,
                      samples=options.samples, pattern=options.sampling_pattern,
                      count=options.memory)
    first, last = memory["rss"][50], memory["rss"][options.memory]
    print(f"\nworker memory ({options.memory_size}x{options.memory_size}, no restarts): "
          f"{first:.0f} MiB after 50 samples, {last:.0f} MiB after {options.memory} "
          f"({last / first:.2f}x, target <= 1.2x)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
