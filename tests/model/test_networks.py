"""model.networks: shapes, gradients and output ranges of the networks and the pipeline."""

from __future__ import annotations

import re

import pytest
import torch

from model.networks import (
    AttentionNet,
    SGNet,
    ShadowPipeline,
    make_discriminator,
)


def batch(n: int = 2, size: int = 64):
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(n, 3, size, size, generator=generator)
    mask = (torch.rand(n, 1, size, size, generator=generator) > 0.8).float()
    return image, mask


def test_attention_and_sg_shapes_and_backward():
    image, mask = batch()
    attention = AttentionNet()
    logits = attention(image, mask)
    assert logits.shape == (2, 2, 64, 64)
    logits.mean().backward()
    assert attention.unet.encoder.conv1.weight.grad is not None
    assert attention.unet.encoder.conv1.weight.shape[1] == 4

    sg = SGNet()
    coarse, refined = sg(image, mask, mask, mask)
    assert coarse.shape == refined.shape == (2, 3, 64, 64)
    # zero-initialised residual heads: an untrained G is the identity
    assert torch.equal(coarse, image) and torch.equal(refined, image)
    (refined - image * 0.5).pow(2).mean().backward()
    assert sg.refine[-1][-1].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("kind,conditional,shape", [
    ("srgan", False, (2, 1)), ("srgan", True, (2, 1)), ("patchgan", True, (2, 1, 6, 6))])
def test_discriminators(kind, conditional, shape):
    discriminator = make_discriminator(kind, conditional)
    inputs = torch.rand(2, 9 if conditional else 3, 64, 64)
    logits = discriminator(inputs)
    assert logits.shape == shape
    logits.mean().backward()


def test_pipeline_output_ranges():
    image, mask = batch()
    pipeline = ShadowPipeline(AttentionNet(), SGNet()).eval()
    with torch.no_grad():
        shadow, probabilities = pipeline(image, mask)
    assert shadow.shape == (2, 3, 64, 64) and probabilities.shape == (2, 2, 64, 64)
    assert 0 <= float(shadow.min()) and float(shadow.max()) <= 1
    assert 0 <= float(probabilities.min()) and float(probabilities.max()) <= 1


@pytest.mark.parametrize(("image_shape", "mask_shape", "says"), [
    ((2, 3, 64, 64), (2, 1, 32, 64), "masks of shape (2, 1, 64, 64)"),
    ((2, 4, 64, 64), (2, 1, 64, 64), "(N, 3, H, W)"),
    ((1, 3, 48, 64), (1, 1, 48, 64), "multiples of 32"),
])
def test_the_pipeline_names_a_wrong_input_shape(image_shape, mask_shape, says):
    pipeline = ShadowPipeline(AttentionNet(), SGNet()).eval()
    with torch.no_grad(), pytest.raises(ValueError, match=f".*{re.escape(says)}"):
        pipeline(torch.rand(image_shape), torch.rand(mask_shape))
