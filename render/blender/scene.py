"""The persistent Blender scene of a worker: Cycles set up once, the static scene (ground,
camera, lights, world), and per sample the objects, lights and camera of a `SceneSpec`."""

from __future__ import annotations

import gc
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bpy
import numpy as np
from mathutils import Matrix, Vector

from dataset_tools.layout import INSERTED_INDEX
from render.blender.meshes import MeshLibrary
from render.blender.passes import (
    AMBIENT_GROUP,
    DIRECT_GROUP,
    Passes,
    add_outputs,
    read_passes,
    tag_material,
)
from render.composite import GROUND_ALBEDO
from render.config import RenderSettings
from render.geometry import (
    area_light_polygon,
    ground_patches,
    inserted_foot,
    object_matrix,
    sun_direction,
)
from render.mesh_checks import MAX_FACES
from render.panorama import Environment
from render.poses import IDENTITY_ROTATION, MeshExtent, PoseTable, posed_box
from render.spec import ObjectSpec, SceneSpec

GROUND_SIZE = 400.0
GROUND_DROP = 1e-3  # the lighting ground sits this far below the camera-visible patches


def _silence_blender() -> None:
    """Blender prints a line per render and import on stdout; the worker reports through its
    pipe instead, so its stdout goes to /dev/null (stderr stays for real errors)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


class BlenderScene:
    """A persistent scene: ground, camera, lights and world stay; objects change per sample.

    Meshes come from `self.meshes`, a `MeshLibrary` (imported once per worker)."""

    def __init__(self, settings: RenderSettings, size: int, scratch: Path,
                 max_faces: int = MAX_FACES, cache_size: int = 48,
                 poses: PoseTable | None = None) -> None:
        _silence_blender()
        bpy.ops.wm.read_factory_settings(use_empty=True)
        self.settings = settings
        self.size = size
        self.scratch = scratch
        self.instances: list[bpy.types.Object] = []
        self.sample_materials: list[bpy.types.Material] = []
        self.frozen = False  # gc.freeze() done (`purge`)
        self.scene = bpy.context.scene
        self._configure_cycles()
        self._build_static_scene()
        self.meshes = MeshLibrary(self.scene, max_faces, cache_size, poses)

    def load_mesh(self, path: str) -> MeshExtent:
        """`MeshLibrary.load`: the mesh's normalised extent and stable poses. Raises BadAsset."""
        return self.meshes.load(path)

    def mesh_warnings(self, path: str) -> list[str]:
        return self.meshes.warnings(path)

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
        # Not Cycles' persistent data: with it a sample's noise depended on what its worker had
        # rendered before (sample 110 of the defaults at 64 px differed after sample 109 from
        # the same sample rendered first; 3 of 4 samples of a 30-sample run differed from the
        # same samples in another order). Each render now syncs the scene afresh, which costs
        # about 10 % of the wall time (docs/benchmarks.md).
        scene.render.use_persistent_data = False
        scene.render.use_border = False
        scene.render.use_crop_to_border = False
        scene.render.image_settings.media_type = "MULTI_LAYER_IMAGE"
        scene.render.image_settings.color_depth = "32"
        scene.render.image_settings.exr_codec = "NONE"
        add_outputs(scene.view_layers[0])

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
        the smooth, noisy ambient part can be filtered on its own, and it costs less than the
        catcher's split paths. The ground that lights and shadows the objects spans 400 m;
        with `ground_reach` > 0 the camera does not see it but sees patches around each object
        and its shadow (rebuilt per sample), and passes through everywhere else, where the
        factor is 1 anyway: shading empty ground was most of the render time."""
        scene = self.scene
        world = bpy.data.worlds.new("ambient")
        world.lightgroup = AMBIENT_GROUP
        scene.world = world
        self.uniform_world = world
        world.use_fake_user = True  # kept by `purge` while the other world is the scene's
        self.background = world.node_tree.nodes["Background"]
        self._build_environment_world()

        self.ground_material = bpy.data.materials.new("ground")
        tree = self.ground_material.node_tree
        tree.nodes.remove(tree.nodes["Principled BSDF"])
        diffuse = tree.nodes.new("ShaderNodeBsdfDiffuse")
        diffuse.inputs["Color"].default_value = (GROUND_ALBEDO, GROUND_ALBEDO, GROUND_ALBEDO, 1.0)
        diffuse.inputs["Roughness"].default_value = 0.0  # Lambert, as unshadowed_ground assumes
        tree.links.new(diffuse.outputs["BSDF"], tree.nodes["Material Output"].inputs["Surface"])
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
            light.lightgroup = DIRECT_GROUP
            # Never seen by the camera (a panorama's view can look up at a low sun's disc or
            # at the lamp): the photo is the background, and the render shows only the objects
            # and their ground (`render.geometry.camera_region`).
            light.visible_camera = False
            scene.collection.objects.link(light)

        camera_data = bpy.data.cameras.new("camera")
        camera_data.sensor_fit = "AUTO"
        camera_data.clip_start = 0.01
        camera_data.clip_end = 1000.0
        self.camera = bpy.data.objects.new("camera", camera_data)
        scene.collection.objects.link(self.camera)
        scene.camera = self.camera


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

    # ------------------------------------------------------------------ scene

    def clear(self) -> None:
        for obj in self.instances:
            bpy.data.objects.remove(obj)
        for material in self.sample_materials:
            bpy.data.materials.remove(material)
        self.instances, self.sample_materials = [], []

    def _build_environment_world(self) -> None:
        """A second world whose radiance is an image in the panorama's frame
        (`render.panorama`), looked up by direction with the view's yaw: heading = yaw +
        atan2(x, y), elevation = asin(z) of the ray's world direction (the world's Generated
        coordinate), u = heading / 2 pi (the image repeats across 0/360), v = 1/2 + elevation /
        pi (Blender's rows start at the bottom; `_set_environment` flips them), the colour
        raised to the sample's gamma and times its strength (`render.panorama.Environment`)."""
        world = bpy.data.worlds.new("environment")
        world.lightgroup = AMBIENT_GROUP
        world.use_fake_user = True  # kept by `purge` while the uniform world is the scene's
        # No importance map: with persistent data (now off) Cycles kept a map from an earlier
        # sample (samples then depended on what the worker rendered before: 49 of 120 files
        # differed between two runs of the same 60 samples), and rebuilding it at the
        # automatic 1024 px each sample cost 2.8x the render time. The sky is smooth at
        # 256x128 and the sun is a lamp of its own, so plain sampling of the world is enough
        # (docs/benchmarks.md).
        world.cycles.sampling_method = "NONE"
        self.environment_world = world
        nodes, links = world.node_tree.nodes, world.node_tree.links

        def math_node(operation: str, first: Any, second: Any = None) -> Any:
            node = nodes.new("ShaderNodeMath")
            node.operation = operation
            for index, value in enumerate((first, second)):
                if value is None:
                    continue
                if isinstance(value, float):
                    node.inputs[index].default_value = value
                else:
                    links.new(value, node.inputs[index])
            return node.outputs[0]

        coordinates = nodes.new("ShaderNodeTexCoord")
        direction = nodes.new("ShaderNodeSeparateXYZ")
        links.new(coordinates.outputs["Generated"], direction.inputs[0])
        self.environment_yaw = nodes.new("ShaderNodeValue")
        x, y, z = (direction.outputs[axis] for axis in "XYZ")
        heading = math_node("ADD", math_node("ARCTAN2", x, y), self.environment_yaw.outputs[0])
        u = math_node("DIVIDE", heading, 2 * math.pi)
        v = math_node("ADD", math_node("DIVIDE", math_node("ARCSINE", z), math.pi), 0.5)
        uv = nodes.new("ShaderNodeCombineXYZ")
        links.new(u, uv.inputs[0])
        links.new(v, uv.inputs[1])
        texture = nodes.new("ShaderNodeTexImage")
        self.environment_texture = texture
        # Closest: the gamma comes after the lookup, and pow(bilinear) is not bilinear(pow);
        # per pixel it is exactly the radiance `horizontal_irradiance` integrates
        texture.interpolation = "Closest"
        texture.extension = "REPEAT"
        links.new(uv.outputs[0], texture.inputs["Vector"])
        self.environment_gamma = nodes.new("ShaderNodeGamma")
        links.new(texture.outputs["Color"], self.environment_gamma.inputs["Color"])
        links.new(self.environment_gamma.outputs["Color"], nodes["Background"].inputs["Color"])
        self.environment_strength = nodes["Background"].inputs["Strength"]
        # one image per panorama, uploaded once, its pixels never changed (Cycles' persistent
        # data, now off, kept the pixels of an image it had seen)
        self.environment_images: dict[str, Any] = {}

    def _set_environment(self, environment: Environment | None, yaw_deg: float) -> None:
        """The uniform world, or the environment world with this panorama's image, its gamma
        and strength, at the view's yaw."""
        if environment is None:
            self.scene.world = self.uniform_world
            return
        image = self.environment_images.get(environment.key)
        if image is None:
            height, width = environment.decoded.shape[:2]
            image = bpy.data.images.new(f"environment {len(self.environment_images)}", width,
                                        height, alpha=False, float_buffer=True)
            image.use_fake_user = True
            rgba = np.ones((height, width, 4), dtype=np.float32)
            rgba[..., :3] = environment.decoded[::-1]  # Blender's rows start at the bottom
            image.pixels.foreach_set(rgba.ravel())
            image.update()
            self.environment_images[environment.key] = image
        self.environment_texture.image = image
        self.environment_gamma.inputs["Gamma"].default_value = environment.gamma
        self.environment_strength.default_value = environment.strength
        self.environment_yaw.outputs[0].default_value = math.radians(yaw_deg)
        self.scene.world = self.environment_world

    def apply(self, spec: SceneSpec, ambient_rgb: tuple[float, float, float],
              strength: float, environment: Environment | None = None) -> None:
        """Set camera, light (sun irradiance or area power `strength`), world (uniform
        `ambient_rgb`, or the panorama's `environment` at the view's yaw) and objects to the
        spec."""
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
            # render.geometry.area_light_polygon assumes; `strength` is its power in watts.
            centre = area_light_polygon(light, inserted_foot(spec)).mean(axis=0)
            self.area.location = tuple(float(value) for value in centre)
            self.area.rotation_euler = (0.0, 0.0, math.radians(light.azimuth_deg))
            self.area.data.shape = "SQUARE" if light.shape == "rectangle" else "DISK"
            self.area.data.size = light.size
            self.area.data.energy = strength
            self.area.data.color = light.color
        self.background.inputs["Color"].default_value = (*ambient_rgb, 1.0)
        self.background.inputs["Strength"].default_value = 1.0
        self._set_environment(environment, spec.photo.view.yaw_deg
                              if spec.photo.view is not None else 0.0)

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
            material = tag_material(bpy.data.materials.new(f"sampled_{spec.pass_index}"))
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
        with _interrupt_after():
            bpy.ops.render.render(write_still=True)
        passes = read_passes(target, self.size)
        passes.seconds = time.perf_counter() - start
        target.unlink(missing_ok=True)
        return passes

    def purge(self) -> None:
        """Free what the last sample left: Blender's orphan data, then Python's reference cycles
        (left to the collector's own schedule they piled up: 427 -> 506 MiB from 50 to 500
        samples once poses were no longer recomputed, whose allocations had set it off;
        collected after every sample, 411 -> 420 MiB; docs/benchmarks.md). What outlives the
        first sample (modules, Blender's types, the caches' own structures) is frozen out of
        later collections, which then look only at what a sample made: a full collection over
        all of it took 70 ms a sample. Whether that is done is this object's flag, not
        `gc.get_freeze_count()`, which walks every frozen object (10 ms a call)."""
        bpy.data.orphans_purge(do_local_ids=True, do_linked_ids=True, do_recursive=True)
        gc.collect()
        if not self.frozen:  # the process's first sample
            gc.freeze()
            self.frozen = True


@contextmanager
def _interrupt_after() -> Iterator[None]:
    """Ctrl-C (SIGINT; the pool's stop sends it to busy workers) during the block is raised as
    KeyboardInterrupt when the block ends. Raised inside a render it reaches Cycles' Python
    callback, and Blender prints it as a traceback and carries on with the render."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: received.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received and callable(previous):
        previous(signal.SIGINT, None)  # Python's own handler raises KeyboardInterrupt
    elif received and previous == signal.SIG_DFL:
        raise KeyboardInterrupt
