"""render-dataset: Blender/Cycles rendering of Shadow-AR training pairs.

Only `render.blender` (imported in spawned worker processes) imports bpy.
"""
