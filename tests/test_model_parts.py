"""Networks, losses, metrics and data of model/ on CPU at 64x64; metrics against hand-computed
values and second implementations (scikit-image, piq)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("segmentation_models_pytorch")

from model import metrics  # noqa: E402
from model.data import EpochSampler, ShadowARDataset, list_split, train_val_samples  # noqa: E402
from model.losses import GANLoss, dice_loss, region_weights, weighted_l2  # noqa: E402
from model.networks import (  # noqa: E402
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


def test_old_field_names_in_configs_and_checkpoints_still_load(tmp_path):
    """threshold -> attention_threshold and shadow_threshold -> gray_threshold: run folders
    and checkpoints written before the rename keep working."""
    from model import checkpoint as ckpt
    from model.config import EvalConfig, SGConfig, from_json, to_json
    from model.pipeline import load_pipeline

    old_sg = to_json(SGConfig(data=tmp_path))
    old_sg["threshold"] = old_sg.pop("attention_threshold") - 0.2
    assert from_json(SGConfig, old_sg).attention_threshold == pytest.approx(0.3)
    old_eval = {"data": str(tmp_path), "checkpoint": "sg.pt", "shadow_threshold": 12.0}
    assert from_json(EvalConfig, old_eval).gray_threshold == 12.0
    networks = {"sg": SGNet(), "attention": AttentionNet()}
    ckpt.save(tmp_path / "old.pt", {
        "kind": "sg", "config": {"size": 64, "threshold": 0.3},
        "models": {name: network.state_dict() for name, network in networks.items()},
        "archs": {name: network.arch for name, network in networks.items()}})
    loaded = load_pipeline(tmp_path / "old.pt")
    assert loaded.attention_threshold == pytest.approx(0.3) and loaded.size == 64
    assert loaded.pipeline.threshold == pytest.approx(0.3)


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


def test_rmse_by_hand():
    gt = np.zeros((4, 4, 3), np.uint8)
    pred = gt.copy()
    pred[0, 0] = 12  # one pixel off by 12 in all 3 channels
    region = np.zeros((4, 4), bool)
    region[0, :2] = True
    assert metrics.rmse(gt, pred) == pytest.approx(math.sqrt(3 * 144 / 48))
    assert metrics.rmse(gt, pred, region) == pytest.approx(math.sqrt(3 * 144 / 6))
    assert math.isnan(metrics.rmse(gt, pred, np.zeros((4, 4), bool)))


def test_torch_twins_equal_the_numpy_metrics():
    """batch_rmse and batch_iou (training's validation) against rmse and iou (evaluate), on
    random images and masks, empty ones included."""
    rng = np.random.default_rng(7)
    gt = rng.integers(0, 256, (4, 3, 12, 10), dtype=np.uint8)
    pred = rng.integers(0, 256, gt.shape, dtype=np.uint8)
    region = rng.random((4, 1, 12, 10)) < 0.3
    region[1] = False  # a sample without a shadow: LRMSE undefined
    region[2] = True

    def scaled(images):
        return torch.from_numpy(images).float() / 255

    def hwc(images, index):
        return images[index].transpose(1, 2, 0)

    global_rmse = metrics.batch_rmse(scaled(gt), scaled(pred))
    local_rmse = metrics.batch_rmse(scaled(gt), scaled(pred), torch.from_numpy(region).float())
    for index in range(len(gt)):
        assert float(global_rmse[index]) == pytest.approx(
            metrics.rmse(hwc(gt, index), hwc(pred, index)), rel=1e-5)
        expected = metrics.rmse(hwc(gt, index), hwc(pred, index), region[index, 0])
        if math.isnan(expected):
            assert math.isnan(float(local_rmse[index]))
        else:
            assert float(local_rmse[index]) == pytest.approx(expected, rel=1e-5)
    assert math.isnan(float(local_rmse[1]))

    predicted = rng.random((5, 2, 6, 6)) < 0.4
    target = rng.random(predicted.shape) < 0.4
    predicted[0], target[0] = False, False  # both empty: 1
    predicted[1, 0], target[1, 1] = False, False  # one side empty: 0
    ious = metrics.batch_iou(torch.from_numpy(predicted), torch.from_numpy(target))
    assert ious.shape == (5, 2)
    for index, channel in np.ndindex(ious.shape):
        assert float(ious[index, channel]) == pytest.approx(
            metrics.iou(predicted[index, channel], target[index, channel]), abs=1e-12)
    assert ious[0].tolist() == [1.0, 1.0] and ious[1].tolist() == [0.0, 0.0]


def test_ssim_matches_scikit_image_and_piq():
    piq = pytest.importorskip("piq")
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(3)
    gt = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    pred = np.clip(gt.astype(int) + rng.integers(-40, 40, gt.shape), 0, 255).astype(np.uint8)
    ours = metrics.ssim(gt, pred)
    reference = structural_similarity(gt, pred, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, data_range=255,
                                      channel_axis=-1)

    def tensor(array):
        return torch.from_numpy(array).permute(2, 0, 1)[None].double()

    assert ours == pytest.approx(reference, abs=1e-9)
    assert ours == pytest.approx(float(piq.ssim(tensor(gt), tensor(pred), data_range=255.0)),
                                 abs=1e-9)
    assert metrics.ssim(gt, gt) == pytest.approx(1.0)
    # LSSIM: the map's mean over the region (cropped by the 5-pixel window radius)
    region = np.zeros(gt.shape[:2], bool)
    region[10:20, 10:30] = True
    _, full = structural_similarity(gt, pred, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=255,
                                    channel_axis=-1, full=True)
    assert metrics.ssim(gt, pred, region) == pytest.approx(full.mean(-1)[region].mean(), abs=1e-9)


def test_ber_acc_and_iou_by_hand():
    noshadow = np.full((4, 4, 3), 200, np.uint8)
    pred = noshadow.copy()
    pred[0, 0:2] = 100  # predicted shadow: (0,0), (0,1)
    region = np.zeros((4, 4), bool)
    region[0, 1:4] = True  # truth: (0,1), (0,2), (0,3)
    object_mask = np.zeros((4, 4), bool)
    object_mask[3, 3] = True
    predicted = metrics.predicted_shadow(pred, noshadow, object_mask, threshold=12.75)
    assert predicted.sum() == 2
    values = metrics.balanced_error(predicted, region, ~object_mask)
    tpr, tnr = 1 / 3, 11 / 12  # 15 valid pixels: 3 positive, 12 negative, 1 false positive
    assert values["GBER"] == pytest.approx(1 - (tpr + tnr) / 2)
    assert values["LBER"] == pytest.approx(1 - tpr)
    assert values["ACC"] == pytest.approx((1 + 11) / 15)
    top = metrics.predicted_shadow(pred, noshadow, object_mask, count=3)
    assert top.sum() == 2  # only two pixels differ at all
    assert metrics.iou(predicted, region) == pytest.approx(1 / 4)
    assert metrics.iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0
    identity = metrics.image_metrics(pred, noshadow, noshadow, region, object_mask)
    assert identity["LBER"] == 1.0 and identity["GBER"] == 0.5


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
