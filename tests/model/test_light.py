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


def test_the_light_head_decodes_to_lights_in_range_with_a_confidence():
    from model.light import LIGHT_CHANNELS, decode_light

    raw = torch.tensor([[4.0, 0.0, 2.0, 0.5, 0.3],     # sure of a direction: straight down
                        [-4.0, 1.0, 0.0, 0.5, 0.9],    # sure there is none
                        [0.0, 0.3, -0.4, 3.0, -1.0],   # unsure; elevation, softness past range
                        [3.0, 0.0, 0.0, -1.0, 0.5]])   # directional, but no direction at all
    vector, confidence = decode_light(raw)
    assert vector.shape == (4, LIGHT_CHANNELS)
    assert torch.all(vector[:, 0] == 1)  # a light is always given
    assert vector[0, 1:3].tolist() == pytest.approx([0.0, 1.0])
    assert vector[1, 1:3].tolist() == [0.0, 0.0] and vector[3, 1:3].tolist() == [0.0, 0.0]
    assert vector[2, 1:3].tolist() == pytest.approx([0.6, -0.8])  # unit length
    assert torch.all((vector[:, 3] >= 5 / 90) & (vector[:, 3] <= 85 / 90))
    assert torch.all((vector[:, 4] >= 0) & (vector[:, 4] <= 1))
    assert torch.all((confidence >= 0) & (confidence <= 1))
    assert confidence[0] > 0.9 and confidence[1] > 0.9 and confidence[2] < 0.5


def test_the_light_loss_and_direction_error_by_hand():
    from model.light import direction_errors, light_loss

    truth = torch.tensor([[1.0, 1.0, 0.0, 0.5, 0.1],   # a sun to the right
                          [1.0, 0.0, 0.0, 0.5, 1.0],   # overcast: no direction
                          [0.0, 0.0, 0.0, 0.0, 0.0]])  # unknown: adds nothing
    perfect = torch.tensor([[20.0, 1.0, 0.0, 0.5, 0.1], [-20.0, 0.0, 0.0, 0.7, 1.0],
                            [5.0, 3.0, 3.0, 3.0, 3.0]])
    assert light_loss(perfect, truth).item() == pytest.approx(0, abs=1e-6)
    wrong = perfect.clone()
    wrong[0, 1:3] = torch.tensor([0.0, 1.0])  # 90 degrees off: squared error 2
    assert light_loss(wrong, truth).item() == pytest.approx(2, abs=1e-5)
    estimated = torch.tensor([[1.0, 0.0, 1.0, 0.5, 0.1], [1.0, 1.0, 0.0, 0.5, 1.0],
                              [0.0, 0.0, 0.0, 0.0, 0.0]])
    assert direction_errors(estimated, truth).tolist() == pytest.approx([90.0])
    no_direction = estimated.clone()
    no_direction[0, 1:3] = 0
    assert direction_errors(no_direction, truth).tolist() == [180.0]


def test_the_attention_network_reads_a_light_at_any_size():
    from model.light import LIGHT_OUTPUTS
    from model.networks import DIRECTION_BINS, AttentionNet

    network = AttentionNet("resnet18", decoder_width=0.25, light_head=True).eval()
    assert network.arch["light_head"] is True
    assert AttentionNet.from_arch(network.arch).light_head is not None
    for size in (64, 96):
        image, mask = torch.rand(2, 3, size, size), torch.zeros(2, 1, size, size)
        with torch.no_grad():
            logits, raw, field = network(image, mask, with_light=True)
            assert torch.equal(logits, network(image, mask))
        assert logits.shape == (2, 2, size, size) and raw.shape == (2, LIGHT_OUTPUTS)
        assert field.shape == (2, DIRECTION_BINS, size // 16, size // 16)  # stride 16
    with pytest.raises(ValueError, match="no light head"):
        AttentionNet("resnet18", decoder_width=0.25)(image, mask, with_light=True)


def test_the_direction_field_is_learnt_as_a_soft_class_and_pooled_by_the_evidence():
    from model.light import FIELD_KAPPA, field_loss
    from model.networks import DIRECTION_BINS, pooled_direction

    light = torch.tensor([[1.0, 0.0, 1.0, 0.5, 0.1], [1.0, 0.0, 0.0, 0.5, 1.0]])  # down; none
    down = DIRECTION_BINS // 4  # bin 4 of 16: 90 degrees
    field = torch.zeros(2, DIRECTION_BINS, 2, 2)
    evidence = torch.ones(2, 1, 8, 8)
    flat = field_loss(field, light, evidence)
    assert flat.item() == pytest.approx(math.log(DIRECTION_BINS), rel=0.05)  # nothing known
    angles = torch.arange(DIRECTION_BINS) * (2 * math.pi / DIRECTION_BINS)
    right = field.clone()
    right[0] = (FIELD_KAPPA * torch.cos(angles - math.pi / 2))[:, None, None]  # the target
    wrong = field.clone()
    wrong[0] = (FIELD_KAPPA * torch.cos(angles))[:, None, None]  # 90 degrees off
    assert field_loss(right, light, evidence) < flat < field_loss(wrong, light, evidence)
    overcast_only = field_loss(wrong[1:], light[1:], evidence[1:])
    assert overcast_only.item() == 0  # no direction to learn
    # the vote: the top cells say down, the bottom ones right; weighted to the top, it says down
    votes = torch.zeros(1, DIRECTION_BINS, 2, 1)
    votes[0, down, 0] = votes[0, 0, 1] = 20.0
    weights = torch.zeros(1, 1, 8, 8)
    weights[:, :, :4] = 1
    cos, sin = pooled_direction(votes, weights)[0].tolist()
    assert math.degrees(math.atan2(sin, cos)) == pytest.approx(90, abs=5)
    assert 0.9 < math.hypot(cos, sin) <= 1
