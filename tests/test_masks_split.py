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
    masks = masks_from_passes(index, own, occluder, threshold=0.06, min_area=4, sigma=0.0)
    assert set(np.unique(masks["smask"])) == {0, 255}
    assert (masks["mask"] == 255).sum() == 16 and masks["mask"][2:6, 2:6].min() == 255
    assert (masks["robject"] == 255).sum() == 16 and masks["robject"][10:14, 10:14].min() == 255
    assert (masks["rshadow"] == 255).sum() == 16 and masks["rshadow"][14:18, 10:14].min() == 255
    assert (masks["smask"] == 255).sum() == 24 and masks["smask"][6:12, 2:6].min() == 255
    smoothed = masks_from_passes(index, own, occluder, threshold=0.06, min_area=4, sigma=1.0)
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
    result = smask_from_pair(shadow, noshadow, mask, threshold=10, min_area=1)
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
