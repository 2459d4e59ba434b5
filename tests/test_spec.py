import math

import numpy as np
import pytest

from render.config import QualityChecks, SamplingRanges
from render.spec import (
    CameraSpec,
    SamplingError,
    SceneSpec,
    box_overlap_fraction,
    footprint_radius,
    ground_patches,
    ground_point,
    object_corners,
    project,
    projected_box,
    sample_scene,
    sample_seed,
    shadow_region,
    sun_direction,
)

MESHES = [("a/one", "one.obj"), ("b/two", "two.obj")]
EXTENTS = {"one.obj": (1.0, 0.5, 0.8), "two.obj": (0.3, 0.3, 1.0)}


def draw(seed: int, size: int = 256, **kwargs) -> SceneSpec:
    rng = np.random.default_rng(seed)
    return sample_scene(rng, index=0, attempt=0, seed=seed, size=size, photos=["p.jpg"],
                        meshes=MESHES, extent_of=EXTENTS.__getitem__,
                        ranges=kwargs.get("ranges", SamplingRanges()), checks=QualityChecks())


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
    from render.spec import SunSpec

    sun = SunSpec(azimuth_deg=0.0, elevation_deg=30.0, angle_deg=1.0, ambient_fraction=0.3,
                  color=(1, 1, 1))
    np.testing.assert_allclose(sun_direction(sun), [0.0, math.cos(math.pi / 6), 0.5], atol=1e-12)
    west = SunSpec(90.0, 30.0, 1.0, 0.3, (1, 1, 1))
    np.testing.assert_allclose(sun_direction(west)[:2], [-math.cos(math.pi / 6), 0.0], atol=1e-12)


def test_box_overlap_fraction_exact():
    box = np.array([0.0, 0.0, 10.0, 10.0])
    assert box_overlap_fraction(box, np.array([5.0, 5.0, 20.0, 20.0])) == pytest.approx(0.25)
    assert box_overlap_fraction(box, np.array([20.0, 20.0, 30.0, 30.0])) == 0.0
    assert box_overlap_fraction(box, box) == pytest.approx(1.0)


def drawable(seeds) -> list[SceneSpec]:
    specs = []
    for seed in seeds:
        try:
            specs.append(draw(seed))
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
    ranges = SamplingRanges(inserted_size=(40.0, 40.0))  # a 40 m object never fits in frame
    with pytest.raises(SamplingError):
        draw(0, ranges=ranges)


def test_shadow_region_holds_the_shadow_tip_and_the_object():
    for spec in drawable(range(20)):
        x0, y0, x1, y1 = shadow_region(spec)
        obj_box = projected_box(spec.inserted, spec.camera, spec.size)
        assert x0 <= max(obj_box[0], 0) and y0 <= max(obj_box[1], 0)
        assert x1 >= min(obj_box[2], spec.size) and y1 >= min(obj_box[3], spec.size)
        # The ground point under the top of the object, along the sun, is inside the region.
        direction = sun_direction(spec.sun)
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
            direction = sun_direction(spec.sun)
            for corner in object_corners(obj):
                tip = corner - corner[2] / direction[2] * direction
                # inside a convex CCW polygon: left of every edge
                edges = np.roll(polygon, -1, axis=0) - polygon
                offsets = tip[:2] - polygon
                assert np.all(edges[:, 0] * offsets[:, 1] - edges[:, 1] * offsets[:, 0] >= -1e-9)
