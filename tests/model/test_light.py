"""The light as a network input (model/light.py): its vector, the hard-shadow hint plane,
condition dropout, the conditioned SG network and the flip that mirrors the light too."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dataset_tools.light_labels import LightLabel
from model.light import (
    GROUND_FORESHORTENING,
    LIGHT_CHANNELS,
    drop_condition,
    estimated_light,
    given_light,
    hint_plane,
    light_vector,
)
from model.networks import SGNet


def test_the_vector_of_a_label_a_mirrored_one_and_none():
    vector = light_vector(LightLabel(60.0, 45.0, 0.2))
    assert vector.shape == (LIGHT_CHANNELS,) and vector.dtype == np.float32
    assert vector == pytest.approx([1, 0.5, math.sqrt(3) / 2, 0.5, 0.2], abs=1e-6)
    mirrored = light_vector(LightLabel(60.0, 45.0, 0.2), flipped=True)  # 60 -> 120 degrees
    assert mirrored == pytest.approx([1, -0.5, math.sqrt(3) / 2, 0.5, 0.2], abs=1e-6)
    assert not light_vector(None).any()
    overcast = light_vector(LightLabel(None, 90.0, 1.0))  # given, but pointing nowhere
    assert overcast == pytest.approx([1, 0, 0, 1, 1])
    with pytest.raises(ValueError, match="softness"):
        given_light(0.0, 45.0, 1.5)


def bar(height: int = 10, column: int = 10, foot: int = 19, size: int = 32) -> torch.Tensor:
    """(1, 1, size, size): a one-pixel-wide upright bar standing at (column, foot)."""
    mask = torch.zeros(1, 1, size, size)
    mask[0, 0, foot - height + 1:foot + 1, column] = 1
    return mask


def test_the_hint_plane_lays_the_object_along_the_light():
    mask = bar()
    # light from the left at 45 degrees: heights 0-9 land 0-9 px to the right of the foot
    right = hint_plane(mask, torch.from_numpy(given_light(0.0, 45.0, 0.0))[None])[0, 0]
    rows, columns = torch.nonzero(right, as_tuple=True)
    assert set(rows.tolist()) <= {18, 19, 20} and right[19, 11:20].all()
    assert columns.max() <= 21 and right[mask[0, 0] > 0].sum() == 0  # never on the object
    # the same light lower in the sky (elevation 30) casts longer: tan(30) = 0.577
    longer = hint_plane(mask, torch.from_numpy(given_light(0.0, 30.0, 0.0))[None])[0, 0]
    assert torch.nonzero(longer)[:, 1].max() >= 10 + int(9 / math.tan(math.radians(30)))
    # down the picture the ground is foreshortened: 9 px of height reach 9 x 0.4 px down
    down = hint_plane(mask, torch.from_numpy(given_light(90.0, 45.0, 0.0))[None])[0, 0]
    rows = torch.nonzero(down)[:, 0]
    assert rows.max() == 19 + round(9 * GROUND_FORESHORTENING) + 1  # + the 3x3 spread
    # no light, or an overcast one: no hint
    for light in (light_vector(None), light_vector(LightLabel(None, 90.0, 1.0))):
        assert not hint_plane(mask, torch.from_numpy(light)[None]).any()


def test_condition_dropout_zeroes_whole_vectors_at_its_rate():
    light = torch.ones(4000, LIGHT_CHANNELS)
    dropped = drop_condition(light, 0.3, torch.Generator().manual_seed(0))
    zeroed = (dropped.abs().sum(dim=1) == 0).float().mean().item()
    assert abs(zeroed - 0.3) < 0.03
    assert ((dropped == 0) | (dropped == 1)).all()  # a vector is kept whole or dropped whole
    assert torch.equal(drop_condition(light, 0.0), light)


def test_a_conditioned_network_starts_as_the_identity_and_learns_from_the_light():
    torch.manual_seed(0)
    network = SGNet("resnet18", 8, "factor", 0.25, "light")
    assert network.arch["condition"] == "light" and network.arch["in_channels"] == 12
    image = torch.rand(2, 3, 64, 64)
    mask = torch.zeros(2, 1, 64, 64)
    mask[:, :, 20:40, 30:34] = 1
    light = torch.from_numpy(np.stack([given_light(0.0, 45.0, 0.1), light_vector(None)]))
    coarse, refined = network(image, mask, mask * 0, mask * 0, light)
    assert coarse.shape == refined.shape == image.shape
    assert torch.equal(refined, image)  # zero-initialised heads
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
    for _ in range(2):  # the zero heads pass no gradient back until their first step
        optimizer.zero_grad()
        coarse, refined = network(image, mask, mask * 0, mask * 0, light)
        (refined.mean() + coarse.mean()).backward()
        optimizer.step()
    first = network.unet.encoder.conv1.weight.grad
    assert first is not None and first[:, 6:].abs().sum() > 0  # the light planes get gradient
    # None runs it unconditioned, as a zero vector does
    network.eval()
    with torch.no_grad():
        unconditioned = network(image, mask, mask * 0, mask * 0)[1]
        zero = network(image, mask, mask * 0, mask * 0, torch.zeros(2, LIGHT_CHANNELS))[1]
    assert torch.equal(unconditioned, zero)
    no_hint = SGNet("resnet18", 8, "factor", 0.25, "light", hint=False)
    assert no_hint.arch["in_channels"] == 11 and no_hint.arch["hint"] is False
    assert SGNet.from_arch(no_hint.arch).arch == no_hint.arch


def test_a_flip_mirrors_the_image_and_its_light_together():
    from model.data import augmentation, sample_tensors

    size = 32
    noshadow = np.zeros((size, size, 3), np.uint8)
    noshadow[:, :8] = 255  # bright on the left
    arrays = {"noshadow": noshadow, "shadow": noshadow.copy(),
              **{kind: np.zeros((size, size), np.uint8) for kind in
                 ("mask", "robject", "rshadow", "smask")}}
    label = LightLabel(30.0, 45.0, 0.1)
    seeds = {bool(np.random.default_rng(seed).random() < 0.5): seed for seed in range(20)}
    flipped = sample_tensors(arrays, "a", "", augmentation(size), seeds[True], label)
    kept = sample_tensors(arrays, "a", "", augmentation(size), seeds[False], label)
    assert flipped["light"][1] == pytest.approx(-math.cos(math.radians(30)), abs=1e-6)
    assert kept["light"][1] == pytest.approx(math.cos(math.radians(30)), abs=1e-6)
    # the bright band went to the right with the flip (the affine part moves it little)
    assert flipped["noshadow"][0, :, -4:].mean() > flipped["noshadow"][0, :, :4].mean()
    assert kept["noshadow"][0, :, :4].mean() > kept["noshadow"][0, :, -4:].mean()
    plain = sample_tensors(arrays, "a", "", None, 0)  # no label: no light
    assert not plain["light"].any()


def test_a_light_is_estimated_from_predicted_occluder_shadows():
    occluder = np.zeros((64, 64), bool)
    occluder[20:40, 30:34] = True
    shadow = np.zeros((64, 64), bool)
    shadow[36:40, 34:50] = True  # to the right of its foot
    vector, direction = estimated_light(occluder, shadow)
    assert direction is not None and abs((direction + 180) % 360 - 180) < 15
    assert vector[0] == 1 and vector[1] > 0.9
    none, nothing = estimated_light(occluder, np.zeros_like(shadow))
    assert nothing is None and not none.any()
