"""Panoramas as scenes (render.panorama): the reprojection of a view, the panorama's sun in
the view's world frame, the sampler's views, panorama sidecars, and a real render."""

import json
import math
import os

import cv2
import numpy as np
import pytest
from rich.console import Console

from dataset_tools.camera import focal_pixels, project
from dataset_tools.light_labels import light_label
from render.assets import BadAsset
from render.config import PanoramaRanges, QualityChecks, RenderConfig, SamplingRanges
from render.geometry import sun_direction
from render.hints import PanoramaHints, PhotoHints, parse_hints, read_hints
from render.panorama import (
    ENVIRONMENT_WIDTH,
    ground_region,
    horizontal_irradiance,
    mask_view_of_panorama,
    panorama_coordinates,
    panorama_region,
    scene_photo,
    view_of_panorama,
    world_sun_azimuth,
)
from render.sampler import SamplingError, sample_scene, scene_weights
from render.spec import CameraSpec, LightSpec, SceneSpec
from tests.render.test_hints import EXTENTS, MESHES, angle_between

WIDTH, HEIGHT = 720, 360


def direction_panorama(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """(H, W, 3) float32: cos(heading), sin(heading), elevation (degrees) at each pixel
    centre, in the panorama's frame (render.panorama)."""
    heading = np.radians(360.0 * (np.arange(width) + 0.5) / width)
    elevation = 90.0 - 180.0 * (np.arange(height) + 0.5) / height
    image = np.empty((height, width, 3), dtype=np.float32)
    image[..., 0] = np.cos(heading)[None]
    image[..., 1] = np.sin(heading)[None]
    image[..., 2] = elevation[:, None]
    return image


def seen(view: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(heading, elevation) in degrees that each pixel of a view of `direction_panorama` shows."""
    return np.degrees(np.arctan2(view[..., 1], view[..., 0])) % 360.0, view[..., 2]


@pytest.mark.parametrize("yaw", [0.0, 37.5, 180.0, 359.0])
@pytest.mark.parametrize("pitch", [0.0, 12.0, 25.0])
def test_a_view_looks_at_its_yaw_and_puts_the_horizon_where_its_pitch_says(yaw, pitch):
    size = 33  # odd: the centre pixel's ray is the camera's axis
    camera = CameraSpec(height=1.6, pitch_deg=pitch, fov_deg=60.0)
    heading, elevation = seen(view_of_panorama(direction_panorama(), yaw, camera, size))
    centre = size // 2
    assert angle_between(heading[centre, centre], yaw) < 0.2
    assert elevation[centre, centre] == pytest.approx(-pitch, abs=0.1)
    # the horizon (elevation 0) crosses the centre column at size/2 - focal tan(pitch)
    column = elevation[:, centre].astype(np.float64)
    rows = np.arange(size) + 0.5
    crossing = np.interp(0.0, column[::-1], rows[::-1])  # elevation falls down the image
    expected = size / 2 - focal_pixels(camera, size) * math.tan(math.radians(pitch))
    assert crossing == pytest.approx(expected, abs=0.1)
    # right in the view is right in the panorama: headings grow clockwise, as its columns do
    # (the last pixel's ray, (offset, cos pitch, -sin pitch), turns atan2(offset, cos pitch))
    offset = (size - 0.5 - size / 2) / focal_pixels(camera, size)
    turn = math.degrees(math.atan2(offset, math.cos(math.radians(pitch))))
    assert angle_between(heading[centre, -1], yaw + turn) < 0.2


def test_yaw_wraps_around_0_and_360_without_a_seam():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(64, 128, 3), dtype=np.uint8)
    panorama = cv2.resize(noise, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    rolled = np.roll(panorama, WIDTH // 2, axis=1)  # heading h of rolled = h - 180 of panorama
    camera = CameraSpec(height=1.6, pitch_deg=15.0, fov_deg=70.0)
    across_seam = view_of_panorama(panorama, 0.0, camera, 48).astype(int)
    inside = view_of_panorama(rolled, 180.0, camera, 48).astype(int)
    assert np.abs(across_seam - inside).max() <= 2
    assert across_seam.std() > 20  # the view shows the noise, not a flat colour


def test_a_dense_panorama_is_averaged_not_aliased():
    stripes = np.zeros((1024, 2048, 3), dtype=np.uint8)
    stripes[:, ::2] = 255  # one-pixel columns: any point sample of them is 0 or 255
    view = view_of_panorama(stripes, 90.0, CameraSpec(1.6, 10.0, 60.0), 32)
    # the level is 176 px wide (2 pi focal), 11.6 stripes a pixel: an area average leaves at
    # most half a stripe unbalanced, 255 / (2 x 11.6) = 11; a point sample would be 127 off
    assert np.abs(view.astype(int) - 128).max() <= 11


@pytest.mark.parametrize("yaw", [0.0, 75.0, 200.0, 330.0])
@pytest.mark.parametrize(("sun_from", "shadow_deg"), [
    (180.0, 270.0),  # sun behind the camera: the shadow points away from it, up the image
    (90.0, 180.0),  # sun to the right: the shadow falls to the left
    (0.0, 90.0),  # sun ahead: the shadow points at the camera, down the image
    (270.0, 0.0),  # sun to the left: the shadow falls to the right
])
def test_the_panorama_sun_casts_the_shadow_its_position_says(yaw, sun_from, shadow_deg):
    """A sun at heading yaw + sun_from seen from the view at yaw: the light label (the image
    direction of the shadow from a foot on the view's centre column) and where the rendered
    sun lies in the panorama."""
    heading, elevation = (yaw + sun_from) % 360.0, 40.0
    light = LightSpec(kind="sun", azimuth_deg=world_sun_azimuth(heading, yaw),
                      elevation_deg=elevation, angle_deg=0.5, ambient_fraction=0.2,
                      color=(1.0, 1.0, 1.0))
    spec = {"size": 64, "camera": {"height": 1.6, "pitch_deg": 20.0, "fov_deg": 60.0},
            "light": light.__dict__, "objects": [{"role": "inserted", "x": 0.0, "y": 6.0}]}
    assert angle_between(light_label(spec).direction_deg, shadow_deg) < 0.01
    x, y = panorama_coordinates(sun_direction(light), yaw, WIDTH, HEIGHT)
    assert float(x) == pytest.approx(heading / 360.0 * WIDTH, abs=1e-6)
    assert float(y) == pytest.approx((90.0 - elevation) / 180.0 * HEIGHT, abs=1e-6)


SUNNY = PhotoHints(WIDTH, HEIGHT, panorama=PanoramaHints(sun_azimuth_deg=120.0,
                                                         sun_elevation_deg=35.0,
                                                         sun_angle_deg=1.5))


DEFAULT_RANGES = SamplingRanges()


def draw(seed: int, hints: PhotoHints, ranges: SamplingRanges = DEFAULT_RANGES) -> SceneSpec:
    rng = np.random.default_rng(seed)
    return sample_scene(rng, index=0, attempt=0, seed=seed, size=64, photos=["p.png"],
                        meshes=MESHES, extent_of=EXTENTS.__getitem__, ranges=ranges,
                        checks=QualityChecks(), photo_hints={"p.png": hints})


def test_the_sampler_draws_views_in_range_lit_by_the_panorama_sun():
    ranges = SamplingRanges(panorama=PanoramaRanges(pitch=(8.0, 20.0), fov=(55.0, 75.0)))
    specs = []
    for seed in range(40):
        try:
            specs.append(draw(seed, SUNNY, ranges))
        except SamplingError:
            continue
    assert len(specs) >= 20
    yaws = [spec.photo.view.yaw_deg for spec in specs]
    assert all(0.0 <= yaw < 360.0 for yaw in yaws) and np.ptp(yaws) > 180.0
    for spec in specs:
        assert 8.0 <= spec.camera.pitch_deg <= 20.0 and 55.0 <= spec.camera.fov_deg <= 75.0
        assert not spec.photo.flip and spec.photo.crop_fraction == 1.0
        assert spec.light.kind == "sun"  # no lights given: the panorama's sun only
        assert spec.light.azimuth_deg == world_sun_azimuth(120.0, spec.photo.view.yaw_deg)
        assert (spec.light.elevation_deg, spec.light.angle_deg) == (35.0, 1.5)
        assert SceneSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    assert draw(3, SUNNY, ranges) == draw(3, SUNNY, ranges)


def test_an_overcast_panorama_gets_its_lights_and_old_specs_still_load():
    overcast = PhotoHints(WIDTH, HEIGHT, lights=(("overcast", 1.0),), panorama=PanoramaHints())
    assert overcast.kinds == ["lights", "panorama"]
    assert SUNNY.kinds == ["sun", "panorama"]
    spec = next(spec for seed in range(20) for spec in [_try(seed, overcast)] if spec)
    assert spec.light.kind == "overcast" and spec.photo.view is not None
    old = spec.to_json()
    old["photo"] = {key: value for key, value in old["photo"].items() if key != "view"}
    assert SceneSpec.from_json(old).photo.view is None


def _try(seed: int, hints: PhotoHints) -> SceneSpec | None:
    try:
        return draw(seed, hints)
    except SamplingError:
        return None


def test_a_spec_gives_the_same_photo_byte_for_byte():
    spec = next(spec for seed in range(20) for spec in [_try(seed, SUNNY)] if spec)
    rng = np.random.default_rng(1)
    panorama = rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
    again = SceneSpec.from_json(json.loads(json.dumps(spec.to_json())))
    assert scene_photo(panorama, spec).tobytes() == scene_photo(panorama, again).tobytes()
    assert scene_photo(panorama, spec).shape == (64, 64, 3)


GOOD = {"panorama": {"sun": {"azimuth_deg": 400.0, "elevation_deg": 30.0}},
        "camera": {"height_m": 1.7}}


def test_a_panorama_sidecar_is_read_in_its_own_frame():
    hints = parse_hints(GOOD, WIDTH, HEIGHT)
    assert hints.panorama == PanoramaHints(sun_azimuth_deg=40.0, sun_elevation_deg=30.0)
    assert hints.height_m == 1.7 and hints.sun_azimuth_deg is None and hints.lights == ()


@pytest.mark.parametrize(("data", "size", "reason"), [
    ({"panorama": {"sun": {"azimuth_deg": 10, "elevation_deg": -5}}}, (720, 360),
     "panorama.sun.elevation_deg -5 puts the sun at or below the horizon"),
    ({"panorama": {"sun": {"azimuth_deg": 10, "elevation_deg": 0}}}, (720, 360),
     "panorama.sun.elevation_deg 0 puts the sun at or below the horizon"),
    ({"panorama": {"sun": {"azimuth_deg": 10, "elevation_deg": 95}}}, (720, 360),
     "panorama.sun.elevation_deg must lie below 90"),
    ({**GOOD, "panorama": {**GOOD["panorama"], "ground": {"elevation_deg": [-10, 5]}}},
     (720, 360), r"panorama.ground.elevation_deg \[-10, 5\] holds no ground"),
    ({**GOOD, "panorama": {**GOOD["panorama"], "ground": {"elevation_deg": [-5, -20]}}},
     (720, 360), r"panorama.ground.elevation_deg \[-5, -20\] holds no ground"),
    ({**GOOD, "panorama": {**GOOD["panorama"], "ground": {"elevation_deg": [-95, -5]}}},
     (720, 360), r"panorama.ground.elevation_deg \[-95, -5\] holds no ground"),
    ({**GOOD, "panorama": {**GOOD["panorama"], "ground": {"sectors_deg": [[40, 40.5]]}}},
     (720, 360), r"panorama.ground.sectors_deg \[40, 40.5\] is under a degree wide"),
    ({**GOOD, "panorama": {**GOOD["panorama"], "ground": {"sectors_deg": []}}},
     (720, 360), "panorama.ground.sectors_deg must be a list of"),
    ({**GOOD, "panorama": {**GOOD["panorama"], "ground": {"heading": 3}}},
     (720, 360), "unknown key"),
    ({**GOOD, "object_mask": ""}, (720, 360), "object_mask must be the mask image's path"),
    ({"panorama": {"sun": {"azimuth_deg": float("nan"), "elevation_deg": 30}}}, (720, 360),
     "panorama.sun.azimuth_deg must be a finite number"),
    (GOOD, (700, 360), "declares a panorama, but its image is 700x360, not 2:1"),
    ({**GOOD, "horizon_row": 100}, (720, 360), "a panorama's sidecar cannot give horizon_row"),
    ({"panorama": {}}, (720, 360), "a panorama without panorama.sun needs lights"),
    ({"panorama": {}, "lights": {"sun": 1}}, (720, 360),
     "a panorama without panorama.sun needs lights"),
    ({**GOOD, "lights": {"area": 1}}, (720, 360), "lights gives the sun no weight"),
    ({"panorama": {"sun": {"azimuth_deg": 10}}}, (720, 360), "needs both azimuth_deg"),
])
def test_bad_panorama_sidecars_say_why(data, size, reason):
    with pytest.raises(ValueError, match=reason.replace("(", r"\(")):
        parse_hints(data, *size)


def test_a_view_of_the_panorama_masks_is_the_view_of_the_panorama():
    """A mask drawn on a view (`panorama_region`) comes back exactly in that view
    (`mask_view_of_panorama`), is cut into other views where they see it, and keeps its
    instance values (nearest, never blended)."""
    camera = CameraSpec(height=1.6, pitch_deg=25.0, fov_deg=60.0)
    polygon = np.array([[30.0, 60.0], [90.0, 64.0], [84.0, 120.0], [36.0, 110.0]])
    region = panorama_region(polygon, 300.0, camera, 128, 2048, 1024)
    assert 0 < region.sum() < region.size // 50
    mask = np.where(region, 7, 0).astype(np.uint8)
    mask[:10] = 3  # another instance near the zenith, which a view pitched down never sees
    back = mask_view_of_panorama(mask, 300.0, camera, 128)
    drawn = np.zeros((128, 128), np.uint8)
    cv2.fillPoly(drawn, [np.round(polygon - 0.5).astype(np.int32)], 7)
    assert set(np.unique(back).tolist()) == {0, 7}
    assert np.count_nonzero(back != drawn) <= 0.02 * np.count_nonzero(drawn)
    # a view turned 20 degrees to the right sees the region 20 degrees further left
    turned = mask_view_of_panorama(mask, 320.0, camera, 128)
    shift = focal_pixels(camera, 128) * math.tan(math.radians(20.0))
    columns = np.nonzero(turned)[1]
    assert columns.size and columns.mean() < np.nonzero(back)[1].mean() - 0.6 * shift
    assert not mask_view_of_panorama(mask, 120.0, camera, 128).any()  # behind the camera


def test_the_ground_sectors_draw_the_yaw_and_the_band_bounds_the_feet():
    ground = PanoramaHints(sun_azimuth_deg=120.0, sun_elevation_deg=35.0,
                           ground_elevation_deg=(-60.0, -12.0),
                           ground_sectors_deg=((330.0, 20.0), (100.0, 140.0)))
    assert ground.sector_width() == pytest.approx(90.0)
    hints = PhotoHints(WIDTH, HEIGHT, panorama=ground)
    specs = [spec for spec in (_try(seed, hints) for seed in range(80)) if spec is not None]
    assert len(specs) >= 20
    yaws = np.array([spec.photo.view.yaw_deg for spec in specs])
    in_first = (yaws >= 330.0) | (yaws < 20.0)
    assert np.all(in_first | ((yaws >= 100.0) & (yaws < 140.0)))
    assert 0.2 < in_first.mean() < 0.85  # the sectors 50 and 40 degrees wide both drawn
    for spec in specs:
        for obj in spec.objects:  # every foot stands where the band says
            elevation = math.degrees(math.atan2(spec.camera.height, math.hypot(obj.x, obj.y)))
            assert 12.0 - 0.5 <= elevation <= 60.0 + 0.5
    region = ground_region(ground, 0.0, CameraSpec(1.6, 20.0, 60.0), 64)
    assert region is not None and region.shape[1] == 2
    assert ground_region(PanoramaHints(sun_azimuth_deg=1.0, sun_elevation_deg=30.0), 0.0,
                         CameraSpec(1.6, 20.0, 60.0), 64) is None


def test_sunny_scenes_are_drawn_by_their_weight():
    photos = [f"p{i}.png" for i in range(8)]
    sunny = {"p0.png": SUNNY, "p1.png": PhotoHints(10, 10, shadow_direction_deg=30.0),
             "p2.png": PhotoHints(10, 10, lights=(("overcast", 1.0),))}
    weights = scene_weights(photos, sunny, 3.0)
    assert weights is not None and weights.sum() == pytest.approx(1.0)
    assert weights[0] == weights[1] == pytest.approx(3 * weights[2])
    assert np.all(weights[2:] == weights[2])
    assert scene_weights(photos, sunny, 1.0) is None  # uniform: the draws of older datasets
    assert scene_weights(photos, {}, 3.0) is None


def write_panorama(path, width: int = 256, height: int = 128, seed: int = 0) -> None:
    """A synthetic 8-bit equirectangular street: a bright sky above, grey textured ground
    below the middle row."""
    rng = np.random.default_rng(seed)
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[: height // 2] = (200, 190, 170)
    image[height // 2:] = np.clip(rng.normal(120, 12, size=(height - height // 2, width, 3)),
                                  0, 255).astype(np.uint8)
    cv2.imwrite(str(path), image)


def write_hdr_panorama(path, width: int = 256, height: int = 128) -> None:
    """A synthetic Radiance HDR panorama in scene-linear light: a sky (the top third) 20 times
    as bright as its textured ground."""
    rng = np.random.default_rng(1)
    image = np.empty((height, width, 3), dtype=np.float32)
    image[: height // 3] = (12.0, 14.0, 16.0)
    image[height // 3:] = rng.uniform(0.5, 0.8, size=(height - height // 3, width, 1))
    assert cv2.imwrite(str(path), image[..., ::-1])


def test_an_hdr_scene_is_tone_mapped_to_its_middle_grey(tmp_path):
    from dataset_tools.layout import DatasetError
    from render.composite import linear_to_srgb
    from render.scene_images import MIDDLE_GREY, read_scene_image, tone_map

    grey = tone_map(np.full((4, 6, 3), 3.0, dtype=np.float32))
    assert grey.dtype == np.uint8 and np.all(grey == round(255 * float(
        linear_to_srgb(np.float32(MIDDLE_GREY)))))  # 118
    write_hdr_panorama(tmp_path / "dusk.hdr")
    image = read_scene_image(tmp_path / "dusk.hdr")
    assert image.shape == (128, 256, 3) and image.dtype == np.uint8
    # the ground's median (0.65) becomes middle grey, the sky 20 times brighter clips at white
    assert np.all(image[:42] == 255) and 100 < image[43:].mean() < 135
    (tmp_path / "broken.hdr").write_bytes(b"#?RADIANCE\nnot really")
    with pytest.raises(DatasetError, match="broken.hdr: not a readable Radiance HDR image"):
        read_scene_image(tmp_path / "broken.hdr")


def test_the_catalog_skips_a_bad_panorama_in_one_line_and_keeps_a_good_one(tmp_path):
    from render.catalog import build_catalog

    scenes, models = tmp_path / "scenes", tmp_path / "models"
    scenes.mkdir()
    models.mkdir()
    write_panorama(scenes / "street.png")
    write_panorama(scenes / "wide.png", width=300)
    (scenes / "street.json").write_text(json.dumps(GOOD))
    (scenes / "wide.json").write_text(json.dumps(GOOD))
    (scenes / "dusk.png").write_bytes((scenes / "street.png").read_bytes())
    (scenes / "dusk.json").write_text('{"panorama": {"sun": {"azimuth_deg": 1, '
                                      '"elevation_deg": NaN}}}')
    (models / "box.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    console = Console(record=True, width=300)
    catalog, skipped = build_catalog(RenderConfig(out=tmp_path / "out", scenes=scenes,
                                                  models=models), console)
    assert catalog.photos == (str(scenes / "street.png"),)
    assert set(catalog.hints) == {str(scenes / "street.png")}
    assert sorted(skipped) == [str(scenes / "dusk.json"), str(scenes / "wide.json")]
    assert "not 2:1" in skipped[str(scenes / "wide.json")]
    lines = [line for line in console.export_text().splitlines() if line]
    assert len(lines) == 2 and all("panorama is skipped" in line for line in lines)
    with pytest.raises(BadAsset, match="wide.json: declares a panorama"):
        read_hints(scenes / "wide.png")


@pytest.mark.blender
@pytest.mark.slow
def test_a_panorama_renders_views_lit_by_its_sun_that_validate(tmp_path):
    """Real renders (64 px) of views of a sunny 8-bit panorama and an overcast HDR one beside a
    plain photo: the data contract holds (validate); every inserted object's mask lies inside
    its projected box and `BOX_MARGIN` (what lets `object_surely_too_small` skip a render);
    every view of the panorama is one scene (one split group); its light label is the one the
    panorama's sun gives from the view's yaw (to the label's rounding, 0.001 deg); and the
    visible shadow (smask's centroid seen from the foot, where smask holds at least 20 pixels:
    at 64 px a smaller one is a few noisy pixels, 44 deg off once with the panorama as the
    world light) points that way within 25 deg (a shadow falling away from the camera hides
    partly behind its object: up to 20 deg off in test_hints' measurements)."""
    import dataclasses

    from dataset_tools.layout import read_image, sample_path
    from dataset_tools.records import read_manifest
    from dataset_tools.validate import validate_dataset
    from render.geometry import projected_box
    from render.quality import BOX_MARGIN
    from render.runner import run
    from tests.helpers import ROOT, tiny_config
    from tests.render.test_runner import files_of

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_panorama(scenes / "square.png")
    (scenes / "square.json").write_text(json.dumps(
        {"panorama": {"sun": {"azimuth_deg": 250.0, "elevation_deg": 35.0, "angle_deg": 1.0}},
         "camera": {"height_m": 1.6}, "object_mask": "masks/square_object.png",
         "shadow_mask": "masks/square_shadow.png"}))
    # the panorama's own objects and shadows, in its frame: an object at headings 0-30 and a
    # caster-less shadow in a band all around, 22-51 degrees below the horizon
    (scenes / "masks").mkdir()
    objects, shadows = np.zeros((128, 256), np.uint8), np.zeros((128, 256), np.uint8)
    objects[66:80, :22] = 1
    shadows[80:100] = 255
    cv2.imwrite(str(scenes / "masks" / "square_object.png"), objects)
    cv2.imwrite(str(scenes / "masks" / "square_shadow.png"), shadows)
    write_hdr_panorama(scenes / "dusk.hdr")
    (scenes / "dusk.json").write_text(json.dumps({"panorama": {}, "lights": {"overcast": 1}}))
    (scenes / "gravel.jpg").write_bytes((ROOT / "assets" / "scenes" / "gravel.jpg").read_bytes())
    config = tiny_config(tmp_path / "data", count=8, size=64, scenes=scenes)
    ranges = config.ranges
    config = dataclasses.replace(config, ranges=dataclasses.replace(
        ranges, objects=dataclasses.replace(ranges.objects, stable_pose_probability=0.0)))
    summary = run(config, Console(file=open(os.devnull, "w")))  # noqa: SIM115
    assert summary.rendered == 8 and not summary.failed and not summary.skipped_assets
    assert validate_dataset(config.out).valid
    dusk = [SceneSpec.from_json(record.spec) for record in read_manifest(config.out).values()
            if record.scene == "dusk.hdr"]
    assert dusk and all(spec.light.kind == "overcast" and spec.photo.view for spec in dusk)
    records = [record for record in read_manifest(config.out).values()
               if record.scene == "square.png"]
    assert len(records) >= 2 and len({record.split for record in records}) == 1
    checked = 0
    for record in read_manifest(config.out).values():  # every mask inside its object's box
        spec = SceneSpec.from_json(record.spec)
        rows, cols = np.nonzero(read_image(sample_path(config.out, record.split, "mask",
                                                      record.id), "L") > 127)
        x0, y0, x1, y1 = projected_box(spec.inserted, spec.camera, spec.size)
        margin = BOX_MARGIN
        assert rows.size and cols.min() >= x0 - margin and cols.max() + 1 <= x1 + margin
        assert rows.min() >= y0 - margin and rows.max() + 1 <= y1 + margin, record.id
    for record in records:
        spec = SceneSpec.from_json(record.spec)
        assert record.hints == ["camera", "sun", "photo_masks", "panorama"]
        assert spec.light.kind == "sun"
        # the panorama's own shadows, cut as the view is, are in rshadow wherever no rendered
        # object covers them
        own = mask_view_of_panorama(shadows, spec.photo.view.yaw_deg, spec.camera, spec.size)
        read = {kind: read_image(sample_path(config.out, record.split, kind, record.id), "L")
                > 127 for kind in ("mask", "robject", "rshadow")}
        free = (own > 0) & ~read["mask"] & ~read["robject"]
        assert free.sum() > 20 and np.all(read["rshadow"][free])
        yaw = spec.photo.view.yaw_deg
        relative = math.radians(250.0 - yaw)  # the sun's ground direction, clockwise from +y
        away = np.array([-math.sin(relative), -math.cos(relative)])
        foot = np.array([spec.inserted.x, spec.inserted.y, 0.0])
        uv, _ = project(spec.camera, spec.size, np.array([foot, foot + [*(0.01 * away), 0.0]]))
        expected = math.degrees(math.atan2(*(uv[1] - uv[0])[::-1]))
        assert angle_between(record.light_label["direction_deg"], expected) < 0.01
        smask = read_image(sample_path(config.out, record.split, "smask", record.id), "L")
        rows, cols = np.nonzero(smask > 127)
        shadow = math.degrees(math.atan2(rows.mean() + 0.5 - uv[0, 1],
                                         cols.mean() + 0.5 - uv[0, 0]))
        if rows.size >= 20:  # a smaller smask's centroid is a few noisy pixels
            checked += 1
            assert angle_between(shadow, expected) < 25.0, (record.id, shadow, expected)
    assert checked >= 3
    # a sample renders again byte for byte from its seed: every other sample, as a shard
    again = dataclasses.replace(config, out=tmp_path / "again", shard_index=0, shard_count=2)
    assert run(again, Console(file=open(os.devnull, "w"))).rendered == 4  # noqa: SIM115
    repeated = read_manifest(again.out)
    assert any(record.scene == "square.png" for record in repeated.values())
    for identifier, record in repeated.items():
        assert record.spec == read_manifest(config.out)[identifier].spec
        assert files_of(again.out, record) == files_of(config.out, record)


def test_the_environment_keeps_the_matched_ambient_irradiance():
    """A uniform environment of radiance L gives pi L on a horizontal surface; the panorama as
    environment is scaled so that the ground's irradiance luminance is the matched ambient's
    (pi x ambient_rgb), its colour the panorama sky's."""
    from render.composite import luminance
    from render.lighting import Lighting, with_environment

    flat = np.full((64, 128, 3), 0.5, np.float32)
    assert horizontal_irradiance(flat) == pytest.approx([0.5 * math.pi] * 3, rel=1e-3)
    lower_only = flat.copy()
    lower_only[:32] = 0.0  # nothing above the horizon: the ground gets nothing
    assert np.allclose(horizontal_irradiance(lower_only), 0.0)
    panorama = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    panorama[: HEIGHT // 2] = (60, 90, 200)  # a blue sky
    panorama[HEIGHT // 2:] = (120, 110, 100)
    spec = next(spec for seed in range(20) for spec in [_try(seed, SUNNY)] if spec)
    matched = Lighting(level=0.6, ambient_rgb=(0.1, 0.1, 0.1), strength=2.0)
    lit = with_environment(matched, panorama, spec)
    assert lit.environment.decoded.shape == (ENVIRONMENT_WIDTH // 2, ENVIRONMENT_WIDTH, 3)
    assert lit.environment.gamma == pytest.approx(1.0 / spec.photo.tone_contrast)
    assert float(luminance(np.array(lit.ambient_rgb))) == pytest.approx(0.1, rel=1e-4)
    assert lit.ambient_rgb[2] > lit.ambient_rgb[0]  # the sky's blue, not the photo's mean
    assert np.allclose(horizontal_irradiance(lit.environment.radiance()),
                       np.array(lit.ambient_rgb)
                       * math.pi, rtol=1e-4)
    assert lit.strength == matched.strength


@pytest.mark.blender
@pytest.mark.slow
def test_the_panorama_as_environment_lights_the_object_from_where_its_sky_is_bright(tmp_path):
    """`environment = "panorama"`, overcast (no lamp): a panorama whose sky is dim but for one
    bright patch at heading 250, 35 degrees up, lights the scene alone. The object's shadow on
    the ground (smask) then falls away from the patch, as a sun there would cast it (within
    30 deg: the patch is 40 degrees wide), and unshadowed ground keeps the photo: the median
    difference is within 2 of 255 (the ground's ambient reference is the environment's own
    irradiance: the factor is 1 there, up to noise)."""
    import dataclasses

    from dataset_tools.layout import read_image, sample_path
    from dataset_tools.records import read_manifest
    from dataset_tools.validate import validate_dataset
    from render.runner import run
    from tests.helpers import tiny_config
    from tests.render.test_runner import files_of

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    width, height = 256, 128
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[: height // 2] = (40, 44, 50)
    image[height // 2:] = (110, 105, 100)
    heading = 360.0 * (np.arange(width) + 0.5) / width
    elevation = 90.0 - 180.0 * (np.arange(height) + 0.5) / height
    patch = (np.abs((heading[None] - 250.0 + 180.0) % 360.0 - 180.0) < 20.0) \
        & (np.abs(elevation[:, None] - 35.0) < 12.0)
    image[patch] = 255
    cv2.imwrite(str(scenes / "lit.png"), image[..., ::-1])
    (scenes / "lit.json").write_text(json.dumps({"panorama": {}, "lights": {"overcast": 1},
                                                 "camera": {"height_m": 1.6}}))
    config = tiny_config(tmp_path / "data", count=4, size=64, scenes=scenes)
    config = dataclasses.replace(
        # 256 spp: a world lit by one small patch and sampled without an importance map is
        # noisy at the production 6 and 16 spp (ground off by 3 to 8 levels on average, with
        # either sign: noise, not bias)
        config, render=dataclasses.replace(config.render, environment="panorama", samples=256,
                                           first_render_samples=256),
        ranges=dataclasses.replace(config.ranges, objects=dataclasses.replace(
            config.ranges.objects, stable_pose_probability=0.0, occluders=(0, 0))))
    summary = run(config, Console(file=open(os.devnull, "w")))  # noqa: SIM115
    assert summary.rendered == 4 and not summary.failed
    assert validate_dataset(config.out).valid
    # byte for byte from the seed whatever the worker rendered before (every other sample)
    again = dataclasses.replace(config, out=tmp_path / "again", shard_index=1, shard_count=2)
    assert run(again, Console(file=open(os.devnull, "w"))).rendered == 2  # noqa: SIM115
    for identifier, record in read_manifest(again.out).items():
        assert files_of(again.out, record) == files_of(config.out,
                                                        read_manifest(config.out)[identifier])
    for record in read_manifest(config.out).values():
        spec = SceneSpec.from_json(record.spec)
        assert spec.light.kind == "overcast"
        as_sun = dataclasses.replace(spec, light=LightSpec(
            kind="sun", azimuth_deg=world_sun_azimuth(250.0, spec.photo.view.yaw_deg),
            elevation_deg=35.0, angle_deg=0.5, ambient_fraction=0.2, color=(1.0, 1.0, 1.0)))
        expected = light_label(as_sun.to_json()).direction_deg
        read = {kind: read_image(sample_path(config.out, record.split, kind, record.id),
                                 "L" if kind in ("smask", "mask") else "RGB")
                for kind in ("smask", "mask", "noshadow")}
        rows, cols = np.nonzero(read["smask"] > 127)
        assert rows.size > 10, record.id
        foot = project(spec.camera, spec.size, np.array([[spec.inserted.x, spec.inserted.y,
                                                          0.0]]))[0][0]
        shadow = math.degrees(math.atan2(rows.mean() + 0.5 - foot[1], cols.mean() + 0.5 - foot[0]))
        assert angle_between(shadow, expected) < 30.0, (record.id, shadow, expected)
        photo = scene_photo(cv2.imread(str(scenes / "lit.png"))[..., ::-1], spec)
        ground = (read["mask"] < 128) & (read["smask"] < 128)
        ground[: spec.size // 2] = False  # the lower half: ground, away from the horizon
        difference = (read["noshadow"].astype(int) - photo.astype(int))[ground]
        # no bias (the noise of a small bright patch at 16 spp is another matter)
        assert np.all(np.abs(np.median(difference, axis=0)) <= 2), (record.id, difference)


def test_an_object_whose_box_is_too_small_is_rejected_before_rendering():
    import dataclasses

    from render.quality import object_surely_too_small

    spec = next(spec for seed in range(20) for spec in [_try(seed, SUNNY)] if spec)
    config = RenderConfig(out=None)
    near = dataclasses.replace(spec.inserted, x=0.0, y=5.0, size=1.0)
    far = dataclasses.replace(spec.inserted, x=0.0, y=400.0, size=0.5)
    assert object_surely_too_small(dataclasses.replace(spec, objects=(near,)), config) is None
    code, message = object_surely_too_small(dataclasses.replace(spec, objects=(far,)), config)
    assert code == "object_too_small" and "projected box (not rendered)" in message
