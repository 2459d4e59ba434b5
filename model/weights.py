"""Pretrained weights from disk only: a path the user gives, the torch hub cache, or the
Hugging Face cache. Nothing is ever downloaded.

`spec` is "auto" (use them when found, else warn once and use random init), "imagenet"
(required: an error that says where to put the file when absent), "none", or a file path."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from dataset_tools.errors import ShadowsynthError

# torchvision's file names (torch hub cache) and smp's Hugging Face repositories.
TORCHVISION_FILES = {
    "resnet18": ("resnet18-f37072fd.pth", "resnet18-5c106cde.pth"),
    "resnet34": ("resnet34-b627a593.pth", "resnet34-333f7ec4.pth"),
    "resnet50": ("resnet50-0676ba61.pth", "resnet50-19c8e357.pth", "resnet50-11ad3fa6.pth"),
    "vgg16": ("vgg16-397923af.pth",),
}
HF_REPOS = {"resnet18": "smp-hub/resnet18.imagenet", "resnet34": "smp-hub/resnet34.imagenet",
            "resnet50": "smp-hub/resnet50.imagenet"}

_warned: set[str] = set()


class WeightsError(ShadowsynthError, RuntimeError):
    """Weights asked for explicitly are absent or do not fit; the message says what to do."""


def hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_weights(name: str) -> Path | None:
    """The first local file holding ImageNet weights for `name` (resnet18/34/50, vgg16)."""
    for filename in TORCHVISION_FILES.get(name, ()):
        path = hub_checkpoints() / filename
        if path.is_file():
            return path
    repo = HF_REPOS.get(name)
    if repo:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        for filename in ("model.safetensors", "pytorch_model.bin"):
            cached = try_to_load_from_cache(repo, filename)
            if isinstance(cached, str) and Path(cached).is_file():
                return Path(cached)
    return None


def where_to_put(name: str) -> str:
    files = TORCHVISION_FILES.get(name, (f"{name}.pth",))
    return str(hub_checkpoints() / files[0])


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .pth/.pt/.bin or .safetensors file (weights only, nothing executed)."""
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a torn or foreign file
        raise WeightsError(f"{path}: not a readable weights file ({error})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a dict of tensors, got {type(state).__name__}")
    return state


def resolve(spec: str, name: str, purpose: str) -> Path | None:
    """The weights file that `spec` asks for, or None for random init (warned once)."""
    if spec == "none":
        return None
    if spec not in ("auto", "imagenet"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise WeightsError(f"{path}: weights file for the {purpose} not found")
        return path
    path = find_weights(name)
    if path is None and spec == "imagenet":
        raise WeightsError(
            f"ImageNet weights for {name} ({purpose}) are not on this machine: put "
            f"torchvision's file at {where_to_put(name)} (or in the Hugging Face cache as "
            f"{HF_REPOS.get(name, name)}), or pass its path")
    if path is None and name not in _warned:
        _warned.add(name)
        warnings.warn(
            f"no ImageNet weights for {name} found (looked in {hub_checkpoints()} and the "
            f"Hugging Face cache); the {purpose} starts from random init. Put torchvision's "
            f"file at {where_to_put(name)} to use them.", stacklevel=2)
    return path


def adapt_first_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """(O, 3, k, k) RGB filters -> (O, in_channels, k, k) as smp does: channels repeated
    cyclically and scaled by 3 / in_channels, so a grey input keeps its response."""
    if weight.shape[1] == in_channels:
        return weight
    repeat = [weight[:, index % weight.shape[1]] for index in range(in_channels)]
    return torch.stack(repeat, dim=1) * (weight.shape[1] / in_channels)


def load_encoder(encoder: nn.Module, path: Path) -> None:
    """Load torchvision/smp ResNet weights into an smp encoder (fc dropped, conv1 adapted)."""
    state = {key: value for key, value in read_state_dict(path).items()
             if not key.startswith("fc.")}
    conv = "conv1.weight"
    if conv in state:
        state[conv] = adapt_first_conv(state[conv], encoder.conv1.weight.shape[1])
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise WeightsError(f"{path}: does not fit the encoder ({first})") from None


def init_encoder(encoder: nn.Module, spec: str, name: str, purpose: str) -> None:
    """Load the weights `spec` asks for into an smp encoder, or leave its random init."""
    path = resolve(spec, name, purpose)
    if path is not None:
        load_encoder(encoder, path)
