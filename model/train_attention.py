"""train-attention: the attention block learns where the occluders and their shadows are
from the composite (noshadow) and the inserted object's mask (Dice loss; IoU on val) and, with
its light head, the light the photo shows (`model.light.light_loss`; direction error on val)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from model.checkpoint import load_model
from model.config import AttentionConfig
from model.light import decode_light, direction_errors, field_loss, light_loss
from model.losses import dice_loss
from model.metrics import batch_iou
from model.networks import AttentionNet
from model.runtime import Runtime, unwrap
from model.train import SeededTask
from model.visuals import image_grid, mask_rows
from model.weights import init_encoder


class AttentionTask(SeededTask):
    """The attention block as a Task for fit(): one Adam step on the Dice loss per batch;
    the best checkpoint is the one with the highest mean IoU on val."""

    kind = "attention"
    score_name = "iou"
    higher_is_better = True

    def __init__(self, config: AttentionConfig, runtime: Runtime) -> None:
        super().__init__(config, runtime)
        network = AttentionNet(config.encoder, config.decoder_width, config.light_head)
        init_encoder(network.unet.encoder, config.encoder_weights, config.encoder,
                     "attention encoder")
        self.network = runtime.prepare(network)
        self.step_fn = torch.compile(self.network) if config.compile else self.network
        self.networks = {"attention": self.network}
        optimizer = torch.optim.Adam(self.network.parameters(), lr=config.lr,
                                     weight_decay=config.weight_decay)
        self.optimizers = {"attention": optimizer}
        self.schedulers = {"attention": torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=config.epochs)}

    @staticmethod
    def target(batch: dict[str, Any]) -> torch.Tensor:
        return torch.cat([batch["robject"], batch["rshadow"]], dim=1)

    def train_step(self, batch: dict[str, Any], epoch: int) -> dict[str, torch.Tensor]:
        optimizer = self.optimizers["attention"]
        optimizer.zero_grad(set_to_none=True)
        with self.runtime.autocast():
            logits, raw, field = self.outputs(self.step_fn, batch)
        target = self.target(batch)
        dice = dice_loss(logits, target)
        terms = {"dice": dice}
        if raw is not None:
            terms["light"] = light_loss(raw, batch["light"])
            evidence = torch.maximum(target.amax(dim=1, keepdim=True), batch["mask"])
            terms["field"] = field_loss(field, batch["light"], evidence)
        loss = dice + self.config.light_weight * (terms.get("light", 0.0)
                                                  + terms.get("field", 0.0))
        loss.backward()
        optimizer.step()
        return {name: value.detach() for name, value in terms.items()}

    def outputs(self, network: nn.Module, batch: dict[str, Any]
                ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(mask logits, the raw light and the direction field, or None without a light
        head)."""
        if self.config.light_head:
            return network(batch["noshadow"], batch["mask"], with_light=True)
        return network(batch["noshadow"], batch["mask"]), None, None

    def val_sums(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        logits, raw, _ = self.outputs(unwrap(self.network), batch)
        logits = logits.float()
        target = self.target(batch)
        ious = batch_iou(torch.sigmoid(logits) > self.config.attention_threshold, target > 0.5)
        count = torch.tensor(float(len(batch["id"])), device=logits.device)
        sums = {"iou_occluder": ious[:, 0].sum(), "iou_occluder_shadow": ious[:, 1].sum(),
                "iou": ious.mean(1).sum(), "dice": dice_loss(logits, target) * count,
                "count": count}
        if raw is not None:
            estimated, _ = decode_light(raw)
            errors = direction_errors(estimated, batch["light"])
            sums.update({"light_loss": light_loss(raw, batch["light"]) * count,
                         "direction_error": errors.sum(),
                         "within_30": (errors <= 30).float().sum(),
                         "direction_error_count": errors.new_tensor(float(len(errors))),
                         "within_30_count": errors.new_tensor(float(len(errors)))})
        return sums

    def grid(self, batch: dict[str, Any]) -> torch.Tensor:
        network = unwrap(self.network)  # rank 0 alone draws the grid: no DDP forward
        probabilities = torch.sigmoid(network(batch["noshadow"], batch["mask"]).float())
        predicted = (probabilities > self.config.attention_threshold).float()
        image = batch["noshadow"].float()
        return image_grid([image, mask_rows(image, predicted),
                           mask_rows(image, self.target(batch))])

    def state(self) -> dict[str, Any]:
        network = unwrap(self.network)
        return {"models": {"attention": network.state_dict()},
                "archs": {"attention": network.arch}}

    def exported(self) -> dict[str, nn.Module]:
        return {"attention": self.network}

    def load_state(self, checkpoint: dict[str, Any], path: Path) -> None:
        load_model(unwrap(self.network), checkpoint["models"]["attention"],
                   checkpoint["archs"]["attention"], path)
