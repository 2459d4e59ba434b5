"""model.config and model.checkpoint: renamed fields still load."""

from __future__ import annotations

import pytest

from model.networks import (
    AttentionNet,
    SGNet,
)


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
