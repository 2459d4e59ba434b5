"""Helpers shared by test modules (fixtures live in conftest.py): a tiny render config, a
small hand-made dataset, the shadow-dataset CLI in a subprocess."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from dataset_tools.layout import sample_path, write_png
from render.config import ASSETS_DIR, QualityChecks, RenderConfig, RenderSettings

ROOT = Path(__file__).resolve().parent.parent  # the repository
PROCEDURAL_SCENES = ASSETS_DIR / "scenes"  # 6 tiny procedural textures: fast tests
PROCEDURAL_MODELS = ASSETS_DIR / "models"  # 8 procedural meshes


def make_dataset(root: Path, ids=("a", "b"), split: str = "train", size: int = 16) -> None:
    """A valid hand-made dataset: one 16x16 sample per id, a square object, its shadow below."""
    for index, sample_id in enumerate(ids):
        noshadow = np.full((size, size, 3), 120 + index, dtype=np.uint8)
        shadow = noshadow.copy()
        shadow[8:12, 2:6] = 60
        mask = np.zeros((size, size), dtype=np.uint8)
        mask[4:8, 2:6] = 255
        smask = np.zeros_like(mask)
        smask[8:12, 2:6] = 255
        empty = np.zeros_like(mask)
        for kind, image in (("noshadow", noshadow), ("shadow", shadow), ("mask", mask),
                            ("robject", empty), ("rshadow", empty), ("smask", smask)):
            write_png(sample_path(root, split, kind, sample_id), image)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """`shadow-dataset ARGS` in a subprocess (its exit code and output, as a user sees them)."""
    return subprocess.run([sys.executable, "-c", "from dataset_tools.cli import entry; entry()",
                           *args], capture_output=True, text=True, timeout=120)


TINY = RenderSettings(samples=4, first_render_samples=4, adaptive_threshold=0.0, threads=1)
# The same settings as render-dataset options (a CLI run that must match a tiny_config run);
# TINY_ARGS adds the procedural assets, as tiny_config has them.
TINY_RENDER_ARGS = ("--size", "48", "--samples", "4", "--first-render-samples", "4",
                    "--adaptive-threshold", "0", "--threads", "1")
TINY_ARGS = ("--scenes", str(PROCEDURAL_SCENES), "--models", str(PROCEDURAL_MODELS),
             *TINY_RENDER_ARGS)


def blender_script(script: str, *args: str, timeout: float = 300) -> object:
    """Run a Python script that imports bpy in a fresh interpreter (bpy is only ever imported
    in a spawned process) from the repository root, and return what it reported: the JSON
    after "RESULT" on its stderr (bpy takes over stdout). Fails the test if the script does."""
    return blender_run(script, *args, timeout=timeout)[0]


def blender_run(script: str, *args: str, timeout: float = 300) -> tuple[object, str]:
    """`blender_script`'s result and the script's whole stderr."""
    process = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                             text=True, timeout=timeout, cwd=ROOT)
    assert process.returncode == 0, process.stderr[-2000:]
    return json.loads(process.stderr.split("RESULT", 1)[1]), process.stderr


def applied_scenes(scene, kind: str, count: int, seeds: range = range(60), size: int = 64):
    """For a script run by `blender_script`: up to `count` scenes lit by `kind` (sun, area or
    overcast), drawn with three procedural meshes and applied to the BlenderScene `scene` in
    turn, with the lighting of a flat grey photo; yields (spec, lighting) after each apply."""
    from render.config import LightRanges, SamplingRanges
    from render.lighting import lighting_for
    from render.sampler import SamplingError, sample_scene

    ranges = SamplingRanges(lights=LightRanges(weights={kind: 1.0}))
    meshes = [(str(path), str(path))
              for path in sorted(PROCEDURAL_MODELS.rglob("model_normalized.obj"))][:3]
    found = 0
    for seed in seeds:
        try:
            spec = sample_scene(np.random.default_rng(seed), index=0, attempt=0, seed=seed,
                                size=size, photos=["p.jpg"], meshes=meshes,
                                extent_of=scene.load_mesh, ranges=ranges,
                                checks=QualityChecks())
        except SamplingError:
            continue
        lighting = lighting_for(spec, np.full((size, size, 3), 0.2, np.float32))
        scene.apply(spec, lighting.ambient_rgb, lighting.strength)
        yield spec, lighting
        found += 1
        if found == count:
            return


def tiny_config(out: Path, **overrides) -> RenderConfig:
    """A 48x48, 4-sample configuration: a real Cycles render in well under a second."""
    checks = QualityChecks(min_object_fraction=0.002, min_shadow_fraction=0.001)
    base = RenderConfig(out=out, scenes=PROCEDURAL_SCENES, models=PROCEDURAL_MODELS, count=3,
                        size=48, render=TINY, checks=checks, workers=1)
    return dataclasses.replace(base, **overrides)

def with_manifest(root: Path, scenes: list[str], meshes: list[str]) -> None:
    """`make_dataset` with one sample per (scene, mesh) and a manifest that names them."""
    records = [{"id": f"s{i:02d}", "index": i, "split": "train", "scene": scene,
                "inserted_mesh": mesh} for i, (scene, mesh) in enumerate(zip(scenes, meshes,
                                                                              strict=True))]
    make_dataset(root, ids=[record["id"] for record in records])
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def fill_disk(monkeypatch, folder: Path, suffix: str = "") -> None:
    """Make every file written through `dataset_tools.layout` below `folder` (whose name ends
    with `suffix`) fail as on a full file system: the write itself raises OSError(ENOSPC) on
    its temporary file."""
    import errno

    from dataset_tools import layout, resplit

    real = layout.write_staged

    def write_staged(path: Path, write):
        def full(tmp: str) -> None:
            raise OSError(errno.ENOSPC, "No space left on device", tmp)

        inside = Path(path).absolute().is_relative_to(folder.absolute()) \
            and Path(path).name.endswith(suffix)
        return real(path, full if inside else write)

    monkeypatch.setattr(layout, "write_staged", write_staged)
    monkeypatch.setattr(resplit, "write_staged", write_staged)


def one_line(output: str) -> str:
    """The only non-blank line of `output` (a CLI's stderr); fails on more, or a traceback."""
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


def files(root: Path) -> dict[str, bytes]:
    """Every file below `root` by relative path, with its bytes."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*"))
            if path.is_file()}


def sample_ids(root: Path) -> set[str]:
    """The ids of a dataset's samples, all splits together."""
    return {path.stem for path in root.glob("*/noshadow/*.png")}
