"""Checkpoints: the whole training state in one torch file written atomically (temp file +
rename, so a kill never leaves a half-written one), weights also as safetensors, and loading
that checks the architecture and names the file when it does not fit.

A checkpoint is a dict: format, kind ("attention" | "sg"), config (the run's, as JSON),
epoch (completed epochs), step (optimizer steps), best (validation score), models and archs
(per network), optimizers, schedulers, rng, and for SG the attention network it trained with
(so one file runs the whole pipeline). training_state() builds it and
restore_training_state() reads it back on resume: both live here, beside save() and load()."""

from __future__ import annotations

import io
import json
import random
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dataset_tools.errors import ShadowsynthError
from dataset_tools.layout import atomic_write

FORMAT = "shadowsynth-checkpoint-1"
ZIP_MAGIC = b"PK\x03\x04"  # how every file torch.save writes begins


class CheckpointError(ShadowsynthError, RuntimeError):
    """A checkpoint that is missing, unreadable or of another architecture."""


def rng_state() -> dict[str, Any]:
    numpy_state = np.random.get_state()  # noqa: NPY002 (the legacy global state)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)),
                  *numpy_state[2:]],
        "python": list(random.getstate()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))  # noqa: NPY002
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def training_state(kind: str, config: dict[str, Any], epoch: int, step: int,
                   best: float | None, networks: dict[str, Any],
                   optimizers: dict[str, torch.optim.Optimizer],
                   schedulers: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint dict of a run after `epoch` complete epochs and `step` optimizer steps;
    `networks` is the task's {"models": state dicts, "archs": descriptions}. Optimizers,
    schedulers and every RNG state are kept so that a resumed run continues exactly."""
    return {"kind": kind, "config": config, "epoch": epoch, "step": step, "best": best,
            **networks,
            "optimizers": {name: optimizer.state_dict() for name, optimizer in optimizers.items()},
            "schedulers": {name: scheduler.state_dict() for name, scheduler in schedulers.items()},
            "rng": rng_state()}


def restore_training_state(checkpoint: dict[str, Any],
                           optimizers: dict[str, torch.optim.Optimizer],
                           schedulers: dict[str, Any]) -> tuple[int, int, float | None]:
    """training_state() read back: loads the optimizers, schedulers and RNG states, and
    returns (epoch, step, best). The networks are the task's to load (they check archs)."""
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(checkpoint["optimizers"][name])
    for name, scheduler in schedulers.items():
        scheduler.load_state_dict(checkpoint["schedulers"][name])
    set_rng_state(checkpoint["rng"])
    return checkpoint["epoch"], checkpoint["step"], checkpoint["best"]


def write_bytes(path: Path, data: bytes | memoryview) -> None:
    """Write serialised bytes atomically. Serialising into memory first and writing from
    Python makes a full disk an OSError (ENOSPC), which atomic_write names, instead of
    torch's or safetensors' own error from deep inside their writers ('unexpected pos')."""
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def save(path: Path, checkpoint: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **checkpoint}, buffer)
    write_bytes(path, buffer.getbuffer())


def save_weights(path: Path, models: dict[str, nn.Module], metadata: dict[str, Any]) -> None:
    """Weights only, as safetensors: keys "NAME.PARAM", metadata JSON-encoded strings."""
    from safetensors.torch import save as serialise

    tensors = {f"{name}.{key}": value.detach().cpu().contiguous()
               for name, model in models.items() for key, value in model.state_dict().items()}
    text = {key: json.dumps(value) for key, value in metadata.items()}
    write_bytes(path, serialise(tensors, metadata=text))


def load(path: Path, kind: str | None = None) -> dict[str, Any]:
    """A checkpoint written by save(); `kind` checks that it holds that kind of model."""
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4" on a foreign file
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch's own message is pages of weights_only advice: not for this
        if _damaged_torch_file(path):  # a torch file that does not read to the end
            raise CheckpointError(f"{path}: damaged or truncated (torch.load cannot read "
                                  "this torch file to its end)") from None
        raise CheckpointError(f"{path}: not a shadowsynth checkpoint (torch.load with "
                              "weights_only=True cannot read it)") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a shadowsynth checkpoint")
    if kind is not None and checkpoint.get("kind") != kind:
        raise CheckpointError(f"{path}: holds a {checkpoint.get('kind')} model, expected {kind}")
    return checkpoint


def _damaged_torch_file(path: Path) -> bool:
    """Whether `path` begins as a file torch.save writes (a zip archive) but is not a whole,
    intact one: cut short (a full disk, a copy killed midway) or corrupted."""
    with open(path, "rb") as stream:
        if stream.read(4) != ZIP_MAGIC:
            return False
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is not None
    except (zipfile.BadZipFile, OSError, EOFError):
        return True


def usable_instead(path: Path, kind: str | None = None) -> Path | None:
    """When the checkpoint at `path` cannot be read: the other checkpoint of its run folder
    (best.pt beside last.pt, or last.pt beside best.pt) that loads, or None."""
    for name in ("best.pt", "last.pt"):
        other = path.with_name(name)
        if other != path and other.is_file():
            try:
                load(other, kind)
            except CheckpointError:
                continue
            return other
    return None


def load_model(model: nn.Module, state: dict[str, torch.Tensor], arch: dict[str, Any],
               path: Path) -> None:
    """Load `state` into `model` after checking the stored architecture description."""
    expected = getattr(model, "arch", None)
    if expected is not None and arch != expected:
        raise CheckpointError(f"{path}: checkpoint architecture {arch} does not match "
                              f"{expected}")
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit the model ({first})") from None
