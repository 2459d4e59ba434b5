"""Convert one FBX model to a posed, geometry-and-colour GLB (run by make_real_assets.py in its
own process, because it imports bpy):

    python assets/fbx_to_glb.py IN.fbx OUT.glb

Every mesh object of the file is taken as evaluated at frame 0 (so a rigged model stands in the
pose the first frame of its Idle animation gives it, or of the animation the importer assigned
where it has no Idle, with its armature applied), with its world transform baked in;
the meshes are joined into one, moved so that the lowest point is on the ground (glTF y = 0)
and the box is centred in x and z, and written as binary glTF (y up) with the materials' base
colours (opaque: the importer reads alpha 0 from these files) and no textures, animations, skins
or cameras. Prints one JSON line: {"parts": mesh objects joined, "actions": names of the
animations posing them, "faces": N (triangles), "materials": M, "height": H (file's units)}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import bpy
import numpy as np

IDLE = "Idle"  # the animation a rigged model is posed in, where it has one


def convert(source: Path, target: Path) -> dict:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(source))
    scene = bpy.context.scene
    idle = [action for action in bpy.data.actions if action.name.rsplit("|", 1)[-1] == IDLE]
    for obj in scene.objects:  # standing still rather than whichever clip the importer picked
        if idle and obj.animation_data is not None and obj.animation_data.action is not None:
            obj.animation_data.action = idle[0]
    scene.frame_set(0)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    parts = []
    for obj in [obj for obj in scene.objects if obj.type == "MESH"]:
        evaluated = obj.evaluated_get(depsgraph)
        mesh = bpy.data.meshes.new_from_object(evaluated, preserve_all_data_layers=False,
                                               depsgraph=depsgraph)
        mesh.transform(obj.matrix_world)
        parts.append(mesh)
    if not parts:
        raise SystemExit(f"{source}: no mesh objects")
    actions = sorted({obj.animation_data.action.name.rsplit("|", 1)[-1]
                      for obj in scene.objects
                      if obj.animation_data is not None and obj.animation_data.action})
    for obj in list(scene.objects):
        bpy.data.objects.remove(obj)
    objects = []
    for index, mesh in enumerate(parts):
        obj = bpy.data.objects.new(f"part{index}", mesh)
        scene.collection.objects.link(obj)
        objects.append(obj)
    with bpy.context.temp_override(active_object=objects[0], selected_objects=objects,
                                   selected_editable_objects=objects):
        bpy.ops.object.join()
    joined = objects[0]
    joined.name = target.stem
    mesh = joined.data
    mesh.name = target.stem
    coordinates = np.empty(len(mesh.vertices) * 3, dtype=np.float64)
    mesh.vertices.foreach_get("co", coordinates)
    coordinates = coordinates.reshape(-1, 3)
    low, high = coordinates.min(axis=0), coordinates.max(axis=0)
    offset = np.array([-(low[0] + high[0]) / 2, -(low[1] + high[1]) / 2, -low[2]])
    mesh.vertices.foreach_set("co", (coordinates + offset).ravel())
    mesh.update()
    for material in mesh.materials:  # base colours only, opaque: no texture nodes
        if material is None or material.node_tree is None:
            continue
        for node in list(material.node_tree.nodes):
            if node.type == "TEX_IMAGE":
                material.node_tree.nodes.remove(node)
            elif node.type == "BSDF_PRINCIPLED":  # FBX's transparency factor 1 reads alpha 0
                for link in list(node.inputs["Alpha"].links):
                    material.node_tree.links.remove(link)
                node.inputs["Alpha"].default_value = 1.0
    target.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.export_scene.gltf(filepath=str(target), export_format="GLB", export_yup=True,
                              export_animations=False, export_skins=False,
                              export_morph=False, export_cameras=False, export_lights=False,
                              export_image_format="NONE", export_texcoords=False,
                              export_apply=True)
    mesh.calc_loop_triangles()
    return {"parts": len(parts), "actions": actions, "faces": len(mesh.loop_triangles),
            "materials": len([m for m in mesh.materials if m is not None]),
            "height": float(high[2] - low[2])}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(json.dumps(convert(Path(sys.argv[1]), Path(sys.argv[2]))))
