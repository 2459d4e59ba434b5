"""Tools around a Shadow-AR dataset: masks, splits and file I/O (no bpy, no torch)."""
