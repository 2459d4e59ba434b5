"""Real renders with real bpy (in spawned workers) at 48x48, 4 samples per pixel."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from rich.console import Console

from dataset_tools.layout import KINDS, read_image, sample_path
from dataset_tools.light_labels import light_label
from dataset_tools.masks import masks_from_passes
from dataset_tools.records import read_manifest
from render.geometry import projected_box
from render.runner import RunError, run
from render.sampler import sample_seed
from render.spec import SceneSpec
from tests.helpers import PROCEDURAL_MODELS as DEFAULT_MODELS
from tests.helpers import PROCEDURAL_SCENES as DEFAULT_SCENES
from tests.helpers import TINY_ARGS, TINY_RENDER_ARGS, blender_script, tiny_config

pytestmark = pytest.mark.blender
QUIET = Console(file=open(os.devnull, "w"))  # noqa: SIM115


def files_of(out: Path, record: dict) -> dict[str, bytes]:
    return {kind: sample_path(out, record.split, kind, record.id).read_bytes()
            for kind in KINDS}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    config = tiny_config(tmp_path_factory.mktemp("render") / "data", count=6)
    summary = run(config, QUIET)
    return config, summary


def test_run_renders_every_sample_with_complete_manifest(rendered):
    config, summary = rendered
    assert summary.rendered == 6 and not summary.failed
    records = read_manifest(config.out)
    assert sorted(records) == [f"{i:06d}" for i in range(6)]
    info = json.loads((config.out / "dataset.json").read_text())
    assert info["counts"]["total"] == 6 and info["format_version"] == 1
    assert info["counts"].get("train", 0) + info["counts"].get("test", 0) == 6
    for record in records.values():
        assert record.seed == sample_seed(config.seed, record.index, record.attempt)
        spec = SceneSpec.from_json(record.spec)
        assert spec.seed == record.seed and spec.size == 48
        assert record.timings["render_noshadow"] > 0
        assert {"scene", "inserted_mesh", "occluders", "lighting", "areas"} <= set(record.to_json())
        # the light as a model sees it, recorded beside the spec it is derived from
        assert record.light_label == light_label(record.spec).to_json()


def test_pair_invariants(rendered):
    config, _ = rendered
    for record in read_manifest(config.out).values():
        def load(kind: str, mode: str = "L", record: dict = record) -> np.ndarray:
            return read_image(sample_path(config.out, record.split, kind, record.id), mode)

        noshadow, shadow = load("noshadow", "RGB"), load("shadow", "RGB")
        assert noshadow.shape == shadow.shape == (48, 48, 3)
        masks = {kind: load(kind) for kind in ("mask", "robject", "rshadow", "smask", "sregion")}
        for kind, mask in masks.items():
            assert mask.shape == (48, 48)
            assert set(np.unique(mask)) <= {0, 255}, kind
        assert masks["mask"].any() and masks["smask"].any()
        assert not (masks["mask"] & masks["smask"]).any()
        inside = masks["smask"] > 0
        gray_shadow = cv2.cvtColor(shadow, cv2.COLOR_RGB2GRAY).astype(float)
        gray_plain = cv2.cvtColor(noshadow, cv2.COLOR_RGB2GRAY).astype(float)
        assert gray_shadow[inside].mean() < gray_plain[inside].mean() - 3
        assert (gray_shadow <= gray_plain + 1)[inside].mean() > 0.95
        # Outside the region the inserted object's shadow can reach: identical pixels.
        x0, y0, x1, y1 = record.shadow_region
        beyond = np.ones((48, 48), dtype=bool)
        beyond[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(noshadow[beyond], shadow[beyond])
        # Outside sregion (the visible shadow plus its faint halo) the pair is identical, and
        # the visible shadow lies inside it.
        region = masks["sregion"] > 0
        np.testing.assert_array_equal(noshadow[~region], shadow[~region])
        assert region[inside].all()


def test_masks_follow_exactly_from_stored_passes(rendered):
    config, _ = rendered
    for record in read_manifest(config.out).values():
        passes = np.load(config.out / "passes" / f"{record.id}.npz")
        derived = masks_from_passes(passes["object_index"],
                                    passes["darkening"].astype(np.float32),
                                    passes["occluder_darkening"].astype(np.float32),
                                    config.darkening_threshold)
        for kind, mask in derived.items():
            written = read_image(sample_path(config.out, record.split, kind, record.id),
                                 "L")
            np.testing.assert_array_equal(written, mask, err_msg=kind)


def test_blender_camera_matches_the_projection_math(rendered):
    config, _ = rendered
    for record in read_manifest(config.out).values():
        spec = SceneSpec.from_json(record.spec)
        mask = read_image(sample_path(config.out, record.split, "mask", record.id), "L")
        ys, xs = np.nonzero(mask)
        x0, y0, x1, y1 = projected_box(spec.inserted, spec.camera, spec.size)
        assert xs.min() >= np.floor(x0) - 1 and xs.max() <= np.ceil(x1) + 1
        assert ys.min() >= np.floor(y0) - 1 and ys.max() <= np.ceil(y1) + 1
        smask = read_image(sample_path(config.out, record.split, "smask", record.id), "L")
        rx0, ry0, rx1, ry1 = record.shadow_region
        ys, xs = np.nonzero(smask)
        assert xs.min() >= rx0 - 1 and xs.max() < rx1 + 1
        assert ys.min() >= ry0 - 1 and ys.max() < ry1 + 1


@pytest.mark.slow
def test_shards_union_equals_the_unsharded_run(rendered, tmp_path):
    config, _ = rendered
    reference = read_manifest(config.out)
    sharded = tmp_path / "sharded"
    for shard in range(2):
        shard_config = dataclasses.replace(config, out=sharded, shard_index=shard, shard_count=2)
        summary = run(shard_config, QUIET)
        assert summary.rendered == 3
    records = read_manifest(sharded)
    assert sorted(records) == sorted(reference)
    for identifier, record in records.items():
        assert record.spec == reference[identifier].spec
        assert files_of(sharded, record) == files_of(config.out, reference[identifier])


def test_rerun_renders_nothing_and_changed_settings_are_refused(rendered):
    config, _ = rendered
    again = run(config, QUIET)
    assert again.rendered == 0 and again.already_done == 6
    with pytest.raises(RunError, match="other settings"):
        run(dataclasses.replace(config, size=64), QUIET)


def cli(*args: str, **kwargs) -> subprocess.Popen:
    command = [sys.executable, "-c", "from render.cli import entry; entry()", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, **kwargs)




@pytest.mark.slow
def test_kill_and_resume_yields_exactly_n_complete_samples(rendered, tmp_path):
    config, _ = rendered
    out = tmp_path / "killed"
    process = cli("--out", str(out), "-n", "12", *TINY_ARGS)
    manifest = out / "manifest.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not manifest.exists() or
                                      len(manifest.read_text().splitlines()) < 2):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert 0 < len(read_manifest(out)) < 12
    resumed = cli("--out", str(out), "-n", "12", *TINY_ARGS)
    output, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, output
    records = read_manifest(out)
    assert sorted(records) == [f"{i:06d}" for i in range(12)]
    assert not list(out.rglob("*.partial"))
    pngs = list(out.rglob("*.png"))
    assert len(pngs) == 12 * len(KINDS)
    # The resumed run made the same samples as the uninterrupted one (the CLI resolves the
    # embedded assets to the same paths and uses the same seed).
    reference = read_manifest(config.out)
    for identifier, record in reference.items():
        assert files_of(out, records[identifier]) == files_of(config.out, record)


def make_bad_inputs(root: Path) -> tuple[Path, Path]:
    scenes = root / "scenes"
    scenes.mkdir()
    shutil.copy(DEFAULT_SCENES / "tiled_floor.jpg", scenes / "floor.jpg")
    (scenes / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    (scenes / "notes.csv").write_text("not,an,image\n")
    models = root / "models"
    shutil.copytree(DEFAULT_MODELS / "02876657" / "bottle_a", models / "02876657" / "bottle_a")
    (models / "empty.obj").write_text("")
    (models / "nan.off").write_text("OFF\n3 1 0\n0 0 0\nnan 1 0\n0 1 0\n3 0 1 2\n")
    (models / "broken.glb").write_bytes(b"glTF garbage")
    (models / "dense.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n" + "f 1 2 3\n" * 3000)
    (models / "model.xyz").write_text("?")
    return scenes, models


def test_bad_inputs_are_skipped_with_one_line_each(tmp_path):
    scenes, models = make_bad_inputs(tmp_path)
    out = tmp_path / "out"
    process = cli("--out", str(out), "--scenes", str(scenes), "--models", str(models), "-n", "4",
                  "--max-faces", "2000", *TINY_RENDER_ARGS)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    assert len(read_manifest(out)) == 4
    flat = " ".join(output.split())
    for name, reason in [("notes.csv", "not an image file"), ("model.xyz", "not a mesh file")]:
        assert name in flat and reason in flat
    summary = flat[flat.index("skipped assets"):]
    for name in ("broken.jpg", "empty.obj", "nan.off", "broken.glb", "dense.obj"):
        assert name in summary, (name, flat)
    assert "3000 faces" in flat and "NaN" in flat and "not a readable image" in flat


def test_meshes_in_every_format_and_missing_textures_load(tmp_path):
    import trimesh

    box = trimesh.creation.box(extents=(2.0, 1.0, 0.5))
    for suffix in ("ply", "stl", "off", "glb", "obj"):
        box.export(tmp_path / f"box.{suffix}")
    (tmp_path / "tex.mtl").write_text("newmtl skin\nKd 0.5 0.5 0.5\nmap_Kd missing.png\n")
    (tmp_path / "tex.obj").write_text("mtllib tex.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\n"
                                      "vt 1 0\nvt 0 1\nusemtl skin\nf 1/1 2/2 3/3\n")
    script = f"""
import json, sys
from pathlib import Path
from render.blender import BlenderScene
from render.config import RenderSettings
scene = BlenderScene(RenderSettings(samples=1), 32, Path({str(tmp_path)!r}))
result = {{}}
for name in ("box.ply", "box.stl", "box.off", "box.glb", "box.obj", "tex.obj"):
    path = str(Path({str(tmp_path)!r}) / name)
    result[name] = [scene.load_mesh(path).box, scene.mesh_warnings(path)]
sys.stderr.write("RESULT" + json.dumps(result) + "\\n")
"""
    result = blender_script(script, timeout=120)
    for name in ("box.ply", "box.stl", "box.off", "box.obj"):
        extent, _ = result[name]
        assert max(extent) == pytest.approx(1.0) and sorted(extent) == pytest.approx(
            [0.25, 0.5, 1.0]), name
    assert sorted(result["box.glb"][0]) == pytest.approx([0.25, 0.5, 1.0])
    assert "missing.png is missing" in result["tex.obj"][1][0]


@pytest.mark.slow
def test_worker_crash_is_retried_then_recorded_and_the_run_goes_on(tmp_path):
    out = tmp_path / "crash"
    env = {**os.environ, "SHADOWSYNTH_TEST_CRASH_INDEX": "1"}
    process = cli("--out", str(out), "-n", "3", *TINY_ARGS, env=env)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    assert sorted(read_manifest(out)) == ["000000", "000002"]
    assert "sample 000001 failed" in output and "worker process died" in output


def test_arguments_and_unusable_folders_exit_non_zero(tmp_path):
    """An unusable folder is exit code 1, a bad argument 2 (docs/errors.md)."""
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    process = cli("--out", str(blocker / "out"), "-n", "1", *TINY_ARGS)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1 and "cannot write the output folder" in output
    empty = tmp_path / "empty"
    empty.mkdir()
    process = cli("--out", str(tmp_path / "o"), "--scenes", str(empty), *TINY_RENDER_ARGS)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1 and "no scene images found" in output
    process = cli("--out", str(tmp_path / "o"), "--shard", "3/2", *TINY_ARGS)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2 and "shard" in output


def test_workers_that_cannot_start_are_a_run_error_with_exit_code_1(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "bpy.py").write_text("raise ImportError('no Blender here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(fake), os.environ.get("PYTHONPATH", "")])}
    process = cli("--out", str(tmp_path / "o"), "-n", "1", *TINY_ARGS, env=env)
    output, _ = process.communicate(timeout=120)
    lines = [line for line in output.splitlines() if line.startswith("error: ")]
    assert process.returncode == 1, output
    assert len(lines) == 1 and "check that bpy imports" in lines[0], output


def test_rendered_dataset_passes_validate(rendered):
    from dataset_tools.validate import validate_dataset

    config, _ = rendered
    report = validate_dataset(config.out)
    assert report.valid, [str(problem) for problem in report.problems]
    assert sum(report.counts.values()) == 6


def test_an_output_folder_with_a_link_out_of_it_is_refused(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    config = tiny_config(tmp_path / "data", count=1)
    (config.out / "train").mkdir(parents=True)
    (config.out / "train" / "shadow").symlink_to(outside)
    with pytest.raises(RunError, match="train/shadow: a symbolic link to .*elsewhere"):
        run(config, QUIET)
    assert not any(outside.iterdir())


class Indices:
    """The indices a WorkerPool is fed, in this order (render.worker.Tasks)."""

    def __init__(self, indices: list[int]):
        self.left = list(indices)

    def take(self):
        return self.left.pop(0) if self.left else None

    def remaining(self):
        return len(self.left)

    def tick(self):
        pass


def render_in_order(config, indices: list[int]) -> tuple[list, object]:
    """(the Rendered outcomes of `indices` rendered one after another by one worker, the pool)."""
    from render.catalog import build_catalog
    from render.output import prepare_output
    from render.worker import Rendered, WorkerPool

    prepare_output(config, clear=False)
    catalog, _ = build_catalog(config, QUIET)
    pool = WorkerPool(config, catalog, workers=1)
    outcomes = list(pool.run(Indices(indices)))
    assert all(isinstance(outcome, Rendered) for outcome in outcomes), outcomes
    return outcomes, pool


def test_workers_hand_on_their_stable_poses_and_samples_stay_the_same(rendered, tmp_path):
    """A worker retiring after every sample hands its meshes' poses to the next one (which then
    skips finding them): the same samples, byte for byte, as one worker that renders all."""
    config, _ = rendered
    out = tmp_path / "handed_on"
    outcomes, pool = render_in_order(
        dataclasses.replace(config, out=out, count=3, restart_every=1), [0, 1, 2])
    assert pool.poses and all(len(key) == 4 for key in pool.poses)
    records = read_manifest(config.out)
    for outcome in outcomes:
        record = outcome.record
        assert files_of(out, record) == files_of(config.out, records[record.id])


def test_a_sample_does_not_depend_on_what_its_worker_rendered_before(tmp_path):
    """The embedded defaults at 64 px, production settings: sample 110 rendered after sample
    109 in one worker, and first in another, byte for byte (with Cycles' persistent data on,
    its noise differed)."""
    from render.config import RenderConfig, RenderSettings

    def config(out):
        return RenderConfig(out=out, count=111, size=64, workers=1,
                            render=RenderSettings(threads=1))

    after, _ = render_in_order(config(tmp_path / "after"), [109, 110])
    first, _ = render_in_order(config(tmp_path / "first"), [110])
    assert files_of(tmp_path / "after", after[1].record) == \
        files_of(tmp_path / "first", first[0].record)
