import numpy as np

from dataset_tools.masks import masks_from_passes, remove_small_components, smask_from_pair
from dataset_tools.split import assign_groups


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


def test_assign_groups_is_deterministic_grouped_and_never_empty():
    groups = [f"scene{i}.jpg" for i in range(20)]
    split = assign_groups(groups, 0.15, 0.05, seed=3)
    assert split == assign_groups(list(reversed(groups)), 0.15, 0.05, seed=3)
    counts = {name: list(split.values()).count(name) for name in ("train", "val", "test")}
    assert counts == {"train": 16, "val": 1, "test": 3}
    assert assign_groups(groups, 0.15, seed=4) != assign_groups(groups, 0.15, seed=3)
    assert assign_groups(["only.jpg"], 0.5) == {"only.jpg": "train"}
    assert sorted(assign_groups(["a", "b"], 0.01).values()) == ["test", "train"]


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


def test_shadow_darkness_exact_ratios():
    from dataset_tools.darkness import shadow_darkness, summarize_darkness

    noshadow = np.full((2, 4, 3), 200, dtype=np.uint8)
    shadow = noshadow.copy()
    shadow[0, :] = (50, 50, 50)  # ratio 0.25
    shadow[1, :2] = (150, 150, 150)  # ratio 0.75
    region = np.zeros((2, 4), dtype=np.uint8)
    region[0, :] = 255
    region[1, :2] = 255
    measured = shadow_darkness(shadow, noshadow, region)
    assert measured.pixels == 6
    assert abs(measured.median_ratio - 0.25) < 1e-6
    assert abs(measured.darker_than_half - 4 / 6) < 1e-9
    assert shadow_darkness(shadow, noshadow, np.zeros((2, 4), np.uint8)) is None
    summary = summarize_darkness([measured, measured])
    assert summary["samples"] == 2 and abs(summary["median"] - 0.25) < 1e-6
