"""The only module that imports bpy: builds the persistent Blender scene and applies a SceneSpec.

Import it only inside a spawned worker process (never fork after importing bpy).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np
import OpenEXR
from mathutils import Matrix, Vector

from render.assets import (
    IDENTITY_ROTATION,
    BadAsset,
    MeshExtent,
    check_mesh_file,
    check_shape,
    load_mesh_arrays,
    normalising_transform,
    posed_box,
    stable_poses,
    validate_geometry,
)
from render.composite import GROUND_ALBEDO
from render.config import RenderSettings
from render.spec import (
    INSERTED_INDEX,
    ObjectSpec,
    SceneSpec,
    area_light_polygon,
    ground_patches,
    inserted_foot,
    object_matrix,
    sun_direction,
)

GROUND_SIZE = 400.0
GROUND_DROP = 1e-3  # the lighting ground sits this far below the camera-visible patches
LIBRARY = "shadowsynth_library"


OBJECT_ALPHA = "object_alpha"  # shader AOV every object material writes 1 to
VERTEX_COLORS = "vertex_colors"  # color attribute of meshes that bring their own (PLY)
SUN_GROUP, AMBIENT_GROUP = "sun", "ambient"  # light groups: Combined_sun, Combined_ambient


@dataclass
class Passes:
    """One render, all (H, W[, C]) float32, rows top to bottom."""

    combined: np.ndarray  # (H, W, 4) premultiplied linear RGBA of objects and ground
    sun: np.ndarray  # (H, W, 3) the sun's light group of combined
    ambient: np.ndarray  # (H, W, 3) the world's light group of combined
    object_alpha: np.ndarray  # (H, W) coverage of the objects (anti-aliased)
    object_index: np.ndarray  # (H, W) pass index of the nearest object, 0 = none
    seconds: float


@dataclass
class LoadedMesh:
    mesh: bpy.types.Mesh  # normalised: largest dimension 1, centred in x and y, min z = 0
    extent: MeshExtent  # with the mesh's stable poses
    hull_points: np.ndarray  # (H, 3) the normalised convex hull's vertices (posed boxes)
    has_materials: bool
    warnings: list[str]


def _silence_blender() -> None:
    """Blender prints a line per render and import on stdout; the worker reports through its
    pipe instead, so its stdout goes to /dev/null (stderr stays for real errors)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


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
        aov = view_layer.aovs.add()
        aov.name, aov.type = OBJECT_ALPHA, "VALUE"
        for name in (SUN_GROUP, AMBIENT_GROUP):
            view_layer.lightgroups.add().name = name

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
        """The ground is a Lambertian grey, not a Cycles shadow catcher: the factor the photo
        is multiplied by is its radiance over that of unshadowed ground, which is known in
        closed form (`render.composite.unshadowed_ground`), taken apart by light group so that
        the smooth, noisy ambient part can be filtered on its own. That costs 0.6x the
        catcher's split paths. The ground that lights and shadows the objects spans 400 m;
        with `ground_reach` > 0 the camera does not see it but sees patches around each object
        and its shadow (rebuilt per sample), and passes through everywhere else, where the
        factor is 1 anyway: shading empty ground was most of the render time."""
        scene = self.scene
        world = bpy.data.worlds.new("ambient")
        world.lightgroup = AMBIENT_GROUP
        scene.world = world
        self.background = world.node_tree.nodes["Background"]

        self.ground_material = bpy.data.materials.new("ground")
        tree = self.ground_material.node_tree
        tree.nodes.remove(tree.nodes["Principled BSDF"])
        diffuse = tree.nodes.new("ShaderNodeBsdfDiffuse")
        diffuse.inputs["Color"].default_value = (GROUND_ALBEDO, GROUND_ALBEDO, GROUND_ALBEDO, 1.0)
        diffuse.inputs["Roughness"].default_value = 0.0  # Lambert, as unshadowed_ground assumes
        tree.links.new(diffuse.outputs["BSDF"], tree.nodes["Material Output"].inputs["Surface"])
        # Faces of imported meshes without a material get this one (kept when orphans are
        # purged after each sample, although no mesh may use it yet).
        self.default_material = self._tag_material(bpy.data.materials.new("default"))
        self.default_material.use_fake_user = True
        half = GROUND_SIZE / 2
        self.ground = self._ground_object("ground", [[(-half, -half), (half, -half),
                                                      (half, half), (-half, half)]])
        # (patch around the inserted object, patches around the occluders)
        self.patches: tuple[bpy.types.Object, bpy.types.Object] | None = None
        if self.settings.ground_reach > 0:
            self.ground.location.z = -GROUND_DROP
            self.ground.visible_camera = False
            self.patches = (self._ground_object("inserted_patch", []),
                            self._ground_object("occluder_patches", []))
            for patch in self.patches:
                for ray in ("diffuse", "glossy", "transmission", "shadow", "volume_scatter"):
                    setattr(patch, f"visible_{ray}", False)

        # The direct light: a sun or an area lamp (one of them per sample, or none when
        # overcast), both in the light group whose part of the ground factor keeps its edges.
        self.sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
        self.sun.rotation_mode = "QUATERNION"
        self.area = bpy.data.objects.new("area", bpy.data.lights.new("area", "AREA"))
        for light in (self.sun, self.area):
            light.lightgroup = SUN_GROUP
            scene.collection.objects.link(light)

        camera_data = bpy.data.cameras.new("camera")
        camera_data.sensor_fit = "AUTO"
        camera_data.clip_start = 0.01
        camera_data.clip_end = 1000.0
        self.camera = bpy.data.objects.new("camera", camera_data)
        scene.collection.objects.link(self.camera)
        scene.camera = self.camera

        # Imported meshes live here, outside the view layer, until a sample instances them.
        self.library = bpy.data.collections.new(LIBRARY)

    def _ground_mesh(self, name: str, polygons: list) -> bpy.types.Mesh:
        vertices, faces = [], []
        for polygon in polygons:
            faces.append(tuple(range(len(vertices), len(vertices) + len(polygon))))
            vertices += [(float(x), float(y), 0.0) for x, y in polygon]
        mesh = bpy.data.meshes.new(name)
        mesh.from_pydata(vertices, [], faces)
        mesh.materials.append(self.ground_material)
        return mesh

    def _ground_object(self, name: str, polygons: list) -> bpy.types.Object:
        obj = bpy.data.objects.new(name, self._ground_mesh(name, polygons))
        obj.pass_index = 0
        self.scene.collection.objects.link(obj)
        return obj

    def _set_patches(self, spec: SceneSpec) -> None:
        chosen: tuple[list, list] = ([], [])  # inserted, occluders: the order of self.patches
        polygons = ground_patches(spec, self.settings.ground_reach)
        for obj, polygon in zip(spec.objects, polygons, strict=True):
            chosen[obj.pass_index != INSERTED_INDEX].append(polygon)
        for patch, polygons in zip(self.patches, chosen, strict=True):
            old = patch.data
            patch.data = self._ground_mesh(patch.name, polygons)
            bpy.data.meshes.remove(old)

    @staticmethod
    def _tag_material(material: bpy.types.Material) -> bpy.types.Material:
        """Object materials write 1 to the object-alpha AOV (the ground writes nothing), which
        gives the objects' anti-aliased coverage in the same render."""
        if material.node_tree is None:
            material.use_nodes = True
        output = material.node_tree.nodes.new("ShaderNodeOutputAOV")
        output.aov_name = OBJECT_ALPHA
        output.inputs["Value"].default_value = 1.0
        return material

    # ------------------------------------------------------------------ meshes

    def load_mesh(self, path: str) -> MeshExtent:
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
                                            else self._tag_material(material))
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
        hull_points, poses = stable_poses(normalised.astype(np.float64))
        return LoadedMesh(mesh, MeshExtent(extent, poses), hull_points,
                          has_materials=any(m is not None for m in mesh.materials),
                          warnings=warnings)

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
        material = self._tag_material(bpy.data.materials.new(f"{mesh.name}_{VERTEX_COLORS}"))
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
              strength: float) -> None:
        """Set camera, light (sun irradiance or area power `strength`), world and objects to
        the spec."""
        self.clear()
        camera = self.camera
        camera.location = (0.0, 0.0, spec.camera.height)
        camera.rotation_euler = (math.radians(90.0 - spec.camera.pitch_deg), 0.0, 0.0)
        camera.data.angle = math.radians(spec.camera.fov_deg)

        light = spec.light
        self.sun.hide_render = light.kind != "sun"
        self.area.hide_render = light.kind != "area"
        if light.kind == "sun":
            direction = Vector(sun_direction(light).tolist())
            self.sun.rotation_quaternion = direction.to_track_quat("Z", "Y")
            self.sun.data.angle = math.radians(light.angle_deg)
            self.sun.data.energy = strength
            self.sun.data.color = light.color
        elif light.kind == "area":
            # Facing down (an area light emits along its local -z), turned to its azimuth as
            # render.spec.area_light_polygon assumes; `strength` is its power in watts.
            centre = area_light_polygon(light, inserted_foot(spec)).mean(axis=0)
            self.area.location = tuple(float(value) for value in centre)
            self.area.rotation_euler = (0.0, 0.0, math.radians(light.azimuth_deg))
            self.area.data.shape = "SQUARE" if light.shape == "rectangle" else "DISK"
            self.area.data.size = light.size
            self.area.data.energy = strength
            self.area.data.color = light.color
        self.background.inputs["Color"].default_value = (*ambient_rgb, 1.0)
        self.background.inputs["Strength"].default_value = 1.0

        for obj_spec in spec.objects:
            self.instances.append(self._instance(obj_spec))
        if self.patches is not None:
            self._set_patches(spec)
        self.scene.cycles.seed = spec.seed % (2**31 - 1)

    def _instance(self, spec: ObjectSpec) -> bpy.types.Object:
        loaded = self.meshes[spec.mesh_path]
        obj = bpy.data.objects.new(f"{spec.role}_{spec.pass_index}", loaded.mesh)
        if tuple(spec.pose) == IDENTITY_ROTATION:  # normalised upright already
            pose_offset = np.zeros(3)
        else:  # re-centred in its pose, lowest point on the ground (the cached mesh is shared)
            pose_offset, _ = posed_box(loaded.hull_points, spec.pose)
        obj.matrix_world = Matrix(object_matrix(spec, pose_offset).tolist())
        obj.pass_index = spec.pass_index
        if not loaded.has_materials:
            material = self._tag_material(bpy.data.materials.new(f"sampled_{spec.pass_index}"))
            principled = material.node_tree.nodes["Principled BSDF"]
            principled.inputs["Base Color"].default_value = (*spec.material.base_color, 1.0)
            principled.inputs["Roughness"].default_value = spec.material.roughness
            principled.inputs["Metallic"].default_value = spec.material.metallic
            if not loaded.mesh.materials:
                loaded.mesh.materials.append(None)
            for slot in obj.material_slots:
                slot.link = "OBJECT"
                slot.material = material
            self.sample_materials.append(material)
        self.scene.collection.objects.link(obj)
        return obj

    def set_inserted_affects_scene(self, affects: bool) -> None:
        """With False the inserted object is seen by the camera only: it casts no shadow, blocks
        no ambient light and reflects nothing onto the ground or the occluders. With True the
        camera sees only the ground around the inserted object (with patches), the only ground
        that can differ; `render_pair` takes the rest from the first render."""
        if self.patches is not None:
            self.patches[1].visible_camera = not affects
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
    return Passes(combined=combined, sun=find(f"Combined_{SUN_GROUP}")[..., :3],
                  ambient=find(f"Combined_{AMBIENT_GROUP}")[..., :3],
                  object_alpha=find(OBJECT_ALPHA),
                  object_index=np.rint(index[..., 0] if index.ndim == 3 else index).astype(
                      np.uint8), seconds=0.0)
