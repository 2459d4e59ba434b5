"""dataset_tools.stats: `shadow-dataset stats` counts, areas and plots."""

from __future__ import annotations

import json

import pytest

from dataset_tools.layout import read_image
from tests.helpers import run_cli, with_manifest


def test_stats_counts_areas_and_plots(tmp_path):
    with_manifest(tmp_path / "d", ["s1.jpg", "s1.jpg", "s2.jpg"], ["m1", "m2", "m2"])
    manifest = tmp_path / "d" / "manifest.jsonl"
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    for number, record in enumerate(records):
        record["occluders"] = number
        record["spec"] = {"sun": {"elevation_deg": 30.0 + 10 * number, "azimuth_deg": 90.0}}
    manifest.write_text("".join(json.dumps(record) + "\n" for record in records))
    result = run_cli("stats", str(tmp_path / "d"), "--json", str(tmp_path / "s.json"),
                     "--plots", str(tmp_path / "plots"))
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["counts"] == {"train": 3}
    assert summary["area_fraction"]["mask"]["mean"] == pytest.approx(16 / 256)
    assert summary["area_fraction"]["robject"]["max"] == 0.0
    assert summary["sun_elevation_deg"]["mean"] == pytest.approx(40.0)
    assert summary["occluders"] == {"0": 1, "1": 1, "2": 1}
    assert summary["scenes"] == {"s1.jpg": 2, "s2.jpg": 1}
    assert summary["meshes"] == {"m2": 2, "m1": 1}
    # shadow 60 over noshadow 120, 121, 122 inside smask
    assert summary["shadow_darkness"]["median"] == pytest.approx(60 / 121, abs=1e-6)
    assert summary["shadow_darkness"]["darker_than_half"] == pytest.approx(2 / 3)
    assert summary["shadow_darkness"]["real_sunny"]["median"] == 0.27
    assert summary["shadow_darkness"]["by_light_kind"]["sun"]["samples"] == 3  # spec.sun: sun
    assert "shadow darkness" in result.stderr + result.stdout
    for name in ("areas", "sun", "occluders", "darkness"):
        assert read_image(tmp_path / "plots" / f"{name}.png", "RGB").shape[0] > 100


def test_cue_audit_counts_occluder_shadows_and_photo_consistent_light():
    from dataset_tools.records import ManifestRecord
    from dataset_tools.stats import CUE_FRACTION, cue_audit

    def record(sample_id, kind, hints=()):
        return ManifestRecord(sample_id, spec={"light": {"kind": kind}}, hints=list(hints))

    records = {"a": record("a", "sun"), "b": record("b", "sun", ["shadow_direction"]),
               "c": record("c", "sun"), "d": record("d", "overcast"),
               "e": ManifestRecord("e")}  # hand-made: no spec, not audited
    rshadow = {"a": CUE_FRACTION, "b": 0.0, "c": CUE_FRACTION / 2, "d": 0.0}
    audit = cue_audit(records, rshadow)
    assert audit["sun"] == {"samples": 3, "occluder_shadow": 1, "photo_consistent": 1,
                            "with_cue": 2, "share_with_cue": 2 / 3}
    assert audit["overcast"]["with_cue"] == 0 and set(audit) == {"sun", "overcast"}


def test_stats_report_light_shares_and_panorama_view_coverage(tmp_path):
    """A hand-made manifest: two panoramas seen from several yaws, one plain photo."""
    with_manifest(tmp_path / "d", ["pano_a.jpg", "pano_a.jpg", "pano_a.jpg", "pano_b.jpg",
                                   "photo.jpg"], ["m"] * 5)
    manifest = tmp_path / "d" / "manifest.jsonl"
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    views = [{"yaw_deg": 10.0}, {"yaw_deg": 10.0}, {"yaw_deg": 359.9}, {"yaw_deg": 90.0}, None]
    kinds = ["sun", "sun", "overcast", "area", "sun"]
    for record, view, kind in zip(records, views, kinds, strict=True):
        record["spec"] = {"light": {"kind": kind, "elevation_deg": 30.0, "azimuth_deg": 0.0},
                          "photo": {"path": record["scene"], "view": view}}
    manifest.write_text("".join(json.dumps(record) + "\n" for record in records))
    result = run_cli("stats", str(tmp_path / "d"), "--json", str(tmp_path / "s.json"))
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["light_kinds"] == {"sun": 3, "overcast": 1, "area": 1}
    assert summary["light_kind_share"] == {"sun": 0.6, "overcast": 0.2, "area": 0.2}
    coverage = summary["panorama_views"]
    # two views of pano_a share a yaw: 3 distinct views in all; the plain photo is no panorama
    assert coverage["panoramas"] == 2 and coverage["views"] == 3
    assert coverage["per_panorama"] == {"pano_a.jpg": {"samples": 3, "sectors": [0, 7]},
                                        "pano_b.jpg": {"samples": 1, "sectors": [2]}}
    text = result.stdout + result.stderr
    assert "sun 3 (60%)" in text
    assert "panoramas viewed: 2, distinct views 3" in text
    assert "pano_a.jpg: 3 views, sectors 0 7" in text


def test_the_photos_own_shadows_are_compared_with_the_sun(tmp_path):
    """Passes with the photo's own masks: a pair cast the sun's way (0 deg off), one cast the
    opposite way (180), a sun-lit sample without masks; `stats` counts and compares them."""
    import cv2
    import numpy as np

    from dataset_tools.light_labels import sun_direction_at
    from dataset_tools.records import read_manifest
    from dataset_tools.stats import photo_shadow_agreement

    root = tmp_path / "d"
    with_manifest(root, ["pano.jpg"] * 3, ["m"] * 3)
    manifest = root / "manifest.jsonl"
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    spec = {"size": 64, "camera": {"height": 1.6, "pitch_deg": 20.0, "fov_deg": 60.0},
            "light": {"kind": "sun", "azimuth_deg": 30.0, "elevation_deg": 40.0},
            "objects": [{"role": "inserted", "x": 0.0, "y": 6.0}], "photo": {"path": "p"}}
    foot = np.array([32.5, 50.0])
    along = sun_direction_at(spec, foot)
    (root / "passes").mkdir(exist_ok=True)
    for record, turn in zip(records, (0.0, 180.0, None), strict=True):
        record["spec"] = spec
        if turn is None:
            continue
        objects, shadows = np.zeros((64, 64), np.uint8), np.zeros((64, 64), np.uint8)
        objects[35:50, 31:34] = 4
        angle = np.radians(along + turn)
        end = foot + 12 * np.array([np.cos(angle), np.sin(angle)])
        cv2.line(shadows, tuple(int(v) for v in foot), tuple(int(v) for v in end), 4, 3)
        shadows[objects > 0] = 0
        np.savez(root / "passes" / f"{record['id']}.npz", photo_object=objects,
                 photo_shadow=shadows)
    manifest.write_text("".join(json.dumps(record) + "\n" for record in records))
    located = {record["id"]: "train" for record in records}
    result = photo_shadow_agreement(root, located, read_manifest(root))
    assert result["sun_lit"] == 3 and result["with_photo_shadows"] == 2
    pairs = result["per_pair"]
    assert pairs["count"] == 2 and pairs["within"] == 0.5
    assert pairs["median_deg"] == pytest.approx(90.0, abs=8.0)  # 0 and 180, each within 8
    assert result["label"]["count"] == 2
    assert list(result["by_pair"]) == ["pano.jpg #4"]  # the one real pair, seen twice
    assert result["by_pair"]["pano.jpg #4"] == pairs
    shown = run_cli("stats", str(root))
    text = shown.stdout + shown.stderr
    assert "photo's own shadows: 2 of 3 sun-lit samples (67%)" in text
    assert "pano.jpg #4: median" in text and "(2 views)" in text
