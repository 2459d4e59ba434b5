"""The only module that imports bpy: builds the persistent Blender scene and applies a SceneSpec.

Import it only inside a spawned worker process (never fork after importing bpy).
"""

from __future__ import annotations

import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np
import OpenEXR
from mathutils import Vector

from render.assets import (
    BadAsset,
    check_mesh_file,
    load_with_trimesh,
    normalising_transform,
    validate_geometry,
)
from render.config import RenderSettings
from render.spec import INSERTED_INDEX, ObjectSpec, SceneSpec, sun_direction

GROUND_SIZE = 400.0
LIBRARY = "shadowsynth_library"


@dataclass
class Passes:
    """One render, all (H, W[, C]) float32, rows top to bottom."""

    combined: np.ndarray  # (H, W, 4) premultiplied linear RGBA of the objects
    catcher: np.ndarray  # (H, W, 3) factor for the backdrop (shadows of the objects)
    object_index: np.ndarray  # (H, W) pass index of the nearest object, 0 = none
    seconds: float


@dataclass
class LoadedMesh:
    mesh: bpy.types.Mesh
    extent: tuple[float, float, float]
    has_materials: bool
    warnings: list[str]


def _silence_blender() -> None:
    """Blender prints a line per render and import on stdout; the worker reports through its
    pipe instead, so its stdout goes to /dev/null (stderr stays for real errors)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


class BlenderScene:
    """A persistent scene: ground (shadow catcher), camera, sun and world stay; objects change.

    Meshes are imported once per worker, normalised (largest dimension 1, standing on z = 0)
    and kept in an LRU cache of `cache_size` meshes."""

    def __init__(self, settings: RenderSettings, size: int, scratch: Path,
                 max_faces: int = 1_000_000, cache_size: int = 48) -> None:
        _silence_blender()
        bpy.ops.wm.read_factory_settings(use_empty=True)
        self.settings = settings
        self.size = size
        self.scratch = scratch
        self.max_faces = max_faces
        self.cache_size = cache_size
        self.meshes: OrderedDict[str, LoadedMesh] = OrderedDict()
        self.bad_meshes: dict[str, BadAsset] = {}
        self.instances: list[bpy.types.Object] = []
        self.sample_materials: list[bpy.types.Material] = []
        self.scene = bpy.context.scene
        self._configure_cycles()
        self._build_static_scene()

    # ------------------------------------------------------------------ setup

    def _configure_cycles(self) -> None:
        scene, settings = self.scene, self.settings
        scene.render.engine = "CYCLES"
        cycles = scene.cycles
        cycles.device = "CPU" if settings.device == "cpu" else "GPU"
        if settings.device != "cpu":
            preferences = bpy.context.preferences.addons["cycles"].preferences
            preferences.compute_device_type = settings.device.upper()
            preferences.get_devices()
            for device in preferences.devices:
                device.use = device.type != "CPU"
        if settings.tuned:
            self._tune_cycles()
        else:
            cycles.use_denoising = True  # Blender's default for final renders
        scene.render.threads_mode = "FIXED" if settings.threads else "AUTO"
        if settings.threads:
            scene.render.threads = settings.threads
        scene.render.resolution_x = scene.render.resolution_y = self.size
        scene.render.resolution_percentage = 100
        scene.render.film_transparent = True
        scene.render.use_persistent_data = settings.tuned
        scene.render.use_border = False
        scene.render.use_crop_to_border = False
        scene.render.image_settings.media_type = "MULTI_LAYER_IMAGE"
        scene.render.image_settings.color_depth = "32"
        scene.render.image_settings.exr_codec = "NONE"
        view_layer = scene.view_layers[0]
        view_layer.use_pass_combined = True
        view_layer.use_pass_object_index = True
        view_layer.cycles.use_pass_shadow_catcher = True

    def set_samples(self, samples: int, adaptive_threshold: float) -> None:
        """Change the sample count in place (one BlenderScene per process: a second one would
        reset Blender's data under the first)."""
        cycles = self.scene.cycles
        cycles.samples = samples
        cycles.use_adaptive_sampling = adaptive_threshold > 0
        if adaptive_threshold > 0:
            cycles.adaptive_threshold = adaptive_threshold

    def _tune_cycles(self) -> None:
        """Production settings: adaptive sampling (few samples where the image is flat), direct
        light plus one bounce, no caustics, no denoiser (it smears shadow edges)."""
        cycles, settings = self.scene.cycles, self.settings
        self.set_samples(settings.samples, settings.adaptive_threshold)
        cycles.use_denoising = False
        cycles.use_light_tree = settings.light_tree
        cycles.sampling_pattern = settings.sampling_pattern
        cycles.max_bounces = 4
        cycles.diffuse_bounces = 1
        cycles.glossy_bounces = 1
        cycles.transmission_bounces = 2
        cycles.transparent_max_bounces = 4
        cycles.volume_bounces = 0
        cycles.caustics_reflective = False
        cycles.caustics_refractive = False
        cycles.blur_glossy = 1.0

    def _build_static_scene(self) -> None:
        scene = self.scene
        world = bpy.data.worlds.new("ambient")
        scene.world = world
        self.background = world.node_tree.nodes["Background"]

        half = GROUND_SIZE / 2
        ground_mesh = bpy.data.meshes.new("ground")
        ground_mesh.from_pydata([(-half, -half, 0), (half, -half, 0), (half, half, 0),
                                 (-half, half, 0)], [], [(0, 1, 2, 3)])
        self.ground = bpy.data.objects.new("ground", ground_mesh)
        self.ground.is_shadow_catcher = True
        self.ground.pass_index = 0
        ground_material = bpy.data.materials.new("ground")
        principled = ground_material.node_tree.nodes["Principled BSDF"]
        principled.inputs["Base Color"].default_value = (0.3, 0.3, 0.3, 1.0)
        principled.inputs["Roughness"].default_value = 1.0
        ground_mesh.materials.append(ground_material)
        scene.collection.objects.link(self.ground)

        sun_light = bpy.data.lights.new("sun", "SUN")
        self.sun = bpy.data.objects.new("sun", sun_light)
        self.sun.rotation_mode = "QUATERNION"
        scene.collection.objects.link(self.sun)

        camera_data = bpy.data.cameras.new("camera")
        camera_data.sensor_fit = "AUTO"
        camera_data.clip_start = 0.01
        camera_data.clip_end = 1000.0
        self.camera = bpy.data.objects.new("camera", camera_data)
        scene.collection.objects.link(self.camera)
        scene.camera = self.camera

        # Imported meshes live here, outside the view layer, until a sample instances them.
        self.library = bpy.data.collections.new(LIBRARY)

    # ------------------------------------------------------------------ meshes

    def load_mesh(self, path: str) -> tuple[float, float, float]:
        """Import (or reuse) a mesh; returns its normalised extent. Raises BadAsset."""
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
        warnings: list[str] = []
        if path.suffix.lower() == ".obj":
            check_mesh_file(path, self.max_faces)
            before = set(bpy.data.objects)
            try:
                bpy.ops.wm.obj_import(filepath=str(path), forward_axis="NEGATIVE_Z",
                                      up_axis="Y", use_split_objects=False,
                                      use_split_groups=False, validate_meshes=True)
            except RuntimeError as error:
                raise BadAsset(path, f"Blender's OBJ importer failed: {error}") from None
            new_objects = [obj for obj in bpy.data.objects if obj not in before]
            mesh = self._merge_imported(path, new_objects)
            warnings += self._fix_missing_textures(path, mesh)
        else:
            vertices, faces = load_with_trimesh(path, self.max_faces)
            mesh = bpy.data.meshes.new(path.stem)
            mesh.from_pydata(vertices.astype(np.float32), [], faces.astype(np.int32))
            mesh.validate()
        coordinates = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
        mesh.vertices.foreach_get("co", coordinates)
        coordinates = coordinates.reshape(-1, 3).astype(np.float64)
        faces_count = len(mesh.polygons)
        try:
            validate_geometry(path, coordinates, np.zeros((faces_count, 3), dtype=np.int64),
                              self.max_faces)
        except BadAsset:
            bpy.data.meshes.remove(mesh)
            raise
        offset, scale, extent = normalising_transform(coordinates)
        normalised = ((coordinates + offset) * scale).astype(np.float32)
        mesh.vertices.foreach_set("co", normalised.ravel())
        mesh.update()
        mesh.use_fake_user = True
        return LoadedMesh(mesh, tuple(float(value) for value in extent),
                          has_materials=any(m is not None for m in mesh.materials),
                          warnings=warnings)

    def _merge_imported(self, path: Path, objects: list[bpy.types.Object]) -> bpy.types.Mesh:
        meshes = [obj for obj in objects if obj.type == "MESH" and len(obj.data.polygons)]
        if not meshes:
            for obj in objects:
                bpy.data.objects.remove(obj)
            raise BadAsset(path, "no geometry was imported")
        if len(meshes) > 1:
            with bpy.context.temp_override(active_object=meshes[0], selected_objects=meshes,
                                           selected_editable_objects=meshes):
                bpy.ops.object.join()
        target = meshes[0]
        target.data.transform(target.matrix_world)
        mesh = target.data
        for obj in objects:
            if obj.name in bpy.data.objects:
                bpy.data.objects.remove(obj)
        return mesh

    def _fix_missing_textures(self, path: Path, mesh: bpy.types.Mesh) -> list[str]:
        """Unlink image nodes whose file is missing, so nothing renders magenta."""
        warnings = []
        for material in mesh.materials:
            if material is None or material.node_tree is None:
                continue
            tree = material.node_tree
            for node in list(tree.nodes):
                if node.type != "TEX_IMAGE" or node.image is None:
                    continue
                image_path = Path(bpy.path.abspath(node.image.filepath))
                if not image_path.is_file():
                    warnings.append(f"{path}: texture {image_path.name} is missing; "
                                    f"material {material.name} keeps its base colour")
                    tree.nodes.remove(node)
        return warnings

    def mesh_warnings(self, path: str) -> list[str]:
        loaded = self.meshes.get(path)
        return loaded.warnings if loaded else []

    # ------------------------------------------------------------------ scene

    def clear(self) -> None:
        for obj in self.instances:
            bpy.data.objects.remove(obj)
        for material in self.sample_materials:
            bpy.data.materials.remove(material)
        self.instances, self.sample_materials = [], []

    def apply(self, spec: SceneSpec, ambient_rgb: tuple[float, float, float],
              sun_strength: float) -> None:
        """Set camera, sun, world and objects to the spec."""
        self.clear()
        camera = self.camera
        camera.location = (0.0, 0.0, spec.camera.height)
        camera.rotation_euler = (math.radians(90.0 - spec.camera.pitch_deg), 0.0, 0.0)
        camera.data.angle = math.radians(spec.camera.fov_deg)

        direction = Vector(sun_direction(spec.sun).tolist())
        self.sun.rotation_quaternion = direction.to_track_quat("Z", "Y")
        self.sun.data.angle = math.radians(spec.sun.angle_deg)
        self.sun.data.energy = sun_strength
        self.sun.data.color = spec.sun.color
        self.background.inputs["Color"].default_value = (*ambient_rgb, 1.0)
        self.background.inputs["Strength"].default_value = 1.0

        for obj_spec in spec.objects:
            self.instances.append(self._instance(obj_spec))
        self.scene.cycles.seed = spec.seed % (2**31 - 1)

    def _instance(self, spec: ObjectSpec) -> bpy.types.Object:
        loaded = self.meshes[spec.mesh_path]
        obj = bpy.data.objects.new(f"{spec.role}_{spec.pass_index}", loaded.mesh)
        obj.location = (spec.x, spec.y, 0.0)
        obj.rotation_euler = (0.0, 0.0, math.radians(spec.yaw_deg))
        obj.scale = (spec.size,) * 3
        obj.pass_index = spec.pass_index
        if not loaded.has_materials:
            material = bpy.data.materials.new(f"sampled_{spec.pass_index}")
            principled = material.node_tree.nodes["Principled BSDF"]
            principled.inputs["Base Color"].default_value = (*spec.material.base_color, 1.0)
            principled.inputs["Roughness"].default_value = spec.material.roughness
            principled.inputs["Metallic"].default_value = spec.material.metallic
            if not loaded.mesh.materials:
                loaded.mesh.materials.append(None)
            obj.material_slots[0].link = "OBJECT"
            obj.material_slots[0].material = material
            self.sample_materials.append(material)
        self.scene.collection.objects.link(obj)
        return obj

    def set_inserted_affects_scene(self, affects: bool) -> None:
        """With False the inserted object is seen by the camera only: it casts no shadow, blocks
        no ambient light and reflects nothing onto the ground or the occluders."""
        for obj in self.instances:
            if obj.pass_index == INSERTED_INDEX:
                obj.visible_shadow = affects
                obj.visible_diffuse = affects
                obj.visible_glossy = affects
                obj.visible_transmission = affects
                obj.visible_volume_scatter = affects

    # ------------------------------------------------------------------ render

    def render(self, border: tuple[int, int, int, int] | None = None) -> Passes:
        """Render the current scene; `border` (x0, y0, x1, y1) in pixels limits the rendered
        region (pixels outside it are zero)."""
        scene = self.scene
        scene.render.use_border = border is not None
        if border is not None:
            x0, y0, x1, y1 = border
            scene.render.border_min_x = x0 / self.size
            scene.render.border_max_x = x1 / self.size
            scene.render.border_min_y = 1.0 - y1 / self.size
            scene.render.border_max_y = 1.0 - y0 / self.size
        target = self.scratch / "passes.exr"
        scene.render.filepath = str(target)
        start = time.perf_counter()
        bpy.ops.render.render(write_still=True)
        passes = read_passes(target, self.size)
        passes.seconds = time.perf_counter() - start
        target.unlink(missing_ok=True)
        return passes

    def purge(self) -> None:
        bpy.data.orphans_purge(do_local_ids=True, do_linked_ids=True, do_recursive=True)


def read_passes(path: Path, size: int) -> Passes:
    channels: dict[str, np.ndarray] = {}
    with OpenEXR.File(str(path), separate_channels=False) as exr:
        for part in exr.parts:
            for name, channel in part.channels.items():
                channels[name.split(".", 1)[-1]] = np.asarray(channel.pixels, dtype=np.float32)

    def find(prefix: str) -> np.ndarray:
        for name, pixels in channels.items():
            if name.startswith(prefix):
                return pixels
        raise RuntimeError(f"{path}: render has no {prefix!r} pass (found {sorted(channels)})")

    combined = find("Combined")
    catcher = find("Shadow Catcher")
    index = find("Object Index")
    if index.ndim == 3:
        index = index[..., 0]
    if combined.shape[:2] != (size, size):
        raise RuntimeError(f"{path}: expected {size}x{size} passes, got {combined.shape}")
    return Passes(combined=combined, catcher=catcher[..., :3],
                  object_index=np.rint(index).astype(np.uint8), seconds=0.0)
