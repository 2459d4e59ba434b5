"""`shadow-dataset sidecars`: a photo's hints drawn onto it, and a contact sheet."""

import json

import cv2
import numpy as np

from render.hint_sheet import draw_hints, photo_tiles
from render.hints import PanoramaHints, PhotoHints
from tests.helpers import run_cli


def test_draw_hints_marks_horizon_polygon_and_arrow():
    photo = np.full((120, 160, 3), 90, np.uint8)
    hints = PhotoHints(160, 120, horizon_row=30.0, shadow_direction_deg=0.0,
                       ground_polygon=((20.0, 60.0), (140.0, 60.0), (140.0, 110.0),
                                       (20.0, 110.0)), lights=(("sun", 1.0),))
    drawn = draw_hints(photo, hints, "p.jpg")
    def near(pixel, color):
        return np.abs(pixel.astype(int) - color).max() < 90

    assert near(drawn[30, 80], (255, 0, 255))  # the horizon row, magenta
    assert near(drawn[60, 80], (0, 220, 0))  # the polygon's top edge, green
    assert near(drawn[85, 100], (255, 220, 0))  # the arrow from the centre to the right
    assert near(drawn[100, 40], (18, 116, 72))  # inside: the photo, lightly tinted green
    assert np.array_equal(photo, np.full((120, 160, 3), 90, np.uint8))  # drawn on a copy


def test_draw_hints_marks_a_panoramas_horizon_and_sun():
    panorama = np.full((180, 360, 3), 90, np.uint8)
    hints = PhotoHints(360, 180, panorama=PanoramaHints(sun_azimuth_deg=90.0,
                                                        sun_elevation_deg=30.0))
    drawn = draw_hints(panorama, hints, "p.png")

    def near(pixel, color):
        return np.abs(pixel.astype(int) - color).max() < 90

    assert near(drawn[90, 200], (255, 0, 255))  # the middle row: the horizon
    assert near(drawn[60, 84], (255, 220, 0))  # the sun's ring around heading 90, 30 deg up
    assert near(drawn[60, 90], (90, 90, 90))  # its centre stays the photo's


def test_draw_hints_shades_a_panoramas_ground_and_its_masks():
    """The ground band (elevations -90 to -30) over the sector 300 -> 30 degrees (across 0),
    and the masks in the panorama's frame."""
    panorama = np.full((180, 360, 3), 90, np.uint8)
    ground = PanoramaHints(sun_azimuth_deg=90.0, sun_elevation_deg=30.0,
                           ground_elevation_deg=(-90.0, -30.0),
                           ground_sectors_deg=((300.0, 30.0),))
    objects, shadows = np.zeros((180, 360), np.uint8), np.zeros((180, 360), np.uint8)
    objects[100:110, 100:104] = 1
    shadows[110:114, 100:130] = 1
    drawn = draw_hints(panorama, PhotoHints(360, 180, panorama=ground), "p.png",
                       {"object_mask": objects, "shadow_mask": shadows}).astype(int)
    greener = drawn[..., 1] > drawn[..., 0] + 10
    assert greener[150, 10] and greener[150, 350]  # in the band, at headings 10 and 350
    assert not greener[150, 180] and not greener[100, 10]  # outside the sector, above -30
    assert drawn[105, 102, 2] > 150 and drawn[105, 102, 0] < 60  # the object, cyan
    assert drawn[112, 120, 0] > 150 and drawn[112, 120, 2] < 80  # its shadow, red


def test_sidecars_verb_writes_a_sheet_and_names_a_bad_sidecar(tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for name in ("a", "b", "c"):
        cv2.imwrite(str(scenes / f"{name}.jpg"), np.full((90, 120, 3), 120, np.uint8))
    (scenes / "a.json").write_text(json.dumps({"horizon_row": 20, "lights": {"area": 1}}))
    (scenes / "b.json").write_text("{not json")
    tiles, problems = photo_tiles(scenes, 100)
    assert len(tiles) == 3 and [path for path, _ in problems] == [str(scenes / "b.json")]
    out = tmp_path / "sheet.png"
    process = run_cli("sidecars", str(scenes), "--sheet", str(out), "--columns", "2",
                      "--tile", "100")
    assert process.returncode == 0, process.stderr
    assert "b.json" in process.stderr and "not a readable JSON file" in process.stderr
    sheet = cv2.imread(str(out))
    assert sheet.shape == (2 * 75, 200, 3)
    again = run_cli("sidecars", str(scenes), "--sheet", str(out))
    assert again.returncode == 1 and "exists" in again.stderr
    missing = run_cli("sidecars", str(tmp_path / "nope"), "--sheet", str(tmp_path / "x.png"))
    assert missing.returncode == 1 and "nope" in missing.stderr
