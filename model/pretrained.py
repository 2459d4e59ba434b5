"""The pretrained model shipped in the package: a best checkpoint's networks in half
precision as safetensors (what `load_pipeline` reads), beside a JSON card saying what it is:
the data, the commands, the metrics, the licence and the assets' attributions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dataset_tools.layout import atomic_write, write_json
from model.pipeline import checkpoint_weights

CARD = "card.json"
INFERENCE = ("sg", "attention")  # what predict runs; the discriminator stays in the run


def write_pretrained(checkpoint: Path, weights: Path, card: dict[str, Any]) -> int:
    """`checkpoint`'s inference networks (SG and attention) as half-precision safetensors at
    `weights` and `card` as card.json beside it; returns the weights' size in bytes."""
    from safetensors.torch import save_file

    models, archs, config = checkpoint_weights(checkpoint)
    tensors = {f"{name}.{key}": (value.half() if value.is_floating_point() else value)
               .detach().cpu().contiguous()
               for name, state in models.items() if name in INFERENCE
               for key, value in state.items()}
    archs = {name: arch for name, arch in archs.items() if name in INFERENCE}
    metadata = {"kind": json.dumps("sg"), "archs": json.dumps(archs),
                "config": json.dumps(config), "precision": json.dumps("float16")}
    atomic_write(weights, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    write_json(weights.parent / CARD, card)
    return weights.stat().st_size

