"""Rebuild the embedded equirectangular panoramas (assets/real/scenes/pano_*.jpg + sidecars).

    python assets/make_panoramas.py --mirrors DIR

DIR holds git mirrors as for make_real_assets.py (DIR/owner+name/repo); every file is read at
the pinned commit. bpy 5.0.1 must be importable (two panoramas are Blender's bundled 1k EXRs).
The script writes each panorama and its sidecar, removes the single views cut from the same
places (the old `ph_*`/`humus_*` photos), and rewrites the `photos` part of
assets/real/provenance.json and assets/real/README.md (through make_real_assets.write_readme).

Each panorama is an 8-bit JPEG (quality 90), exactly 2:1, in the frame of docs/sidecars.md:
heading of column x = 360 x / W clockwise (0 at the left edge), elevation of row y =
90 - 180 y / H. Sources:

- 1k equirectangular HDRIs (Radiance .hdr, Blender's .exr): kept at 1024x512 and tone-mapped
  once with render.scene_images.tone_map (the photo the renderer would show).
- Tone-mapped 8-bit equirectangular previews (1560x780 PNG): resized to 1024x512 (INTER_AREA).
- Poly Haven's own tone-mapped 8-bit equirectangular JPEGs (2k: 2048x1024), kept as they are:
  sharp enough to draw the shadows of posts and people (`assets/annotate_panorama.py`).
- Cube maps (OpenGL convention, as make_real_assets.render_cubemap reads them: the yaw-0 view
  looks along -z, x to its right, y up) resampled to equirectangular by `cube_to_equirect`.
  A face of S pixels spans 90 degrees, so W = 4 S keeps the face centres' density; 512 px faces
  are written at 1024x512 (the density of the 1k HDRIs, half the faces'; 2048x1024 would
  double the folder for detail the 256 px renders do not show) and 2048 px faces at 2048x1024.

The yaw-0 view of make_real_assets.py looks at heading 180 (the centre column).

Suns (`panorama.sun`, degrees in that frame), per panorama's `sun` mode in PANORAMAS:
- "hdr": the luminance-weighted centroid of the brightest blob above the horizon in the
  linear HDR (pixels above a tenth of the peak, the connected blob that holds the peak);
- "disc": the same on the 8-bit panorama, the largest saturated blob (all channels >= 250)
  above the horizon: a clipped sun disc;
- (heading, elevation): given by hand, read off the panorama where the sun is not one blob;
- None: no sun (overcast, shaded, indoor); the sidecar's lights then leave the sun out.
Every sun was checked by eye on `shadow-dataset sidecars --sheet` (a ring at the sun).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")  # Blender's studio lights are EXR files
import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # render.scene_images
import make_real_assets as real  # noqa: E402
from make_real_assets import (  # noqa: E402
    CC0,
    CCBY3,
    DEMO_DATA,
    DREI,
    EDAN35,
    FACES,
    HUMUS,
    MOCAP,
    POLYHAVEN,
    ROOT,
    SHADERCITY,
    SHADERCITY_OLD,
    WAYMO_VIZ,
    Mirrors,
)

from render.scene_images import tone_map  # noqa: E402

JPEG_QUALITY = 90
SHADERCITY_HUMUS_OLD = ("mfecane/shadercity", "0a497b70d121ab1336efe3d7335e4b951e5d0d7e")
THREEJS_COPY = ("Sensor-Guided-Living/vr", "3c2eee04509680648cf248282efd316ea69f046d")
BEVY = ("bevyengine/bevy", "4805ca792c3e94eef07afd6fa9a2712f388c9a67")
REVELRY = ("revelryengine/sample-environments", "078af0152cf2da88154e9be7e809ea1360adb487")
THREEJS_MANUAL = ("machfe/threejs_project", "a5656ba0dc25c6d65beae408a7efb650055e2179")
SATURATED = 250  # an 8-bit pixel whose every channel reaches this is clipped (a sun disc)
SUN_FRACTION = 0.1  # HDR sun pixels: above this fraction of the peak luminance

# Blender's studio lights (bpy wheel) -> the Poly Haven HDRI its license.txt names
BLENDER_ORIGINALS = {"interior.exr": "hotel_room",
                     "forest.exr": "ninomaru_teien"}

# Light weights (dataset_tools.light_labels.LIGHT_KINDS) for the places the earlier single
# views did not cover; the others reuse the lights their view's sidecar had, checked by eye then.
SUNNY = {"sun": 1}
SUNNY_SKY = {"sun": 1, "overcast": 0.3}
OVERCAST = {"overcast": 1}
INDOOR = {"area": 1, "overcast": 0.5}

# Lights of the panoramas whose place had a single view: its sidecar's lights, checked by eye
# then (the sun's weight is dropped where the panorama gives no sun, `sidecar`).
VIEW_LIGHTS = {
    "pano_ph_chinese_garden": {"sun": 0.5, "overcast": 1}, "pano_ph_hilly_terrain_01": {"sun": 1},
    "pano_ph_noon_grass": {"sun": 1}, "pano_ph_rooitou_park": {"sun": 1},
    "pano_ph_spruit_sunrise": {"sun": 1}, "pano_ph_rhodes_memorial": {"sun": 1},
    "pano_ph_san_giuseppe_bridge": {"sun": 1}, "pano_ph_tears_of_steel_bridge": {"sun": 1},
    "pano_ph_the_lost_city": {"sun": 1}, "pano_ph_ulmer_muenster": {"sun": 0.5, "overcast": 1},
    "pano_ph_crystal_falls": {"sun": 1, "overcast": 0.3},
    "pano_ph_venetian_crossroads": {"sun": 1},
    "pano_ph_the_sky_is_on_fire": {"overcast": 1, "area": 0.3},
    "pano_ph_autumn_ground": {"overcast": 1, "area": 0.3},
    "pano_ph_cambridge": {"overcast": 1, "area": 0.3},
    "pano_ph_canary_wharf": {"overcast": 1, "area": 0.3},
    "pano_ph_dusseldorf_bridge": {"overcast": 1, "area": 0.3},
    "pano_ph_glass_passage": {"overcast": 1, "area": 0.5},
    "pano_ph_gray_pier": {"overcast": 1, "area": 0.3}, "pano_ph_misty_pines": {"overcast": 1},
    "pano_ph_outdoor_umbrellas": {"overcast": 1, "area": 0.3},
    "pano_ph_portland_landing_pad": {"overcast": 1, "area": 0.3},
    "pano_ph_roof_garden": {"overcast": 1, "area": 0.5},
    "pano_ph_schadowplatz": {"overcast": 1, "area": 0.3},
    "pano_ph_modern_buildings": {"overcast": 1, "area": 0.3},
    "pano_ph_mossy_forest": {"overcast": 1},
    "pano_ph_palermo_sidewalk": {"overcast": 1, "area": 0.5},
    "pano_ph_red_wall": {"overcast": 1, "area": 0.5},
    "pano_ph_reinforced_concrete_01": {"overcast": 1, "area": 0.5},
    "pano_ph_river_walk_1": {"overcast": 1, "sun": 0.3},
    "pano_ph_shady_patch": {"overcast": 1, "sun": 0.3},
    "pano_ph_stone_alley": {"overcast": 1, "area": 0.5},
    "pano_ph_teufelsberg_lookout": {"overcast": 1, "area": 0.3},
    "pano_ph_pink_sunrise": {"overcast": 1, "area": 0.3},
    "pano_ph_sunset_forest": {"overcast": 1, "sun": 0.3},
    "pano_ph_potsdamer_platz": {"overcast": 1, "area": 0.3},
    "pano_ph_rainforest_trail": {"overcast": 1, "area": 0.5},
    "pano_ph_urban_street_01": {"overcast": 1},
    "pano_ph_immenstadter_horn": {"sun": 1},
    "pano_ph_kiara_1_dawn": {"overcast": 1, "area": 0.3},
    "pano_ph_venice_sunset": {"sun": 1, "overcast": 0.5},
    "pano_ph_aft_lounge": {"area": 1, "overcast": 0.5}, "pano_ph_colorful_studio": {"area": 1},
    "pano_ph_old_hall": {"area": 1, "overcast": 0.5},
    "pano_ph_royal_esplanade": {"area": 1, "overcast": 0.5},
    "pano_ph_sculpture_exhibition": {"area": 1, "sun": 0.3}, "pano_ph_wooden_lounge": {"area": 1},
    "pano_ph_skylit_garage": {"area": 1, "overcast": 1}, "pano_ph_subway_entrance": {"area": 1},
    "pano_ph_aircraft_workshop_01": {"area": 1, "overcast": 0.5},
    "pano_ph_small_cave": {"area": 1, "overcast": 1},
    "pano_ph_art_studio": {"area": 1, "overcast": 0.5}, "pano_ph_fireplace": {"area": 1},
    "pano_ph_hamburg_hbf": {"area": 1, "overcast": 0.5},
    "pano_ph_georgentor": {"area": 1, "overcast": 1},
    "pano_ph_leadenhall_market": {"area": 1, "overcast": 1},
    "pano_ph_adams_place_bridge": {"area": 1, "overcast": 0.5},
    "pano_ph_st_fagans_interior": {"area": 1},
    "pano_ph_peppermint_powerplant": {"area": 1, "overcast": 0.5},
    "pano_ph_empty_warehouse_01": {"area": 1, "overcast": 0.5},
    "pano_ph_studio_small_03": {"area": 1}, "pano_ph_aerodynamics_workshop": {"area": 1},
    "pano_ph_autoshop_01": {"area": 1, "overcast": 0.5},
    "pano_ph_blocky_photo_studio": {"area": 1},
    "pano_ph_brown_photostudio_01": {"area": 1, "overcast": 0.5},
    "pano_ph_brown_photostudio_06": {"area": 1}, "pano_ph_brown_photostudio_07": {"area": 1},
    "pano_ph_christmas_photo_studio_07": {"area": 1, "overcast": 0.5},
    "pano_ph_dancing_hall": {"area": 1},
    "pano_ph_drachenfels_cellar": {"overcast": 1, "area": 0.5},
    "pano_ph_sepulchral_chapel_rotunda": {"area": 1, "overcast": 0.5},
    "pano_ph_thatch_chapel": {"area": 1, "overcast": 0.5},
    "pano_ph_vestibule": {"area": 1, "overcast": 0.5}, "pano_ph_parking_garage": {"area": 1},
    "pano_ph_hotel_room": {"area": 1, "overcast": 0.5},
    "pano_ph_ninomaru_teien": {"sun": 1, "overcast": 0.3},
    "pano_humus_citadella": {"sun": 1, "overcast": 0.3},
    "pano_humus_heroes_square": {"overcast": 1, "area": 0.5},
    "pano_humus_ice_river": {"overcast": 1, "area": 0.3},
    "pano_humus_maskonaive": {"sun": 0.5, "overcast": 1},
    "pano_humus_vancouver_convention_centre": {"sun": 1, "overcast": 0.5},
    "pano_humus_nissi_beach_2": {"sun": 0.5, "overcast": 1},
    "pano_humus_stairs": {"overcast": 1, "area": 0.5}, "pano_humus_creek": {"overcast": 1},
    "pano_humus_fishermans_bastion": {"overcast": 1, "area": 0.3},
    "pano_humus_golden_gate_bridge": {"sun": 1},
    "pano_humus_saint_lazarus_church": {"overcast": 1, "area": 1},
    "pano_humus_santa_maria_dei_miracoli": {"area": 1},
}

# name -> (kind, source, path, sun, lights (None: VIEW_LIGHTS), replaced views). kind: "cube_png" /
# "cube_jpg" (folder of six faces), "hdr" (Radiance), "exr" (Blender's studio light, path =
# file name), "preview" (8-bit equirect PNG), "jpg" (8-bit equirect JPEG, kept at its size).
# Poly Haven names are the `pano_ph_` suffix.
PANORAMAS: dict[str, tuple] = {}


def _ph_cube(name: str, sun, lights=None) -> None:
    PANORAMAS[f"pano_ph_{name}"] = ("cube_png", SHADERCITY, f"assets/cubemaps/{name}", sun,
                                    lights, (f"ph_{name}",))


def _ph_hdr(name: str, source: tuple[str, str], path: str, sun, lights=None,
            replaces: tuple[str, ...] | None = None) -> None:
    PANORAMAS[f"pano_ph_{name}"] = ("hdr", source, path, sun, lights,
                                    (f"ph_{name}",) if replaces is None else replaces)


def _humus(name: str, source: tuple[str, str], folder: str, sun, lights=None,
           replaces: tuple[str, ...] | None = None) -> None:
    PANORAMAS[f"pano_humus_{name}"] = ("cube_jpg", source, folder, sun, lights,
                                       (f"humus_{name}",) if replaces is None else replaces)


# -- sunny outdoor, ground all round (1k HDRIs: the sun measured) ----------------------------
_ph_hdr("chinese_garden", DEMO_DATA, "hdri/chinese_garden_1k.hdr", "hdr")
_ph_hdr("hilly_terrain_01", DEMO_DATA, "hdri/hilly_terrain_01_1k.hdr", "hdr")
_ph_hdr("kloppenheim_05", DEMO_DATA, "hdri/kloppenheim_05_1k.hdr", "hdr", SUNNY, ())
_ph_hdr("noon_grass", DEMO_DATA, "hdri/noon_grass_1k.hdr", "hdr")
_ph_hdr("rooitou_park", DREI, "hdri/rooitou_park_1k.hdr", "hdr")
_ph_hdr("quarry_01", THREEJS_COPY, "examples/textures/equirectangular/quarry_01_1k.hdr", "hdr",
        SUNNY, ())
_ph_hdr("spiaggia_di_mondello", BEVY, "assets/textures/spiaggia_di_mondello_1k.hdr", "hdr",
        SUNNY, ())
_ph_hdr("spruit_sunrise", WAYMO_VIZ, "motion/frontend/public/spruit_sunrise_1k.hdr", "hdr")
_ph_hdr("pedestrian_overpass", THREEJS_COPY,
        "examples/textures/equirectangular/pedestrian_overpass_1k.hdr", "hdr", SUNNY, ())
_ph_hdr("immenstadter_horn", DREI, "hdri/immenstadter_horn_1k.hdr", "hdr")
_ph_hdr("venice_sunset", DREI, "hdri/venice_sunset_1k.hdr", "hdr")
# (Left out, their single views kept: forest_slope, phalzer_forest_01 and lebombo are lit by
# sun patches, but their HDRIs peak below 60, no sun to place; placed HDR suns peak at 1e3+.)
# -- sunny outdoor, 8-bit cube maps (the clipped sun disc) -----------------------------------
# (Left out, their single views kept: palermo_square, pillars, quattro_canti, roofless_ruins,
# urban_alley_01 and Humus' LarnacaCastle are sunny, but their 8-bit sun is not one blob that
# can be told from a sunlit wall or cloud.)
for _name in ("rhodes_memorial", "san_giuseppe_bridge", "the_lost_city",
              "ulmer_muenster", "crystal_falls", "venetian_crossroads", "the_sky_is_on_fire"):
    _ph_cube(_name, "disc")
# -- sunny outdoor, Poly Haven's 2k 8-bit JPEG (the clipped sun disc): the railing posts' and
# the lamp post's shadows are 4-6 px wide there (2-3 px in the 512 px cube map it replaced,
# which was also the mirror image of the published panorama)
PANORAMAS["pano_ph_tears_of_steel_bridge"] = (
    "jpg", THREEJS_MANUAL,
    "manual/examples/resources/images/equirectangularmaps/tears_of_steel_bridge_2k.jpg", "disc",
    None, ("ph_tears_of_steel_bridge",))
# -- overcast or shaded outdoor (shaded alleys, covered terraces, dappled forest floors: their
# views' sidecars gave overcast light first, so the panorama keeps those lights, the sun left
# out) -------------------------------------------------------------------------------------------
for _name in ("autumn_ground", "cambridge", "canary_wharf", "dusseldorf_bridge", "glass_passage",
              "gray_pier", "misty_pines", "outdoor_umbrellas", "portland_landing_pad",
              "roof_garden", "schadowplatz", "modern_buildings", "mossy_forest",
              "palermo_sidewalk", "red_wall", "reinforced_concrete_01", "river_walk_1",
              "shady_patch", "stone_alley", "teufelsberg_lookout", "pink_sunrise",
              "sunset_forest"):
    _ph_cube(_name, None)
_ph_hdr("potsdamer_platz", DREI, "hdri/potsdamer_platz_1k.hdr", None)
_ph_hdr("rainforest_trail", DEMO_DATA, "hdri/rainforest_trail_1k.hdr", None)
_ph_hdr("urban_street_01", WAYMO_VIZ, "motion/frontend/public/urban_street_01_1k.hdr", None)
_ph_hdr("kiara_1_dawn", DREI, "hdri/kiara_1_dawn_1k.hdr", None)
# -- indoor, covered, studios with a floor -----------------------------------------------------
for _name in ("aft_lounge", "colorful_studio", "old_hall", "royal_esplanade",
              "sculpture_exhibition", "wooden_lounge", "skylit_garage", "subway_entrance",
              "aircraft_workshop_01", "small_cave", "art_studio", "fireplace", "hamburg_hbf",
              "georgentor", "leadenhall_market"):
    _ph_cube(_name, None)
_ph_hdr("adams_place_bridge", DREI, "hdri/adams_place_bridge_1k.hdr", None)
_ph_hdr("st_fagans_interior", DREI, "hdri/st_fagans_interior_1k.hdr", None)
_ph_hdr("peppermint_powerplant", DEMO_DATA, "hdri/peppermint_powerplant_1k.hdr", None)
for _name in ("empty_warehouse_01", "studio_small_03"):
    _ph_hdr(_name, DREI, f"hdri/{_name}_1k.hdr", None)
for _name in ("aerodynamics_workshop", "autoshop_01", "blocky_photo_studio",
              "brown_photostudio_01", "brown_photostudio_06", "brown_photostudio_07",
              "christmas_photo_studio_07", "dancing_hall", "drachenfels_cellar",
              "sepulchral_chapel_rotunda", "thatch_chapel", "vestibule"):
    _ph_hdr(_name, DEMO_DATA, f"hdri/{_name}_1k.hdr", None)
_ph_hdr("parking_garage", WAYMO_VIZ, "motion/frontend/public/parking_garage_1k.hdr", None)
# (courtyard is left out, its view kept: sunny, but Blender's EXR is clamped and shows no sun.)
PANORAMAS["pano_ph_hotel_room"] = ("exr", None, "interior.exr", None, None, ("ph_hotel_room",))
PANORAMAS["pano_ph_ninomaru_teien"] = ("exr", None, "forest.exr", "hdr", None,
                                       ("ph_ninomaru_teien",))
# -- 8-bit previews of Poly Haven HDRIs not copied elsewhere ----------------------------------
PANORAMAS["pano_ph_goegap"] = ("preview", REVELRY, "goegap/goegap.png", "disc", SUNNY, ())
PANORAMAS["pano_ph_lilienstein"] = ("preview", REVELRY, "lilienstein/lilienstein.png", "disc",
                                    SUNNY_SKY, ())
for _name in ("large_corridor", "music_hall_01", "studio_small_02"):
    PANORAMAS[f"pano_ph_{_name}"] = ("preview", REVELRY, f"{_name}/{_name}.png", None, INDOOR,
                                     ())
PANORAMAS["pano_ph_round_platform"] = ("preview", REVELRY, "round_platform/round_platform.png",
                                       None, OVERCAST, ())
# -- Humus cube maps (CC BY 3.0) ---------------------------------------------------------------
_humus("citadella", MOCAP, "images/Citadella", "disc")
_humus("heroes_square", MOCAP, "images/HeroesSquare", None,
       replaces=("humus_heroes_square", "humus_heroes_square_2"))
_humus("ice_river", MOCAP, "images/IceRiver", None)
_humus("maskonaive", MOCAP, "images/Maskonaive", None)
# the largest clipped blob there is a tower's reflection; the sun's flare is left of the tower
_humus("vancouver_convention_centre", MOCAP, "images/VancouverConventionCentre", (127.2, 33.3))
_humus("nissi_beach_2", EDAN35, "res/cubemaps/NissiBeach2", "disc")
_humus("stairs", SHADERCITY_OLD, "assets/Stairs", None)
_humus("vasa", SHADERCITY_OLD, "assets/Vasa", None, INDOOR, ())
for _name, _folder, _sun in (("creek", "Creek", None),
                             ("fishermans_bastion", "FishermansBastion", None),
                             ("golden_gate_bridge", "GoldenGateBridge", "disc"),
                             ("saint_lazarus_church", "SaintLazarusChurch", None),
                             ("santa_maria_dei_miracoli", "SantaMariaDeiMiracoli", None)):
    _humus(_name, SHADERCITY, f"assets/cubemaps/{_folder}", _sun)
# Left out: Ryfjallet (a boulder field on a mountain top) and Tenerife (a breakwater of large
# boulders, sea all round): no flat ground for an object to stand on.
_humus("fort_point", SHADERCITY_HUMUS_OLD, "assets/cubemaps/FortPoint", "disc", SUNNY, ())


# -- resampling -------------------------------------------------------------------------------
def equirect_directions(width: int) -> np.ndarray:
    """(W/2, W, 3) unit rays of an equirectangular panorama's pixel centres in the cube maps'
    frame (x right of the yaw-0 view, y up, the yaw-0 view along -z): heading 360 (x + 0.5) / W
    clockwise from the left edge, so heading 180 (the centre column) is -z and 270 is +x."""
    height = width // 2
    heading = np.radians((np.arange(width) + 0.5) * 360.0 / width - 180.0)
    elevation = np.radians(90.0 - (np.arange(height) + 0.5) * 180.0 / height)
    heading, elevation = np.meshgrid(heading, elevation)
    return np.stack([np.cos(elevation) * np.sin(heading), np.sin(elevation),
                     -np.cos(elevation) * np.cos(heading)], -1)


def cube_to_equirect(faces: dict[str, np.ndarray], width: int) -> np.ndarray:
    """Six (S, S, 3) uint8 cube faces (FACES, OpenGL convention as in
    make_real_assets.render_cubemap) -> (W/2, W, 3) uint8 equirectangular panorama. Each ray
    samples its face bilinearly; faces are first area-averaged to the output's density where
    they are denser (S > W / 4) so the resampling does not alias."""
    size = faces["posx"].shape[0]
    if size > width // 4:
        size = width // 4
        faces = {k: cv2.resize(v, (size, size), interpolation=cv2.INTER_AREA)
                 for k, v in faces.items()}
    rays = equirect_directions(width)
    x, y, z = rays[..., 0], rays[..., 1], rays[..., 2]
    ax, ay, az = np.abs(x), np.abs(y), np.abs(z)
    x_major, y_major = (ax >= ay) & (ax >= az), (ay > ax) & (ay >= az)
    z_major = ~x_major & ~y_major
    specs = {"posx": (x_major & (x > 0), -z, -y, ax), "negx": (x_major & (x <= 0), z, -y, ax),
             "posy": (y_major & (y > 0), x, z, ay), "negy": (y_major & (y <= 0), x, -z, ay),
             "posz": (z_major & (z > 0), x, -y, az), "negz": (z_major & (z <= 0), -x, -y, az)}
    out = np.zeros((*rays.shape[:2], 3), np.uint8)
    for face, (mask, s, t, major) in specs.items():
        u = ((s / major + 1) / 2 * size - 0.5).astype(np.float32)
        v = ((t / major + 1) / 2 * size - 0.5).astype(np.float32)
        sampled = cv2.remap(faces[face], u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out[mask] = sampled[mask]
    return out


# -- suns ---------------------------------------------------------------------------------------
def blob_direction(mask: np.ndarray, weight: np.ndarray, seed: tuple[int, int] | None
                   ) -> tuple[float, float] | None:
    """(heading, elevation) in degrees of the weighted centroid of one blob of the (H, W) bool
    `mask` (rows above the horizon only): the blob holding pixel `seed` (row, column), else the
    largest; None without one. The panorama is rolled so the blob does not wrap across 0/360."""
    height, width = mask.shape
    mask = mask.copy()
    mask[height // 2:] = False
    if not mask.any():
        return None
    for shift in (0, width // 2):
        rolled = np.roll(mask, shift, axis=1).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(rolled, connectivity=8)
        if seed is not None:
            label = labels[seed[0], (seed[1] + shift) % width]
        else:
            label = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        left, right = stats[label, cv2.CC_STAT_LEFT], stats[label, cv2.CC_STAT_WIDTH]
        if left > 0 and left + right < width:
            break
    rows, cols = np.nonzero(labels == label)
    w = np.roll(weight, shift, axis=1)[rows, cols].astype(np.float64)
    x = (float(np.sum((cols + 0.5) * w) / w.sum()) - shift) % width
    y = float(np.sum((rows + 0.5) * w) / w.sum())
    return round(360.0 * x / width, 1), round(90.0 - 180.0 * y / height, 1)


def hdr_sun(linear: np.ndarray) -> tuple[float, float] | None:
    """The sun of an (H, W, 3) scene-linear panorama: centroid of the blob around the peak
    luminance above the horizon, pixels above SUN_FRACTION of the peak."""
    lum = linear @ np.array([0.2126, 0.7152, 0.0722])
    upper = lum[: lum.shape[0] // 2]
    peak = np.unravel_index(int(np.argmax(upper)), upper.shape)
    return blob_direction(lum > SUN_FRACTION * upper[peak], lum, (int(peak[0]), int(peak[1])))


def disc_sun(image: np.ndarray) -> tuple[float, float] | None:
    """The sun of an (H, W, 3) uint8 panorama: centroid of the largest clipped blob above the
    horizon (every channel >= SATURATED)."""
    mask = image.min(axis=2) >= SATURATED
    return blob_direction(mask, np.ones(mask.shape), None)


# -- build --------------------------------------------------------------------------------------
def load(mirrors: Mirrors, kind: str, source, path: str) -> tuple[np.ndarray, np.ndarray | None,
                                                                   int]:
    """(8-bit BGR panorama, linear RGB float or None, source face size or width)."""
    if kind in ("cube_png", "cube_jpg"):
        ext = "png" if kind == "cube_png" else "jpg"
        faces = {f: mirrors.image(source, f"{path}/{f}.{ext}") for f in FACES}
        if kind == "cube_jpg":
            readme = mirrors.blob(source, f"{path}/readme.txt").decode("utf-8", "replace")
            if "Creative Commons Attribution 3.0" not in readme:
                raise RuntimeError(f"{path}: readme.txt does not grant CC BY 3.0")
        size = faces["posx"].shape[0]
        return cube_to_equirect(faces, 1024 if size <= 512 else 2048), None, size
    if kind == "preview":
        image = mirrors.image(source, path)
        return cv2.resize(image, (1024, 512), interpolation=cv2.INTER_AREA), None, image.shape[1]
    if kind == "jpg":
        image = mirrors.image(source, path)
        if image.shape[1] != 2 * image.shape[0]:
            raise RuntimeError(f"{path}: not a 2:1 panorama ({image.shape[1]}x{image.shape[0]})")
        return image, None, image.shape[1]
    if kind == "hdr":
        data = np.frombuffer(mirrors.blob(source, path), np.uint8)
        bgr = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    else:
        world = real.blender_studio_lights()
        hdri = BLENDER_ORIGINALS[path]
        if f"polyhaven.com/a/{hdri}" not in (world / "license.txt").read_text():
            raise RuntimeError(f"{world / 'license.txt'} does not name {hdri} for {path}")
        bgr = cv2.imread(str(world / path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    if bgr is None or bgr.shape[1] != 2 * bgr.shape[0]:
        raise RuntimeError(f"{path}: not a readable 2:1 HDR panorama")
    linear = cv2.cvtColor(bgr.astype(np.float32), cv2.COLOR_BGR2RGB)
    return cv2.cvtColor(tone_map(linear), cv2.COLOR_RGB2BGR), linear, bgr.shape[1]


def sidecar(sun: tuple[float, float] | None, lights: dict[str, float]) -> dict:
    """The panorama sidecar of docs/sidecars.md: the sun's weight kept only with a sun."""
    if sun is None:
        lights = {k: v for k, v in lights.items() if k != "sun"} or OVERCAST
        return {"panorama": {}, "lights": lights}
    lights = lights if lights.get("sun", 0) > 0 else {**lights, "sun": 1}
    return {"panorama": {"sun": {"azimuth_deg": sun[0], "elevation_deg": sun[1]}},
            "lights": lights}


def hand_made(path: Path) -> dict:
    """What a rebuild keeps of an existing sidecar: what was drawn by hand, not measured here
    (the masks of `assets/annotate_panorama.py`, `panorama.ground`)."""
    if not path.is_file():
        return {}
    old = json.loads(path.read_text())
    kept = {key: old[key] for key in ("object_mask", "shadow_mask") if key in old}
    if "ground" in old.get("panorama", {}):
        kept["panorama"] = {"ground": old["panorama"]["ground"]}
    return kept


def source_text(name: str, kind: str, source, path: str) -> tuple[str, str, str]:
    """(source, author, licence) of one panorama for provenance.json."""
    if kind == "exr":
        hdri = BLENDER_ORIGINALS[path]
        return (f"PyPI wheel bpy {real.BPY_VERSION}: bpy/5.0/datafiles/studiolights/world/{path}"
                f" (Blender's studio light, a 1k copy of the Poly Haven HDRI "
                f"https://polyhaven.com/a/{hdri}; CC0 per license.txt there)", POLYHAVEN, CC0)
    where = f"{source[0]}@{source[1][:10]}:{path}"
    if name.startswith("pano_humus_"):
        return (f"{where}/ (cube map with its readme.txt; original at humus.name, Textures)",
                HUMUS, CCBY3)
    hdri = name.removeprefix("pano_ph_")
    what = {"cube_png": "512 px cube map made from the Poly Haven HDRI",
            "hdr": "1k equirectangular HDRI from Poly Haven",
            "preview": "Poly Haven's 8-bit preview of the HDRI (generate.js fetches "
                       "cdn.polyhaven.com/asset_img/primary/<name>.png)",
            "jpg": "Poly Haven's 2k tone-mapped JPEG of the HDRI"}[kind]
    suffix = "/" if kind == "cube_png" else ""
    return f"{where}{suffix} ({what} https://polyhaven.com/a/{hdri})", POLYHAVEN, CC0


def changes_text(kind: str, size: int, width: int, sun_mode) -> str:
    made = {"cube_png": f"{size} px cube faces resampled to a {width}x{width // 2} "
                        f"equirectangular panorama",
            "cube_jpg": f"{size} px cube faces resampled to a {width}x{width // 2} "
                        f"equirectangular panorama",
            "hdr": "tone-mapped to 8-bit sRGB (render.scene_images.tone_map), 1024x512",
            "exr": "tone-mapped to 8-bit sRGB (render.scene_images.tone_map), 1024x512",
            "preview": f"resized {size}x{size // 2} -> 1024x512",
            "jpg": f"kept at {size}x{size // 2} (8-bit as published)"}[kind]
    sun = {"hdr": "sun = centroid of the HDR's brightest blob",
           "disc": "sun = centroid of the clipped sun disc", None: "no sun"}.get(
        sun_mode if isinstance(sun_mode, str) or sun_mode is None else "",
        "sun read off the panorama by hand")
    return f"{made}; JPEG quality {JPEG_QUALITY}; sidecar: {sun}"


def make_panoramas(mirrors: Mirrors, only: set[str] | None = None) -> list[dict]:
    """Write every panorama of PANORAMAS (or those named in `only`) and its sidecar into
    assets/real/scenes/, remove the views they replace; the provenance rows of all."""
    scenes = ROOT / "scenes"
    rows = []
    for name, (kind, source, path, sun_mode, lights, replaces) in PANORAMAS.items():
        if only is not None and name not in only:
            continue
        image, linear, size = load(mirrors, kind, source, path)
        if sun_mode == "hdr":
            sun = hdr_sun(linear)
        elif sun_mode == "disc":
            sun = disc_sun(image)
        else:
            sun = sun_mode
        if sun_mode is not None and sun is None:
            raise RuntimeError(f"{name}: no sun found ({sun_mode})")
        lights = VIEW_LIGHTS[name] if lights is None else lights
        cv2.imwrite(str(scenes / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        data = sidecar(sun, lights)
        kept = hand_made(scenes / f"{name}.json")
        data["panorama"].update(kept.pop("panorama", {}))
        (scenes / f"{name}.json").write_text(json.dumps({**data, **kept}) + "\n")
        for view in replaces:
            for ext in (".jpg", ".json"):
                (scenes / f"{view}{ext}").unlink(missing_ok=True)
        where, author, licence = source_text(name, kind, source, path)
        rows.append({"file": f"scenes/{name}.jpg", "source": where, "author": author,
                     "licence": licence,
                     "changes": changes_text(kind, size, image.shape[1], sun_mode)})
        print(f"{name}: {image.shape[1]}x{image.shape[0]} sun={sun}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mirrors", type=Path, required=True)
    parser.add_argument("--only", nargs="+", default=None, help="panorama names to rebuild")
    args = parser.parse_args()
    rows = make_panoramas(Mirrors(args.mirrors), set(args.only) if args.only else None)
    record = ROOT / "provenance.json"
    old = json.loads(record.read_text())
    done = {row["file"] for row in rows}
    gone = {f"scenes/{view}.jpg" for *_, replaces in PANORAMAS.values() for view in replaces}
    photos = [row for row in old["photos"] if row["file"] not in done | gone] + rows
    photos.sort(key=lambda row: (not row["file"].startswith("scenes/pano_"), row["file"]))
    record.write_text(json.dumps({"photos": photos, "meshes": old["meshes"]}, indent=1) + "\n")
    real.write_readme(photos, old["meshes"])


if __name__ == "__main__":
    main()
