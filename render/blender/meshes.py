"""The mesh library of a worker: meshes imported once (OBJ and glTF through Blender's importers,
with their materials; PLY, STL and OFF through trimesh), checked, normalised (largest dimension
1, centred in x and y, standing on z = 0), with their stable poses, kept in an LRU cache."""

from __future__ import annotations

import hashlib
import os
import sys
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from render.assets import BadAsset
from render.blender.passes import tag_material
from render.mesh_checks import (
    MAX_FACES,
    check_mesh_file,
    check_shape,
    load_mesh_arrays,
    normalising_transform,
    validate_geometry,
)
from render.poses import MeshExtent, PoseTable, hull_poses, pose_hull

VERTEX_COLORS = "vertex_colors"  # color attribute of meshes that bring their own (PLY)


@dataclass
class LoadedMesh:
    mesh: bpy.types.Mesh  # normalised: largest dimension 1, centred in x and y, min z = 0
    extent: MeshExtent  # with the mesh's stable poses
    hull_points: np.ndarray  # (H, 3) the normalised convex hull's vertices (posed boxes)
    has_materials: bool
    warnings: list[str]


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Blender's importers also print raw lines on stderr that name no mesh (a missing texture
    gives 'Failed to open dir ...' per search path); during one import they go to /dev/null and
    the import's problems are reported as one line of ours (`BlenderScene._import`)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _mesh_arrays(mesh: bpy.types.Mesh) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) float64 and triangles (T, 3) int64 of a Blender mesh, as imported."""
    coordinates = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", coordinates)
    mesh.calc_loop_triangles()
    triangles = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int32)
    mesh.loop_triangles.foreach_get("vertices", triangles)
    return (coordinates.reshape(-1, 3).astype(np.float64),
            triangles.reshape(-1, 3).astype(np.int64))


class MeshLibrary:
    """Imported meshes by path, the `cache_size` most recently used kept (their Blender meshes
    have a fake user, so purging orphans after a sample keeps them); a mesh that failed is
    remembered and fails again at once. The stable poses of every mesh imported stay after
    its eviction (a few kilobytes each; finding them was two thirds of a re-import's time) in
    `poses`, which a worker hands on to the next (`render.worker.Retired`)."""

    def __init__(self, scene: bpy.types.Scene, max_faces: int = MAX_FACES,
                 cache_size: int = 48, poses: PoseTable | None = None) -> None:
        self.scene = scene
        self.max_faces = max_faces
        self.cache_size = cache_size
        self.meshes: OrderedDict[str, LoadedMesh] = OrderedDict()
        self.bad_meshes: dict[str, BadAsset] = {}
        self.poses: PoseTable = dict(poses or {})
        # Faces of imported meshes without a material get this one (kept when orphans are
        # purged after each sample, although no mesh may use it yet).
        self.default_material = tag_material(bpy.data.materials.new("default"))
        self.default_material.use_fake_user = True

    def __getitem__(self, path: str) -> LoadedMesh:
        return self.meshes[path]

    def load(self, path: str) -> MeshExtent:
        """Import (or reuse) a mesh; returns its normalised extent with its stable poses.
        Raises BadAsset."""
        if path in self.bad_meshes:
            raise self.bad_meshes[path]
        if path in self.meshes:
            self.meshes.move_to_end(path)
            return self.meshes[path].extent
        try:
            loaded = self._import(Path(path))
        except BadAsset as error:
            self.bad_meshes[path] = error
            raise
        self.meshes[path] = loaded
        while len(self.meshes) > self.cache_size:
            _, evicted = self.meshes.popitem(last=False)
            bpy.data.meshes.remove(evicted.mesh)
        return loaded.extent

    def _import(self, path: Path) -> LoadedMesh:
        """Import, check (coordinates finite before and after the importer, `check_shape`) and
        normalise one mesh, and find its stable poses. OBJ and glTF come through Blender's
        importers with their materials and textures, PLY (vertex colours), STL and OFF through
        trimesh. Raises BadAsset."""
        warnings: list[str] = []
        suffix = path.suffix.lower()
        if suffix in {".obj", ".glb", ".gltf"}:
            check_mesh_file(path, self.max_faces)  # OBJ: also the raw coordinates (docstring)
            mesh = self._merge_imported(path, self._run_importer(path))
            warnings += self._fix_missing_textures(path, mesh)
            if any(material is not None for material in mesh.materials):
                for slot, material in enumerate(mesh.materials):
                    mesh.materials[slot] = (self.default_material if material is None
                                            else tag_material(material))
        else:
            arrays = load_mesh_arrays(path, self.max_faces)
            mesh = bpy.data.meshes.new(path.stem)
            mesh.from_pydata(arrays.vertices.astype(np.float32), [], arrays.faces.astype(np.int32))
            mesh.validate()
            if arrays.colors is not None and len(arrays.colors) == len(mesh.vertices):
                self._apply_vertex_colors(mesh, arrays.colors)
        coordinates, triangles = _mesh_arrays(mesh)
        try:
            validate_geometry(path, coordinates, np.zeros((len(mesh.polygons), 3), np.int64),
                              self.max_faces)
            check_shape(path, coordinates, triangles)
        except BadAsset:
            bpy.data.meshes.remove(mesh)
            raise
        offset, scale, extent = normalising_transform(coordinates)
        normalised = ((coordinates + offset) * scale).astype(np.float32)
        mesh.vertices.foreach_set("co", normalised.ravel())
        mesh.update()
        mesh.use_fake_user = True
        hull_points, poses = self._stable_poses(path, normalised)
        box = (float(extent[0]), float(extent[1]), float(extent[2]))
        return LoadedMesh(mesh, MeshExtent(box, poses), hull_points,
                          has_materials=any(m is not None for m in mesh.materials),
                          warnings=warnings)

    def _stable_poses(self, path: Path, normalised: np.ndarray) -> tuple[np.ndarray, tuple]:
        """`render.poses.stable_poses` of an imported mesh's normalised vertices, the poses
        remembered (a file changed on disk, or imported differently, is a new key)."""
        status = path.stat()
        key = (str(path), status.st_size, status.st_mtime_ns,
               hashlib.blake2b(normalised.tobytes(), digest_size=16).hexdigest())
        points, usable = pose_hull(normalised.astype(np.float64))
        if key not in self.poses:
            self.poses[key] = hull_poses(points) if usable else ()
        return points, self.poses[key]

    def _run_importer(self, path: Path) -> list[bpy.types.Object]:
        """The objects Blender's OBJ or glTF importer makes of a file (glTF's +y up becomes z
        up, as the OBJ import's forward -z / up y does). Raises BadAsset with one line."""
        before = set(bpy.data.objects)
        try:
            with _quiet_stderr():
                if path.suffix.lower() == ".obj":
                    bpy.ops.wm.obj_import(filepath=str(path), forward_axis="NEGATIVE_Z",
                                          up_axis="Y", use_split_objects=False,
                                          use_split_groups=False, validate_meshes=True)
                else:
                    bpy.ops.import_scene.gltf(filepath=str(path), import_pack_images=True,
                                              import_scene_as_collection=False,
                                              import_select_created_objects=False)
        except RuntimeError as error:
            for obj in set(bpy.data.objects) - before:  # what a failed import left behind
                bpy.data.objects.remove(obj)
            kind = "OBJ" if path.suffix.lower() == ".obj" else "glTF"
            # Its message may be a whole traceback: the last line that says what went wrong
            lines = [line.strip() for line in str(error).splitlines()
                     if line.strip() and not line.strip().startswith("Location:")]
            reason = (lines[-1] if lines else "unknown error").removeprefix("Error: ")
            raise BadAsset(path, f"Blender's {kind} importer failed: {reason}") from None
        self.scene.view_layers[0].update()  # world matrices of parented (glTF node) objects
        return [obj for obj in bpy.data.objects if obj not in before]

    def _apply_vertex_colors(self, mesh: bpy.types.Mesh, colors: np.ndarray) -> None:
        """Store per-vertex colours ((V, 3) sRGB in [0, 1]) as a colour attribute and give the
        mesh a material whose base colour reads it, so the sampled colour is not applied."""
        attribute = mesh.color_attributes.new(name=VERTEX_COLORS, type="BYTE_COLOR",
                                              domain="POINT")
        rgba = np.concatenate([colors, np.ones((len(colors), 1))], axis=1).astype(np.float32)
        attribute.data.foreach_set("color_srgb", rgba.ravel())
        material = tag_material(bpy.data.materials.new(f"{mesh.name}_{VERTEX_COLORS}"))
        tree = material.node_tree
        node = tree.nodes.new("ShaderNodeAttribute")
        node.attribute_type = "GEOMETRY"
        node.attribute_name = VERTEX_COLORS
        tree.links.new(node.outputs["Color"], tree.nodes["Principled BSDF"].inputs["Base Color"])
        mesh.materials.append(material)

    def _merge_imported(self, path: Path, objects: list[bpy.types.Object]) -> bpy.types.Mesh:
        meshes = [obj for obj in objects if obj.type == "MESH" and len(obj.data.polygons)]
        if not meshes:
            for obj in objects:
                bpy.data.objects.remove(obj)
            raise BadAsset(path, "no geometry was imported")
        names = [obj.name for obj in objects]  # the join removes the objects it merges
        if len(meshes) > 1:
            with bpy.context.temp_override(active_object=meshes[0], selected_objects=meshes,
                                           selected_editable_objects=meshes):
                bpy.ops.object.join()
        target = meshes[0]
        target.data.transform(target.matrix_world)
        mesh = target.data
        for name in names:
            obj = bpy.data.objects.get(name)
            if obj is not None:
                bpy.data.objects.remove(obj)
        return mesh

    def _fix_missing_textures(self, path: Path, mesh: bpy.types.Mesh) -> list[str]:
        """Unlink image nodes whose file is missing, so nothing renders magenta; the mesh keeps
        its materials' base colours. Returns one line naming the mesh and the missing files."""
        missing: list[str] = []
        for material in mesh.materials:
            if material is None or material.node_tree is None:
                continue
            tree = material.node_tree
            for node in list(tree.nodes):
                if node.type != "TEX_IMAGE" or node.image is None \
                        or node.image.packed_file is not None:  # glTF images come packed
                    continue
                image_path = Path(bpy.path.abspath(node.image.filepath))
                if not image_path.is_file():
                    name = node.image.filepath.replace("\\", "/").removeprefix("//")
                    if name not in missing:
                        missing.append(name)
                    tree.nodes.remove(node)
        if not missing:
            return []
        if len(missing) == 1:
            return [f"{path}: texture {missing[0]} is missing; rendered with its material's "
                    "base colour"]
        return [f"{path}: textures {', '.join(missing)} are missing; rendered with their "
                "materials' base colours"]

    def warnings(self, path: str) -> list[str]:
        loaded = self.meshes.get(path)
        return loaded.warnings if loaded else []
