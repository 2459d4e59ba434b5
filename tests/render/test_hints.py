"""Photo-matched scenes: sidecar hints honoured by the pure sampler (no bpy)."""

import dataclasses
import json
import math
import warnings

import cv2
import numpy as np
import pytest
from rich.console import Console

from dataset_tools.camera import project
from render.assets import BadAsset
from render.composite import crop_photo
from render.config import LightRanges, QualityChecks, RenderConfig, SamplingRanges
from render.geometry import object_corners, sun_direction
from render.hints import PhotoHints, parse_hints, read_hints, to_output
from render.poses import MeshExtent
from render.sampler import SamplingError, sample_scene
from render.spec import PhotoSpec, SceneSpec

MESHES = [("a/one", "one.obj"), ("b/two", "two.obj")]
EXTENTS = {"one.obj": MeshExtent((1.0, 0.5, 0.8)), "two.obj": MeshExtent((0.3, 0.3, 1.0))}
MIXED = SamplingRanges()  # all three light kinds
WIDTH, HEIGHT = 640, 480


def draw(seed: int, hints: PhotoHints | None = None, size: int = 256,
         ranges: SamplingRanges = MIXED) -> SceneSpec:
    rng = np.random.default_rng(seed)
    return sample_scene(rng, index=0, attempt=0, seed=seed, size=size, photos=["p.jpg"],
                        meshes=MESHES, extent_of=EXTENTS.__getitem__, ranges=ranges,
                        checks=QualityChecks(),
                        photo_hints=None if hints is None else {"p.jpg": hints})


def drawable(hints: PhotoHints | None, seeds=range(30), **kwargs) -> list[SceneSpec]:
    specs = []
    for seed in seeds:
        try:
            specs.append(draw(seed, hints, **kwargs))
        except SamplingError:
            pass
    return specs


def angle_between(first: float, second: float) -> float:
    return abs((first - second + 180.0) % 360.0 - 180.0)


def test_no_sidecar_and_empty_hints_draw_todays_scenes():
    empty = PhotoHints(width=WIDTH, height=HEIGHT)
    assert empty.kinds == []
    for seed in range(40):
        try:
            plain = draw(seed)
        except SamplingError as error:
            with pytest.raises(SamplingError, match=str(error)):
                draw(seed, empty)
            continue
        assert draw(seed, empty) == plain
        # hints for another photo change nothing either
        rng = np.random.default_rng(seed)
        other = sample_scene(rng, index=0, attempt=0, seed=seed, size=256, photos=["p.jpg"],
                             meshes=MESHES, extent_of=EXTENTS.__getitem__, ranges=MIXED,
                             checks=QualityChecks(),
                             photo_hints={"q.jpg": PhotoHints(WIDTH, HEIGHT, horizon_row=50)})
        assert other == plain


def test_crop_mapping_follows_crop_photo():
    """A marked pixel of the original lands where `to_output` puts it, flipped or not."""
    photo_rgb = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    x, y = 401, 263
    photo_rgb[y - 2:y + 3, x - 2:x + 3] = 255  # a 5x5 block around the pixel centre
    hints = PhotoHints(width=WIDTH, height=HEIGHT)
    for flip in (False, True):
        photo = PhotoSpec(path="p.jpg", crop_fraction=0.8, crop_x=0.7, crop_y=0.3, flip=flip)
        out = crop_photo(photo_rgb, photo, 128)
        rows, cols = np.nonzero(out[..., 0] > 60)
        weights = out[rows, cols, 0].astype(np.float64)
        centre = [np.average(cols + 0.5, weights=weights), np.average(rows + 0.5, weights=weights)]
        mapped = to_output(np.array([[x + 0.5, y + 0.5]]), hints, photo, 128)[0]
        np.testing.assert_allclose(centre, mapped, atol=0.5)


def test_given_camera_values_are_used_exactly():
    hints = PhotoHints(WIDTH, HEIGHT, pitch_deg=33.25, fov_deg=47.5, height_m=1.625)
    specs = drawable(hints)
    assert len(specs) >= 20
    for spec in specs:
        assert (spec.camera.pitch_deg, spec.camera.fov_deg, spec.camera.height) == (
            33.25, 47.5, 1.625)
    assert hints.kinds == ["camera"]


@pytest.mark.parametrize("row", [-60.0, 40.0, 150.0])
def test_horizon_lands_on_the_given_row(row):
    hints = PhotoHints(WIDTH, HEIGHT, horizon_row=row, fov_deg=50.0)
    specs = drawable(hints)
    assert len(specs) >= 15
    for spec in specs:
        # the row by hand: crop window as crop_photo rounds it, scale, flip leaves rows alone
        side = round(HEIGHT * spec.photo.crop_fraction)
        y0 = round((HEIGHT - side) * spec.photo.crop_y)
        expected = (row - y0) * spec.size / side
        camera = spec.camera
        far = np.array([[0.0, 1e7, camera.height]])  # zero elevation, straight ahead
        uv, depth = project(camera, spec.size, far)
        assert depth[0] > 0 and abs(uv[0, 1] - expected) < 2.0
        assert 3.0 <= camera.pitch_deg <= 70.0 and camera.fov_deg == 50.0


def test_impossible_horizon_fails_the_attempt_with_a_reason():
    hints = PhotoHints(WIDTH, HEIGHT, horizon_row=470.0, fov_deg=50.0)  # near the bottom
    with pytest.raises(SamplingError, match="horizon_row 470 gives a pitch outside"):
        draw(0, hints)


@pytest.mark.parametrize("angle", [20.0, 95.0, 200.0, 290.0])
def test_shadow_points_in_the_given_image_direction(angle):
    hints = PhotoHints(WIDTH, HEIGHT, shadow_direction_deg=angle)
    specs = drawable(hints)
    assert len(specs) >= 20 and {spec.photo.flip for spec in specs} == {False, True}
    for spec in specs:
        assert spec.light.kind == "sun"
        wanted = (180.0 - angle) % 360 if spec.photo.flip else angle  # the flip mirrors it
        obj = spec.inserted
        direction = sun_direction(spec.light)
        corners = object_corners(obj)
        tops = corners[corners[:, 2] > 0]
        tips = tops - np.outer(tops[:, 2] / direction[2], direction)  # on the ground
        foot = np.array([[obj.x, obj.y, 0.0]])
        # from the foot to the shadow tip of the top's centre, and to the mean of the
        # projected tips of the four top corners
        uv, depth = project(spec.camera, spec.size, np.vstack([foot, tips.mean(axis=0)[None],
                                                               tips]))
        assert np.all(depth > 0)
        for point in (uv[1], uv[2:].mean(axis=0)):
            delta = point - uv[0]
            seen = math.degrees(math.atan2(delta[1], delta[0])) % 360
            assert angle_between(seen, wanted) < 10.0, (spec.seed, seen, wanted)
        assert angle_between(math.degrees(math.atan2(uv[1, 1] - uv[0, 1],
                                                     uv[1, 0] - uv[0, 0])), wanted) < 0.5
    assert hints.kinds == ["shadow_direction"]


def test_sun_hint_forces_a_sun_with_that_azimuth_and_elevation():
    hints = PhotoHints(WIDTH, HEIGHT, sun_azimuth_deg=120.0, sun_elevation_deg=35.0)
    indoor = dataclasses.replace(MIXED, lights=LightRanges(
        weights={"sun": 0.0, "area": 1.0, "overcast": 1.0}))
    specs = drawable(hints, ranges=indoor)
    assert len(specs) >= 20
    for spec in specs:
        assert spec.light.kind == "sun" and spec.light.elevation_deg == 35.0
        assert spec.light.azimuth_deg == (240.0 if spec.photo.flip else 120.0)


def test_every_foot_stands_inside_the_ground_polygon():
    polygon = ((40.0, 300.0), (420.0, 260.0), (470.0, 470.0), (20.0, 475.0))
    hints = PhotoHints(WIDTH, HEIGHT, ground_polygon=polygon)
    specs = drawable(hints, seeds=range(40))
    assert len(specs) >= 20 and sum(len(spec.objects) for spec in specs) > len(specs)
    for spec in specs:
        outline = to_output(np.array(polygon), hints, spec.photo, spec.size).astype(np.float32)
        for obj in spec.objects:
            uv, _ = project(spec.camera, spec.size, np.array([[obj.x, obj.y, 0.0]]))
            inside = cv2.pointPolygonTest(outline, (float(uv[0, 0]), float(uv[0, 1])), False)
            assert inside > 0, (spec.seed, obj.role, uv[0])


def test_a_ground_polygon_outside_every_crop_fails_the_attempt():
    hints = PhotoHints(WIDTH, HEIGHT, ground_polygon=((0, 0), (5, 0), (5, 5), (0, 5)))
    with pytest.raises(SamplingError, match="ground polygon"):
        draw(0, hints)


def test_all_hints_together():
    hints = parse_hints({"horizon_row": 20, "camera": {"fov_deg": 55, "height_m": 1.4},
                         "shadow_direction_deg": 120,
                         "ground_polygon": [[0, 250], [640, 250], [640, 480], [0, 480]]},
                        WIDTH, HEIGHT)
    assert hints.kinds == ["camera", "horizon", "shadow_direction", "ground_polygon"]
    assert len(drawable(hints)) >= 10


@pytest.mark.parametrize(("data", "reason"), [
    ({"horizon": 3}, "unknown key"),
    ({"camera": {"pitch_deg": 30}, "horizon_row": 10}, "not both"),
    ({"camera": {"fov_deg": "wide"}}, "camera.fov_deg must be a finite number"),
    ({"sun": {"azimuth_deg": 10}}, "needs both"),
    ({"sun": {"azimuth_deg": 10, "elevation_deg": 30}, "shadow_direction_deg": 5}, "not both"),
    ({"ground_polygon": [[0, 0], [1, 1]]}, "at least 3"),
    ([1, 2], "must be an object"),
])
def test_bad_hints_say_why(data, reason):
    with pytest.raises(ValueError, match=reason):
        parse_hints(data, WIDTH, HEIGHT)


def test_sidecars_load_once_in_the_catalog_and_a_bad_one_is_skipped(tmp_path):
    from render.catalog import build_catalog

    scenes, models = tmp_path / "scenes", tmp_path / "models"
    scenes.mkdir()
    models.mkdir()
    image = np.full((48, 64, 3), 128, dtype=np.uint8)
    for name in ("street", "yard", "plain"):
        cv2.imwrite(str(scenes / f"{name}.png"), image)
    (scenes / "street.json").write_text(json.dumps({"horizon_row": 5,
                                                    "shadow_direction_deg": 80}))
    (scenes / "yard.json").write_text('{"horizon_row": 5,')  # broken JSON
    (models / "box.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    console = Console(record=True, width=200)
    catalog, skipped = build_catalog(RenderConfig(out=tmp_path / "out", scenes=scenes,
                                                  models=models), console)
    assert len(catalog.photos) == 3
    street = str(scenes / "street.png")
    assert set(catalog.hints) == {street}
    assert catalog.hints[street] == PhotoHints(64, 48, horizon_row=5.0,
                                               shadow_direction_deg=80.0)
    assert list(skipped) == [str(scenes / "yard.json")]
    assert skipped[str(scenes / "yard.json")].startswith("not a readable JSON file")
    lines = [line for line in console.export_text().splitlines() if line]
    assert len(lines) == 1 and "yard.json" in lines[0]
    with pytest.raises(BadAsset) as error:
        read_hints(scenes / "yard.png")
    assert "\n" not in str(error.value)


def test_stats_count_the_samples_per_kind_of_hint(tmp_path):
    from typer.testing import CliRunner

    from dataset_tools.cli import app
    from dataset_tools.layout import MANIFEST
    from dataset_tools.records import read_manifest, write_manifest
    from dataset_tools.toy import make_toy_dataset

    root = make_toy_dataset(tmp_path / "toy", train=3, test=1, size=32)
    records = list(read_manifest(root).values())
    records[0].hints = ["horizon", "shadow_direction"]
    records[1].hints = ["horizon"]
    records[2].hints = []
    write_manifest(root / MANIFEST, records)
    result = CliRunner().invoke(app, ["stats", str(root), "--json", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    assert "photo hints (sidecar files): 2 samples; horizon 2, shadow_direction 1" in " ".join(
        result.output.split())
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["photo_hints"] == {"samples": 2, "horizon": 2, "shadow_direction": 1}


@pytest.mark.blender
def test_rendered_shadow_follows_the_sidecar(tmp_path):
    """Real renders (64 px): the inserted object's visible shadow (smask), seen from its foot,
    points in the sidecar's direction and every sample lists its hints. Upright objects under
    a low sun with the shadow falling towards the camera: a lying bottle's shadow under a high
    sun follows the bottle, and a shadow falling away hides behind its object."""
    import os

    from dataset_tools.layout import read_image, sample_path
    from dataset_tools.records import read_manifest
    from render.runner import run
    from tests.helpers import ROOT, tiny_config

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    photo = ROOT / "assets" / "scenes" / "gravel.jpg"
    (scenes / "gravel.jpg").write_bytes(photo.read_bytes())
    (scenes / "gravel.json").write_text(json.dumps({"shadow_direction_deg": 30,
                                                    "ground_polygon": [[0, 250], [512, 250],
                                                                       [512, 512], [0, 512]]}))
    config = tiny_config(tmp_path / "data", count=6, size=64, scenes=scenes)
    ranges = config.ranges
    config = dataclasses.replace(config, ranges=dataclasses.replace(
        ranges, objects=dataclasses.replace(ranges.objects, stable_pose_probability=0.0),
        lights=dataclasses.replace(ranges.lights, sun=dataclasses.replace(
            ranges.lights.sun, elevation=(25.0, 40.0)))))
    summary = run(config, Console(file=open(os.devnull, "w")))  # noqa: SIM115
    assert summary.rendered == 6 and not summary.failed and not summary.skipped_assets
    for record in read_manifest(config.out).values():
        assert record.hints == ["shadow_direction", "ground_polygon"]
        spec = SceneSpec.from_json(record.spec)
        smask = read_image(sample_path(config.out, record.split, "smask", record.id), "L")
        rows, cols = np.nonzero(smask > 127)
        foot, _ = project(spec.camera, spec.size, np.array([[spec.inserted.x,
                                                              spec.inserted.y, 0.0]]))
        seen = math.degrees(math.atan2(rows.mean() + 0.5 - foot[0, 1],
                                       cols.mean() + 0.5 - foot[0, 0]))
        assert spec.light.kind == "sun"
        assert angle_between(seen, 150.0 if spec.photo.flip else 30.0) < 10.0, record.id


@pytest.mark.parametrize("polygon", [
    [[700, 10], [900, 10], [900, 400]],  # right of the 640x480 photo
    [[-50, -50], [-10, -50], [-10, 600]],  # left of it
    [[10, 500], [600, 500], [300, 900]],  # below it
])
def test_a_ground_polygon_entirely_outside_the_photo_is_refused_when_read(polygon):
    with pytest.raises(ValueError, match="ground_polygon lies entirely outside the 640x480"):
        parse_hints({"ground_polygon": polygon}, WIDTH, HEIGHT)
    inside = [[polygon[0][0] % 600, 10], [polygon[1][0] % 600 + 20, 10], [300, 400]]
    assert parse_hints({"ground_polygon": inside}, WIDTH, HEIGHT).ground_polygon


@pytest.mark.parametrize("path", ["/etc/shadow", "../outside.png", "link/outside.png"])
def test_a_mask_path_out_of_the_scenes_folder_is_refused_naming_sidecar_and_path(tmp_path,
                                                                                 path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "link").symlink_to(tmp_path)
    cv2.imwrite(str(tmp_path / "outside.png"), np.zeros((48, 64), np.uint8))
    cv2.imwrite(str(scenes / "street.png"), np.full((48, 64, 3), 128, np.uint8))
    sidecar = scenes / "street.json"
    sidecar.write_text(json.dumps({"shadow_mask": path}))
    with pytest.raises(BadAsset) as error:
        read_hints(scenes / "street.png", scenes)
    assert error.value.path == str(sidecar) or str(error.value.path) == str(sidecar)
    assert f"shadow_mask {path!r} lies outside the scenes folder" in str(error.value)
    assert "\n" not in str(error.value)


def scenes_with_sidecar(tmp_path, text: str):
    scenes, models = tmp_path / "scenes", tmp_path / "models"
    scenes.mkdir()
    models.mkdir()
    image = np.full((48, 64, 3), 128, dtype=np.uint8)
    for name in ("street", "plain"):
        cv2.imwrite(str(scenes / f"{name}.png"), image)
    (scenes / "street.json").write_text(text)
    (models / "box.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    return scenes, models


DEEP = 100_000


@pytest.mark.parametrize("text", ["[" * DEEP + "]" * DEEP,
                                  '{"a":' * DEEP + "1" + "}" * DEEP,
                                  '{"horizon_row": ' + "[" * DEEP + "]" * DEEP + "}"])
def test_a_sidecar_nested_too_deep_is_a_bad_asset_skipped_in_one_line(tmp_path, text):
    from typer.testing import CliRunner

    from dataset_tools.cli import app
    from render.catalog import build_catalog

    scenes, models = scenes_with_sidecar(tmp_path, text)
    sidecar = str(scenes / "street.json")
    console = Console(record=True, width=400)
    catalog, skipped = build_catalog(RenderConfig(out=tmp_path / "out", scenes=scenes,
                                                  models=models), console)
    assert len(catalog.photos) == 2 and not catalog.hints
    assert list(skipped) == [sidecar] and "nested too deeply" in skipped[sidecar]
    lines = [line for line in console.export_text().splitlines() if line]
    assert len(lines) == 1 and sidecar in lines[0]
    result = CliRunner().invoke(app, ["sidecars", str(scenes), "--sheet",
                                      str(tmp_path / "sheet.png")])
    assert result.exit_code == 0, result.output
    assert "street.json" in result.output and "nested too deeply" in result.output


@pytest.mark.parametrize("data", [
    {"ground_polygon": [[0, 0], [1e308, 0], [1e308, 1e308]]},
    {"ground_polygon": [[-1e308, -1e308], [600, 0], [600, 400]]},
    {"horizon_row": 1e308},
    {"horizon_row": -1e300},
])
def test_coordinates_far_outside_the_photo_are_refused_without_a_warning(data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="must lie strictly between"):
            parse_hints(data, WIDTH, HEIGHT)


def test_a_sidecar_with_huge_coordinates_is_skipped_in_one_line_without_warnings(tmp_path):
    from render.catalog import build_catalog

    text = json.dumps({"ground_polygon": [[0, 0], [1e308, 0], [1e308, 1e308]]})
    scenes, models = scenes_with_sidecar(tmp_path, text)
    console = Console(record=True, width=400)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, skipped = build_catalog(RenderConfig(out=tmp_path / "out", scenes=scenes,
                                                models=models), console)
    assert list(skipped) == [str(scenes / "street.json")]
    assert "ground_polygon x must lie strictly between" in skipped[str(scenes / "street.json")]
