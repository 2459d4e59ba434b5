"""train-sg: the shadow-generation block as a GAN (pix2pix's step order: D step, then the G
step with D frozen). G sees the masks the attention block predicts, as at inference."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from model import checkpoint as ckpt
from model.config import SGConfig
from model.light import drop_condition
from model.losses import (
    FACTOR_MIN_VALUE,
    GANLoss,
    PerceptualLoss,
    factor_l2,
    factor_target,
    region_weights,
    spill_l1,
    weighted_l2,
)
from model.metrics import batch_rmse
from model.networks import SGNet, make_discriminator
from model.pipeline import checkpoint_path, checkpoint_weights, load_attention
from model.runtime import Runtime, unwrap
from model.train import SeededTask
from model.visuals import image_grid, mask_rows
from model.weights import find_weights, init_encoder, resolve, where_to_put


def perceptual_loss(config: SGConfig, main: bool) -> PerceptualLoss | None:
    """The perceptual term's VGG16: the weights --vgg-weights names, a random VGG16 for
    "random", none for "none" or a zero beta, and, for "auto" without weights on this
    machine, none (warned): a random VGG16 did not help at the same budget (README)."""
    if config.betas[1] <= 0 or config.vgg_weights == "none":
        return None
    if config.vgg_weights == "random":
        return PerceptualLoss(None)
    if config.vgg_weights == "auto":
        path = find_weights("vgg16")
        if path is None:
            if main:
                warnings.warn("no VGG16 weights found: the perceptual term is off (put "
                              f"torchvision's file at {where_to_put('vgg16')}, or pass "
                              "--vgg-weights random for a random VGG16)", stacklevel=2)
            return None
    else:
        path = resolve(config.vgg_weights, "vgg16", "perceptual loss (VGG16 relu3_3)")
    return PerceptualLoss(str(path) if path else None)


def factor_loss(coarse: torch.Tensor, refined: torch.Tensor, noshadow: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
    """Squared error of both outputs' factors (output / noshadow) against the pair's
    (`factor_target`) where noshadow is bright enough for a ratio; computed through the
    images, so that DDP sees forward()."""
    wanted, weight = factor_target(target.float(), noshadow.float())
    scale = noshadow.float().clamp_min(FACTOR_MIN_VALUE)
    return sum(factor_l2(output.float() / scale, wanted, weight) for output in (coarse, refined))


def discriminator_arch(config: SGConfig) -> dict[str, Any]:
    """What a checkpoint records of the discriminator, and what loading one checks."""
    return {"kind": config.discriminator, "conditional": config.conditional}


def start_from(init: Path, generator: nn.Module, discriminator: nn.Module,
               discriminator_arch: dict[str, Any], say: bool) -> None:
    """Load --init's SG weights into `generator` (its architecture must match) and its
    discriminator's into `discriminator` where it holds one of the same kind, else D starts
    from random init (said where `say`: on the main process of a run with a D term)."""
    path = checkpoint_path(init)
    models, archs, _ = checkpoint_weights(path)
    if "sg" not in models:
        raise ckpt.CheckpointError(f"{path}: holds no SG network to start from (--init takes "
                                   "a train-sg checkpoint or the pretrained model)")
    ckpt.load_model(generator, models["sg"], archs["sg"], path)  # copied in G's dtype
    if "discriminator" in models and archs.get("discriminator") == discriminator_arch:
        discriminator.load_state_dict(models["discriminator"])
    elif say:
        print(f"--init {init}: the SG network from {path}; the discriminator starts from "
              "random init (the checkpoint holds none of this kind)", flush=True)


class SGTask(SeededTask):
    """The SG block as a Task for fit(): a D step, then a G step on b1 L2 + b2 perceptual
    + b3 adversarial; the best checkpoint is the one with the lowest LRMSE on val."""

    kind = "sg"
    score_name = "lrmse"
    higher_is_better = False

    def __init__(self, config: SGConfig, runtime: Runtime) -> None:
        super().__init__(config, runtime)
        self.attention: nn.Module | None = None
        if config.attention is not None:
            self.attention = runtime.prepare(load_attention(config.attention), train=False)
            self.attention.requires_grad_(False)
        elif runtime.main:
            warnings.warn("train-sg without --attention trains on ground-truth masks only, but "
                          "inference feeds it predicted ones (the article's flaw)", stacklevel=2)
        generator = SGNet(config.encoder, config.refine_width, config.head,
                          config.decoder_width, config.condition, config.hint)
        discriminator = make_discriminator(config.discriminator, config.conditional)
        if config.init is not None:
            start_from(config.init, generator, discriminator, discriminator_arch(config),
                       runtime.main and config.betas[2] > 0)
        else:
            init_encoder(generator.unet.encoder, config.encoder_weights, config.encoder,
                         "SG encoder")
        self.generator = runtime.prepare(generator)
        self.discriminator = runtime.prepare(discriminator)
        self.forward_g = torch.compile(self.generator) if config.compile else self.generator
        self.perceptual = perceptual_loss(config, runtime.main)
        if self.perceptual is not None:
            self.perceptual = self.perceptual.to(runtime.device)
        self.gan = GANLoss(config.gan_mode)
        self.networks = {"sg": self.generator, "discriminator": self.discriminator}
        adam = {"betas": (0.5, 0.999), "weight_decay": config.weight_decay}
        self.optimizers = {
            "sg": torch.optim.Adam(self.generator.parameters(), lr=config.lr, **adam),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=config.d_lr,
                                              **adam)}
        self.schedulers = {name: torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=config.epochs) for name, optimizer in self.optimizers.items()}

    def masks(self, batch: dict[str, Any], train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(occluder, occluder shadow) for G: the attention block's thresholded prediction,
        or per sample the ground truth with probability gt_mask_prob (training only)."""
        truth = torch.cat([batch["robject"], batch["rshadow"]], dim=1)
        if self.attention is None:
            return truth[:, :1], truth[:, 1:]
        with torch.no_grad():
            logits = self.attention(batch["noshadow"], batch["mask"])
            probabilities = torch.sigmoid(logits.float())
            predicted = (probabilities > self.config.attention_threshold).to(truth.dtype)
        if train and self.config.gt_mask_prob > 0:
            use_truth = torch.rand(len(truth), 1, 1, 1, device=truth.device)
            predicted = torch.where(use_truth < self.config.gt_mask_prob, truth, predicted)
        if self.runtime.channels_last:
            predicted = predicted.contiguous(memory_format=torch.channels_last)
        return predicted[:, :1], predicted[:, 1:]

    def d_input(self, image: torch.Tensor, condition: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([image, *condition], dim=1) if self.config.conditional else image

    def train_step(self, batch: dict[str, Any], epoch: int) -> dict[str, torch.Tensor]:
        beta_l2, beta_perceptual, beta_adversarial = self.config.betas
        adversarial_on = beta_adversarial > 0 and epoch >= self.config.gan_warmup_epochs
        occluder, occluder_shadow = self.masks(batch, train=True)
        condition = [batch["noshadow"], batch["mask"], occluder, occluder_shadow]
        target = batch["shadow"]
        light = (drop_condition(batch["light"], self.config.condition_dropout)
                 if self.config.condition == "light" else None)
        with self.runtime.autocast():
            coarse, refined = self.forward_g(*condition, light)
        losses: dict[str, torch.Tensor] = {}
        if adversarial_on:  # D step: one forward over fake and real together (DDP-safe)
            self.discriminator.requires_grad_(True)
            self.optimizers["discriminator"].zero_grad(set_to_none=True)
            pair = torch.cat([self.d_input(refined.detach().clamp(0, 1), condition),
                              self.d_input(target, condition)])
            with self.runtime.autocast():
                fake_logits, real_logits = self.discriminator(pair).chunk(2)
            loss_d = 0.5 * (self.gan(fake_logits, False) + self.gan(real_logits, True))
            loss_d.backward()
            self.optimizers["discriminator"].step()
            losses["d"] = loss_d.detach()
        self.optimizers["sg"].zero_grad(set_to_none=True)
        weights = region_weights(batch["smask"], self.config.region_weight,
                                 self.config.region_dilate)
        l2 = weighted_l2(coarse, target, weights) + weighted_l2(refined, target, weights)
        loss_g = beta_l2 * l2
        if self.perceptual is not None:
            perceptual = self.perceptual([coarse, refined], target)
            loss_g = loss_g + beta_perceptual * perceptual
            losses["perceptual"] = perceptual.detach()
        if self.config.head == "factor" and self.config.factor_weight > 0:
            factor = factor_loss(coarse, refined, batch["noshadow"], target)
            loss_g = loss_g + self.config.factor_weight * factor
            losses["factor"] = factor.detach()
        if self.config.spill_weight > 0:
            spill = sum(spill_l1(output, batch["noshadow"], batch["smask"],
                                 self.config.region_dilate) for output in (coarse, refined))
            loss_g = loss_g + self.config.spill_weight * spill
            losses["spill"] = spill.detach()
        if adversarial_on:
            discriminator = unwrap(self.discriminator)  # no DDP hooks: D is frozen here
            discriminator.requires_grad_(False)
            with self.runtime.autocast():
                logits = discriminator(self.d_input(refined.clamp(0, 1), condition))
            adversarial = self.gan(logits, True)
            loss_g = loss_g + beta_adversarial * adversarial
            losses["g_adv"] = adversarial.detach()
        loss_g.backward()
        self.optimizers["sg"].step()
        losses.update({"g": loss_g.detach(), "l2": l2.detach()})
        return losses

    def predict(self, batch: dict[str, Any]) -> torch.Tensor:
        occluder, occluder_shadow = self.masks(batch, train=False)
        generator = unwrap(self.generator)  # no DDP forward: rank 0 alone draws the grid
        light = batch["light"] if self.config.condition == "light" else None  # the true light
        _, refined = generator(batch["noshadow"], batch["mask"], occluder, occluder_shadow, light)
        return refined.float().clamp(0, 1)

    def val_sums(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Sums over the batch; LRMSE (nan for a sample without a shadow) sums over the
        samples that have one, and "lrmse_count" counts them, for validation_metrics()'s mean."""
        prediction = self.predict(batch)
        target, region = batch["shadow"].float(), batch["smask"].float()
        local_rmse = batch_rmse(target, prediction, region)
        defined = local_rmse.isnan().logical_not().float().sum()
        identity = batch_rmse(target, batch["noshadow"].float(), region)
        count = torch.tensor(float(len(batch["id"])), device=prediction.device)
        return {"grmse": batch_rmse(target, prediction).sum(), "lrmse": local_rmse.nansum(),
                "lrmse_count": defined, "lrmse_identity": identity.nansum(),
                "lrmse_identity_count": defined, "count": count}

    def grid(self, batch: dict[str, Any]) -> torch.Tensor:
        occluder, occluder_shadow = self.masks(batch, train=False)
        image = batch["noshadow"].float()
        return image_grid([image, mask_rows(image, torch.cat([occluder, occluder_shadow], 1)
                                             .float()), self.predict(batch),
                           batch["shadow"].float()])

    def state(self) -> dict[str, Any]:
        models = {name: unwrap(network) for name, network in self.exported().items()}
        models["discriminator"] = unwrap(self.discriminator)
        archs = {name: network.arch for name, network in models.items()
                 if hasattr(network, "arch")}
        archs["discriminator"] = discriminator_arch(self.config)
        return {"models": {name: network.state_dict() for name, network in models.items()},
                "archs": archs}

    def exported(self) -> dict[str, nn.Module]:
        networks = {"sg": self.generator}
        if self.attention is not None:
            networks["attention"] = self.attention
        return networks

    def load_state(self, checkpoint: dict[str, Any], path: Path) -> None:
        ckpt.load_model(unwrap(self.generator), checkpoint["models"]["sg"],
                        checkpoint["archs"]["sg"], path)
        stored = checkpoint["archs"]["discriminator"]
        if stored != discriminator_arch(self.config):
            raise ckpt.CheckpointError(f"{path}: discriminator {stored} differs from this run's")
        unwrap(self.discriminator).load_state_dict(checkpoint["models"]["discriminator"])
