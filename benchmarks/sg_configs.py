"""Training speed of SG-block configurations on the CPU: images per second of one SGTask
step (D step, then G step on L2 + factor loss + adversarial; the perceptual term as named),
on random 128x128 batches with ground-truth masks, data loading excluded. Prints a table
and the machine it ran on.

    python benchmarks/sg_configs.py                       # 128x128, batch 8, 6 timed steps
    python benchmarks/sg_configs.py --size 64 --json out.json"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import torch
from machine_info import machine

from model.config import SGConfig
from model.runtime import start
from model.train_sg import SGTask

# (name, SGConfig overrides): the article's size, then smaller encoders and decoders
CONFIGS = [
    ("resnet18, decoder x1, refine 64, random-VGG perceptual",
     {"encoder": "resnet18", "vgg_weights": "random"}),
    ("resnet18, decoder x1, refine 64", {"encoder": "resnet18"}),
    ("resnet18, decoder x0.25, refine 16",
     {"encoder": "resnet18", "decoder_width": 0.25, "refine_width": 16}),
    ("mobilenet_v2, decoder x0.25, refine 16",
     {"encoder": "mobilenet_v2", "decoder_width": 0.25, "refine_width": 16}),
    ("mobileone_s0, decoder x0.25, refine 16",
     {"encoder": "mobileone_s0", "decoder_width": 0.25, "refine_width": 16}),
    ("efficientnet-b0, decoder x0.25, refine 16",
     {"encoder": "efficientnet-b0", "decoder_width": 0.25, "refine_width": 16}),
    ("mobilenet_v2, decoder x0.25, refine 16, PatchGAN D",
     {"encoder": "mobilenet_v2", "decoder_width": 0.25, "refine_width": 16,
      "discriminator": "patchgan"}),
    ("mobilenet_v2, decoder x0.25, refine 16, no D (b3 = 0)",
     {"encoder": "mobilenet_v2", "decoder_width": 0.25, "refine_width": 16,
      "betas": (10.0, 1.0, 0.0)}),
    ("resnet18, decoder x0.25, refine 16, no D (b3 = 0)",
     {"encoder": "resnet18", "decoder_width": 0.25, "refine_width": 16,
      "betas": (10.0, 1.0, 0.0)}),
]


def batch(size: int, count: int) -> dict:
    torch.manual_seed(0)
    image = torch.rand(count, 3, size, size)
    mask = (torch.rand(count, 1, size, size) > 0.9).float()
    return {"id": [str(i) for i in range(count)], "noshadow": image, "shadow": image * 0.9,
            "mask": mask, "robject": mask, "rshadow": mask, "smask": mask}


def speed(overrides: dict, size: int, count: int, steps: int) -> tuple[float, int]:
    """(images/s, parameters of G) of SGTask.train_step on one repeated batch."""
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = SGConfig(data=Path(folder), out=Path(folder), size=size, batch_size=count,
                          device="cpu", encoder_weights="none", **overrides)
        task = SGTask(config, start("cpu", False, False))
    data = batch(size, count)
    task.train_step(data, 0)  # warm-up
    started = time.perf_counter()
    for _ in range(steps):
        task.train_step(data, 0)
    seconds = time.perf_counter() - started
    return steps * count / seconds, sum(p.numel() for p in task.generator.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--only", help="comma-separated indices into CONFIGS")
    args = parser.parse_args()
    print(f"machine: {machine()}; SG train step at {args.size}x{args.size}, batch "
          f"{args.batch_size}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    rows = []
    chosen = [CONFIGS[int(index)] for index in args.only.split(",")] if args.only else CONFIGS
    for name, overrides in chosen:
        images_per_second, parameters = speed(overrides, args.size, args.batch_size,
                                              args.steps)
        rows.append({"config": name, "images_per_s": images_per_second,
                     "parameters_m": parameters / 1e6})
        print(f"| {name:55s} | {images_per_second:6.2f} img/s | {parameters / 1e6:5.2f} M |",
              flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "size": args.size,
                                         "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
