"""model.data: augmentation keeps the pair consistent; val is carved by scene."""

from __future__ import annotations

import torch

from model.data import EpochSampler, ShadowARDataset, list_split, train_val_samples


def test_dataset_augmentation_keeps_the_pair_consistent(toy_dataset):
    refs = list_split(toy_dataset, "train")
    dataset = ShadowARDataset(refs, 64, augment=True)
    for seed in range(6):
        first, again = dataset[(seed, seed)], dataset[(seed, seed)]
        assert torch.equal(first["shadow"], again["shadow"])
        # masks are warped with nearest, images with bilinear: allow the 1-pixel rim
        outside = torch.nn.functional.max_pool2d(first["smask"], 3, 1, 1)[0] == 0
        difference = (first["shadow"] - first["noshadow"]).abs().amax(0)
        assert float(difference[outside].max()) < 2 / 255  # only the own shadow differs
        for kind in ("mask", "robject", "rshadow", "smask"):
            assert set(first[kind].unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(dataset[(0, 1)]["noshadow"], dataset[(0, 2)]["noshadow"]) or \
        not torch.equal(dataset[(0, 3)]["noshadow"], dataset[(0, 4)]["noshadow"])


def test_val_is_carved_from_train_by_scene_and_sampler_shards(toy_dataset):
    train, val = train_val_samples(toy_dataset, 0.25, seed=0)
    assert val and train and not {ref.id for ref in train} & {ref.id for ref in val}
    assert len(train) + len(val) == 12
    ranks = [list(EpochSampler(10, 0, True, rank, 2)) for rank in range(2)]
    assert sorted(index for rank in ranks for index, _ in rank) == list(range(10))
    EpochSampler(10, 0).set_epoch(1)
    assert list(EpochSampler(10, 0)) == list(EpochSampler(10, 0))
