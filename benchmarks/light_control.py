"""Controllable shadows: does a light-conditioned SG network put the shadow where it is asked,
as soft as asked, and better than an unconditioned one? CPU, 64x64, held-out test split.

    python benchmarks/light_control.py --data WORK/data --attention ATTENTION.pt --work OUT

Trains three SG networks (the small configuration of benchmarks/pretrained.py) for --minutes
each on the same data: unconditioned, conditioned on the light's numbers alone, and on the
numbers plus the hard-shadow hint plane (`model.light`). Then, on the test split (scene photos
and meshes unseen in training, `split --by both`), at 64x64:

- direction: each sun- or area-lit sample asked for its true direction and for it rotated by
  90 and 180 degrees; the predicted shadow's direction (foot of the object to the centroid of
  the predicted shadow mask, `dataset_tools.directions`) against the asked one: median error;
- softness: asked for softness 0.02, 0.3 and 0.9 (true direction and elevation); the share of
  samples whose predicted penumbra (10-90 % edge width of the predicted darkening, the
  light-kinds benchmark's measure) widens monotonically;
- LRMSE with the true light given, against the unconditioned network's;
- no light given: the direction estimated from the predicted attention masks, its median error
  against the truth, beside the conditioned model's error when given the truth;
- a picture: one test photo, shadows for four asked directions and two softness levels.
Results go to WORK/light_control.json and WORK/light_control.png; the machine is printed."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from light_kinds import edge_width
from machine_info import machine

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SMALL = ["--encoder", "mobilenet_v2", "--decoder-width", "0.25", "--refine-width", "16",
         "--betas", "10", "1", "0", "--vgg-weights", "none", "--encoder-weights", "none",
         "--batch-size", "16", "--device", "cpu", "--size", "64", "--head", "factor"]
MODELS = {"unconditioned": [], "numbers": ["--condition", "light", "--no-hint"],
          "numbers+hint": ["--condition", "light"]}
SOFTNESS = (0.02, 0.3, 0.9)
ROTATIONS = (0.0, 90.0, 180.0)
SIZE = 64


def train(name: str, options: list[str], args: argparse.Namespace) -> Path:
    out = args.work / "runs" / name
    if not list(out.glob("*-sg-*")):
        command = [str(BIN / "shadow-model"), "train-sg", "--data", str(args.data),
                   "--attention", str(args.attention), "--out", str(out), *SMALL, *options,
                   "--epochs", "100", "--max-minutes", str(args.minutes)]
        print("$", " ".join(command), flush=True)
        started = time.perf_counter()
        with (args.work / f"{name}.log").open("w") as log:
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True, cwd=ROOT)
        print(f"  {time.perf_counter() - started:.0f} s", flush=True)
    return sorted(out.glob("*-sg-*"))[-1] / "checkpoints" / "best.pt"


def darkening(pred: np.ndarray, noshadow: np.ndarray) -> np.ndarray:
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(1 - (pred.astype(np.float32) @ luma + 1) /
                   (noshadow.astype(np.float32) @ luma + 1), 0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--attention", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=9.0)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    from model.config import EvalConfig
    from model.direction import angle_error, shadow_direction
    from model.evaluate import batches
    from model.light import given_light
    from model.metrics import ber_threshold, predicted_shadow, rmse
    from model.pipeline import load_pipeline, predict_any_size

    info = machine()
    print("machine:", info, flush=True)
    started = time.perf_counter()
    checkpoints = {name: train(name, options, args) for name, options in MODELS.items()}
    cpu = torch.device("cpu")
    loaded = {name: load_pipeline(path) for name, path in checkpoints.items()}
    config = EvalConfig(args.data, checkpoint=checkpoints["unconditioned"], size=SIZE,
                        workers=0, batch_size=32)

    def direction_of(pred: np.ndarray, noshadow: np.ndarray, inside: np.ndarray):
        """As evaluate measures it: the predicted shadow at the fixed threshold."""
        return shadow_direction(inside, predicted_shadow(pred, noshadow, inside,
                                                         ber_threshold(config.ber_k)))

    results: dict[str, dict[str, list]] = {name: {"lrmse": [], "lrmse_none": []}
                                           for name in MODELS}
    for name in ("numbers", "numbers+hint"):
        results[name].update({f"asked_{int(r)}": [] for r in ROTATIONS})
        results[name].update({"monotone": [], "estimated": []})
    identity = []
    picture = None
    for batch in batches(config):
        count = len(batch["id"])
        true = [light if light[0] > 0.5 and abs(light[1]) + abs(light[2]) > 1e-6 else None
                for light in batch["light"]]
        for name, model in loaded.items():
            conditioned = model.pipeline.condition == "light"
            given = list(batch["light"]) if conditioned else None
            for key, lights in (("lrmse", given), ("lrmse_none", [np.zeros(5, np.float32)] *
                                                   count if conditioned else None)):
                predictions = predict_any_size(model, batch["noshadow"], batch["mask"], cpu,
                                               lights)
                for index, item in enumerate(predictions):
                    region = batch["smask"][index] >= 128
                    if region.any():
                        results[name][key].append(rmse(batch["shadow"][index], item.shadow,
                                                       region))
            if not conditioned:
                continue
            for index in range(count):
                if true[index] is None:
                    continue
                light = true[index]
                direction = float(np.degrees(np.arctan2(light[2], light[1])) % 360)
                elevation, softness = float(light[3] * 90), float(light[4])
                inside = batch["mask"][index] >= 128
                image, mask = [batch["noshadow"][index]], [batch["mask"][index]]
                for rotation in ROTATIONS:
                    asked = (direction + rotation) % 360
                    pred = predict_any_size(model, image, mask, cpu,
                                            [given_light(asked, elevation, softness)])[0]
                    results[name][f"asked_{int(rotation)}"].append(
                        angle_error(direction_of(pred.shadow, image[0], inside), asked))
                widths = []
                for level in SOFTNESS:
                    pred = predict_any_size(model, image, mask, cpu,
                                            [given_light(direction, elevation, level)])[0]
                    widths.append(edge_width(darkening(pred.shadow, image[0]), inside))
                results[name]["monotone"].append(
                    None not in widths and widths[0] <= widths[1] <= widths[2] and
                    widths[2] > widths[0])
                estimated = predict_any_size(model, image, mask, cpu, None)[0].light
                results[name]["estimated"].append(
                    angle_error(estimated["direction_deg"], direction)
                    if estimated and estimated["direction_deg"] is not None else np.nan)
                if picture is None and name == "numbers+hint" and \
                        (batch["smask"][index] >= 128).sum() > 20:
                    picture = (batch["id"][index], image[0], mask[0], batch["shadow"][index],
                               direction, elevation, softness)
        for index in range(count):
            region = batch["smask"][index] >= 128
            if region.any():
                identity.append(rmse(batch["shadow"][index], batch["noshadow"][index], region))

    def median(values: list) -> float:
        found = [value for value in values if not np.isnan(value)]
        return float(np.median(found)) if found else float("nan")

    summary: dict = {"machine": info, "size": SIZE, "minutes_per_model": args.minutes,
                     "checkpoints": {name: str(path) for name, path in checkpoints.items()},
                     "LRMSE_identity": float(np.mean(identity)), "models": {}}
    for name, values in results.items():
        row = {"LRMSE_true_light": float(np.mean(values["lrmse"])),
               "LRMSE_no_light": float(np.mean(values["lrmse_none"]))}
        if "monotone" in values:
            for rotation in ROTATIONS:
                errors = values[f"asked_{int(rotation)}"]
                row[f"direction_median_deg_asked_{int(rotation)}"] = median(errors)
                row[f"direction_found_asked_{int(rotation)}"] = \
                    f"{sum(not np.isnan(e) for e in errors)}/{len(errors)}"
            row["softness_monotone_share"] = float(np.mean(values["monotone"]))
            row["estimated_direction_median_deg"] = median(values["estimated"])
            row["estimated_found"] = \
                f"{sum(not np.isnan(e) for e in values['estimated'])}/{len(values['estimated'])}"
        summary["models"][name] = row
    base = summary["models"]["unconditioned"]["LRMSE_true_light"]
    for name in ("numbers", "numbers+hint"):
        summary["models"][name]["LRMSE_vs_unconditioned"] = \
            summary["models"][name]["LRMSE_true_light"] / base
    summary["seconds"] = time.perf_counter() - started
    (args.work / "light_control.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary["models"], indent=1))
    print(f"identity LRMSE {summary['LRMSE_identity']:.2f}; {summary['seconds']:.0f} s")
    if picture is not None:
        sample_id, image, mask, truth, direction, elevation, softness = picture
        model = loaded["numbers+hint"]
        asks = [((direction + turn) % 360, softness) for turn in (0, 90, 180, 270)]
        asks += [(direction, 0.02), (direction, 0.9)]
        tiles = [image, truth]
        labels = ["photo", "truth"]
        for asked, level in asks:
            pred = predict_any_size(model, [image], [mask], cpu,
                                    [given_light(asked, elevation, level)])[0]
            tiles.append(pred.shadow)
            labels.append(f"{asked:.0f} deg, s {level:.2f}")
        tile = 192
        row = np.concatenate([cv2.resize(item, (tile, tile), interpolation=cv2.INTER_CUBIC)
                              for item in tiles], axis=1)
        header = np.full((22, row.shape[1], 3), 255, np.uint8)
        for column, label in enumerate(labels):
            cv2.putText(header, label, (column * tile + 4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                        (0, 0, 0), 1, cv2.LINE_AA)
        out = args.work / "light_control.png"
        cv2.imwrite(str(out), np.concatenate([header, row])[..., ::-1])
        print(f"wrote {out} (test sample {sample_id})")


if __name__ == "__main__":
    main()
