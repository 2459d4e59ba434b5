"""Scene-cue benchmark: what the rule "every sun- or area-lit sample shows where its light is"
costs in render speed, and how many samples carry a cue, side by side in one run.

    python benchmarks/scene_cues.py                      # 256x256, 2 x 2 runs of 40 samples
    python benchmarks/scene_cues.py --count 1500 --size 128 --rounds 1 --json out.json

It renders --count samples from the defaults (the embedded real photos and meshes, the default
light mix) with `[checks] scene_cue = true` (the default) and with `false` (the sampling
before the rule), alternating the two --rounds times so that a drifting machine hurts both
alike, with 2 workers of 1 thread, and reports samples/s of each, their ratio, the attempts
drawn again for `no_scene_cue`, and the cue audit of `shadow-dataset stats` per light kind.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from machine_info import machine


def render(out: Path, count: int, size: int, seed: int, scene_cue: bool) -> dict:
    from rich.console import Console

    from dataset_tools.stats import collect, summarize
    from render.config import RenderConfig
    from render.runner import run

    base = RenderConfig(out=out)
    config = dataclasses.replace(base, count=count, size=size, seed=seed, workers=2,
                                 render=dataclasses.replace(base.render, threads=1),
                                 checks=dataclasses.replace(base.checks, scene_cue=scene_cue))
    summary = run(config, Console(file=open(os.devnull, "w")))  # noqa: SIM115
    stats = summarize(collect(out))
    return {"scene_cue": scene_cue, "rendered": summary.rendered, "seconds": summary.seconds,
            "samples_per_s": summary.rendered / summary.seconds,
            "drawn_again": dict(summary.resampled),
            "light_cues": stats["light_cues"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    info = machine()
    print(f"machine: {info}; {args.count} samples at {args.size}x{args.size}, 2 workers x 1 "
          f"thread, {args.rounds} rounds", flush=True)
    runs = []
    with tempfile.TemporaryDirectory() as work:
        for round_index in range(args.rounds):
            for scene_cue in (False, True):
                out = Path(work) / f"cue-{scene_cue}-{round_index}"
                result = render(out, args.count, args.size, seed=round_index,
                                scene_cue=scene_cue)
                runs.append(result)
                print(f"scene_cue={str(scene_cue):5s} round {round_index}: "
                      f"{result['samples_per_s']:.2f} samples/s", flush=True)
    speed = {flag: float(np.mean([run["samples_per_s"] for run in runs
                                  if run["scene_cue"] == flag])) for flag in (False, True)}
    print(f"samples/s: scene_cue off {speed[False]:.2f}, on {speed[True]:.2f} "
          f"(on / off = {speed[True] / speed[False]:.3f})")
    for flag in (False, True):
        totals: dict[str, dict[str, int]] = {}
        for run in (run for run in runs if run["scene_cue"] == flag):
            for kind, row in run["light_cues"].items():
                if not isinstance(row, dict):
                    continue
                total = totals.setdefault(kind, {"samples": 0, "with_cue": 0})
                total["samples"] += row["samples"]
                total["with_cue"] += row["with_cue"]
        shares = ", ".join(f"{kind} {row['with_cue']}/{row['samples']}"
                           for kind, row in sorted(totals.items()))
        print(f"scene_cue={flag}: samples with a cue: {shares}")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "count": args.count,
                                         "size": args.size, "speed": {str(k): v for k, v in
                                                                       speed.items()},
                                         "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
