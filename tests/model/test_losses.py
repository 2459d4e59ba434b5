"""model.losses: exact values and the reference implementations."""

from __future__ import annotations

import math

import pytest
import torch

from model.losses import GANLoss, dice_loss, region_weights, spill_l1, weighted_l2


def test_dice_loss_exact_values():
    target = torch.zeros(1, 1, 2, 2)
    target[0, 0, 0, 0] = 1
    confident = torch.full((1, 1, 2, 2), -100.0)
    confident[0, 0, 0, 0] = 100.0
    assert float(dice_loss(confident, target, eps=0.0)) == pytest.approx(0.0, abs=1e-6)
    # p = 0.5 everywhere: 1 - 2 * 0.5 / (2 + 1) = 2/3
    assert float(dice_loss(torch.zeros(1, 1, 2, 2), target, eps=0.0)) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="differ"):
        dice_loss(torch.zeros(1, 2, 2, 2), target)


def test_region_weighted_l2_and_gan_targets():
    smask = torch.zeros(1, 1, 8, 8)
    smask[0, 0, 4, 4] = 1
    weights = region_weights(smask, 6.0, 1)
    assert float(weights.max()) == 6.0 and int((weights == 6).sum()) == 9
    prediction, target = torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8)
    prediction[..., 4, 4] = 1.0
    plain = weighted_l2(prediction, target, torch.ones_like(smask))
    assert float(plain) == pytest.approx(3 / 192)
    assert float(weighted_l2(prediction, target, weights)) == pytest.approx(
        (3 * 6 / 192) / float(weights.mean()))
    gan = GANLoss("vanilla")
    assert float(gan(torch.full((2, 1), 50.0), True)) == pytest.approx(0.0, abs=1e-6)
    assert float(gan(torch.zeros(2, 1), False)) == pytest.approx(math.log(2))
    assert float(GANLoss("lsgan")(torch.full((2, 1), 0.5), True)) == pytest.approx(0.25)


def test_spill_counts_darkening_outside_the_dilated_region_only():
    noshadow = torch.full((1, 3, 8, 8), 0.5)
    smask = torch.zeros(1, 1, 8, 8)
    smask[0, 0, 1, 1] = 1  # dilated by 1: the 3x3 block at rows/columns 0-2
    output = noshadow.clone()
    output[..., 1, 1] = 0.1  # inside the shadow: not spill
    output[..., 2, 2] = 0.25  # inside the dilated region: not spill
    output[..., 6, 6] = 0.25  # outside: darkened by half
    output[..., 7, 7] = 0.9  # outside but brighter: not darkening
    # 64 - 9 = 55 pixels outside, per channel; one of them darkened by 0.5
    assert float(spill_l1(output, noshadow, smask, 1)) == pytest.approx(0.5 / 55)
    assert float(spill_l1(noshadow, noshadow, smask, 1)) == 0.0
    # without dilation the pixel at (2, 2) counts too; a pixel too dark for a ratio never does
    assert float(spill_l1(output, noshadow, smask, 0)) == pytest.approx(1.0 / 63)
    dark = noshadow.clone()
    dark[..., 6, 6] = 0.0
    assert float(spill_l1(output, dark, smask, 1)) == 0.0


def test_perceptual_loss_equals_piq_content_loss_on_vgg16_relu3_3():
    from model.losses import PerceptualLoss

    torch.manual_seed(0)
    loss = PerceptualLoss(None)  # random VGG16: nothing is downloaded
    prediction, other, target = (torch.rand(2, 3, 64, 64) for _ in range(3))
    expected = loss.content(prediction, target) + loss.content(other, target)
    assert float(loss([prediction, other], target)) == pytest.approx(float(expected), rel=1e-5)
    assert len(loss.content.model) == 16  # features up to and including relu3_3
    prediction.requires_grad_(True)
    loss(prediction, target).backward()
    assert prediction.grad.abs().sum() > 0
