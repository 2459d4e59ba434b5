"""glTF materials and textures survive the import; objects rest in their stable poses."""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from rich.console import Console

from dataset_tools.layout import read_image, sample_path
from dataset_tools.records import read_manifest
from render.config import MaterialRanges, ObjectRanges, QualityChecks, SamplingRanges
from render.geometry import object_corners, object_matrix, projected_box
from render.mesh_checks import normalising_transform
from render.poses import IDENTITY_ROTATION, MeshExtent, StablePose, posed_box, stable_poses
from render.runner import run
from render.sampler import SamplingError, sample_scene
from render.spec import SceneSpec
from tests.helpers import tiny_config

QUIET = Console(file=open(os.devnull, "w"))  # noqa: SIM115
LYING = StablePose((0.0, -1.0, 0.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0), 0.75, (0.5, 1.0, 0.25))
UPSIDE_DOWN = StablePose((1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, -1.0), 0.25, (0.25, 0.5, 1.0))


def draw_many(probability: float, seeds: range) -> list[SceneSpec]:
    extents = {"box.obj": MeshExtent((0.25, 0.5, 1.0), (LYING, UPSIDE_DOWN))}
    ranges = SamplingRanges(objects=ObjectRanges(stable_pose_probability=probability))
    specs = []
    for seed in seeds:
        try:
            specs.append(sample_scene(np.random.default_rng(seed), index=0, attempt=0, seed=seed,
                                      size=128, photos=["p.jpg"], meshes=[("box", "box.obj")],
                                      extent_of=extents.__getitem__, ranges=ranges,
                                      checks=QualityChecks()))
        except SamplingError:
            pass
    return specs


def test_sampled_poses_are_stable_poses_drawn_at_the_configured_rate():
    objects = [obj for spec in draw_many(0.4, range(300)) for obj in spec.objects]
    assert len(objects) > 400
    by_pose = Counter(obj.pose for obj in objects)
    assert set(by_pose) <= {IDENTITY_ROTATION, LYING.rotation, UPSIDE_DOWN.rotation}
    posed = by_pose[LYING.rotation] + by_pose[UPSIDE_DOWN.rotation]
    assert 0.3 < posed / len(objects) < 0.5
    assert 2.0 < by_pose[LYING.rotation] / by_pose[UPSIDE_DOWN.rotation] < 4.5  # 0.75 : 0.25
    extent_of = {IDENTITY_ROTATION: (0.25, 0.5, 1.0), LYING.rotation: LYING.extent,
                 UPSIDE_DOWN.rotation: UPSIDE_DOWN.extent}
    assert all(obj.extent == extent_of[obj.pose] for obj in objects)
    assert all(obj.pose == IDENTITY_ROTATION for spec in draw_many(0.0, range(40))
               for obj in spec.objects)
    spec = next(spec for spec in draw_many(1.0, range(5)))
    assert SceneSpec.from_json(spec.to_json()) == spec
    old = spec.to_json()  # a manifest written before poses existed
    for obj in old["objects"]:
        del obj["pose"]
    assert all(obj.pose == IDENTITY_ROTATION for obj in SceneSpec.from_json(old).objects)


def test_posed_mesh_fills_its_box_and_touches_the_ground():
    import trimesh

    box = trimesh.creation.box(extents=(0.25, 0.5, 1.0))
    box.apply_translation((0.3, -0.2, 0.7))
    offset, scale, _ = normalising_transform(box.vertices)
    vertices = (box.vertices + offset) * scale
    hull, poses = stable_poses(vertices)
    assert len(poses) == 6 and sum(pose.probability for pose in poses) == pytest.approx(1.0)
    assert sorted(max(pose.extent) for pose in poses) == pytest.approx([1.0] * 6)
    spec = draw_many(0.0, range(1))[0].inserted
    for pose in poses:
        obj = dataclasses.replace(spec, pose=pose.rotation, extent=pose.extent, yaw_deg=33.0)
        offset, extent = posed_box(hull, pose.rotation)
        assert tuple(extent) == pytest.approx(pose.extent)
        world = np.c_[vertices, np.ones(len(vertices))] @ object_matrix(obj, offset).T
        assert world[:, 2].min() == pytest.approx(0.0, abs=1e-9)
        corners = object_corners(obj)
        np.testing.assert_allclose(world[:, :3].min(axis=0), corners.min(axis=0), atol=1e-9)
        np.testing.assert_allclose(world[:, :3].max(axis=0), corners.max(axis=0), atol=1e-9)
    _, flat_poses = stable_poses(np.array([[0, 0, 0], [1, 0, 0], [0, 0, 1], [1, 0, 1.0]]))
    assert flat_poses == ()  # a sheet is used only upright


def image(out: Path, record: dict, kind: str, mode: str = "L") -> np.ndarray:
    return read_image(sample_path(out, record.split, kind, record.id), mode)


def write_glb_meshes(models: Path) -> None:
    """Three meshes 0.4 x 1.0 x 0.3, tall along glTF's +y: a pure red PBR box, a box with a
    green 4x4 texture and, without materials, two stacked boxes in two nodes (one the other's
    child: the importer's objects are joined with their world transforms)."""
    import trimesh
    from PIL import Image
    from trimesh.visual.material import PBRMaterial

    models.mkdir()
    red = trimesh.creation.box(extents=(0.4, 1.0, 0.3))
    red.visual = trimesh.visual.TextureVisuals(
        material=PBRMaterial(baseColorFactor=[255, 0, 0, 255], metallicFactor=0.0))
    red.export(models / "red.glb")
    green = trimesh.creation.box(extents=(0.4, 1.0, 0.3))
    texture = Image.fromarray(np.full((4, 4, 3), (0, 255, 0), dtype=np.uint8))
    uv = np.random.default_rng(0).uniform(0.1, 0.9, size=(len(green.vertices), 2))
    green.visual = trimesh.visual.TextureVisuals(
        uv=uv, material=PBRMaterial(baseColorTexture=texture, metallicFactor=0.0))
    green.export(models / "green.glb")
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box(extents=(0.4, 0.6, 0.3)), node_name="base")
    scene.add_geometry(trimesh.creation.box(extents=(0.4, 0.4, 0.3)), node_name="top",
                       parent_node_name="base",
                       transform=trimesh.transformations.translation_matrix((0.0, 0.5, 0.0)))
    scene.export(models / "plain.glb")


@pytest.mark.blender
def test_glb_materials_and_textures_render_and_plain_glb_takes_the_sampled_colour(tmp_path):
    models = tmp_path / "models"
    write_glb_meshes(models)
    blue = MaterialRanges(hue=(0.64, 0.64), saturation=(0.9, 0.9), value=(0.8, 0.8),
                          metallic_probability=0.0)
    ranges = SamplingRanges(objects=ObjectRanges(occluders=(0, 0), stable_pose_probability=0.0),
                            materials=blue)
    config = tiny_config(tmp_path / "out", models=models, count=5, size=64, ranges=ranges, seed=3)
    summary = run(config, QUIET)
    assert summary.rendered == 5 and not summary.failed, summary
    expected = {"red": 0, "green": 1, "plain": 2}  # the dominant channel
    seen = set()
    for record in read_manifest(config.out).values():
        name = record.inserted_mesh
        seen.add(name)
        spec = SceneSpec.from_json(record.spec)
        assert spec.inserted.extent == pytest.approx((0.4, 0.3, 1.0))  # glTF's +y stands up
        mask = cv2.erode(image(config.out, record, "mask"), np.ones((3, 3), np.uint8)) > 0
        assert mask.sum() >= 10
        colour = image(config.out, record, "noshadow", "RGB")[mask].astype(float).mean(axis=0)
        dominant = expected[name]
        others = [colour[k] for k in range(3) if k != dominant]
        assert colour[dominant] > 1.5 * max(others) and colour[dominant] > 40, (name, colour)
    assert seen == set(expected), seen


@pytest.mark.blender
def test_box_lying_on_its_side_touches_the_ground_inside_its_projected_box(tmp_path):
    import trimesh

    models = tmp_path / "models"
    models.mkdir()
    trimesh.creation.box(extents=(0.3, 0.5, 1.0)).export(models / "box.stl")
    objects = ObjectRanges(occluders=(0, 0), stable_pose_probability=1.0,
                           inserted_screen_y=(0.55, 0.75))
    config = tiny_config(tmp_path / "out", models=models, count=3, size=64,
                         ranges=SamplingRanges(objects=objects), seed=1)
    summary = run(config, QUIET)
    assert summary.rendered == 3 and not summary.failed, summary
    lying = 0
    for record in read_manifest(config.out).values():
        spec = SceneSpec.from_json(record.spec)
        lying += spec.inserted.pose != IDENTITY_ROTATION and spec.inserted.extent[2] < 0.6
        mask = image(config.out, record, "mask") > 0
        ys, xs = np.nonzero(mask)
        x0, y0, x1, y1 = projected_box(spec.inserted, spec.camera, spec.size)
        assert xs.min() >= np.floor(x0) - 1 and xs.max() <= np.ceil(x1) + 1
        assert ys.min() >= np.floor(y0) - 1 and ys.max() <= np.ceil(y1) + 1
        # The box's nearest bottom corner is on the ground: no gap below the object.
        assert abs(ys.max() + 1 - y1) <= 1.5, (ys.max(), y1)
        # ... and its lowest rows touch its contact shadow.
        region = image(config.out, record, "sregion") > 0
        bottom = np.zeros_like(mask)
        bottom[ys.max() - 1:] = mask[ys.max() - 1:]
        near = cv2.dilate(bottom.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        assert np.any(near & region & ~mask)
    assert lying >= 2
