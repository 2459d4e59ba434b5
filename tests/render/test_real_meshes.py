"""The embedded real meshes (assets/real/models): each is found, passes the mesh checks and has a
permissive provenance row; people, vehicles, street furniture and animals stand as modelled,
people on their feet."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter

import numpy as np
import pytest
from rich.console import Console

from render.assets import find_meshes
from render.config import CameraRanges, ObjectRanges, QualityChecks, SamplingRanges
from render.mesh_checks import check_shape, flatness, load_mesh_arrays, normalising_transform
from render.poses import IDENTITY_ROTATION, UPRIGHT_CATEGORIES, MeshExtent, stable_poses
from render.sampler import SamplingError, sample_scene
from tests.helpers import ROOT, tiny_config

REAL = ROOT / "assets" / "real"
MODELS = REAL / "models"
PERMISSIVE = re.compile(r"^(CC0 1\.0|CC BY [34]\.0|BSD-3-Clause \(\S+\)|public domain \(.+\))$")
SOURCE = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{10}:\S.* \(original: .+\)$")
QUIET = Console(file=open(os.devnull, "w"))  # noqa: SIM115


def people() -> list:
    return [mesh for mesh in find_meshes(MODELS).items if mesh.category == "person"]


def normalised(path) -> np.ndarray:
    """The mesh's vertices (V, 3) as the renderer holds them: z up, largest dimension 1."""
    vertices = load_mesh_arrays(path, 1_000_000).vertices
    offset, scale, _ = normalising_transform(vertices)
    return (vertices + offset) * scale


def test_every_real_mesh_is_found_and_has_a_permissive_provenance_row():
    scan = find_meshes(MODELS)
    assert not scan.skipped
    files = {mesh.path.relative_to(REAL).as_posix() for mesh in scan.items}
    rows = json.loads((REAL / "provenance.json").read_text())["meshes"]
    assert {row["file"] for row in rows} == files and len(rows) == len(files)
    readme = (REAL / "README.md").read_text()
    for row in rows:
        assert PERMISSIVE.match(row["licence"]), row
        assert SOURCE.match(row["source"]), row
        assert row["author"] and row["changes"], row
        assert (f"| `{row['file']}` | {row['source']} | {row['author']} | {row['licence']} | "
                f"{row['changes']} |") in readme, row["file"]
    counts = Counter(mesh.category for mesh in scan.items)
    assert counts["person"] >= 12
    assert counts["vehicle"] + counts["street"] + counts["animal"] >= 2 + 8 + 6  # 16 before
    prose = " ".join(readme.split())  # the README's text, however its lines wrap
    assert f"{len(rows)} real meshes in {len(counts)} categories" in prose


def glb_materials(path) -> list[dict]:
    """The `materials` of a binary glTF file's JSON chunk."""
    data = path.read_bytes()
    length = int.from_bytes(data[12:16], "little")
    return json.loads(data[20:20 + length]).get("materials", [])


def test_real_mesh_materials_are_opaque_base_colours():
    """Materials survive as base colours only, and opaque: a base colour with alpha 0 (what
    Blender's FBX importer reads from the Quaternius files) would render the mesh invisible or
    black."""
    coloured = 0
    for mesh in find_meshes(MODELS).items:
        for material in glb_materials(mesh.path):
            coloured += 1
            assert material.get("alphaMode", "OPAQUE") == "OPAQUE", (mesh.path, material)
            pbr = material.get("pbrMetallicRoughness", {})
            assert pbr.get("baseColorFactor", [1.0] * 4)[3] == 1.0, (mesh.path, material)
            assert "baseColorTexture" not in pbr, mesh.path
    assert coloured >= 16 * 4


@pytest.mark.parametrize("category", ["person", "vehicle", "street", "animal"])
def test_street_scene_meshes_pass_the_mesh_checks_and_stand_upright_only(category):
    assert category in UPRIGHT_CATEGORIES
    meshes = [mesh for mesh in find_meshes(MODELS).items if mesh.category == category]
    assert meshes
    for mesh in meshes:
        arrays = load_mesh_arrays(mesh.path, 1_000_000)
        check_shape(mesh.path, arrays.vertices, arrays.faces)  # raises BadAsset
        assert flatness(arrays.vertices)[0] > 0.01, mesh.path  # a solid, not a sheet
        assert mesh.path.stat().st_size < 300_000, mesh.path


def test_people_stand_on_their_feet_as_modelled():
    """Each person is modelled standing on their feet: taller than wide (the height is the
    largest dimension, z up after the glTF import), shoes lowest, shirt above trousers, skin
    (the head or a raised hand) at the top. Yet their most likely stable pose lays them down: so
    people are in UPRIGHT_CATEGORIES, and the sampler keeps a mesh of `upright_meshes` as
    modelled even when every object should take a stable pose."""
    import trimesh

    found = people()
    assert len(found) >= 12
    poses_seen = {mesh.path.stem.split("_", 1)[1] for mesh in found}
    assert {"standing", "walking", "running", "sitting"} <= poses_seen
    for mesh in found:
        vertices = normalised(mesh.path)
        extent = vertices.max(axis=0) - vertices.min(axis=0)
        assert extent[2] == pytest.approx(1.0) and extent[2] > max(extent[0], extent[1])
        if "sitting" not in mesh.path.stem and "pickingup" not in mesh.path.stem:
            assert extent[2] > 1.5 * max(extent[0], extent[1]), mesh.path
        scene = trimesh.load(mesh.path, force="scene")
        spans = {part.visual.material.name: part.bounds[:, 1]  # glTF: y up
                 for part in scene.geometry.values()}
        low, high = scene.bounds[:, 1]
        assert spans["Shoes"][0] == pytest.approx(low), mesh.path
        assert spans["Skin"][1] > low + 0.9 * (high - low), mesh.path  # a bent back: 0.95
        assert spans["Shirt"].mean() > spans["Pants"].mean() > spans["Shoes"].mean(), mesh.path
    standing = MODELS / "person" / "male_standing.glb"
    _, poses = stable_poses(normalised(standing))
    assert poses and poses[0].extent[2] < 0.5  # lying down: what the rule prevents
    extents = {str(standing): MeshExtent((0.32, 0.18, 1.0), poses)}
    ranges = SamplingRanges(objects=ObjectRanges(stable_pose_probability=1.0))
    drawn = {"upright": [], "free": []}
    for seed in range(12):
        for kind, upright in (("upright", {str(standing)}), ("free", set())):
            try:
                spec = sample_scene(np.random.default_rng(seed), index=0, attempt=0, seed=seed,
                                    size=128, photos=["p.jpg"],
                                    meshes=[("person/male_standing", str(standing))],
                                    extent_of=extents.__getitem__, ranges=ranges,
                                    checks=QualityChecks(), upright_meshes=upright)
            except SamplingError:
                continue
            drawn[kind] += [obj.pose for obj in spec.objects]
    assert len(drawn["upright"]) >= 10 and set(drawn["upright"]) == {IDENTITY_ROTATION}
    assert IDENTITY_ROTATION not in drawn["free"]


def test_the_catalog_marks_upright_categories(tmp_path):
    from render.catalog import build_catalog

    models = tmp_path / "models"
    for category, name in (("person", "male_walking"), ("street", "park_bench")):
        (models / category).mkdir(parents=True)
        shutil.copy(MODELS / category / f"{name}.glb", models / category)
    (models / "mug").mkdir()
    shutil.copy(MODELS / "mug" / "mug.glb", models / "mug")
    catalog, _ = build_catalog(tiny_config(tmp_path / "out", models=models), QUIET)
    assert catalog.upright == {str(models / "person" / "male_walking.glb"),
                               str(models / "street" / "park_bench.glb")}
    assert catalog.people == {str(models / "person" / "male_walking.glb")}


def test_people_stand_at_a_persons_height_and_other_objects_keep_theirs():
    person, mug = str(MODELS / "person" / "male_standing.glb"), str(MODELS / "mug" / "mug.glb")
    extents = {person: MeshExtent((0.32, 0.18, 1.0), ()), mug: MeshExtent((1.0, 0.8, 0.9), ())}
    ranges = SamplingRanges(camera=CameraRanges(pitch=(5.0, 10.0), fov=(60.0, 70.0)),
                            objects=ObjectRanges(occluders=(2, 3)))
    sizes = {person: [], mug: []}
    for seed in range(30):
        try:
            spec = sample_scene(np.random.default_rng(seed), index=0, attempt=0, seed=seed,
                                size=128, photos=["p.jpg"],
                                meshes=[("person/male_standing", person), ("mug/mug", mug)],
                                extent_of=extents.__getitem__, ranges=ranges,
                                checks=QualityChecks(scene_cue=False), upright_meshes={person},
                                person_meshes={person})
        except SamplingError:
            continue
        for obj in spec.objects:
            sizes[obj.mesh_path].append((obj.role, obj.size))
    assert len(sizes[person]) >= 10 and len(sizes[mug]) >= 10
    assert all(1.5 <= size <= 1.9 for _, size in sizes[person])
    assert all(size <= 1.0 for _, size in sizes[mug])
    assert {role for role, _ in sizes[person]} == {"inserted", "occluder"}


@pytest.mark.blender
def test_a_person_renders_standing_and_the_dataset_validates(tmp_path):
    """A real tiny render (48 px, 4 samples) of one person with every object told to take a
    stable pose: the person still stands (identity pose, box 1 tall), its mask is taller than
    wide, and the dataset passes validate."""
    from dataset_tools.layout import read_image, sample_path
    from dataset_tools.records import read_manifest
    from dataset_tools.validate import validate_dataset
    from render.runner import run
    from render.spec import SceneSpec

    models = tmp_path / "models" / "person"
    models.mkdir(parents=True)
    shutil.copy(MODELS / "person" / "male_standing.glb", models)
    # A person is thin: at 48 px it is drawn large and near (the lower part of the frame, a
    # low camera) so that its mask and shadow pass the quality checks.
    objects = ObjectRanges(occluders=(0, 0), stable_pose_probability=1.0,
                           person_size=(0.9, 1.0), inserted_screen_y=(0.7, 0.8))
    camera = CameraRanges(height=(1.0, 1.2), pitch=(22.0, 30.0))
    checks = QualityChecks(min_object_fraction=0.002, min_shadow_fraction=0.001,
                           scene_cue=False)  # no occluder needed to show the light
    config = tiny_config(tmp_path / "out", models=models.parent, count=3, checks=checks,
                         ranges=SamplingRanges(objects=objects, camera=camera), seed=1)
    summary = run(config, QUIET)
    assert summary.rendered >= 2, summary  # a thin mesh at 48 px: one may miss the checks
    report = validate_dataset(config.out)
    assert report.valid, report.problems
    for record in read_manifest(config.out).values():
        spec = SceneSpec.from_json(record.spec)
        assert spec.inserted.pose == IDENTITY_ROTATION
        assert spec.inserted.extent[2] == pytest.approx(1.0)
        assert 0.9 <= spec.inserted.size <= 1.0  # person_size, not inserted_size
        mask = read_image(sample_path(config.out, record.split, "mask", record.id), "L") > 0
        ys, xs = np.nonzero(mask)
        assert np.ptp(ys) > np.ptp(xs), (np.ptp(ys), np.ptp(xs))
        colour = read_image(sample_path(config.out, record.split, "noshadow", record.id),
                            "RGB")[mask].astype(float).mean(axis=0)
        assert colour.max() > 25, colour  # lit clothes and skin, not a black cut-out
