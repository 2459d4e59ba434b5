"""What `--crisp` buys and costs for the shipped model, on scenes and meshes it never trained on.

    cd benchmarks && python crisp_outline.py --work /tmp/crisp           # 400 samples, ~10 min
    python crisp_outline.py --work /tmp/crisp --samples 60                 # a quick look

The shipped model's test split holds out panoramas/photos and meshes: `benchmarks/pretrained.py`
split its renders with `shadow-dataset split --by both --test 0.3 --val 0 --seed 0`, whose
groups depend only on the names present and the seed (`dataset_tools.split.assign_groups`:
the first round(0.3 N) of the names ranked by a hash). Its renders drew every mesh (about 44
times each) but 134 of the 135 scenes, and which one they missed was not recorded: this script
keeps the first round(0.3 x 134) = 40 scenes of the ranking, test whichever scene was missing
(had the missing one ranked among them, it was never seen at all), and the test meshes. It
copies those scenes and meshes, renders SAMPLES samples from them alone
with `render-dataset` (nine in ten to test/), and scores the pretrained model on that test
split with `shadow-model evaluate`, with and without `--crisp`, for the estimated light
(predict's default), no light and the true light. Prints GRMSE, LRMSE (and its ratio to
identity's), LBER, the edge width on sun-lit samples (median, and its ratio to the truth's) and
the spill, and the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

from machine_info import machine
from pretrained import run

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LIGHTS = ("estimated", "none", "true")


def held_out_assets(target: Path) -> tuple[Path, Path]:
    """(scenes, models) under `target`: copies of the shipped model's test scenes (with their
    sidecars and masks) and test meshes."""
    sys.path.insert(0, str(ROOT))
    from dataset_tools.split import assign_groups, stable_order

    source = ROOT / "assets" / "real"
    scene_files = sorted((source / "scenes").glob("*.jpg"))
    mesh_files = sorted((source / "models").rglob("*.glb"))
    mesh_names = {str(path.relative_to(source / "models").with_suffix("")): path
                  for path in mesh_files}
    ranked = stable_order([path.name for path in scene_files], 0)
    held_out = set(ranked[:math.floor(0.3 * (len(ranked) - 1) + 0.5)])
    scenes = {name: "test" if name in held_out else "train" for name in ranked}
    meshes = assign_groups(list(mesh_names), 0.3, 0.0, 0)
    scenes_out, models_out = target / "scenes", target / "models"
    (scenes_out / "masks").mkdir(parents=True, exist_ok=True)
    for path in scene_files:
        if scenes[path.name] != "test":
            continue
        shutil.copy2(path, scenes_out / path.name)
        sidecar = path.with_suffix(".json")
        if sidecar.is_file():
            shutil.copy2(sidecar, scenes_out / sidecar.name)
        for mask in (source / "scenes" / "masks").glob(f"{path.stem}_*"):
            shutil.copy2(mask, scenes_out / "masks" / mask.name)
    for name, path in mesh_names.items():
        if meshes[name] == "test":
            (models_out / Path(name).parent).mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, models_out / Path(name).parent / path.name)
    return scenes_out, models_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for data and results")
    parser.add_argument("--samples", type=int, default=400)
    options = parser.parse_args()
    work = options.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}", flush=True)
    data, logs = work / "data", work / "logs"
    logs.mkdir(exist_ok=True)
    if not (data / "manifest.jsonl").is_file():
        scenes, models = held_out_assets(work / "assets")
        run([str(BIN / "render-dataset"), "--scenes", str(scenes), "--models", str(models),
             "--out", str(data), "-n", str(options.samples), "--workers", "2",
             "--test-fraction", "0.9"], logs / "render.log")
    results = {}
    for light in LIGHTS:
        for crisp in (False, True):
            name = f"{light}{' crisp' if crisp else ''}"
            out = work / "eval" / name.replace(" ", "-")
            if not (out / "metrics.json").is_file():
                run([str(BIN / "shadow-model"), "evaluate", "--data", str(data), "--checkpoint",
                     "default", "--split", "test", "--light", light, "--out", str(out),
                     "--device", "cpu", *(["--crisp"] if crisp else [])],
                    logs / f"{out.name}.log")
            results[name] = json.loads((out / "metrics.json").read_text())
    (work / "summary.json").write_text(json.dumps(results, indent=1))
    first = next(iter(results.values()))
    identity = first["identity"]
    print(f"\n{first['count']} test samples (held-out scenes and meshes), 256x256, protocol "
          f"ours; identity: GRMSE {identity['GRMSE']:.2f}, LRMSE {identity['LRMSE']:.2f}")
    print(f"{'light, outline':<22}{'GRMSE':>7}{'LRMSE':>7}{'x id':>6}{'LBER':>6}"
          f"{'edge px':>9}{'x truth':>8}{'spill':>7}")
    for name, summary in results.items():
        model, edge = summary["model"], summary["edge"]
        print(f"{name:<22}{model['GRMSE']:>7.2f}{model['LRMSE']:>7.2f}"
              f"{model['LRMSE'] / identity['LRMSE']:>6.2f}{model['LBER']:>6.2f}"
              f"{edge.get('median_px', float('nan')):>9.1f}"
              f"{edge.get('median_ratio', float('nan')):>8.2f}{model['spill']:>7.3f}")


if __name__ == "__main__":
    main()
