"""The only package that imports bpy: the worker's persistent Blender scene (`scene`), its mesh
library (`meshes`) and the passes a render writes (`passes`).

Import it only inside a spawned worker process (never fork after importing bpy).
"""

from render.blender.passes import Passes, read_passes
from render.blender.scene import BlenderScene

__all__ = ["BlenderScene", "Passes", "read_passes"]
