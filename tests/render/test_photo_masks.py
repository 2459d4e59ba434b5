"""The photo's own object and shadow masks (sidecar `object_mask` / `shadow_mask`): the shadow
direction estimated from them, their crop into each sample's robject and rshadow, and DESOBA
folders turned into such scenes."""

import dataclasses
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from dataset_tools.cli import app
from dataset_tools.directions import estimate_shadow_direction
from dataset_tools.masks import masks_from_passes
from render.assets import BadAsset
from render.composite import crop_mask, crop_photo
from render.hints import PhotoHints, parse_hints, read_hints, to_output
from render.spec import PhotoSpec

WIDTH, HEIGHT = 320, 240


def angle_between(first: float, second: float) -> float:
    return abs((first - second + 180.0) % 360.0 - 180.0)


def draw_pairs(angle_deg: float, rng: np.random.Generator, pairs: int = 4,
               size: tuple[int, int] = (HEIGHT, WIDTH)) -> tuple[np.ndarray, np.ndarray]:
    """Object and shadow instance masks: upright boxes standing on the ground, each casting a
    thick band from its foot at `angle_deg` (each pair jittered by up to 4 degrees), the part
    behind its object hidden, plus speckle noise and a shadow without caster (255)."""
    objects = np.zeros(size, dtype=np.uint8)
    shadows = np.zeros(size, dtype=np.uint8)
    for value in range(1, pairs + 1):
        foot = np.array([rng.uniform(90, WIDTH - 90), rng.uniform(110, HEIGHT - 40)])
        angle = math.radians(angle_deg + rng.uniform(-4, 4))
        end = foot + rng.uniform(35, 60) * np.array([math.cos(angle), math.sin(angle)])
        cv2.line(shadows, tuple(int(v) for v in foot), tuple(int(v) for v in end), value,
                 thickness=int(rng.integers(5, 10)))
        half_width, height = int(rng.integers(4, 8)), int(rng.integers(25, 60))
        x, y = int(foot[0]), int(foot[1])
        objects[y - height:y, x - half_width:x + half_width + 1] = value
    shadows[objects > 0] = 0
    shadows[5:15, 5:40] = 255  # a shadow whose object is outside the photo: no pair
    speckles = rng.integers(0, size[0] * size[1], 60)
    shadows.flat[speckles] = rng.integers(1, pairs + 1, 60)
    return objects, shadows


@pytest.mark.parametrize("angle", [10.0, 60.0, 95.0, 150.0, 200.0, 250.0, 330.0])
def test_direction_from_object_shadow_pairs_is_within_10_degrees(angle):
    rng = np.random.default_rng(int(angle))
    objects, shadows = draw_pairs(angle, rng)
    estimate = estimate_shadow_direction(objects, shadows)
    assert estimate is not None and angle_between(estimate, angle) < 10.0


def test_no_pair_gives_no_estimate_and_one_wrong_pair_is_outvoted():
    rng = np.random.default_rng(3)
    objects, shadows = draw_pairs(40.0, rng, pairs=4)
    assert estimate_shadow_direction(objects, np.where(shadows == 255, 255, 0)) is None
    wrong_objects, wrong_shadows = draw_pairs(220.0, rng, pairs=1)
    objects = np.where(wrong_objects > 0, 9, objects).astype(np.uint8)
    shadows = np.where(wrong_shadows == 1, 9, shadows).astype(np.uint8)
    assert angle_between(estimate_shadow_direction(objects, shadows), 40.0) < 10.0


def write_photo_with_masks(folder: Path, sidecar: dict | None = None,
                           size: tuple[int, int] = (HEIGHT, WIDTH)) -> Path:
    """A gray photo with street.json naming 0/255 masks of one box and its shadow."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = folder / "street.png"
    cv2.imwrite(str(photo), np.full((HEIGHT, WIDTH, 3), 128, dtype=np.uint8))
    objects, shadows = draw_pairs(35.0, np.random.default_rng(0), pairs=1, size=size)
    cv2.imwrite(str(folder / "street_object.png"), np.where(objects > 0, 255, 0))
    cv2.imwrite(str(folder / "street_shadow.png"), np.where(shadows == 1, 255, 0))
    data = {"object_mask": "street_object.png", "shadow_mask": "street_shadow.png"}
    (folder / "street.json").write_text(json.dumps({**data, **(sidecar or {})}))
    return photo


def test_sidecar_masks_resolve_and_estimate_only_without_a_given_direction(tmp_path):
    photo = write_photo_with_masks(tmp_path)
    hints = read_hints(photo)
    assert hints.object_mask == str(tmp_path / "street_object.png")
    assert hints.shadow_direction_estimated
    assert angle_between(hints.shadow_direction_deg, 35.0) < 10.0
    assert hints.kinds == ["estimated_shadow_direction", "photo_masks"]
    given = read_hints(write_photo_with_masks(tmp_path / "given",
                                              {"shadow_direction_deg": 100}))
    assert given.shadow_direction_deg == 100.0 and given.kinds == ["shadow_direction",
                                                                   "photo_masks"]
    sun = read_hints(write_photo_with_masks(tmp_path / "sun", {"sun": {
        "azimuth_deg": 10, "elevation_deg": 30}}))
    assert sun.shadow_direction_deg is None and sun.kinds == ["sun", "photo_masks"]
    with pytest.raises(ValueError, match="object_mask must be"):
        parse_hints({"object_mask": 3}, WIDTH, HEIGHT)


@pytest.mark.parametrize("problem", ["size", "missing"])
def test_a_bad_mask_is_one_line_naming_the_file(tmp_path, problem):
    photo = write_photo_with_masks(tmp_path, size=(HEIGHT // 2, WIDTH) if problem == "size"
                                   else (HEIGHT, WIDTH))
    if problem == "missing":
        (tmp_path / "street_shadow.png").unlink()
    with pytest.raises(BadAsset) as error:
        read_hints(photo)
    message = str(error.value)
    assert "\n" not in message and (tmp_path / "street_").as_posix() in message
    assert ("differs from the photo" if problem == "size" else "missing") in message


@pytest.mark.parametrize("flip", [False, True])
def test_mask_crop_follows_the_photo_crop(flip):
    """A box in the photo and in its mask land on the same output pixels, where `to_output`
    maps its corners."""
    photo_rgb = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    photo_rgb[60:140, 200:260] = 255
    spec = PhotoSpec(path="p.png", crop_fraction=0.8, crop_x=0.7, crop_y=0.3, flip=flip)
    for size in (64, 256):  # shrunk and enlarged
        cropped = crop_mask(photo_rgb[..., 0] > 0, spec, size)
        assert np.mean(cropped != (crop_photo(photo_rgb, spec, size)[..., 0] > 127)) < 0.002
        corners = to_output(np.array([[200.0, 60.0], [260.0, 140.0]]),
                            PhotoHints(WIDTH, HEIGHT), spec, size)
        (x0, x1), (y0, y1) = np.sort(corners[:, 0]), np.sort(corners[:, 1])
        centres = np.arange(size) + 0.5
        inside = np.outer((centres > y0 + 1) & (centres < y1 - 1),
                          (centres > x0 + 1) & (centres < x1 - 1))
        outside = ~np.outer((centres > y0 - 1) & (centres < y1 + 1),
                            (centres > x0 - 1) & (centres < x1 + 1))
        assert cropped[inside].all() and not cropped[outside].any()


def test_photo_masks_join_robject_and_rshadow_where_nothing_covers_them():
    object_index = np.zeros((8, 8), dtype=np.uint8)
    object_index[0:2, :] = 1  # the inserted object
    object_index[2:4, :] = 2  # a rendered occluder
    zeros = np.zeros((8, 8), dtype=np.float32)
    everywhere = np.ones((8, 8), dtype=bool)
    masks = masks_from_passes(object_index, zeros, zeros, photo_object=everywhere,
                              photo_shadow=everywhere)
    assert (masks["robject"][0:2] == 0).all() and (masks["robject"][2:] == 255).all()
    assert (masks["rshadow"][0:4] == 0).all() and (masks["rshadow"][4:] == 255).all()
    plain = masks_from_passes(object_index, zeros, zeros)
    assert not plain["rshadow"].any() and (plain["robject"] > 0).sum() == 16


def test_catalog_does_not_take_the_masks_for_photos(tmp_path):
    from rich.console import Console

    from render.catalog import build_catalog
    from render.config import RenderConfig

    photo = write_photo_with_masks(tmp_path / "scenes")
    # a sidecar with a mask of the wrong size: the photo loses its hints, the masks stay out
    broken = write_photo_with_masks(tmp_path / "scenes" / "broken", size=(HEIGHT // 2, WIDTH))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "box.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    catalog, skipped = build_catalog(RenderConfig(
        out=tmp_path / "out", scenes=tmp_path / "scenes", models=tmp_path / "models"),
        Console(file=None, quiet=True))
    assert catalog.photos == (str(broken), str(photo))
    assert list(skipped) == [str(broken.parent / "street_object.png")]
    assert set(catalog.hints) == {str(photo)}
    assert catalog.hints[str(photo)].mask_paths["shadow_mask"] == str(
        tmp_path / "scenes" / "street_shadow.png")


def write_desoba(root: Path, test: tuple[str, ...] = ("c",)) -> None:
    """A DESOBA-shaped folder: photos a, b, c with two object-shadow pairs each, shadows at
    60 degrees, and a Test list naming `test`."""
    for index, stem in enumerate(("a", "b", "c")):
        objects, shadows = draw_pairs(60.0, np.random.default_rng(index), pairs=2)
        images = {"ShadowImage": np.full((HEIGHT, WIDTH, 3), 150, dtype=np.uint8),
                  "DeshadowedImage": np.full((HEIGHT, WIDTH, 3), 170, dtype=np.uint8),
                  "InstanceMask": objects, "ShadowMask": shadows}
        for folder, image in images.items():
            (root / folder).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / folder / f"{stem}.png"), image)
    (root / "Training_labels.txt").write_text("a.png\nb.png\n")
    (root / "Test_labels.txt").write_text("".join(f"{stem}.png\n" for stem in test))


def test_desoba_becomes_a_scenes_folder_with_sidecars(tmp_path):
    write_desoba(tmp_path / "DESOBA")
    scenes = tmp_path / "scenes"
    result = CliRunner().invoke(app, ["import", "--format", "desoba", "--as-scenes",
                                      str(scenes), str(tmp_path / "DESOBA")])
    assert result.exit_code == 0, result.output
    assert "photos 2" in result.output and "object-shadow pairs 4" in result.output
    assert sorted(path.name for path in scenes.glob("*.json")) == ["a.json", "b.json"]
    assert not (scenes / "c.png").exists()  # on the test list
    hints = read_hints(scenes / "a.png")
    assert hints.kinds == ["estimated_shadow_direction", "photo_masks"]
    assert angle_between(hints.shadow_direction_deg, 60.0) < 10.0
    shadow_ids = cv2.imread(hints.shadow_mask, cv2.IMREAD_UNCHANGED)
    assert shadow_ids.ndim == 2 and set(np.unique(shadow_ids)) >= {0, 1, 2, 255}


@pytest.mark.parametrize("broken", ["folder", "file"])
def test_desoba_scenes_errors_name_what_is_missing(tmp_path, broken):
    write_desoba(tmp_path / "DESOBA")
    missing = tmp_path / "DESOBA" / "ShadowMask"
    if broken == "folder":
        for path in missing.iterdir():
            path.unlink()
        missing.rmdir()
    else:
        missing = missing / "b.png"
        missing.unlink()
    result = CliRunner().invoke(app, ["import", "--format", "desoba", "--as-scenes",
                                      str(tmp_path / "scenes"), str(tmp_path / "DESOBA")])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and str(missing) in " ".join(result.output.split())


def test_as_scenes_needs_desoba_and_no_second_folder(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["import", "--as-scenes", str(tmp_path / "s"), str(tmp_path)])
    assert result.exit_code == 2 and "--format desoba" in result.output
    result = runner.invoke(app, ["import", "--format", "desoba", "--as-scenes",
                                 str(tmp_path / "s"), str(tmp_path), str(tmp_path / "d")])
    assert result.exit_code == 2 and "not both" in result.output


def expected_photo_masks(hints: PhotoHints, spec: PhotoSpec, size: int) -> dict[str, tuple]:
    """(certainly in, certainly out) (size, size) bool of each photo rectangle in a sample,
    from `to_output` alone: pixel centres 1 px inside / outside its mapped corners."""
    boxes = {"robject": (100.0, 250.0, 250.0, 400.0), "rshadow": (250.0, 420.0, 400.0, 470.0)}
    centres = np.arange(size) + 0.5
    regions = {}
    for kind, (x0, y0, x1, y1) in boxes.items():
        corners = to_output(np.array([[x0, y0], [x1, y1]]), hints, spec, size)
        (left, right), (top, bottom) = np.sort(corners[:, 0]), np.sort(corners[:, 1])
        inside = np.outer((centres > top + 1) & (centres < bottom - 1),
                          (centres > left + 1) & (centres < right - 1))
        near = np.outer((centres > top - 1) & (centres < bottom + 1),
                        (centres > left - 1) & (centres < right + 1))
        regions[kind] = (inside, ~near)
    return regions


@pytest.mark.slow
@pytest.mark.blender
def test_rendered_samples_carry_the_photos_masks_cropped_and_flipped(tmp_path):
    """Real renders (64 px): a photo whose sidecar names a box (object) and the box's shadow;
    in every sample the box lands in robject and its shadow in rshadow where the crop maps
    them, flipped or not, except under rendered objects; the passes keep them for
    `shadow-dataset masks`, and the dataset validates."""
    import os

    from rich.console import Console

    from dataset_tools.layout import read_image, sample_path
    from dataset_tools.masks import rewrite_masks
    from dataset_tools.records import read_manifest
    from dataset_tools.validate import validate_dataset
    from render.runner import run
    from render.spec import SceneSpec
    from tests.helpers import ROOT, tiny_config

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    photo = ROOT / "assets" / "scenes" / "gravel.jpg"
    (scenes / "gravel.jpg").write_bytes(photo.read_bytes())
    objects = np.zeros((512, 512), dtype=np.uint8)
    objects[250:400, 100:250] = 7
    shadows = np.zeros((512, 512), dtype=np.uint8)
    shadows[420:470, 250:400] = 7
    cv2.imwrite(str(scenes / "gravel_object.png"), objects)
    cv2.imwrite(str(scenes / "gravel_shadow.png"), shadows)
    (scenes / "gravel.json").write_text(json.dumps({
        "object_mask": "gravel_object.png", "shadow_mask": "gravel_shadow.png"}))
    hints = read_hints(scenes / "gravel.jpg")
    flips = set()
    for flip_probability in (0.0, 1.0):
        config = tiny_config(tmp_path / f"data{flip_probability:g}", count=2, size=64,
                             scenes=scenes)
        ranges = config.ranges
        config = dataclasses.replace(config, ranges=dataclasses.replace(
            ranges, photo=dataclasses.replace(ranges.photo,
                                              flip_probability=flip_probability)))
        summary = run(config, Console(file=open(os.devnull, "w")))  # noqa: SIM115
        assert summary.rendered == 2 and not summary.failed and not summary.skipped_assets
        for record in read_manifest(config.out).values():
            assert record.hints == ["estimated_shadow_direction", "photo_masks"]
            spec = SceneSpec.from_json(record.spec)
            flips.add(spec.photo.flip)
            with np.load(config.out / "passes" / f"{record.id}.npz") as passes:
                object_index = passes["object_index"]
                assert set(passes) >= {"photo_object", "photo_shadow"}
            uncovered = {"robject": object_index != 1, "rshadow": object_index == 0}
            for kind, (inside, outside) in expected_photo_masks(hints, spec.photo,
                                                                spec.size).items():
                mask = read_image(sample_path(config.out, record.split, kind,
                                              record.id), "L") > 127
                assert inside.any(), kind  # the test's boxes are inside every crop
                assert mask[inside & uncovered[kind]].all(), (record.id, kind)
                if kind == "robject":  # rshadow also holds the occluders' rendered shadows
                    assert not mask[outside & (object_index == 0)].any(), record.id
            written = {kind: read_image(sample_path(config.out, record.split, kind,
                                                    record.id), "L")
                       for kind in ("robject", "rshadow")}
            assert rewrite_masks(config.out, record.split, record.id,
                                 config.darkening_threshold,
                                 visible_fraction=config.shadow_visible_fraction)
            for kind, mask in written.items():
                assert np.array_equal(read_image(sample_path(
                    config.out, record.split, kind, record.id), "L"), mask), kind
        assert validate_dataset(config.out).valid
    assert flips == {False, True}
    result = CliRunner().invoke(app, ["stats", str(config.out)])
    assert result.exit_code == 0, result.output
    assert "2 samples; estimated_shadow_direction 2, photo_masks 2" in " ".join(
        result.output.split())
