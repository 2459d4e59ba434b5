"""Time `shadow-dataset gather` on a faked sharded run: N samples across S shard manifests, each
sample 7 tiny 8x8 PNGs and a passes file (the same bytes each: gather only lists folders),
its manifest line a real rendered record with a new id (about 2.5 KB, as rendered).

  python deploy/bench_gather.py RENDERED_OUT WORK [--samples 10000] [--shards 64]

RENDERED_OUT: any render-dataset output (its first manifest line is the template record).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from dataset_tools.gather import shard_manifest_path, shard_status_path
from dataset_tools.layout import DATASET_JSON, KINDS, passes_path, sample_path, write_png


def template_record(rendered: Path) -> dict:
    for path in [rendered / "manifest.jsonl", *sorted(rendered.glob("manifests/*.jsonl"))]:
        if path.is_file() and path.read_text().strip():
            return json.loads(path.read_text().splitlines()[0])
    raise SystemExit(f"{rendered}: no manifest line to copy")


def fake_run(rendered: Path, out: Path, samples: int, shards: int) -> None:
    """OUT as `samples` samples rendered by `shards` shards would leave it, before gather."""
    record = template_record(rendered)
    out.mkdir(parents=True)
    (out / DATASET_JSON).write_text((rendered / DATASET_JSON).read_text())
    png = out / "tiny.png"
    write_png(png, np.zeros((8, 8), np.uint8))
    data = png.read_bytes()
    for split in ("train", "test"):
        for kind in KINDS:
            (out / split / kind).mkdir(parents=True)
    passes_path(out, "x").parent.mkdir()
    lines: dict[int, list[str]] = {shard: [] for shard in range(shards)}
    for index in range(samples):
        identifier, split = f"{index:06d}", "test" if index % 7 == 0 else "train"
        for kind in KINDS:
            sample_path(out, split, kind, identifier).write_bytes(data)
        passes_path(out, identifier).write_bytes(data)
        lines[index % shards].append(json.dumps({**record, "id": identifier, "index": index,
                                                 "split": split}, sort_keys=True))
    for shard, shard_lines in lines.items():
        shard_manifest_path(out, shard, shards).parent.mkdir(exist_ok=True)
        shard_manifest_path(out, shard, shards).write_text("\n".join(shard_lines) + "\n")
        shard_status_path(out, shard, shards).write_text(json.dumps({
            "command": ["render-dataset", "--out", str(out), "-n", str(samples),
                        "--shard", f"{shard}/{shards}"],
            "total": samples, "state": "finished", "failed": {}}))
    png.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rendered", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--shards", type=int, default=64)
    args = parser.parse_args()
    out = args.work / f"gather-{args.samples}"
    start = time.perf_counter()
    fake_run(args.rendered, out, args.samples, args.shards)
    print(f"faked {args.samples} samples in {args.shards} shards: "
          f"{time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "dataset_tools.cli", "gather", str(out)],
                            capture_output=True, text=True)
    seconds = time.perf_counter() - start
    print(result.stderr.strip())
    print(f"shadow-dataset gather: {seconds:.2f} s wall (exit code {result.returncode}, "
          f"Python start and imports included)")


if __name__ == "__main__":
    main()
