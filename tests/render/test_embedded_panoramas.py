"""The embedded panoramas (assets/real/scenes/pano_*) and the resampler that built them
(assets/make_panoramas.py): frame conventions on hand-made cube maps, and the shipped files'
sidecars, suns and provenance."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from render.config import DEFAULT_SCENES
from render.hints import read_hints
from render.panorama import panorama_pixel
from render.scene_images import read_scene_image

ASSETS = Path(__file__).resolve().parents[2] / "assets"
PANORAMAS = sorted(DEFAULT_SCENES.glob("pano_*.jpg"))


@pytest.fixture(scope="module")
def make_panoramas():
    sys.path.insert(0, str(ASSETS))  # the script imports its sibling make_real_assets
    try:
        spec = importlib.util.spec_from_file_location("make_panoramas",
                                                      ASSETS / "make_panoramas.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(ASSETS))


FACE_COLOURS = {"posx": 10, "negx": 60, "posy": 110, "negy": 160, "posz": 210, "negz": 250}


def test_cube_to_equirect_puts_each_face_where_the_frame_says(make_panoramas):
    faces = {name: np.full((16, 16, 3), value, np.uint8) for name, value in FACE_COLOURS.items()}
    pano = make_panoramas.cube_to_equirect(faces, 64)
    assert pano.shape == (32, 64, 3)
    horizon = 15  # the row just above the horizon: elevation +2.8 deg
    # heading 180 (centre column) is the yaw-0 view (-z), 270 its right (+x), 0/360 behind
    # it (+z), 90 its left (-x); the top row is the zenith (+y), the bottom the nadir (-y)
    for heading, face in ((180, "negz"), (270, "posx"), (0, "posz"), (90, "negx")):
        column = int(heading / 360 * 64) % 64
        assert pano[horizon, column, 0] == FACE_COLOURS[face], (heading, face)
    assert (pano[0] == FACE_COLOURS["posy"]).all()
    assert (pano[-1] == FACE_COLOURS["negy"]).all()


def test_cube_to_equirect_is_continuous_across_face_edges(make_panoramas):
    """A cube map of one smooth field (the ray's height y, as a grey level) resamples to a
    panorama whose rows are constant: no seam, no tilt at the face edges."""
    size = 32
    s = (np.arange(size) + 0.5) / size * 2 - 1
    ss, tt = np.meshgrid(s, s)
    def face(y):  # grey level of elevation: 128 + 100 * y / |ray|
        return np.repeat((128 + 100 * y)[..., None], 3, axis=2).round().astype(np.uint8)
    norm = np.sqrt(1 + ss ** 2 + tt ** 2)
    side = face(-tt / norm)  # side faces: t runs down, so the ray's y is -t
    faces = {"posx": side, "negx": side, "posz": side, "negz": side,
             "posy": face(np.ones_like(ss) / norm), "negy": face(-np.ones_like(ss) / norm)}
    pano = make_panoramas.cube_to_equirect(faces, 128).astype(int)
    rows = pano[8:-8, :, 0]  # away from the poles' single-pixel rows
    assert (rows.max(axis=1) - rows.min(axis=1) <= 2).all()
    elevation = np.radians(90 - (np.arange(64) + 0.5) * 180 / 64)[8:-8]
    assert np.abs(rows.mean(axis=1) - (128 + 100 * np.sin(elevation))).max() < 2.5


def test_disc_sun_finds_a_clipped_disc_across_the_seam(make_panoramas):
    image = np.full((64, 128, 3), 90, np.uint8)
    image[10:14, 126:128] = 255  # a disc split by the 0/360 edge, centred on heading 0
    image[10:14, 0:2] = 255
    image[40:50, 10:20] = 255  # a bigger clipped patch below the horizon: not the sun
    heading, elevation = make_panoramas.disc_sun(image)
    assert heading in (0.0, 360.0)
    assert elevation == pytest.approx(90 - 12 * 180 / 64, abs=0.1)


def test_hdr_sun_is_the_peak_blob(make_panoramas):
    linear = np.full((64, 128, 3), 0.2, np.float32)
    linear[20:22, 95:97] = 5e4  # centroid x = 96: heading 270, elevation 90 - 21 * 180 / 64
    linear[50, 10] = 1e5  # brighter, but below the horizon
    heading, elevation = make_panoramas.hdr_sun(linear)
    assert heading == pytest.approx(270.0, abs=0.1)
    assert elevation == pytest.approx(90 - 21 * 180 / 64, abs=0.1)


def test_at_least_100_embedded_panoramas_with_usable_sidecars():
    assert len(PANORAMAS) >= 100
    suns = 0
    for path in PANORAMAS:
        hints = read_hints(path)
        assert hints is not None and hints.panorama is not None, path.name
        assert hints.width == 2 * hints.height and hints.width in (1024, 2048), path.name
        suns += hints.panorama_sun
    assert suns >= 25


def test_each_embedded_sun_sits_in_a_bright_patch():
    """The sun of every sunny panorama lies on pixels near full brightness (the brightest
    channel: a setting sun is orange) and well above the panorama's median: a clipped disc or
    glow. That it is the sun and not a sunlit wall was checked by eye, on `shadow-dataset
    sidecars --sheet`."""
    for path in PANORAMAS:
        sun = json.loads(path.with_suffix(".json").read_text())["panorama"].get("sun")
        if sun is None:
            continue
        image = read_scene_image(path)
        height, width = image.shape[:2]
        x, y = panorama_pixel(sun["azimuth_deg"], sun["elevation_deg"], width, height)
        radius = width // 256
        rolled = np.roll(image.max(axis=2), width // 2 - int(x), axis=1)
        patch = rolled[int(y) - radius:int(y) + radius + 1,
                       width // 2 - radius:width // 2 + radius + 1]
        assert patch.mean() >= 235, (path.name, patch.mean())
        assert patch.mean() > np.median(image) + 60, path.name


def test_provenance_lists_exactly_the_embedded_scene_files():
    record = json.loads((DEFAULT_SCENES.parent / "provenance.json").read_text())
    listed = {row["file"] for row in record["photos"]}
    present = {f"scenes/{path.name}" for path in DEFAULT_SCENES.glob("*.jpg")}
    assert listed == present
    for row in record["photos"]:
        if row["file"].startswith("scenes/pano_"):
            assert row["licence"] in ("CC0 1.0", "CC BY 3.0"), row
            # pinned: owner/repo@commit:path, or the pinned bpy wheel's file
            assert "@" in row["source"] or "bpy 5.0.1" in row["source"], row
