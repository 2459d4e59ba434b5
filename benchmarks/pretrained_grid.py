"""A picture of a shadow model on held-out samples: one row per sample, noshadow | prediction |
ground truth, the object outlined; sun- and area-lit samples first, one per scene photo. A
light-conditioned model gets two prediction columns: with the light it estimates from the
photo (what predict does without --shadow-direction, with its default --min-confidence) and
given the sample's true light (from its manifest record). --crisp adds a column: the last
prediction redrawn with predict's --crisp outline.

    python benchmarks/pretrained_grid.py --data WORK/data --out docs/pretrained_grid.jpg
    python benchmarks/pretrained_grid.py --data DATA --checkpoint runs/.../best.pt --out grid.jpg

Without --checkpoint it shows the pretrained model shipped in the package."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from dataset_tools.layout import read_image, sample_path
from dataset_tools.light_labels import label_of
from dataset_tools.records import read_manifest
from model.config import MIN_CONFIDENCE
from model.light import light_vector
from model.pipeline import checkpoint_path, load_pipeline, predict_any_size

LABELS = ("noshadow", "prediction", "ground truth")
CONDITIONED_LABELS = ("noshadow", "estimated light", "light given", "ground truth")


def pick(data: Path, split: str, rows: int) -> list[str]:
    """Up to `rows` ids of `split`: sun- and area-lit samples with a visible shadow first,
    one per scene photo, then overcast ones; in render order, so the pick is repeatable."""
    records = [record for record in read_manifest(data).values() if record.split == split]
    records.sort(key=lambda record: (record.light_kind == "overcast", record.index or 0))
    chosen, scenes = [], set()
    for record in records:
        if record.scene in scenes or not (record.areas or {}).get("smask"):
            continue
        scenes.add(record.scene)
        chosen.append(record.id)
        if len(chosen) == rows:
            break
    return chosen


def outline(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with the object's outline in white."""
    contours, _ = cv2.findContours((mask >= 128).astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    drawn = image.copy()
    cv2.drawContours(drawn, contours, -1, (255, 255, 255), 1, cv2.LINE_AA)
    return drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--rows", type=int, default=6)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--network-size", type=int, default=0,
                        help="run the networks at this size (0: their training size)")
    parser.add_argument("--crisp", action="store_true",
                        help="add the last prediction column again with predict's --crisp")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    checkpoint = checkpoint_path(args.checkpoint)
    loaded = load_pipeline(checkpoint)
    loaded.pipeline.eval()
    ids = pick(args.data, args.split, args.rows)
    if not ids:
        raise SystemExit(f"{args.data}: no {args.split} sample with a visible shadow")
    read = {kind: [read_image(sample_path(args.data, args.split, kind, sample_id),
                              "L" if kind == "mask" else "RGB") for sample_id in ids]
            for kind in ("noshadow", "shadow", "mask")}
    cpu = torch.device("cpu")
    if loaded.pipeline.condition == "light":
        labels = CONDITIONED_LABELS
        records = read_manifest(args.data)
        given = [light_vector(label_of(records[sample_id])) for sample_id in ids]
        settings = [(None, False), (given, False)] + [(given, True)] * args.crisp
    else:
        labels = LABELS
        settings = [(None, False)] + [(None, True)] * args.crisp
    if args.crisp:
        labels = (*labels[:-1], f"{labels[-2]}, crisp", labels[-1])
    runs = [predict_any_size(loaded, read["noshadow"], read["mask"], cpu, lights,
                             network_size=args.network_size, min_confidence=MIN_CONFIDENCE,
                             crisp=crisp)
            for lights, crisp in settings]
    tile = args.tile
    rows = []
    for index in range(len(ids)):
        mask = read["mask"][index]
        cells = [outline(image, mask) for image in
                 (read["noshadow"][index], *(run[index].shadow for run in runs),
                  read["shadow"][index])]
        rows.append(np.concatenate([cv2.resize(cell, (tile, tile),
                                               interpolation=cv2.INTER_CUBIC)
                                    for cell in cells], axis=1))
    header = np.full((24, tile * len(labels), 3), 255, np.uint8)
    for column, label in enumerate(labels):
        cv2.putText(header, label, (column * tile + 8, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                    (0, 0, 0), 1, cv2.LINE_AA)
    sheet = np.concatenate([header, *rows], axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), sheet[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90]):
        raise SystemExit(f"{args.out}: cannot write the grid")
    print(f"wrote {args.out}: {len(ids)} {args.split} samples of {args.data} "
          f"({', '.join(ids)}), model {checkpoint}")


if __name__ == "__main__":
    main()
