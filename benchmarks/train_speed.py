"""Training and inference speed of shadowsynth's loop against a re-creation of the article's.

    python benchmarks/train_speed.py                 # CUDA if present: 256x256; else CPU, 64x64
    python benchmarks/train_speed.py --size 128 --steps 20 --json out.json

Both loops train the same networks on the same PNG dataset (a toy Shadow-AR set written
first), data loading included. The article's loop: fp32, NCHW, batch 8, eager, SG trained on
ground-truth masks with an unconditional SRGAN discriminator and separate real/fake D passes.
Ours: the SGTask/AttentionTask steps of model/ (bf16 autocast and channels_last on CUDA,
optionally torch.compile), a larger batch. Inference: the whole attention -> SG pipeline at
batch 1 (latency) and batched (throughput); ours in half precision, channels_last, compiled.
Prints a table and the machine it ran on."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from machine_info import machine
from torch.utils.data import DataLoader

from dataset_tools.toy import make_toy_dataset
from model.checkpoint import save
from model.config import AttentionConfig, SGConfig
from model.data import ShadowARDataset, collate, list_split
from model.loaders import loaders
from model.losses import PerceptualLoss, dice_loss
from model.networks import AttentionNet, SGNet, ShadowPipeline, make_discriminator
from model.runtime import Runtime, start
from model.train_attention import AttentionTask
from model.train_sg import SGTask


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed_loop(step, loader: DataLoader, device: torch.device, warmup: int, steps: int) -> float:
    """Images per second of `step(batch)` over `steps` batches after `warmup`, loading
    included (the loader is re-iterated as needed)."""
    def batches():
        while True:
            yield from loader

    source = batches()
    for _ in range(warmup):
        step(next(source))
    sync(device)
    images, started = 0, time.perf_counter()
    for _ in range(steps):
        batch = next(source)
        step(batch)
        images += len(batch["id"])
    sync(device)
    return images / (time.perf_counter() - started)


def article_loader(data: Path, size: int, workers: int) -> DataLoader:
    dataset = ShadowARDataset(list_split(data, "train"), size)
    return DataLoader(dataset, batch_size=8, shuffle=True, num_workers=workers,
                      collate_fn=collate, drop_last=True, persistent_workers=workers > 0)


def article_attention(data: Path, size: int, device: torch.device, workers: int, warmup: int,
                      steps: int) -> float:
    network = AttentionNet().to(device).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=2e-4)

    def step(batch):
        batch = {key: value.to(device) if torch.is_tensor(value) else value
                 for key, value in batch.items()}
        optimizer.zero_grad()
        logits = network(batch["noshadow"], batch["mask"])
        loss = dice_loss(logits, torch.cat([batch["robject"], batch["rshadow"]], 1))
        loss.backward()
        optimizer.step()

    return timed_loop(step, article_loader(data, size, workers), device, warmup, steps)


def article_sg(data: Path, size: int, device: torch.device, workers: int, warmup: int,
               steps: int) -> float:
    generator = SGNet().to(device).train()
    discriminator = make_discriminator("srgan", conditional=False).to(device).train()
    perceptual = PerceptualLoss(None).to(device)
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def step(batch):
        batch = {key: value.to(device) if torch.is_tensor(value) else value
                 for key, value in batch.items()}
        coarse, refined = generator(batch["noshadow"], batch["mask"], batch["robject"],
                                    batch["rshadow"])
        optimizer_d.zero_grad()
        real = discriminator(batch["shadow"])
        fake = discriminator(refined.detach().clamp(0, 1))
        loss_d = 0.5 * (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                        + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
        loss_d.backward()
        optimizer_d.step()
        optimizer_g.zero_grad()
        adversarial = discriminator(refined.clamp(0, 1))
        loss_g = (10 * (F.mse_loss(coarse, batch["shadow"]) + F.mse_loss(refined, batch["shadow"]))
                  + perceptual(coarse, batch["shadow"]) + perceptual(refined, batch["shadow"])
                  + 0.01 * F.binary_cross_entropy_with_logits(adversarial,
                                                              torch.ones_like(adversarial)))
        loss_g.backward()
        optimizer_g.step()

    return timed_loop(step, article_loader(data, size, workers), device, warmup, steps)


def ours(task_class, config, runtime: Runtime, warmup: int, steps: int) -> float:
    task = task_class(config, runtime)
    for network in task.networks.values():
        network.train()
    loader, _, _ = loaders(config, runtime)
    return timed_loop(lambda batch: task.train_step(runtime.to_device(batch), 0), loader,
                      runtime.device, warmup, steps)


@torch.no_grad()
def inference(size: int, device: torch.device, optimised: bool, batch: int,
              repeats: int) -> float:
    """Seconds per batch of the attention -> SG pipeline (random weights: same cost)."""
    pipeline = ShadowPipeline(AttentionNet(), SGNet()).eval().to(device)
    image = torch.rand(batch, 3, size, size, device=device)
    mask = (torch.rand(batch, 1, size, size, device=device) > 0.9).float()
    if optimised and device.type == "cuda":
        pipeline = pipeline.half().to(memory_format=torch.channels_last)
        image = image.half().contiguous(memory_format=torch.channels_last)
        mask = mask.half().contiguous(memory_format=torch.channels_last)
        pipeline = torch.compile(pipeline, mode="max-autotune")
    for _ in range(3):
        pipeline(image, mask)
    sync(device)
    started = time.perf_counter()
    for _ in range(repeats):
        pipeline(image, mask)
    sync(device)
    return (time.perf_counter() - started) / repeats


def main() -> None:
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256 if cuda else 64)
    parser.add_argument("--batch", type=int, default=32 if cuda else 8, help="our batch size")
    parser.add_argument("--steps", type=int, default=30 if cuda else 4)
    parser.add_argument("--warmup", type=int, default=10 if cuda else 1)
    parser.add_argument("--workers", type=int, default=8 if cuda else 1)
    parser.add_argument("--samples", type=int, default=512 if cuda else 48)
    parser.add_argument("--compile", action="store_true", help="torch.compile our training")
    parser.add_argument("--throughput-batch", type=int, default=256 if cuda else 8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    runtime = start("auto", amp=True, channels_last=True)
    device = runtime.device
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = make_toy_dataset(Path(tmp) / "toy", train=args.samples, test=0, size=args.size)
        common = {"data": data, "size": args.size, "batch_size": args.batch,
                  "workers": args.workers, "compile": args.compile, "val_fraction": 0.0,
                  "encoder_weights": "none", "validate_data": False}
        warmup, steps = args.warmup, args.steps
        results["attention_article"] = article_attention(data, args.size, device, args.workers,
                                                         warmup, steps)
        results["attention_ours"] = ours(AttentionTask, AttentionConfig(**common), runtime,
                                         warmup, steps)
        results["sg_article"] = article_sg(data, args.size, device, args.workers, warmup, steps)
        # ours trains SG on the attention block's predictions: that forward pass is timed too
        attention = AttentionNet()
        attention_path = Path(tmp) / "attention.pt"
        save(attention_path, {"kind": "attention", "archs": {"attention": attention.arch},
                              "models": {"attention": attention.state_dict()}})
        results["sg_ours"] = ours(SGTask, SGConfig(**common, vgg_weights="none",
                                                   attention=attention_path),
                                  runtime, warmup, steps)
    repeats = 50 if cuda else 3
    results["latency_ms_article"] = 1000 * inference(args.size, device, False, 1, repeats)
    results["latency_ms_ours"] = 1000 * inference(args.size, device, True, 1, repeats)
    batch = args.throughput_batch
    results["throughput_article"] = batch / inference(args.size, device, False, batch, repeats)
    results["throughput_ours"] = batch / inference(args.size, device, True, batch, repeats)

    print(f"machine: {machine()}")
    print(f"size {args.size}x{args.size}; our batch {args.batch}, article batch 8; "
          f"{args.steps} timed steps after {args.warmup}; loader workers {args.workers}")
    rows = [("attention training (img/s)", "attention_article", "attention_ours", True),
            ("SG training (img/s)", "sg_article", "sg_ours", True),
            ("pipeline latency, batch 1 (ms)", "latency_ms_article", "latency_ms_ours", False),
            (f"pipeline throughput, batch {batch} (img/s)", "throughput_article",
             "throughput_ours", True)]
    print(f"{'':42} {'article':>10} {'ours':>10} {'speed-up':>9}")
    for label, article, mine, higher in rows:
        ratio = results[mine] / results[article] if higher else results[article] / results[mine]
        print(f"{label:42} {results[article]:10.2f} {results[mine]:10.2f} {ratio:8.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "args": {
            key: str(value) for key, value in vars(args).items()}, **results}, indent=2))


if __name__ == "__main__":
    main()
