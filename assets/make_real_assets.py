"""Rebuild assets/real/ (held-out real photos and meshes) from their public sources.

    python assets/make_real_assets.py --mirrors DIR [--deb lomiri-wallpapers-16.04_*.deb]
    python assets/make_real_assets.py --mirrors DIR --only meshes --mesh NAME [--mesh NAME ...]

DIR holds git mirrors (bare or not) of the source repositories, one per repository, named
"owner+name" with the git directory at DIR/owner+name/repo (or .../repo/.git). Every file is read
with `git show COMMIT:PATH` at the pinned commit below, so the output does not depend on what the
mirrors' branches point at today. The Debian package is fetched with
`apt-get download lomiri-wallpapers-16.04`. scikit-image (for one photo), bpy 5.0.1 (two photos are
views of Blender's bundled studio-light HDRIs) and fast-simplification
(trimesh's quadric decimation) must be importable. Provenance and licences: assets/real/README.md,
which this script also writes.

Photos: most are whole equirectangular panoramas, written by assets/make_panoramas.py (which this
script runs). The panoramas not embedded whole (night, or a sun that cannot be placed) are
re-projected to 640x480 pinhole views looking slightly down (yaw/pitch/horizontal field of view
listed per file), so the lower part of each image is ground; 1k equirectangular HDRIs likewise
to 320x240 views, tone-mapped to sRGB.
Ordinary photos are resized to 640 px on the long side. All are JPEG quality 85.
Meshes: geometry only (materials and textures dropped), vertices merged, rotated to y-up where the
source was z-up, decimated with quadric decimation to at most the listed face count, centred on the
floor (lowest point y = 0) and written as binary glTF (.glb, y-up as the glTF spec says). FBX
sources (the Quaternius people, cars and animals) go through fbx_to_glb.py in a Blender process of
their own instead: posed as their first frame, parts joined, base colours kept, same placement.
`--mesh NAME` rebuilds only the named meshes and keeps the other rows of provenance.json (the
README is then rewritten from the script's header and the rows, as always).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import io
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")  # Blender's studio lights are EXR files
import cv2  # noqa: E402
import numpy as np
import trimesh

ROOT = Path(__file__).resolve().parent / "real"
JPEG_QUALITY = 85

# -- pinned sources -------------------------------------------------------------------------
SHADERCITY = ("mfecane/shadercity", "76f13411d681da5fc7a1449b7431e77d097bf959")
SHADERCITY_OLD = ("mfecane/shadercity", "88a1817d5534d9728661dfa2237c2641782fff48")
MOCAP = ("a-day-old-bagel/mocap", "2a01afe84f8d7ccca26282002369c81e86bd70fc")
EDAN35 = ("ArneStenkrona/EDAN35_Project", "c5bc73bf6fe4fcea7e165965a80855a25b5863ad")
SUPERGLUE = ("magicleap/SuperGluePretrainedNetwork", "ddcf11f42e7e0732a0c4607648f9448ea8d73590")
ODEDSTEIN = ("odedstein/meshes", "835213277571d625722d25880c9c3010c6f45a5a")
BASEMESH = ("Papyszoo/base-meshes", "75eb713a2d95ab05dc64fa3fccce5825a870aa8a")
DRAKE = ("RobotLocomotion/models", "4723170e1c8ee8bc59c342bb5c491ab8f263f1fb")
EDWARD = ("Edward-H26/PersonalWebsite", "553c267170decd7d129773019ed0b63ac5711d6b")
DREI = ("pmndrs/drei-assets", "456060a26bbeb8fdf79326f224b6d99b8bcce736")
DEMO_DATA = ("gkjohnson/3d-demo-data", "a79b5400ba8ed5bdeffebc10ce5adeecda7c3ebc")
QUATERNIUS = ("beep2bleep/FreeAssetsByKenneyNLandQuaternius",
              "dea756baf3b3a4889d8c245e456a4791f961578a")  # a copy of Quaternius's free packs
WAYMO_VIZ = ("VikramTiwari/waymo-open-data-visualization",
             "1a06e3d8c867ac1321935912e9f285f6cc9ed77d")
BPY_VERSION = "5.0.1"  # the PyPI wheel whose datafiles/studiolights/world/ holds Blender's HDRIs

CC0, CCBY3, CCBY4 = "CC0 1.0", "CC BY 3.0", "CC BY 4.0"
YCB_URL = "http://ycb-benchmarks.s3-website-us-east-1.amazonaws.com/"
YCB = "YCB Object and Model Set (Calli, Singh, Walsman, Srinivasa, Abbeel, Dollar)"
YCB_LICENCE = "; CC BY 4.0 text in ycb/meshes/LICENSE.txt)"
HUMUS = "Emil Persson (Humus), humus.name"
POLYHAVEN = "Poly Haven (polyhaven.com); photographer named on the asset page"
QUATERNIUS_PACKS = "FreeModels by Quaternius[Patreon]/"
QUATERNIUS_ORIGINAL = ("https://quaternius.com ({pack}; CC0 1.0 in "
                       "FreeModels by Quaternius[Patreon]/License.txt)")

# name -> (source, folder, face extension, yaw, pitch, hfov, licence, author, original URL, note)
# Single views of the panoramas that are not embedded whole (assets/make_panoramas.py embeds
# the others as equirectangular panoramas): night and dusk places (a night panorama's light is
# not what the renderer models; the views' hints were checked by eye) and sunny places whose
# 8-bit sun could not be told from a sunlit wall or cloud (a view's hints need no sun
# direction). shadercity 512 px cube maps: name -> (folder, yaw, pitch)
POLYHAVEN_VIEWS = {
    # outdoor, by day: sunny
    "ph_palermo_square": ("palermo_square", 180, -15),
    "ph_pillars": ("pillars", 0, -15),
    "ph_quattro_canti": ("quattro_canti", 0, -15),
    "ph_roofless_ruins": ("roofless_ruins", 0, -15),
    "ph_urban_alley_01": ("urban_alley_01", 180, -15),
    # outdoor, at dusk or night under street lights
    "ph_blaubeuren_church_square": ("blaubeuren_church_square", 60, -15),
    "ph_preller_drive": ("preller_drive", 180, -15),
    "ph_viale_giuseppe_garibaldi": ("viale_giuseppe_garibaldi", 0, -15),
    "ph_kloppenheim_04": ("kloppenheim_04", 180, -15),
    "ph_neuer_zollhof": ("neuer_zollhof", 240, -15),
    "ph_blaubeuren_night": ("blaubeuren_night", 0, -15),
    "ph_blue_lagoon_night": ("blue_lagoon_night", 60, -15),
    "ph_hansaplatz": ("hansaplatz", 120, -15),
    "ph_rathaus": ("rathaus", 180, -15),
    "ph_shanghai_bund": ("shanghai_bund", 180, -15),
    "ph_solitude_night": ("solitude_night", 180, -15),
    "ph_vignaioli_night": ("vignaioli_night", 120, -15),
    "ph_zwinger_night": ("zwinger_night", 120, -15),
}

HUMUS_VIEWS = {  # name -> (source, folder, yaw, pitch); sunny, its sun not one blob
    "humus_larnaca_castle": (SHADERCITY, "assets/cubemaps/LarnacaCastle", 60, -15),
}

# name -> (Poly Haven HDRI name, yaw, pitch): 1k equirectangular .hdr files in DREI/hdri/, viewed
# at 320x240 (hfov 75 is ~213 source pixels wide, so these are about as soft as the cube-map
# views at 640x480)
DREI_VIEWS = {
    "ph_dikhololo_night": ("dikhololo_night", 120, -15),
    # lit by sun patches; no sun in the HDRI to place
    "ph_forest_slope": ("forest_slope", 240, -15),
    "ph_lebombo": ("lebombo", 240, -15),
}

# more 1k Poly Haven HDRIs copied into other repositories, viewed like DREI_VIEWS. name ->
# (source, path, Poly Haven HDRI name, yaw, pitch). gkjohnson/3d-demo-data says "HDRIs from
# Polyhaven" in hdri/README.md; the waymo viewer's files keep their Poly Haven names (and the
# sizes of 1k Poly Haven .hdr files).
HDRI_VIEWS = {
    # outdoor, by day: lit by sun patches, no sun in the HDRI to place
    "ph_phalzer_forest_01": (DEMO_DATA, "hdri/phalzer_forest_01_1k.hdr", "phalzer_forest_01", 0,
                             -15),
    # outdoor, at night
    "ph_narrow_moonlit_road": (DEMO_DATA, "hdri/narrow_moonlit_road_1k.hdr",
                               "narrow_moonlit_road", 0, -15),
    "ph_rogland_clear_night": (WAYMO_VIZ, "motion/frontend/public/rogland_clear_night_1k.hdr",
                               "rogland_clear_night", 0, -15),
    "ph_rooftop_night": (WAYMO_VIZ, "motion/frontend/public/rooftop_night_1k.hdr",
                         "rooftop_night", 0, -15),
    "ph_st_peters_square_night": (DEMO_DATA, "hdri/st_peters_square_night_1k.hdr",
                                  "st_peters_square_night", 90, -15),
}

# name -> (file in bpy's datafiles/studiolights/world/, Poly Haven HDRI name, yaw, pitch): 1k EXRs
# that ship with Blender; their license.txt says CC0 and names the Poly Haven originals
BLENDER_VIEWS = {  # sunny, but the EXR is clamped: its sun cannot be measured
    "ph_courtyard": ("courtyard.exr", "courtyard", 0, -15),
}

TUM_FRAMES = {  # name -> path in SUPERGLUE (TUM RGB-D fr3/long_office_household frames)
    "tum_fr3_office_1": "assets/freiburg_sequence/1341847980.722988.png",
    "tum_fr3_office_2": "assets/freiburg_sequence/1341847996.874766.png",
}

LOMIRI = {  # name -> (file in the .deb, author, licence)
    "lomiri_aitzgorri": ("usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg",
                         "Aitzol Berasategi", CCBY4),
    "lomiri_picos_de_europa": ("usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg",
                               "Aitzol Berasategi", CCBY4),
    "lomiri_sunset": ("usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg",
                      "Aitzol Berasategi", CCBY4),
    "lomiri_wine": ("usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg", "Jakub Mede", CCBY4),
}

# category, name, source, path in repo, licence, author, original, up axis of the source, max faces,
# optional glTF node-name prefixes to keep
POSED_PEOPLE = (QUATERNIUS_PACKS
                + "Characters and Animals/Posed Background Characters - Aug 2018/")
MALE_POSES = POSED_PEOPLE + "Male/Male Poses/FBX/"
FEMALE_POSES = POSED_PEOPLE + "Female/Female Poses/FBX/"
FARM_ANIMALS = QUATERNIUS_PACKS + "Characters and Animals/Farm Animals Animated  - Jun 2018/FBX/"
PUBLIC_TRANSPORT = QUATERNIUS_PACKS + "Vehicles/Public Transport Pack - Feb 2017/FBX/"
CARS = QUATERNIUS_PACKS + "Vehicles/Realistic Car Pack - Nov 2018/FBX/"
POSED_PEOPLE_ORIGINAL = QUATERNIUS_ORIGINAL.format(pack="Posed Background Characters - Aug 2018")
FARM_ANIMALS_ORIGINAL = QUATERNIUS_ORIGINAL.format(pack="Farm Animals Animated - Jun 2018")
PUBLIC_TRANSPORT_ORIGINAL = QUATERNIUS_ORIGINAL.format(pack="Public Transport Pack - Feb 2017")
CARS_ORIGINAL = QUATERNIUS_ORIGINAL.format(pack="Realistic Car Pack - Nov 2018")
MESHES = [
    # chairs
    ("chair", "dining_chair_01", BASEMESH, "models/dining_chair_01/dining_chair_01.glb", CC0,
     "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    ("chair", "wooden_chair_01", BASEMESH, "models/wooden_chair_01/wooden_chair_01.glb", CC0,
     "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    ("chair", "office_chair", BASEMESH, "models/office_chair/office_chair.glb", CC0,
     "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    ("chair", "painted_wooden_stool", DRAKE, "tutorials/models/assets/painted_wooden_stool_1k.gltf",
     CC0, "Poly Haven", "https://polyhaven.com/a/painted_wooden_stool", "y", 8000, None),
    ("chair", "sofa_03", DRAKE, "tutorials/models/assets/sofa_03_1k.gltf", CC0, "Poly Haven",
     "https://polyhaven.com/a/sofa_03", "y", 8000, None),
    # tables
    ("table", "square_table", BASEMESH, "models/square_table/square_table.glb", CC0,
     "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    ("table", "coffee_table", BASEMESH, "models/coffee_table/coffee_table.glb", CC0,
     "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    ("table", "writing_desk", BASEMESH, "models/writing_desk/writing_desk.glb", CC0,
     "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    ("table", "wooden_table_02", DRAKE, "tutorials/models/assets/wooden_table_02_1k.gltf", CC0,
     "Poly Haven", "https://polyhaven.com/a/wooden_table_02", "y", 8000, None),
    # lamps
    ("lamp", "desk_lamp", BASEMESH, "models/desk_lamp/desk_lamp.glb", CC0, "The Base Mesh",
     "https://thebasemesh.com", "y", 8000, None),
    ("lamp", "lamp_post_01", BASEMESH, "models/lamp_post_01/lamp_post_01.glb", CC0,
     "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    ("lamp", "japanese_stone_lantern_01", BASEMESH,
     "models/japanese_stone_lantern_01/japanese_stone_lantern_01.glb", CC0, "The Base Mesh",
     "https://thebasemesh.com", "y", 8000, None),
    # bottles and vases
    ("bottle", "wine_bottle", BASEMESH, "models/wine_bottle/wine_bottle.glb", CC0,
     "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    ("bottle", "ycb_mustard_bottle", DRAKE, "ycb/meshes/006_mustard_bottle_textured.gltf", CCBY4,
     YCB, YCB_URL + " (006_mustard_bottle" + YCB_LICENCE, "y",
     8000, None),
    ("vase", "greek_vase_01", BASEMESH, "models/greek_vase_01/greek_vase_01.glb", CC0,
     "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    ("vase", "flower_vase_01", BASEMESH, "models/flower_vase_01/flower_vase_01.glb", CC0,
     "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    ("vase", "ceramic_urn", BASEMESH, "models/ceramic_urn/ceramic_urn.glb", CC0, "The Base Mesh",
     "https://thebasemesh.com", "y", 8000, None),
    # mugs, cups, kitchenware
    ("mug", "mug", BASEMESH, "models/mug/mug.glb", CC0, "The Base Mesh",
     "https://thebasemesh.com", "y", 8000, None),
    ("mug", "coffee_cup", BASEMESH, "models/coffee_cup/coffee_cup.glb", CC0, "The Base Mesh",
     "https://thebasemesh.com", "y", 8000, None),
    ("mug", "tea_cup", DRAKE, "tutorials/models/assets/tea_set_01_1k.gltf", CC0, "Poly Haven",
     "https://polyhaven.com/a/tea_set_01 (cup_small_01 only)", "y", 8000,
     ("tea_set_01_cup_small_01",)),
    ("kitchenware", "teapot", DRAKE, "tutorials/models/assets/tea_set_01_1k.gltf", CC0,
     "Poly Haven", "https://polyhaven.com/a/tea_set_01 (teapot_01 and its lid only)", "y", 8000,
     ("tea_set_01_teapot_01",)),
    ("kitchenware", "ycb_tomato_soup_can", DRAKE,
     "ycb/meshes/005_tomato_soup_can_textured.gltf", CCBY4, YCB,
     YCB_URL + " (005_tomato_soup_can" + YCB_LICENCE, "y", 8000,
     None),
    ("kitchenware", "evo_bowl", DRAKE, "dishes/assets/evo_bowl.gltf",
     "BSD-3-Clause (dishes/LICENSE)", "Toyota Research Institute",
     "https://github.com/RobotLocomotion/models/tree/master/dishes", "y", 8000, None),
    # animals (scans / sculpted models)
    ("animal", "spot_cow", ODEDSTEIN, "objects/spot/spot_low_resolution.obj",
     "public domain (CC0-like dedication)", "Keenan Crane",
     "https://www.cs.cmu.edu/~kmcrane/Projects/ModelRepository/", "y", 8000, None),
    ("animal", "blub_fish", ODEDSTEIN, "objects/fish/fish_low_resolution.obj",
     "public domain (CC0-like dedication)", "Keenan Crane",
     "https://www.cs.cmu.edu/~kmcrane/Projects/ModelRepository/", "y", 8000, None),
    ("animal", "cat", ODEDSTEIN, "objects/cat/cat-low-resolution.obj", CCBY4,
     "billyd (Thingiverse), remeshed by Oded Stein", "https://www.thingiverse.com/thing:1565405",
     "y", 8000, None),
    ("animal", "koala", ODEDSTEIN, "objects/koala/koala_low_resolution.obj", CCBY3,
     "YahooJAPAN (Thingiverse), remeshed by Oded Stein",
     "https://www.thingiverse.com/thing:182225", "y", 8000, None),
    ("animal", "penguin", ODEDSTEIN, "objects/penguin/penguin.obj", CCBY4, "Oded Stein",
     "https://github.com/odedstein/meshes/tree/master/objects/penguin", "y", 8000, None),
    ("animal", "scorpion", ODEDSTEIN, "objects/scorpion/scorpion_low_resolution.obj", CCBY3,
     "YahooJAPAN (Thingiverse), remeshed by Oded Stein",
     "https://www.thingiverse.com/thing:182363", "y", 8000, None),
    # vehicles and toys
    ("vehicle", "airplane", ODEDSTEIN, "objects/plane/plane.obj", CCBY3,
     "YahooJAPAN (Thingiverse), remeshed by Oded Stein",
     "https://www.thingiverse.com/thing:182252", "z", 8000, None),
    ("vehicle", "boat", ODEDSTEIN, "objects/boat/boat.obj", CCBY4,
     "Oded Stein, Eitan Grinspun, Keenan Crane",
     "https://github.com/odedstein/meshes/tree/master/objects/boat", "y", 8000, None),
    ("toy", "rocket_toy_01", BASEMESH, "models/rocket_toy_01/rocket_toy_01.glb", CC0,
     "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    ("toy", "traffic_cone_01", BASEMESH, "models/traffic_cone_01/traffic_cone_01.glb", CC0,
     "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    # plants and food
    ("plant", "fern_02", EDWARD, "public/models/hq/fern_02.glb", CC0, "Poly Haven",
     "https://polyhaven.com/a/fern_02 (plant fern_02_b only)", "y", 8000, ("fern_02_b",)),
    ("vase", "flower_pot", BASEMESH, "models/flower_pot/flower_pot.glb", CC0, "The Base Mesh",
     "https://thebasemesh.com", "y", 8000, None),
    ("food", "yellow_bell_pepper", DRAKE, "veggies/assets/yellow_bell_pepper_no_stem_low.gltf",
     "BSD-3-Clause (veggies/LICENSE)", "Toyota Research Institute",
     "https://github.com/RobotLocomotion/models/tree/master/veggies", "y", 8000, None),
    # shoes
    ("shoe", "work_boot", ODEDSTEIN, "objects/boot/boot.obj", CCBY4,
     "inciprocal (Sketchfab), modified by Oded Stein",
     "https://sketchfab.com/3d-models/harrison-work-boot-d9506d9a318e4c56ac3d8ab273bd2540", "y",
     8000, None),
    ("shoe", "wellington_boot", BASEMESH, "models/wellington_boot/wellington_boot.glb", CC0,
     "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    ("shoe", "chunky_loafer", BASEMESH, "models/chunky_loafer/chunky_loafer.glb", CC0,
     "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    # boxes
    ("box", "ycb_cracker_box", DRAKE, "ycb/meshes/003_cracker_box_textured.gltf", CCBY4,
     YCB, YCB_URL + " (003_cracker_box" + YCB_LICENCE, "y",
     4000, None),
    ("box", "cardboard_box_01", BASEMESH, "models/cardboard_box_01/cardboard_box_01.glb", CC0,
     "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    ("box", "wooden_crate_01", BASEMESH, "models/wooden_crate_01/wooden_crate_01.glb", CC0,
     "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    # statues and figurines
    ("statue", "nefertiti_bust", ODEDSTEIN, "objects/nefertiti/nefertiti-lowres.obj",
     "public domain (released by the scanners)", "Nora Al-Badri and Jan Nikolai Nelles (scan)",
     "https://github.com/odedstein/meshes/tree/master/objects/nefertiti", "y", 8000, None),
    ("statue", "demosthenes_bust", ODEDSTEIN, "objects/demosthenes/demosthenes-low-res.obj",
     CCBY4, "ryanfb (Sketchfab)",
     "https://sketchfab.com/3d-models/louvre-demosthenes-photoscan-cf5d9dd9bf4a457c95dc76e17848727b",
     "y", 8000, None),
    ("statue", "goat_head", ODEDSTEIN, "objects/goathead/goathead.obj", CCBY3,
     "hugoelec (Thingiverse), remeshed by Oded Stein", "https://www.thingiverse.com/thing:42256",
     "y", 8000, None),
    ("statue", "trophy", BASEMESH, "models/trophy/trophy.glb", CC0, "The Base Mesh",
     "https://thebasemesh.com", "y", 8000, None),
    # tools and appliances
    ("tool", "hammer_scan", ODEDSTEIN, "objects/hammer/hammer.obj", CCBY4,
     "Andrea Spognetta (Spogna, Sketchfab), modified by Oded Stein",
     "https://sketchfab.com/3d-models/hammer-rawscan-01e5b5acad9843818529d15663df5b9e", "y", 8000,
     None),
    ("tool", "wooden_mallet", BASEMESH, "models/wooden_mallet/wooden_mallet.glb", CC0,
     "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    ("appliance", "retro_tv", BASEMESH, "models/retro_tv/retro_tv.glb", CC0, "The Base Mesh",
     "https://thebasemesh.com", "y", 8000, None),
    ("appliance", "toaster", BASEMESH, "models/toaster/toaster.glb", CC0, "The Base Mesh",
     "https://thebasemesh.com", "y", 8000, None),
    # people (posed, one mesh each; Quaternius: low-poly, base colours)
    ("person", "male_standing", QUATERNIUS, MALE_POSES + "Male_Standing.fbx",
     CC0, "Quaternius", POSED_PEOPLE_ORIGINAL, "y", 8000, None),
    ("person", "male_standing_waving", QUATERNIUS, MALE_POSES + "Male_Standing_Waving.fbx",
     CC0, "Quaternius", POSED_PEOPLE_ORIGINAL, "y", 8000, None),
    ("person", "male_standing_hips", QUATERNIUS, MALE_POSES + "Male_Standing_Hips.fbx",
     CC0, "Quaternius", POSED_PEOPLE_ORIGINAL, "y", 8000, None),
    ("person", "male_walking", QUATERNIUS, MALE_POSES + "Male_Walking.fbx",
     CC0, "Quaternius", POSED_PEOPLE_ORIGINAL, "y", 8000, None),
    ("person", "male_running", QUATERNIUS, MALE_POSES + "Male_Running.fbx",
     CC0, "Quaternius", POSED_PEOPLE_ORIGINAL, "y", 8000, None),
    ("person", "male_sitting", QUATERNIUS, MALE_POSES + "Male_Sitting.fbx",
     CC0, "Quaternius", POSED_PEOPLE_ORIGINAL, "y", 8000, None),
    ("person", "male_lookingup", QUATERNIUS, MALE_POSES + "Male_LookingUp.fbx",
     CC0, "Quaternius", POSED_PEOPLE_ORIGINAL, "y", 8000, None),
    ("person", "male_pickingup", QUATERNIUS, MALE_POSES + "Male_PickingUp.fbx",
     CC0, "Quaternius", POSED_PEOPLE_ORIGINAL, "y", 8000, None),
    ("person", "female_standing", QUATERNIUS, FEMALE_POSES + "Female_Standing.fbx",
     CC0, "Quaternius", POSED_PEOPLE_ORIGINAL, "y", 8000, None),
    ("person", "female_standing_waving", QUATERNIUS, FEMALE_POSES + "Woman_Standing_Waving.fbx",
     CC0, "Quaternius", POSED_PEOPLE_ORIGINAL, "y", 8000, None),
    ("person", "female_standing_hips", QUATERNIUS, FEMALE_POSES + "Female_Standing_Hips.fbx",
     CC0, "Quaternius", POSED_PEOPLE_ORIGINAL, "y", 8000, None),
    ("person", "female_walking", QUATERNIUS, FEMALE_POSES + "Female_Walking.fbx",
     CC0, "Quaternius", POSED_PEOPLE_ORIGINAL, "y", 8000, None),
    ("person", "female_running", QUATERNIUS, FEMALE_POSES + "Female_Running.fbx",
     CC0, "Quaternius", POSED_PEOPLE_ORIGINAL, "y", 8000, None),
    ("person", "female_sitting", QUATERNIUS, FEMALE_POSES + "Female_Sitting.fbx",
     CC0, "Quaternius", POSED_PEOPLE_ORIGINAL, "y", 8000, None),
    ("person", "female_lookingup", QUATERNIUS, FEMALE_POSES + "Female_LookingUp.fbx",
     CC0, "Quaternius", POSED_PEOPLE_ORIGINAL, "y", 8000, None),
    ("person", "female_pickingup", QUATERNIUS, FEMALE_POSES + "Female_PickingUp.fbx",
     CC0, "Quaternius", POSED_PEOPLE_ORIGINAL, "y", 8000, None),
    # vehicles, street furniture and animals for street scenes
    ("vehicle", "normal_car", QUATERNIUS, CARS + "NormalCar1.fbx", CC0, "Quaternius",
     CARS_ORIGINAL, "y", 8000, None),
    ("vehicle", "suv", QUATERNIUS, CARS + "SUV.fbx", CC0, "Quaternius",
     CARS_ORIGINAL, "y", 8000, None),
    ("vehicle", "taxi", QUATERNIUS, CARS + "Taxi.fbx", CC0, "Quaternius",
     CARS_ORIGINAL, "y", 8000, None),
    ("vehicle", "bicycle", QUATERNIUS, PUBLIC_TRANSPORT + "Bicycle.fbx", CC0, "Quaternius",
     PUBLIC_TRANSPORT_ORIGINAL, "y", 8000, None),
    ("street", "traffic_light", QUATERNIUS, PUBLIC_TRANSPORT + "TrafficLight.fbx", CC0,
     "Quaternius", PUBLIC_TRANSPORT_ORIGINAL, "y", 8000, None),
    ("animal", "pug", QUATERNIUS, FARM_ANIMALS + "Pug.fbx", CC0, "Quaternius",
     FARM_ANIMALS_ORIGINAL, "y", 8000, None),
    ("animal", "horse", QUATERNIUS, FARM_ANIMALS + "Horse.fbx", CC0, "Quaternius",
     FARM_ANIMALS_ORIGINAL, "y", 8000, None),
    ("street", "park_bench", BASEMESH, "models/park_bench/park_bench.glb",
     CC0, "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    ("street", "outdoor_bin", BASEMESH, "models/outdoor_bin/outdoor_bin.glb",
     CC0, "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    ("street", "outdoor_sign", BASEMESH, "models/outdoor_sign/outdoor_sign.glb",
     CC0, "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
    ("street", "finger_post_sign_01", BASEMESH,
     "models/finger_post_sign_01/finger_post_sign_01.glb", CC0, "The Base Mesh",
     "https://thebasemesh.com", "y", 8000, None),
    ("street", "decorative_bollard_01", BASEMESH,
     "models/decorative_bollard_01/decorative_bollard_01.glb", CC0, "The Base Mesh",
     "https://thebasemesh.com", "y", 8000, None),
    ("street", "traffic_cone_02", BASEMESH, "models/traffic_cone_02/traffic_cone_02.glb",
     CC0, "The Base Mesh", "https://thebasemesh.com", "y", 8000, None),
]

README_HEADER = """# Real held-out asset set

{photos} real photos (`scenes/`, {panoramas} of them whole 360° panoramas) and {meshes} real
meshes in {categories} categories (`models/<category>/<name>.glb`) for a held-out
training/test split, kept apart from the procedural defaults in `assets/scenes` and
`assets/models`. Use them with `render-dataset --scenes assets/real/scenes --models
assets/real/models`; the renderer takes the first folder under `models/` as the category.

Every file has a permissive licence: CC0 / public domain, CC BY 3.0, CC BY 4.0, or (two meshes)
BSD-3-Clause. **CC BY and BSD files need attribution**: ship this README (or the table rows and the
notice below) with any dataset rendered from them. Licence texts: CC0 1.0
https://creativecommons.org/publicdomain/zero/1.0/, CC BY 3.0
https://creativecommons.org/licenses/by/3.0/, CC BY 4.0 https://creativecommons.org/licenses/by/4.0/.
All files were changed (resized, re-projected, re-encoded, decimated); the table says how.

BSD-3-Clause notice for `models/food/yellow_bell_pepper.glb` (Copyright 2022 Toyota Research
Institute) and `models/kitchenware/evo_bowl.glb` (Copyright 2020 Toyota Research Institute):
Redistribution and use in source and binary forms, with or without modification, are permitted
provided that the following conditions are met: 1. Redistributions of source code must retain the
above copyright notice, this list of conditions and the following disclaimer. 2. Redistributions
in binary form must reproduce the above copyright notice, this list of conditions and the
following disclaimer in the documentation and/or other materials provided with the distribution.
3. Neither the name of the copyright holder nor the names of its contributors may be used to
endorse or promote products derived from this software without specific prior written
permission. THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND ANY
EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE
COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL,
EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS
OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY
THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR
OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY
OF SUCH DAMAGE.

`python assets/make_real_assets.py --mirrors DIR --deb lomiri-wallpapers-16.04_*.deb` rebuilds
everything from git mirrors of the source repositories at the commits pinned in the script
(`source` column: `owner/repo@commit:path`). `provenance.json` holds the same table.

Notes
- {panoramas} of the photos are whole 360° panoramas (`scenes/pano_*.jpg`, equirectangular, 2:1,
  with a panorama sidecar, docs/sidecars.md): every rendered sample is a random view of one, lit
  by the panorama's own sun where it has one. `python assets/make_panoramas.py --mirrors DIR`
  rebuilds them (also run by this script). Poly Haven HDRIs (CC0) come as 1k `.hdr` copies
  (`pmndrs/drei-assets`, `gkjohnson/3d-demo-data` "HDRIs from Polyhaven",
  `VikramTiwari/waymo-open-data-visualization` and the three.js copy in
  `Sensor-Guided-Living/vr` under their Poly Haven names, `bevyengine/bevy` whose CREDITS.md
  says "from HDRIHaven (CC0 license)", Blender's bundled studio lights whose `license.txt` says
  CC0), tone-mapped once to 8-bit at 1024x512; as 512 px cube maps (`mfecane/shadercity`,
  resampled to 1024x512); or as Poly Haven's own 8-bit previews
  (`revelryengine/sample-environments`, each folder's README: "provided by polyhaven", resized
  to 1024x512). Emil Persson's (Humus) cube maps (CC BY 3.0; only those whose bundled
  `readme.txt` grants it; older Humus maps carry a non-commercial notice) are resampled to
  2048x1024 from 2048 px faces, 1024x512 from 512 px.
- The other photos are single pinhole views: night and dusk panoramas (`*_night`,
  `ph_hansaplatz`, `ph_rathaus`, `ph_shanghai_bund`, `ph_neuer_zollhof`, `ph_preller_drive`,
  `ph_viale_giuseppe_garibaldi`, `ph_kloppenheim_04`, `ph_blaubeuren_church_square`), and sunny
  panoramas whose sun could not be placed (`ph_palermo_square`, `ph_pillars`,
  `ph_quattro_canti`, `ph_roofless_ruins`, `ph_urban_alley_01`, `ph_courtyard`,
  `humus_larnaca_castle`, and the sun-dappled `ph_forest_slope`, `ph_phalzer_forest_01`,
  `ph_lebombo`), viewed 15° down at 640x480 (cube maps) or 320x240 (1k HDRIs); the
  two `tum_*` frames (one TUM RGB-D sequence), four wallpapers and scikit-image's camera.
- Light: each sidecar (`scenes/NAME.json`) says which light kinds fit its photo, judged by eye.
  A panorama's sun (`panorama.sun`) is the centroid of its HDR's brightest blob, or of the
  clipped sun disc in an 8-bit panorama, each checked by eye on `shadow-dataset sidecars
  --sheet` (docs/sidecars.md); overcast, shaded and indoor panoramas give no sun. In sunny
  single views, `shadow_direction_deg` is the direction, seen from the ground polygon's centre,
  of the ground away from the sun, checked against the photo's own shadows.
- Meshes are y-up glTF standing on y = 0, geometry only (no materials) except the Quaternius
  ones, which keep their materials' base colours (no textures). Categories: people, chairs,
  tables, lamps, bottles, vases (incl. an empty flower pot), mugs, kitchenware, animals, vehicles,
  street furniture, toys, plants, food, shoes, boxes, statues, tools, appliances. Sources: The
  Base Mesh (CC0, modelled real objects), Poly Haven models (CC0, scanned/modelled), YCB object
  scans (CC BY 4.0, copies in `RobotLocomotion/models` with the licence text), two Toyota Research
  Institute models (BSD-3-Clause, also from `RobotLocomotion/models`), scanned or sculpted models
  collected in `odedstein/meshes` (each with its own licence, only CC0/public-domain and CC BY
  ones taken), and Quaternius's low-poly packs (CC0: the `License.txt` at the top of
  `FreeModels by Quaternius[Patreon]/` in the `beep2bleep/FreeAssetsByKenneyNLandQuaternius` copy
  of them): 16 posed people (`person/`: standing, waving, hands on hips, walking, running,
  sitting, looking up, picking up; one man and one woman each, faceted and stylised, not
  scans), cars, a bicycle, a traffic light, a pug and a horse (the animals in the first frame
  of their idle animation). `fern_02` (plant leaves) and `boat` (a thin developable shell) are
  open surfaces, not solids. People, vehicles, street furniture and animals are only ever
  inserted standing as modelled, never in another stable pose (`render.poses.UPRIGHT_CATEGORIES`).
"""


# -- reading sources ------------------------------------------------------------------------
class Mirrors:
    def __init__(self, root: Path) -> None:
        self.root = root

    def gitdir(self, repo: str) -> Path:
        base = self.root / repo.replace("/", "+") / "repo"
        return base / ".git" if (base / ".git").is_dir() else base

    def blob(self, source: tuple[str, str], path: str) -> bytes:
        repo, commit = source
        return subprocess.run(["git", f"--git-dir={self.gitdir(repo)}", "show",
                               f"{commit}:{path}"], check=True, capture_output=True).stdout

    def image(self, source: tuple[str, str], path: str) -> np.ndarray:
        data = np.frombuffer(self.blob(source, path), np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if image is None:
            raise RuntimeError(f"{source[0]}:{path} is not a readable image")
        return image


# -- photos ---------------------------------------------------------------------------------
FACES = ("posx", "negx", "posy", "negy", "posz", "negz")


def render_cubemap(faces: dict[str, np.ndarray], yaw: float, pitch: float, hfov: float,
                   width: int = 640, height: int = 480) -> np.ndarray:
    """Pinhole view (x right, y up, looking along -z, then pitch about x and yaw about y) of an
    OpenGL-convention cube map. Faces are pre-shrunk with INTER_AREA to about the output's pixel
    density so bilinear sampling does not alias."""
    focal = (width / 2) / math.tan(math.radians(hfov) / 2)
    size = faces["posx"].shape[0]
    wanted = int(2 * focal)
    if size > wanted * 1.2:
        faces = {k: cv2.resize(v, (wanted, wanted), interpolation=cv2.INTER_AREA)
                 for k, v in faces.items()}
        size = wanted
    xs, ys = np.meshgrid(np.arange(width) - (width - 1) / 2, np.arange(height) - (height - 1) / 2)
    rays = np.stack([xs, -ys, -np.full_like(xs, focal)], -1)
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    p, y = math.radians(pitch), math.radians(yaw)
    rot_x = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rot_y = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rays = rays @ (rot_y @ rot_x).T
    x, yy, z = rays[..., 0], rays[..., 1], rays[..., 2]
    ax, ay, az = np.abs(x), np.abs(yy), np.abs(z)
    x_major, y_major = (ax >= ay) & (ax >= az), (ay > ax) & (ay >= az)
    z_major = ~x_major & ~y_major
    specs = {"posx": (x_major & (x > 0), -z, -yy, ax), "negx": (x_major & (x <= 0), z, -yy, ax),
             "posy": (y_major & (yy > 0), x, z, ay), "negy": (y_major & (yy <= 0), x, -z, ay),
             "posz": (z_major & (z > 0), x, -yy, az), "negz": (z_major & (z <= 0), -x, -yy, az)}
    out = np.zeros((height, width, 3), np.uint8)
    for face, (mask, sc, tc, major) in specs.items():
        if not mask.any():
            continue
        u = ((sc / major + 1) / 2 * size - 0.5).astype(np.float32)
        v = ((tc / major + 1) / 2 * size - 0.5).astype(np.float32)
        sampled = cv2.remap(faces[face], u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out[mask] = sampled[mask]
    return out


def render_equirect(pano: np.ndarray, yaw: float, pitch: float, hfov: float,
                    width: int = 320, height: int = 240) -> np.ndarray:
    """Pinhole view (the camera of `render_cubemap`) of an equirectangular panorama: column 0 to W
    runs through azimuth -180..180 deg (0 = the yaw-0 view, + = to its right), so yaw Y looks at
    azimuth -Y (as in `render_cubemap`); row 0 is the zenith."""
    focal = (width / 2) / math.tan(math.radians(hfov) / 2)
    xs, ys = np.meshgrid(np.arange(width) - (width - 1) / 2, np.arange(height) - (height - 1) / 2)
    rays = np.stack([xs, -ys, -np.full_like(xs, focal)], -1)
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    p, y = math.radians(pitch), math.radians(yaw)
    rot_x = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rot_y = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rays = rays @ (rot_y @ rot_x).T
    azimuth = np.arctan2(rays[..., 0], -rays[..., 2])  # 0 = the yaw-0 view, + = to the right
    elevation = np.arcsin(np.clip(rays[..., 1], -1, 1))
    rows, cols = pano.shape[:2]
    u = ((azimuth / (2 * math.pi) + 0.5) * cols - 0.5).astype(np.float32)
    v = ((0.5 - elevation / math.pi) * rows - 0.5).astype(np.float32)
    return cv2.remap(pano, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def tonemap(view: np.ndarray) -> np.ndarray:
    """Linear HDR (BGR float) -> 8-bit sRGB: exposure puts the view's median luminance at 0.18,
    highlights are rolled off with Reinhard's x / (1 + x / 4) curve (white at 4)."""
    luminance = view @ np.array([0.0722, 0.7152, 0.2126])
    exposed = view * (0.18 / max(float(np.median(luminance)), 1e-6))
    mapped = exposed * (1 + exposed / 16) / (1 + exposed)
    srgb = np.where(mapped <= 0.0031308, 12.92 * mapped, 1.055 * np.power(mapped, 1 / 2.4) - 0.055)
    return np.clip(np.round(srgb * 255), 0, 255).astype(np.uint8)


def blender_studio_lights() -> Path:
    """The folder of Blender's bundled world HDRIs in the installed `bpy` wheel (version pinned),
    after checking that its license.txt still says CC0 and names each Poly Haven original."""
    installed = importlib.metadata.version("bpy")
    if installed != BPY_VERSION:
        raise RuntimeError(f"bpy {installed} is installed; the studio lights are pinned to "
                           f"bpy {BPY_VERSION}")
    world = (Path(importlib.util.find_spec("bpy").origin).parent / "5.0" / "datafiles"
             / "studiolights" / "world")
    licence = (world / "license.txt").read_text()
    for _file, hdri, _yaw, _pitch in BLENDER_VIEWS.values():
        if "licensed as CC0" not in licence or f"polyhaven.com/a/{hdri}" not in licence:
            raise RuntimeError(f"{world / 'license.txt'} does not grant CC0 for {hdri}")
    return world


def fit_640(image: np.ndarray) -> np.ndarray:
    scale = 640 / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
    return image


def make_photos(mirrors: Mirrors, deb: Path | None) -> list[dict]:
    out = ROOT / "scenes"
    out.mkdir(parents=True, exist_ok=True)
    rows = []

    def save(name: str, image: np.ndarray, **row) -> None:
        cv2.imwrite(str(out / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        rows.append({"file": f"scenes/{name}.jpg", **row})

    for name, (folder, yaw, pitch) in POLYHAVEN_VIEWS.items():
        faces = {f: mirrors.image(SHADERCITY, f"assets/cubemaps/{folder}/{f}.png") for f in FACES}
        save(name, render_cubemap(faces, yaw, pitch, 75),
             source=f"{SHADERCITY[0]}@{SHADERCITY[1][:10]}:assets/cubemaps/{folder}/ (512 px "
                    f"cube map made from the Poly Haven HDRI https://polyhaven.com/a/{folder})",
             author=POLYHAVEN, licence=CC0,
             changes=f"pinhole view yaw {yaw}°, pitch {pitch}°, hfov 75°, 640x480 (upsampled "
                     f"~1.5x from the 512 px faces, slightly soft)")
    for name, (source, folder, yaw, pitch) in HUMUS_VIEWS.items():
        faces = {f: mirrors.image(source, f"{folder}/{f}.jpg") for f in FACES}
        readme = mirrors.blob(source, f"{folder}/readme.txt").decode("utf-8", "replace")
        if "Creative Commons Attribution 3.0" not in readme:
            raise RuntimeError(f"{folder}: readme.txt does not grant CC BY 3.0")
        face = next(iter(faces.values())).shape[0]  # 2048 px, or 512 px in shadercity
        soft = " (upsampled ~1.5x from the 512 px faces, slightly soft)" if face < 1024 else ""
        save(name, render_cubemap(faces, yaw, pitch, 65),
             source=f"{source[0]}@{source[1][:10]}:{folder}/ ({face} px cube map with its "
                    f"readme.txt; original at humus.name, Textures)",
             author=HUMUS, licence=CCBY3,
             changes=f"pinhole view yaw {yaw}°, pitch {pitch}°, hfov 65°, 640x480{soft}")
    def hdri_view(name: str, pano: np.ndarray, where: str, hdri: str, yaw: float,
                  pitch: float) -> None:
        """A 320x240 tone-mapped view of a 1k Poly Haven panorama found at `where`."""
        save(name, tonemap(render_equirect(pano, yaw, pitch, 75)), source=where,
             author=POLYHAVEN, licence=CC0,
             changes=f"pinhole view yaw {yaw}°, pitch {pitch}°, hfov 75°, 320x240 (about 1.5x "
                     f"upsampled from the 1k panorama), tone-mapped to sRGB")

    def blob_hdri(source: tuple[str, str], path: str) -> np.ndarray:
        return cv2.imdecode(np.frombuffer(mirrors.blob(source, path), np.uint8),
                            cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)

    hdri_sources = [(name, DREI, f"hdri/{hdri}_1k.hdr", hdri, yaw, pitch)
                    for name, (hdri, yaw, pitch) in DREI_VIEWS.items()]
    hdri_sources += [(name, *view) for name, view in HDRI_VIEWS.items()]
    for name, source, path, hdri, yaw, pitch in hdri_sources:
        hdri_view(name, blob_hdri(source, path),
                  f"{source[0]}@{source[1][:10]}:{path} (1k equirectangular HDRI from Poly "
                  f"Haven, https://polyhaven.com/a/{hdri})", hdri, yaw, pitch)
    world = blender_studio_lights()
    for name, (file, hdri, yaw, pitch) in BLENDER_VIEWS.items():
        hdri_view(name, cv2.imread(str(world / file), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR),
                  f"PyPI wheel bpy {BPY_VERSION}: bpy/5.0/datafiles/studiolights/world/{file} "
                  f"(Blender's studio light, a 1k copy of the Poly Haven HDRI "
                  f"https://polyhaven.com/a/{hdri}; CC0 per license.txt there)", hdri, yaw, pitch)
    for name, path in TUM_FRAMES.items():
        save(name, fit_640(mirrors.image(SUPERGLUE, path)),
             source=f"{SUPERGLUE[0]}@{SUPERGLUE[1][:10]}:{path} (TUM RGB-D benchmark, "
                    f"rgbd_dataset_freiburg3_long_office_household, "
                    f"https://cvg.cit.tum.de/data/datasets/rgbd-dataset)",
             author="J. Sturm, N. Engelhard, F. Endres, W. Burgard, D. Cremers (TUM)",
             licence=CCBY4, changes="PNG re-encoded as JPEG (already 640x480)")
    if deb is not None:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
            for name, (path, author, licence) in LOMIRI.items():
                image = cv2.imread(str(Path(tmp) / path))
                save(name, fit_640(image),
                     source=f"Debian package lomiri-wallpapers-16.04 ({deb.name}): /{path} "
                            f"(upstream gitlab.com/ubports/development/core/lomiri-wallpapers; "
                            f"licence from debian/copyright)",
                     author=author, licence=licence, changes="resized to 640 px long side")
    from skimage import data

    camera = data.camera()
    save("skimage_camera", cv2.cvtColor(fit_640(camera), cv2.COLOR_GRAY2BGR),
         source="scikit-image sample data `camera` (skimage/data/camera.png)",
         author="Lav Varshney", licence=CC0 + " (scikit-image docs: no copyright restrictions)",
         changes="grayscale, stored as 3-channel JPEG at its original 512x512")
    from make_panoramas import make_panoramas  # imports this module, so imported here

    return make_panoramas(mirrors) + rows


# -- meshes ---------------------------------------------------------------------------------
def load_source_mesh(mirrors: Mirrors, source: tuple[str, str], path: str,
                     keep_nodes: tuple[str, ...] | None) -> trimesh.Trimesh:
    data = mirrors.blob(source, path)
    suffix = Path(path).suffix.lower()
    if suffix == ".gltf":
        gltf = json.loads(data)
        for key in ("images", "textures", "materials", "samplers"):
            gltf.pop(key, None)
        for mesh in gltf.get("meshes", []):
            for primitive in mesh.get("primitives", []):
                primitive.pop("material", None)
        buffers = {}
        for buffer in gltf.get("buffers", []):
            uri = buffer["uri"]
            buffers[uri] = mirrors.blob(source, str(Path(path).parent / uri))
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "model.gltf").write_text(json.dumps(gltf))
            for uri, blob in buffers.items():
                (Path(tmp) / uri).write_bytes(blob)
            scene = trimesh.load(Path(tmp) / "model.gltf", force="scene")
    elif suffix == ".glb":
        scene = trimesh.load(io.BytesIO(data), file_type="glb", force="scene")
    else:
        mesh = trimesh.load(io.BytesIO(data), file_type=suffix[1:], force="mesh",
                            skip_materials=True)
        return trimesh.Trimesh(mesh.vertices, mesh.faces)
    parts = []
    for node in scene.graph.nodes_geometry:
        if keep_nodes and not node.startswith(keep_nodes):
            continue
        transform, geometry = scene.graph[node]
        part = scene.geometry[geometry]
        parts.append(trimesh.Trimesh(trimesh.transform_points(part.vertices, transform),
                                     part.faces))
    if not parts:
        raise RuntimeError(f"{path}: no geometry kept")
    return trimesh.util.concatenate(parts)


def convert_fbx(mirrors: Mirrors, source: tuple[str, str], path: str, target: Path) -> dict:
    """Write the FBX model at `path` as `target` (.glb) with fbx_to_glb.py, in its own process
    (it imports bpy); returns what that script prints (faces, materials, height)."""
    with tempfile.TemporaryDirectory() as tmp:
        fbx = Path(tmp) / "model.fbx"
        fbx.write_bytes(mirrors.blob(source, path))
        done = subprocess.run([sys.executable, str(Path(__file__).with_name("fbx_to_glb.py")),
                               str(fbx), str(target)], check=True, capture_output=True,
                              text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_mesh(mirrors: Mirrors, category: str, name: str, source: tuple[str, str], path: str,
              licence: str, author: str, original: str, up: str, max_faces: int,
              nodes: tuple[str, ...] | None) -> dict:
    """Write one mesh of MESHES under ROOT/models/CATEGORY/NAME.glb; returns its table row."""
    target = ROOT / "models" / category / f"{name}.glb"
    target.parent.mkdir(parents=True, exist_ok=True)
    row = {"file": f"models/{category}/{name}.glb",
           "source": f"{source[0]}@{source[1][:10]}:{path} (original: {original})",
           "author": author, "licence": licence}
    if Path(path).suffix.lower() == ".fbx":  # posed models with base colours, through Blender
        made = convert_fbx(mirrors, source, path, target)
        joined = f"{made['parts']} parts joined, " if made["parts"] > 1 else ""
        changes = [f"FBX -> glTF with Blender (fbx_to_glb.py): {joined}{made['faces']} "
                   f"triangles, base colours of {made['materials']} materials kept, made "
                   "opaque (no textures)"]
        if made["actions"]:
            changes.append(f"posed as frame 0 of its {', '.join(made['actions'])} animation "
                           "(armature applied)")
        changes.append("lowest point moved to y = 0, centred in x/z")
        return row | {"changes": "; ".join(changes)}
    mesh = load_source_mesh(mirrors, source, path, nodes)
    mesh.merge_vertices()
    mesh.update_faces(mesh.nondegenerate_faces())
    mesh.remove_unreferenced_vertices()
    faces_in = len(mesh.faces)
    if up == "z":  # z-up source -> y-up (glTF)
        mesh.apply_transform(trimesh.transformations.rotation_matrix(-math.pi / 2, (1, 0, 0)))
    if len(mesh.faces) > max_faces:
        mesh = mesh.simplify_quadric_decimation(face_count=max_faces)
    low, high = mesh.bounds
    mesh.apply_translation([-(low[0] + high[0]) / 2, -low[1], -(low[2] + high[2]) / 2])
    target.write_bytes(trimesh.exchange.gltf.export_glb(trimesh.Scene(mesh),
                                                        include_normals=False))
    changes = ["geometry only (materials/textures dropped)"]
    if up == "z":
        changes.append("rotated z-up -> y-up")
    if len(mesh.faces) < faces_in:
        changes.append(f"decimated {faces_in} -> {len(mesh.faces)} faces")
    changes.append("lowest point moved to y = 0, centred in x/z")
    return row | {"changes": "; ".join(changes)}


def make_meshes(mirrors: Mirrors, old: list[dict], only: set[str] | None = None) -> list[dict]:
    """The rows of MESHES, in order, each mesh written anew; with `only` (mesh names), just
    those are rebuilt and every other row is taken from `old` (the last provenance.json)."""
    kept = {row["file"]: row for row in old}
    rows = []
    for entry in MESHES:
        category, name = entry[0], entry[1]
        file = f"models/{category}/{name}.glb"
        if only is None or name in only:
            rows.append(make_mesh(mirrors, *entry))
        elif file in kept:
            rows.append(kept[file])
        else:
            raise SystemExit(f"{file} is not in provenance.json yet: add --mesh {name}")
    return rows


def write_readme(photos: list[dict], meshes: list[dict]) -> None:
    def table(rows):
        lines = ["| file | source | author | licence | changes |", "|---|---|---|---|---|"]
        lines += [f"| `{r['file']}` | {r['source']} | {r['author']} | {r['licence']} | "
                  f"{r['changes']} |" for r in rows]
        return "\n".join(lines)

    text = README_HEADER.format(photos=len(photos), meshes=len(meshes),
                                panoramas=sum(r["file"].startswith("scenes/pano_") for r in photos),
                                categories=len({r["file"].split("/")[1] for r in meshes}))
    text += "\n## scenes/\n\n" + table(photos) + "\n\n## models/\n\n" + table(meshes) + "\n"
    (ROOT / "README.md").write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mirrors", type=Path, required=True)
    parser.add_argument("--deb", type=Path, default=None)
    parser.add_argument("--only", choices=["photos", "meshes"], default=None)
    parser.add_argument("--mesh", action="append", default=None, metavar="NAME",
                        help="rebuild only this mesh (repeatable); the other meshes' rows are "
                             "kept from provenance.json")
    args = parser.parse_args()
    unknown = set(args.mesh or ()) - {entry[1] for entry in MESHES}
    if unknown:
        parser.error(f"--mesh: no such mesh in MESHES: {', '.join(sorted(unknown))}")
    mirrors = Mirrors(args.mirrors)
    record = ROOT / "provenance.json"
    old = json.loads(record.read_text()) if record.exists() else {"photos": [], "meshes": []}
    photos = make_photos(mirrors, args.deb) if args.only != "meshes" else old["photos"]
    meshes = (make_meshes(mirrors, old["meshes"], set(args.mesh) if args.mesh else None)
              if args.only != "photos" else old["meshes"])
    record.write_text(json.dumps({"photos": photos, "meshes": meshes}, indent=1) + "\n")
    write_readme(photos, meshes)


if __name__ == "__main__":
    main()
