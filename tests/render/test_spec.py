import dataclasses
import math

import numpy as np
import pytest

from dataset_tools.camera import ground_point, project
from render.config import LightRanges, ObjectRanges, QualityChecks, SamplingRanges
from render.geometry import (
    box_overlap_fraction,
    footprint_radius,
    ground_patches,
    object_corners,
    projected_box,
    shadow_region,
    sun_direction,
)
from render.poses import MeshExtent
from render.sampler import SamplingError, sample_scene, sample_seed
from render.spec import CameraSpec, SceneSpec

MESHES = [("a/one", "one.obj"), ("b/two", "two.obj")]
SUN_ONLY = SamplingRanges(lights=LightRanges(weights={"sun": 1.0, "area": 0.0, "overcast": 0.0}))


def only(kind: str) -> SamplingRanges:
    return dataclasses.replace(SUN_ONLY, lights=dataclasses.replace(
        SUN_ONLY.lights, weights={name: float(name == kind) for name in SUN_ONLY.lights.weights}))
EXTENTS = {"one.obj": MeshExtent((1.0, 0.5, 0.8)), "two.obj": MeshExtent((0.3, 0.3, 1.0))}


def draw(seed: int, size: int = 256, **kwargs) -> SceneSpec:
    rng = np.random.default_rng(seed)
    return sample_scene(rng, index=0, attempt=0, seed=seed, size=size, photos=["p.jpg"],
                        meshes=MESHES, extent_of=EXTENTS.__getitem__,
                        ranges=kwargs.get("ranges", SUN_ONLY), checks=QualityChecks())


def test_sample_seed_is_deterministic_and_distinct():
    assert sample_seed(0, 5) == sample_seed(0, 5)
    seeds = {sample_seed(0, index) for index in range(1000)}
    assert len(seeds) == 1000
    assert sample_seed(0, 5) != sample_seed(1, 5) != sample_seed(0, 5, attempt=1)
    assert 0 <= sample_seed(123, 4) < 2**63


def test_projection_of_the_image_centre_and_back():
    camera = CameraSpec(height=2.0, pitch_deg=45.0, fov_deg=60.0)
    point = ground_point(camera, 100, 50.0, 50.0)
    np.testing.assert_allclose(point, [0.0, 2.0, 0.0], atol=1e-9)
    uv, depth = project(camera, 100, point[None])
    np.testing.assert_allclose(uv[0], [50.0, 50.0], atol=1e-9)
    assert depth[0] == pytest.approx(2.0 * math.sqrt(2))
    # Right of the image is +x, the bottom is nearer the camera.
    right = ground_point(camera, 100, 90.0, 50.0)
    lower = ground_point(camera, 100, 50.0, 90.0)
    assert right[0] > 0 and lower[1] < 2.0
    assert ground_point(camera, 100, 50.0, 0.0) is not None
    assert ground_point(CameraSpec(2.0, 10.0, 60.0), 100, 50.0, 0.0) is None  # above horizon


def test_sun_direction_points_up_towards_azimuth():
    from render.spec import LightSpec

    sun = LightSpec(kind="sun", azimuth_deg=0.0, elevation_deg=30.0, angle_deg=1.0,
                    ambient_fraction=0.3, color=(1, 1, 1))
    np.testing.assert_allclose(sun_direction(sun), [0.0, math.cos(math.pi / 6), 0.5], atol=1e-12)
    west = LightSpec("sun", 90.0, 30.0, 1.0, 0.3, (1, 1, 1))
    np.testing.assert_allclose(sun_direction(west)[:2], [-math.cos(math.pi / 6), 0.0], atol=1e-12)


def test_box_overlap_fraction_exact():
    box = np.array([0.0, 0.0, 10.0, 10.0])
    assert box_overlap_fraction(box, np.array([5.0, 5.0, 20.0, 20.0])) == pytest.approx(0.25)
    assert box_overlap_fraction(box, np.array([20.0, 20.0, 30.0, 30.0])) == 0.0
    assert box_overlap_fraction(box, box) == pytest.approx(1.0)


def drawable(seeds, ranges: SamplingRanges = SUN_ONLY) -> list[SceneSpec]:
    specs = []
    for seed in seeds:
        try:
            specs.append(draw(seed, ranges=ranges))
        except SamplingError:
            pass
    return specs


def test_sampled_scene_is_deterministic_in_frame_and_without_overlaps():
    specs = drawable(range(40))
    assert len(specs) >= 32  # most attempts succeed; the rest are resampled by the caller
    for spec in specs:
        seed = spec.seed
        assert spec == draw(seed)
        assert spec.inserted.pass_index == 1
        assert [obj.pass_index for obj in spec.occluders] == list(
            range(2, 2 + len(spec.occluders)))
        for obj in spec.objects:
            box = projected_box(obj, spec.camera, spec.size)
            assert box[0] >= 0 and box[1] >= 0 and box[2] <= spec.size and box[3] <= spec.size
            corners = object_corners(obj)
            assert corners[:, 2].min() == pytest.approx(0.0)
            assert np.ptp(corners, axis=0).max() <= obj.size * 1.5
        for i, first in enumerate(spec.objects):
            for second in spec.objects[i + 1:]:
                distance = math.hypot(first.x - second.x, first.y - second.y)
                assert distance >= footprint_radius(first) + footprint_radius(second)
        assert SceneSpec.from_json(spec.to_json()) == spec


def test_different_seeds_give_different_scenes():
    specs = drawable(range(12))
    assert len({spec.camera for spec in specs}) == len(specs) >= 8


def test_impossible_placement_raises_sampling_error():
    ranges = SamplingRanges(objects=ObjectRanges(inserted_size=(40.0, 40.0)))  # never fits
    with pytest.raises(SamplingError):
        draw(0, ranges=ranges)


def test_shadow_region_holds_the_shadow_tip_and_the_object():
    for spec in drawable(range(20)):
        x0, y0, x1, y1 = shadow_region(spec)
        obj_box = projected_box(spec.inserted, spec.camera, spec.size)
        assert x0 <= max(obj_box[0], 0) and y0 <= max(obj_box[1], 0)
        assert x1 >= min(obj_box[2], spec.size) and y1 >= min(obj_box[3], spec.size)
        # The ground point under the top of the object, along the sun, is inside the region.
        direction = sun_direction(spec.light)
        top = object_corners(spec.inserted)[1]
        tip = top - top[2] / direction[2] * direction
        uv, depth = project(spec.camera, spec.size, tip[None])
        if depth[0] > 0 and 0 <= uv[0, 0] < spec.size and 0 <= uv[0, 1] < spec.size:
            assert x0 <= uv[0, 0] <= x1 and y0 <= uv[0, 1] <= y1


def test_ground_patches_hold_each_objects_shadow_and_face_up():
    for spec in drawable(range(20)):
        polygons = ground_patches(spec, 1.5)
        assert len(polygons) == len(spec.objects)
        for obj, polygon in zip(spec.objects, polygons, strict=True):
            x, y = polygon[:, 0], polygon[:, 1]
            assert np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y) > 0  # counter-clockwise
            direction = sun_direction(spec.light)
            for corner in object_corners(obj):
                tip = corner - corner[2] / direction[2] * direction
                # inside a convex CCW polygon: left of every edge
                edges = np.roll(polygon, -1, axis=0) - polygon
                offsets = tip[:2] - polygon
                assert np.all(edges[:, 0] * offsets[:, 1] - edges[:, 1] * offsets[:, 0] >= -1e-9)


def test_light_kinds_follow_their_weights_and_ranges():
    ranges = SamplingRanges()
    kinds = [draw(seed, ranges=ranges).light for seed in range(400)
             if not _fails(seed, ranges)]
    counts = {kind: sum(light.kind == kind for light in kinds) for kind in ("sun", "area",
                                                                           "overcast")}
    weights = ranges.lights.weights
    for kind, count in counts.items():
        assert abs(count / len(kinds) - weights[kind] / sum(weights.values())) < 0.08, counts
    for light in kinds:
        if light.kind == "sun":
            assert 0.5 <= light.angle_deg <= 5.0 and 0.1 <= light.ambient_fraction <= 0.22
        elif light.kind == "area":
            assert light.shape in ("rectangle", "disk") and 0.3 <= light.size <= 1.6
            assert 1.8 <= light.distance <= 4.0 and 40 <= light.elevation_deg <= 75
        else:
            assert light.ambient_fraction == 1.0 and 0.8 <= light.sky_level <= 1.0


def _fails(seed: int, ranges: SamplingRanges) -> bool:
    try:
        draw(seed, ranges=ranges)
    except SamplingError:
        return True
    return False


def test_area_light_shadow_lies_in_the_region_and_the_patch():
    """The ground point under an object's top corner, seen from the area light's centre, is
    inside the shadow region (the inserted object) and inside the object's ground patch."""
    from render.geometry import area_light_polygon, inserted_foot

    specs = drawable(range(60), ranges=only("area"))
    assert len(specs) > 20 and all(spec.light.kind == "area" for spec in specs)
    for spec in specs:
        centre = area_light_polygon(spec.light, inserted_foot(spec)).mean(axis=0)
        x0, y0, x1, y1 = shadow_region(spec)
        for obj, polygon in zip(spec.objects, ground_patches(spec, 1.5), strict=True):
            for corner in object_corners(obj)[1::2]:  # the top corners
                tip = centre + (corner - centre) * centre[2] / (centre[2] - corner[2])
                edges = np.roll(polygon, -1, axis=0) - polygon
                offsets = tip[:2] - polygon
                assert np.all(edges[:, 0] * offsets[:, 1] - edges[:, 1] * offsets[:, 0] >= -1e-9)
                if obj.role != "inserted":
                    continue
                uv, depth = project(spec.camera, spec.size, tip[None])
                if depth[0] > 0 and 0 <= uv[0, 0] < spec.size and 0 <= uv[0, 1] < spec.size:
                    assert x0 <= uv[0, 0] <= x1 and y0 <= uv[0, 1] <= y1
