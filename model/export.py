"""export: the whole inference pipeline (attention -> threshold -> SG) as one ONNX or
TorchScript graph, checked against PyTorch on the same inputs before it is kept.

Graph inputs: image (N, 3, S, S) float32 in [0, 1], mask (N, 1, S, S) float32 in {0, 1}, and
for a light-conditioned model light (N, 5) float32 (`model.light`: given, cos and sin of the
image direction, elevation / 90, softness; zeros for none); outputs: shadow (N, 3, S, S) in
[0, 1], attention (N, 2, S, S) probabilities. N is dynamic.
A JSON file next to the graph records S, the names and the measured difference."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dataset_tools.errors import ShadowsynthError
from dataset_tools.layout import write_json
from dataset_tools.settings import to_json
from dataset_tools.toy import toy_sample
from model.checkpoint import write_bytes
from model.config import ExportConfig
from model.light import given_light, light_vector
from model.pipeline import LoadedPipeline, to_tensor

INPUTS = {"image": "(N, 3, S, S) float32 in [0, 1]", "mask": "(N, 1, S, S) float32 in {0, 1}",
          "light": "(N, 5) float32: given, cos and sin of the shadow's image direction, "
                   "elevation / 90, softness (model.light); zeros for none"}


class ExportError(ShadowsynthError, RuntimeError):
    """The exported graph does not reproduce PyTorch's outputs."""


def probe_inputs(size: int, count: int = 2,
                 conditioned: bool = False) -> tuple[torch.Tensor, ...]:
    """Deterministic, image-like inputs (toy samples) to trace and verify with; with a light
    per sample (the second one without) for a conditioned model."""
    samples = [toy_sample(1000 + index, size) for index in range(count)]
    image, mask = to_tensor([sample["noshadow"] for sample in samples],
                            [sample["mask"] for sample in samples], torch.device("cpu"))
    if not conditioned:
        return image, mask
    lights = [given_light(60.0 + 150.0 * index, 40.0, 0.05) if index % 2 == 0
              else light_vector(None) for index in range(count)]
    return image, mask, torch.from_numpy(np.stack(lights))


def input_names(inputs: tuple[torch.Tensor, ...]) -> list[str]:
    return ["image", "mask", "light"][:len(inputs)]


def _onnx(loaded: LoadedPipeline, inputs: tuple[torch.Tensor, ...], path: Path,
          opset: int) -> list[np.ndarray]:
    import onnxruntime

    names = input_names(inputs)
    buffer = io.BytesIO()  # serialised in memory: a full disk is then an OSError naming path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(loaded.pipeline, inputs, buffer, dynamo=False, opset_version=opset,
                          input_names=names, output_names=["shadow", "attention"],
                          dynamic_axes={name: {0: "batch"} for name in
                                        (*names, "shadow", "attention")})
    write_bytes(path, buffer.getbuffer())
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {name: tensor.numpy() for name, tensor in
                              zip(names, inputs, strict=True)})


def _torchscript(loaded: LoadedPipeline, inputs: tuple[torch.Tensor, ...],
                 path: Path) -> list[np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(loaded.pipeline, inputs)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
        write_bytes(path, buffer.getbuffer())
        reloaded = torch.jit.load(str(path))
    with torch.no_grad():
        return [output.numpy() for output in reloaded(*inputs)]


def record_path(out: Path) -> Path:
    """The JSON record written beside the graph: OUT.json (shadow.onnx -> shadow.onnx.json)."""
    return out.with_suffix(out.suffix + ".json")


def export_outputs(out: Path) -> tuple[Path, Path]:
    """Every file export writes: the graph and its record (the CLI checks both first)."""
    return out, record_path(out)


def export(config: ExportConfig, loaded: LoadedPipeline) -> dict[str, Any]:
    """Write the graph at config.out and its JSON record; returns the record."""
    size = config.size or loaded.size
    pipeline = loaded.pipeline.cpu().eval()
    inputs = probe_inputs(size, conditioned=pipeline.condition == "light")
    with torch.no_grad():
        reference = [output.numpy() for output in pipeline(*inputs)]
    if config.format == "onnx":
        outputs = _onnx(loaded, inputs, config.out, config.opset)
    else:
        outputs = _torchscript(loaded, inputs, config.out)
    differences = {name: float(np.abs(ours - theirs).max()) for name, ours, theirs in
                   zip(("shadow", "attention"), reference, outputs, strict=True)}
    record = {"format": config.format, "path": str(config.out), "size": size,
              "inputs": {name: INPUTS[name] for name in input_names(inputs)},
              "outputs": {"shadow": "(N, 3, S, S) in [0, 1]",
                          "attention": "(N, 2, S, S) probabilities"},
              "threshold": loaded.attention_threshold, "max_abs_difference": differences,
              "config": to_json(config)}
    if max(differences.values()) > config.tolerance:
        config.out.unlink(missing_ok=True)
        raise ExportError(f"{config.out}: exported outputs differ from PyTorch by "
                          f"{max(differences.values()):.2e} (> {config.tolerance}); removed")
    write_json(record_path(config.out), record)
    return record
