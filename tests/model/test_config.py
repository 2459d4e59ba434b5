"""model.config: every verb's config survives its JSON form; checkpoints keep their threshold."""

from __future__ import annotations

import json

import pytest

from dataset_tools.settings import from_json, to_json
from model.config import (
    AttentionConfig,
    EvalConfig,
    ExportConfig,
    PredictConfig,
    SGConfig,
    load_config,
)
from model.networks import AttentionNet, SGNet


def test_every_config_round_trips_through_its_config_json(tmp_path):
    configs = [
        AttentionConfig(data=tmp_path / "data", encoder="mobilenet_v2", decoder_width=0.25),
        SGConfig(data=tmp_path / "data", attention=tmp_path / "att.pt", betas=(1.0, 2.0, 3.0),
                 condition="light"),
        EvalConfig(data=tmp_path / "data", predictions=tmp_path / "pred",
                   pred_masks=tmp_path / "masks", protocol="desoba", out=tmp_path / "eval"),
        PredictConfig(images=tmp_path / "im", masks=tmp_path / "m", out=tmp_path / "o",
                      checkpoint=tmp_path / "sg.pt", shadow_direction=30.0),
        ExportConfig(checkpoint=tmp_path / "sg.pt", out=tmp_path / "sg.onnx"),
    ]
    for config in configs:
        path = tmp_path / f"{type(config).__name__}.json"
        path.write_text(json.dumps(to_json(config)), encoding="utf-8")
        assert load_config(type(config), path) == config


def test_an_unknown_or_old_field_name_is_refused_by_name(tmp_path):
    data = to_json(SGConfig(data=tmp_path))
    data["threshold"] = data.pop("attention_threshold")
    with pytest.raises(ValueError, match="unknown SGConfig fields: threshold"):
        from_json(SGConfig, data)


def test_a_checkpoint_keeps_its_threshold_and_size_and_lacking_fields_take_defaults(tmp_path):
    from model import checkpoint as ckpt
    from model.pipeline import load_pipeline

    networks = {"sg": SGNet(), "attention": AttentionNet()}
    ckpt.save(tmp_path / "sg.pt", {
        "kind": "sg", "config": {"size": 64, "attention_threshold": 0.3},
        "models": {name: network.state_dict() for name, network in networks.items()},
        "archs": {name: network.arch for name, network in networks.items()}})
    loaded = load_pipeline(tmp_path / "sg.pt")
    assert loaded.attention_threshold == pytest.approx(0.3) and loaded.size == 64
    assert loaded.pipeline.threshold == pytest.approx(0.3)
