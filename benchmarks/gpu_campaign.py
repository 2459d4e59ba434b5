"""The GPU campaign in one process: data in, metrics, pictures and timings out.

One call does one mode, complete in itself, each within 10 minutes of GPU time:

  ours     unpack the shards, train the attention block then the SG block with this suite's
           default recipe, evaluate on the held-out test split (scene photos and meshes unseen
           in training) under both protocols beside the identity baseline, draw a picture grid;
  article  the same data and wall-clock budget with the article's configuration (fp32,
           batch 8, SG on ground-truth masks, unconditioned SRGAN discriminator, plain L2);
  speed    benchmarks/train_speed.py (our loop vs the article's, training and inference).

Everything goes to --out (at most 4 files a mode): campaign_MODE.json (metrics, timings,
recipe, machine, data), grid_MODE.png (noshadow | prediction | ground truth | predicted shadow
mask for 8 test samples), log_MODE.txt; speed.json for `speed`.

On the GPU machine (Python 3.12 with torch; the project is not installed there):
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
  PYTHONPATH=/tmp/site:$PWD python3 benchmarks/gpu_campaign.py --mode ours \
      --shards .campaign/shards --out $OUT
Rehearsal on a CPU (a few minutes): --size 64 --minutes 1.5 with any --shards or --data.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine_info import machine  # noqa: E402

# What each mode passes to train-attention and train-sg beyond the shared options. "ours" is
# the suite's default recipe (README "GPU campaign" says what was tried); "article" is the
# configuration of the ARShadowGAN-like article's code.
RECIPES: dict[str, dict[str, list[str]]] = {
    "ours": {
        "attention": ["--batch-size", "32", "--lr", "1e-3"],
        "sg": ["--batch-size", "32", "--lr", "5e-4", "--region-weight", "6",
               "--gan-warmup-epochs", "1"],
    },
    "article": {
        "attention": ["--batch-size", "8", "--lr", "2e-4", "--no-amp"],
        "sg": ["--batch-size", "8", "--lr", "2e-4", "--no-amp", "--gt-mask-prob", "1",
               "--no-conditional", "--discriminator", "srgan", "--region-weight", "1"],
    },
}
ATTENTION_SHARE = 0.35  # of the training minutes; the SG block gets the rest


class CampaignError(RuntimeError):
    """A step failed; the message names it and ends with the tail of its output."""


class Steps:
    """Runs the CLI steps as subprocesses, logging their output and timing each."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.seconds: dict[str, float] = {}
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(f"{machine()}\n", encoding="utf-8")

    def run(self, name: str, *arguments: str) -> str:
        command = [sys.executable, *arguments]
        started = time.perf_counter()
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))}
        result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True,
                                text=True)
        self.seconds[name] = round(time.perf_counter() - started, 2)
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"\n$ {' '.join(command)}\n({self.seconds[name]} s, exit "
                      f"{result.returncode})\n{result.stdout}{result.stderr}")
        print(f"{name}: {self.seconds[name]:.1f} s", flush=True)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
            raise CampaignError(f"{name} failed (exit {result.returncode}): " + " | ".join(tail))
        return result.stdout


def prepare_data(steps: Steps, shards: Path | None, data: Path | None, work: Path) -> Path:
    if data is not None:
        return data
    target = work / "data"
    if target.exists():
        shutil.rmtree(target)
    steps.run("unpack", "-m", "dataset_tools.cli", "unpack", str(shards), str(target))
    return target


def only_run(folder: Path) -> Path:
    runs = sorted(path for path in folder.iterdir() if path.is_dir())
    if len(runs) != 1:
        raise CampaignError(f"{folder}: expected one run folder, found {len(runs)}")
    return runs[0]


def train(steps: Steps, mode: str, data: Path, work: Path, size: int,
          minutes: float, workers: int) -> Path:
    """Both blocks in the mode's recipe, each for its share of `minutes`; returns the SG
    checkpoint (which carries the attention network)."""
    shared = ["--data", str(data), "--size", str(size), "--workers", str(workers),
              "--epochs", "1000", "--log-every", "20"]
    recipe = RECIPES[mode]
    attention_out = work / f"{mode}-attention"
    steps.run("train_attention", "-m", "model.cli", "train-attention", *shared,
              "--out", str(attention_out), "--max-minutes", f"{minutes * ATTENTION_SHARE:.3f}",
              *recipe["attention"])
    attention = only_run(attention_out) / "checkpoints" / "best.pt"
    sg_out = work / f"{mode}-sg"
    steps.run("train_sg", "-m", "model.cli", "train-sg", *shared, "--out", str(sg_out),
              "--attention", str(attention),
              "--max-minutes", f"{minutes * (1 - ATTENTION_SHARE):.3f}", *recipe["sg"])
    return only_run(sg_out) / "checkpoints" / "best.pt"


def evaluate(steps: Steps, data: Path, checkpoint: Path, work: Path,
             mode: str) -> dict[str, dict]:
    """Metrics of both protocols on the test split (each with its identity baseline)."""
    results = {}
    for protocol in ("ours", "desoba"):
        out = work / f"{mode}-eval-{protocol}"
        steps.run(f"evaluate_{protocol}", "-m", "model.cli", "evaluate", "--data", str(data),
                  "--checkpoint", str(checkpoint), "--split", "test", "--out", str(out),
                  "--protocol", protocol)  # both at 256x256, whatever size the model runs at
        results[protocol] = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    return results


def picture_grid(steps: Steps, data: Path, checkpoint: Path, work: Path, out: Path,
                 count: int = 8, tile: int = 192) -> None:
    """noshadow | prediction | ground truth | predicted shadow mask, one row per test sample."""
    import cv2
    import numpy as np

    from dataset_tools.layout import iter_ids, read_image, sample_path, write_png

    chosen = list(iter_ids(data, "test"))[:count]
    images, masks = work / "grid-in" / "images", work / "grid-in" / "masks"
    for sample_id in chosen:
        for kind, folder in (("noshadow", images), ("mask", masks)):
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sample_path(data, "test", kind, sample_id), folder / f"{sample_id}.png")
    predicted = work / "grid-out"
    steps.run("predict", "-m", "model.cli", "predict", "--images", str(images), "--masks",
              str(masks), "--out", str(predicted), "--checkpoint", str(checkpoint),
              "--save-shadow-mask", "--overwrite")

    def cell(image: np.ndarray) -> np.ndarray:
        image = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
        return cv2.resize(image, (tile, tile), interpolation=cv2.INTER_AREA)

    rows = []
    for sample_id in chosen:
        row = [read_image(sample_path(data, "test", "noshadow", sample_id), "RGB"),
               read_image(predicted / f"{sample_id}.png", "RGB"),
               read_image(sample_path(data, "test", "shadow", sample_id), "RGB"),
               read_image(predicted / "shadow_mask" / f"{sample_id}.png", "L")]
        rows.append(np.concatenate([cell(image) for image in row], axis=1))
    write_png(out, np.concatenate(rows, axis=0))


def data_summary(data: Path) -> dict:
    from dataset_tools.layout import SPLITS, iter_ids

    counts = {split: sum(1 for _ in iter_ids(data, split)) for split in SPLITS}
    return {"path": str(data), "counts": {k: v for k, v in counts.items() if v}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("ours", "article", "speed"), required=True)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--shards", type=Path, help="packed dataset (shadow-dataset pack)")
    source.add_argument("--data", type=Path, help="or an unpacked dataset folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/shadowsynth-campaign"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--minutes", type=float, default=6.5,
                        help="training wall-clock budget of both blocks together")
    parser.add_argument("--workers", type=int, default=min(12, os.cpu_count() or 1))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    steps = Steps(args.out / f"log_{args.mode}.txt")
    started = time.perf_counter()
    if args.mode == "speed":
        steps.run("train_speed", str(ROOT / "benchmarks" / "train_speed.py"),
                  "--json", str(args.out / "speed.json"))
        return
    if args.shards is None and args.data is None:
        parser.error("--shards or --data is needed for this mode")
    record: dict = {"mode": args.mode, "machine": machine(), "size": args.size,
                    "minutes": args.minutes, "recipe": RECIPES[args.mode]}
    try:
        data = prepare_data(steps, args.shards, args.data, args.work)
        record["data"] = data_summary(data)
        checkpoint = train(steps, args.mode, data, args.work, args.size, args.minutes,
                           args.workers)
        record["metrics"] = evaluate(steps, data, checkpoint, args.work, args.mode)
        picture_grid(steps, data, checkpoint, args.work, args.out / f"grid_{args.mode}.png")
    except CampaignError as error:
        record["error"] = str(error)
        print(f"error: {error}", file=sys.stderr)
    record["seconds"] = {**steps.seconds, "total": round(time.perf_counter() - started, 2)}
    (args.out / f"campaign_{args.mode}.json").write_text(
        json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps({"mode": args.mode, "seconds": record["seconds"]}))
    if "error" in record:
        sys.exit(1)


if __name__ == "__main__":
    main()
