"""What one render writes and how it is read back: the light groups and the object-alpha AOV
the scene is set up with, and the multilayer EXR they arrive in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np
import OpenEXR

OBJECT_ALPHA = "object_alpha"  # shader AOV every object material writes 1 to
# Light groups, read back as the passes Combined_direct and Combined_ambient: the direct light
# (a sun or an area lamp; none when overcast) and the world's ambient light.
DIRECT_GROUP, AMBIENT_GROUP = "direct", "ambient"


@dataclass
class Passes:
    """One render, all (H, W[, C]) float32, rows top to bottom."""

    combined: np.ndarray  # (H, W, 4) premultiplied linear RGBA of objects and ground
    direct: np.ndarray  # (H, W, 3) the direct light's group of combined
    ambient: np.ndarray  # (H, W, 3) the world's light group of combined
    object_alpha: np.ndarray  # (H, W) coverage of the objects (anti-aliased)
    object_index: np.ndarray  # (H, W) pass index of the nearest object, 0 = none
    seconds: float


def tag_material(material: bpy.types.Material) -> bpy.types.Material:
    """Object materials write 1 to the object-alpha AOV (the ground writes nothing), which
    gives the objects' anti-aliased coverage in the same render."""
    if material.node_tree is None:
        material.use_nodes = True
    output = material.node_tree.nodes.new("ShaderNodeOutputAOV")
    output.aov_name = OBJECT_ALPHA
    output.inputs["Value"].default_value = 1.0
    return material


def add_outputs(view_layer: bpy.types.ViewLayer) -> None:
    """The passes `read_passes` expects: combined, object index, the AOV, the light groups."""
    view_layer.use_pass_combined = True
    view_layer.use_pass_object_index = True
    aov = view_layer.aovs.add()
    aov.name, aov.type = OBJECT_ALPHA, "VALUE"
    for name in (DIRECT_GROUP, AMBIENT_GROUP):
        view_layer.lightgroups.add().name = name


def read_passes(path: Path, size: int) -> Passes:
    """The passes of one multilayer EXR written by `render.blender.BlenderScene.render`."""
    channels: dict[str, np.ndarray] = {}
    with OpenEXR.File(str(path), separate_channels=False) as exr:
        for part in exr.parts:
            for name, channel in part.channels.items():
                layer = name.split(".", 1)[-1].removesuffix(".X")  # ViewLayer.<pass>[.X]
                channels[layer] = np.asarray(channel.pixels, dtype=np.float32)

    def find(name: str) -> np.ndarray:
        if name not in channels:
            raise RuntimeError(f"{path}: render has no {name!r} pass (found {sorted(channels)})")
        pixels = channels[name]
        return pixels[..., 0] if pixels.ndim == 3 and pixels.shape[-1] == 1 else pixels

    combined = find("Combined")
    if combined.shape[:2] != (size, size):
        raise RuntimeError(f"{path}: expected {size}x{size} passes, got {combined.shape}")
    index = find("Object Index")
    return Passes(combined=combined, direct=find(f"Combined_{DIRECT_GROUP}")[..., :3],
                  ambient=find(f"Combined_{AMBIENT_GROUP}")[..., :3],
                  object_alpha=find(OBJECT_ALPHA),
                  object_index=np.rint(index[..., 0] if index.ndim == 3 else index).astype(
                      np.uint8), seconds=0.0)
