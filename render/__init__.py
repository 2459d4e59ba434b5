"""render-dataset: Blender/Cycles rendering of Shadow-AR training pairs.

Only `render.blender` (imported in spawned worker processes) imports bpy.
"""

__version__ = "0.1.0"
