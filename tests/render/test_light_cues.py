"""Every sun- or area-lit sample shows a cue to its light's direction: the sidecar's `lights`
key, the occluder-shadow requirement (`QualityChecks.scene_cue`) and its rejection code."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from render.config import QualityChecks, SamplingRanges
from render.geometry import visible_cast_fraction
from render.hints import PhotoHints, parse_hints
from render.sampler import RESAMPLED_CODES, SamplingError, needs_scene_cue, sample_scene
from tests.render.test_hints import EXTENTS, HEIGHT, MESHES, WIDTH, angle_between, drawable

OLD = QualityChecks(scene_cue=False)
NEW = QualityChecks()


def draw(seed: int, hints: PhotoHints | None = None, checks: QualityChecks = NEW):
    rng = np.random.default_rng(seed)
    return sample_scene(rng, index=0, attempt=0, seed=seed, size=128, photos=["p.jpg"],
                        meshes=MESHES, extent_of=EXTENTS.__getitem__, ranges=SamplingRanges(),
                        checks=checks, photo_hints=None if hints is None else {"p.jpg": hints})


def specs(hints=None, checks=NEW, seeds=range(60)):
    found, codes = [], []
    for seed in seeds:
        try:
            found.append(draw(seed, hints, checks))
        except SamplingError as error:
            codes.append(error.code)
    return found, codes


def test_lights_key_parses_and_refuses_bad_values():
    hints = parse_hints({"lights": {"overcast": 1, "area": 0.5, "sun": 0}}, WIDTH, HEIGHT)
    assert hints.lights == (("area", 0.5), ("overcast", 1.0)) and "lights" in hints.kinds
    for bad, message in (({"lights": {"moon": 1}}, "unknown key lights.moon"),
                         ({"lights": {"sun": -1}}, "lights.sun must be a finite number >= 0"),
                         ({"lights": {"sun": 0}}, "at least one"),
                         ({"lights": [1]}, "lights must be an object"),
                         ({"lights": {"area": 1}, "sun": {"azimuth_deg": 1,
                                                         "elevation_deg": 30}},
                          "gives the sun no weight")):
        with pytest.raises(ValueError, match=message):
            parse_hints(bad, WIDTH, HEIGHT)


def test_lights_restrict_the_kinds_and_the_direction_applies_to_sun_and_area():
    overcast = PhotoHints(WIDTH, HEIGHT, lights=(("overcast", 1.0),))
    assert {spec.light.kind for spec in specs(overcast)[0]} == {"overcast"}
    indoor = PhotoHints(WIDTH, HEIGHT, lights=(("area", 1.0), ("overcast", 1.0)))
    assert {spec.light.kind for spec in specs(indoor)[0]} == {"area", "overcast"}
    sunny = PhotoHints(WIDTH, HEIGHT, shadow_direction_deg=120.0,
                       lights=(("sun", 1.0), ("area", 1.0)))
    drawn = drawable(sunny, seeds=range(40), size=128)
    assert {spec.light.kind for spec in drawn} == {"sun", "area"}
    from dataset_tools.camera import ground_direction_angle
    from render.hints import output_angle

    for spec in drawn:
        azimuth = np.radians(spec.light.azimuth_deg)
        away = np.array([[np.sin(azimuth), -np.cos(azimuth)]])
        angle = ground_direction_angle(spec.camera, spec.size,
                                       np.array([spec.inserted.x, spec.inserted.y]), away)[0]
        assert angle_between(angle, output_angle(120.0, spec.photo)) < 1.0  # flip too
    # without `lights`, a shadow direction still forces a sun (the old rule)
    assert {spec.light.kind for spec in drawable(
        PhotoHints(WIDTH, HEIGHT, shadow_direction_deg=120.0), seeds=range(20), size=128)} \
        == {"sun"}


def test_sun_and_area_samples_have_an_occluder_whose_shadow_shows():
    drawn, codes = specs(seeds=range(120))
    assert "no_scene_cue" in codes and "no_scene_cue" in RESAMPLED_CODES
    directional = [spec for spec in drawn if spec.light.kind in ("sun", "area")]
    assert directional
    for spec in directional:
        foot = np.array([spec.inserted.x, spec.inserted.y, 0.0])
        best = max(visible_cast_fraction(obj, spec.light, spec.camera, spec.size, foot)
                   for obj in spec.occluders)
        assert best >= QualityChecks().min_occluder_shadow_fraction
    # the old behaviour, from a config file: samples without any occluder come back
    old, old_codes = specs(checks=OLD, seeds=range(120))
    assert "no_scene_cue" not in old_codes
    assert any(not spec.occluders for spec in old if spec.light.kind in ("sun", "area"))


def test_a_photo_consistent_light_needs_no_occluder():
    consistent = PhotoHints(WIDTH, HEIGHT, shadow_direction_deg=90.0, lights=(("sun", 1.0),))
    sun = draw(3, consistent)
    assert not needs_scene_cue(QualityChecks(), consistent, sun.light)
    assert needs_scene_cue(QualityChecks(), None, sun.light)
    assert not needs_scene_cue(OLD, None, sun.light)
    overcast = dataclasses.replace(sun.light, kind="overcast")
    assert not needs_scene_cue(QualityChecks(), None, overcast)


def test_embedded_photos_all_have_sidecars_with_lights():
    from render.config import DEFAULT_SCENES
    from render.hints import read_hints

    photos = sorted(DEFAULT_SCENES.glob("*.jpg"))
    assert len(photos) >= 50
    for photo in photos:
        hints = read_hints(photo)
        assert hints is not None and hints.lights, photo.name
        # a panorama's views need no ground polygon (the view's lower part is ground)
        assert (hints.panorama is not None) == photo.name.startswith("pano_"), photo.name
        assert hints.panorama is not None or hints.ground_polygon, photo.name
        data = json.loads(photo.with_suffix(".json").read_text())
        assert "sun" not in data.get("lights", {}) or data["lights"]["sun"] >= 0


def test_the_first_render_decides_the_object_and_cue_checks_before_the_shadow():
    from render.config import RenderConfig
    from render.quality import plain_problem, quality_problem
    from render.sample import RenderedPair

    config = RenderConfig(out=Path("data"), checks=QualityChecks(min_object_fraction=0.01,
                                                                 min_shadow_fraction=0.01,
                                                                 min_occluder_shadow_fraction=0.01))
    size = 100
    inserted = np.zeros((size, size), bool)
    cue = np.zeros((size, size), bool)
    assert plain_problem(inserted, cue, config)[0] == "object_too_small"
    inserted[:10, :10] = True  # 1 % of the image
    assert plain_problem(inserted, cue, config) is None  # no cue asked for
    assert plain_problem(inserted, cue, config, cue=True)[0] == "no_scene_cue"
    cue[50:60, :10] = True
    assert plain_problem(inserted, cue, config, cue=True) is None

    def pair(smask_pixels: int) -> RenderedPair:
        smask = np.zeros((size, size), np.uint8)
        smask.flat[:smask_pixels] = 255
        masks = {"mask": np.where(inserted, 255, 0).astype(np.uint8), "smask": smask,
                 "rshadow": np.zeros((size, size), np.uint8)}
        return RenderedPair(noshadow=None, shadow=None, masks=masks,
                            object_index=inserted.astype(np.uint8), darkening=None,
                            occluder_darkening=None, lighting=None, region=(0, 0, size, size),
                            seconds={})

    # the pair's own checks come in the same order: a missing cue before a small shadow
    assert quality_problem(pair(10), config, cue=True)[0] == "no_scene_cue"
    assert quality_problem(pair(10), config)[0] == "shadow_too_small"
    assert quality_problem(pair(100), config) is None
