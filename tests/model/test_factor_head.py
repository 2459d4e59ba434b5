"""The SG block's factor head: shadow = noshadow x a predicted factor in [0, 1]."""

import pytest
import torch

from model.losses import FACTOR_MIN_VALUE, factor_l2, factor_target
from model.networks import FACTOR_LEAK, AttentionNet, SGNet, ShadowPipeline
from model.train_sg import factor_loss


def inputs(size: int = 64, count: int = 2):
    torch.manual_seed(0)
    image = torch.rand(count, 3, size, size) * 0.9 + 0.05
    mask = torch.zeros(count, 1, size, size)
    mask[:, :, 20:40, 24:36] = 1
    occluder = torch.zeros_like(mask)
    occluder[:, :, 5:15, 5:15] = 1
    return image, mask, occluder, torch.roll(occluder, 8, dims=3)


def small_sg() -> SGNet:
    return SGNet("resnet18", width=8, head="factor", decoder_width=0.25)


def test_shapes_bounds_and_identity_at_initialisation():
    network = small_sg().eval()
    image, mask, occluder, occluder_shadow = inputs()
    coarse, refined = network(image, mask, occluder, occluder_shadow)
    assert coarse.shape == refined.shape == image.shape
    assert torch.equal(coarse, image) and torch.equal(refined, image)  # exactly the identity
    for layer in (network.unet.segmentation_head[0], network.refine[-1][-1]):
        torch.nn.init.normal_(layer.weight, std=0.5)
    factors = network.factors(image, mask, occluder, occluder_shadow)
    for factor in factors:
        assert factor.shape == image.shape
        assert factor.min() >= 0 and factor.max() <= 1 + FACTOR_LEAK
        assert (factor < 0.99).any()  # it darkens somewhere once the head is not zero


def test_object_pixels_are_untouched():
    network = small_sg().eval()
    for layer in (network.unet.segmentation_head[0], network.refine[-1][-1]):
        torch.nn.init.normal_(layer.weight, std=0.5)
    image, mask, occluder, occluder_shadow = inputs()
    _, refined = network(image, mask, occluder, occluder_shadow)
    inside = mask.expand_as(image) > 0
    assert torch.equal(refined[inside], image[inside])
    assert not torch.equal(refined[~inside], image[~inside])
    pipeline = ShadowPipeline(AttentionNet("resnet18", decoder_width=0.25).eval(), network)
    shadow, factor, _ = pipeline.with_factor(image, mask)
    assert torch.equal(shadow[inside], image[inside]) and (factor[inside] == 1).all()
    assert factor.max() <= 1  # the pipeline clamps the leak


def test_factor_target_and_loss_on_a_hand_made_pair():
    noshadow = torch.full((1, 3, 8, 8), 0.8)
    noshadow[..., 0, :] = FACTOR_MIN_VALUE / 2  # too dark for a ratio: no target there
    shadow = noshadow.clone()
    shadow[..., 2:5, 2:6] = 0.4  # a shadow halving the light
    shadow[..., 2, 2] = torch.tensor([0.4, 0.2, 0.8])  # a tinted pixel, per channel
    target, weight = factor_target(shadow, noshadow)
    assert torch.allclose(target[..., 3:5, 2:6], torch.tensor(0.5))
    assert torch.allclose(target[0, :, 2, 2], torch.tensor([0.5, 0.25, 1.0]))
    assert (target[..., 5:, :] == 1).all() and (weight[..., 0, :] == 0).all()
    assert weight[..., 1:, :].eq(1).all()
    assert factor_l2(target, target, weight) == 0
    ones = torch.ones_like(target)
    expected = (1 - target).square()[weight > 0].sum() / weight.sum()
    assert torch.isclose(factor_l2(ones, target, weight), expected)
    # through the images, as training computes it: the pair itself scores 0
    assert torch.isclose(factor_loss(shadow, shadow, noshadow, shadow), torch.tensor(0.0),
                         atol=1e-6)
    assert torch.isclose(factor_loss(noshadow, noshadow, noshadow, shadow), 2 * expected)


@pytest.mark.slow
def test_a_few_steps_of_the_factor_loss_darken_the_shadow():
    network = small_sg()
    image, mask, occluder, occluder_shadow = inputs(count=4)
    target = image * (1 - 0.6 * occluder_shadow)  # a shadow where the input says
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    losses = []
    for _ in range(20):
        coarse, refined = network(image, mask, occluder, occluder_shadow)
        loss = factor_loss(coarse, refined, image, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] * 0.8, losses
