"""dataset_tools.masks: masks from render passes and from image pairs, exact values."""

from __future__ import annotations

import json

import numpy as np

from dataset_tools.layout import read_image, write_npz, write_png
from dataset_tools.masks import masks_from_passes, remove_small_components, smask_from_pair
from dataset_tools.validate import validate_dataset
from tests.helpers import make_dataset, run_cli


def test_masks_from_passes_and_from_pairs(tmp_path):
    make_dataset(tmp_path, ids=("a", "b"))
    index = np.zeros((16, 16), np.uint8)
    index[4:8, 2:6] = 1
    darkening = np.zeros((16, 16), np.float16)
    darkening[8:12, 2:6] = 0.3
    darkening[12:14, 2:6] = 0.08  # faint: in smask at threshold 0.06, not at 0.2
    write_npz(tmp_path / "passes/a.npz", object_index=index, darkening=darkening,
              occluder_darkening=np.zeros((16, 16), np.float16))
    result = run_cli("masks", str(tmp_path), "--darkening-threshold", "0.06", "--sigma", "0",
                     "--min-area", "1", "--visible-fraction", "0")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"from_passes": 1, "from_pairs": 1}
    assert (read_image(tmp_path / "train/smask/a.png", "L") == 255).sum() == 24
    assert (read_image(tmp_path / "train/smask/b.png", "L") == 255).sum() == 16
    run_cli("masks", str(tmp_path), "--darkening-threshold", "0.2", "--sigma", "0",
            "--min-area", "1", "--visible-fraction", "0")
    assert (read_image(tmp_path / "train/smask/a.png", "L") == 255).sum() == 16
    # By default the faint 0.08 band is under half the 0.3 peak: not part of the visible shadow.
    run_cli("masks", str(tmp_path), "--darkening-threshold", "0.06", "--sigma", "0",
            "--min-area", "1")
    assert (read_image(tmp_path / "train/smask/a.png", "L") == 255).sum() == 16
    assert validate_dataset(tmp_path).valid


def test_masks_cli_names_a_wrong_size_mask(tmp_path):
    make_dataset(tmp_path, ids=("a",))
    write_png(tmp_path / "train/mask/a.png", np.zeros((8, 8), np.uint8))
    result = run_cli("masks", str(tmp_path))
    assert result.returncode == 1
    assert "train/mask/a.png: size 8x8 differs from noshadow 16x16" in result.stderr


def test_masks_from_passes_exact():
    index = np.zeros((20, 20), dtype=np.uint8)
    index[2:6, 2:6] = 1  # inserted
    index[10:14, 10:14] = 2  # occluder
    own = np.zeros((20, 20), dtype=np.float32)
    own[6:12, 2:6] = 0.5  # its shadow
    own[0, 19] = 0.9  # a single noisy pixel: blurred and removed
    occluder = np.zeros((20, 20), dtype=np.float32)
    occluder[14:18, 10:14] = 0.4
    occluder[2:6, 2:6] = 0.9  # on the object: never rshadow
    masks = masks_from_passes(index, own, occluder, darkening_threshold=0.06, min_area=4,
                              sigma=0.0)
    assert set(np.unique(masks["smask"])) == {0, 255}
    assert (masks["mask"] == 255).sum() == 16 and masks["mask"][2:6, 2:6].min() == 255
    assert (masks["robject"] == 255).sum() == 16 and masks["robject"][10:14, 10:14].min() == 255
    assert (masks["rshadow"] == 255).sum() == 16 and masks["rshadow"][14:18, 10:14].min() == 255
    assert (masks["smask"] == 255).sum() == 24 and masks["smask"][6:12, 2:6].min() == 255
    smoothed = masks_from_passes(index, own, occluder, darkening_threshold=0.06, min_area=4,
                                 sigma=1.0)
    assert smoothed["smask"][0, 19] == 0  # the lone noisy pixel is gone
    assert smoothed["smask"][8, 3] == 255


def test_remove_small_components():
    mask = np.zeros((10, 10), dtype=bool)
    mask[0, 0] = True
    mask[5:8, 5:8] = True
    cleaned = remove_small_components(mask, 4)
    assert not cleaned[0, 0] and cleaned[5:8, 5:8].all() and cleaned.sum() == 9


def test_smask_from_pair_threshold_minus_object():
    noshadow = np.full((4, 4, 3), 200, dtype=np.uint8)
    shadow = noshadow.copy()
    shadow[:2, :2] = 100
    mask = np.zeros((4, 4), dtype=np.uint8)
    mask[0, 0] = 255
    result = smask_from_pair(shadow, noshadow, mask, gray_threshold=10, min_area=1)
    assert result.tolist() == [[0, 255, 0, 0], [255, 255, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_visible_shadow_keeps_the_half_shadow_and_drops_the_halo():
    index = np.zeros((10, 10), dtype=np.uint8)
    index[0:2, 0:2] = 1
    own = np.zeros((10, 10), dtype=np.float32)
    own[2:5, 0:4] = 0.8  # umbra
    own[5:7, 0:4] = 0.45  # penumbra above half the peak
    own[7:9, 0:4] = 0.2  # faint halo: above the 0.06 floor, under half the 0.8 peak
    own[9, 0:4] = 0.003  # imperceptible: outside sregion as well
    none = np.zeros_like(own)
    masks = masks_from_passes(index, own, none, darkening_threshold=0.06, min_area=1,
                              sigma=0.0)
    assert (masks["smask"] == 255).sum() == 20 and masks["smask"][2:7, 0:4].min() == 255
    assert (masks["sregion"] == 255).sum() == 28 and masks["sregion"][2:9, 0:4].min() == 255
    assert masks["sregion"][9].max() == 0
    everything = masks_from_passes(index, own, none, darkening_threshold=0.06, min_area=1,
                                   sigma=0.0, visible_fraction=0.0)
    assert (everything["smask"] == 255).sum() == 28


def test_region_weight_fades_in_between_the_two_levels():
    from dataset_tools.masks import REGION_HIGH, REGION_LOW, region_weight

    darkening = np.array([[0.0, REGION_LOW, (REGION_LOW + REGION_HIGH) / 2, REGION_HIGH, 0.5,
                           -0.5]], dtype=np.float32)
    np.testing.assert_allclose(region_weight(darkening, sigma=0.0),
                               [[0.0, 0.0, 0.5, 1.0, 1.0, 1.0]], atol=1e-6)
