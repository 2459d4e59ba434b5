import numpy as np
import pytest

from render.assets import BadAsset, find_meshes, find_scenes
from render.mesh_checks import check_mesh_file, load_mesh_arrays, normalising_transform
from tests.helpers import PROCEDURAL_MODELS as DEFAULT_MODELS
from tests.helpers import PROCEDURAL_SCENES as DEFAULT_SCENES


def test_embedded_assets_are_found():
    scenes = find_scenes(DEFAULT_SCENES)
    meshes = find_meshes(DEFAULT_MODELS)
    assert len(scenes.items) >= 5 and not scenes.skipped
    assert len(meshes.items) >= 5 and not meshes.skipped
    assert {mesh.category for mesh in meshes.items} >= {"chair", "table", "mug", "lamp",
                                                        "bottle"}


def test_find_scenes_skips_non_images(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "notes.csv").write_text("1,2")
    scan = find_scenes(tmp_path)
    assert [p.name for p in scan.items] == ["a.jpg"]
    assert scan.skipped == [(str(tmp_path / "notes.csv"), "not an image file")]
    with pytest.raises(BadAsset, match="does not exist"):
        find_scenes(tmp_path / "missing")


def test_find_meshes_layouts(tmp_path):
    (tmp_path / "02876657" / "v2id" / "models").mkdir(parents=True)
    (tmp_path / "02876657" / "v2id" / "models" / "model_normalized.obj").write_text("f 1 2 3\n")
    (tmp_path / "03001627" / "v1id").mkdir(parents=True)
    (tmp_path / "03001627" / "v1id" / "model.obj").write_text("f 1 2 3\n")
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "thing.ply").write_bytes(b"ply")
    (tmp_path / "loose" / "readme.xyz").write_text("?")
    (tmp_path / "taxonomy.json").write_text('[{"synsetId": "02876657", "name": "bottle,x"}]')
    scan = find_meshes(tmp_path)
    assert [(m.mesh_id, m.category) for m in scan.items] == [
        ("02876657/v2id", "bottle"), ("03001627/v1id", "03001627"), ("loose/thing", "loose")]
    assert scan.skipped == [(str(tmp_path / "loose" / "readme.xyz"), "not a mesh file")]


def test_mesh_file_checks(tmp_path):
    empty = tmp_path / "empty.obj"
    empty.write_text("")
    with pytest.raises(BadAsset, match="empty.obj: mesh file is empty"):
        check_mesh_file(empty, 10)
    no_faces = tmp_path / "points.obj"
    no_faces.write_text("v 0 0 0\nv 1 0 0\n")
    with pytest.raises(BadAsset, match="no faces"):
        check_mesh_file(no_faces, 10)
    many = tmp_path / "many.obj"
    many.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n" + "f 1 2 3\n" * 20)
    with pytest.raises(BadAsset, match="20 faces, over the --max-faces limit of 10"):
        check_mesh_file(many, 10)
    with pytest.raises(BadAsset, match="missing"):
        check_mesh_file(tmp_path / "nope.obj", 10)


def test_trimesh_loading_rejects_nan_and_garbage(tmp_path):
    nan = tmp_path / "nan.off"
    nan.write_text("OFF\n3 1 0\n0 0 0\nnan 1 0\n0 1 0\n3 0 1 2\n")
    with pytest.raises(BadAsset, match="NaN"):
        load_mesh_arrays(nan, 100)
    garbage = tmp_path / "garbage.glb"
    garbage.write_bytes(b"\x00\x01 not a gltf")
    with pytest.raises(BadAsset, match="garbage.glb"):
        load_mesh_arrays(garbage, 100)
    good = tmp_path / "tri.off"
    good.write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 1\n3 0 1 2\n")
    mesh = load_mesh_arrays(good, 100)
    assert mesh.vertices.shape == (3, 3) and mesh.faces.tolist() == [[0, 1, 2]]


def test_normalising_transform_exact():
    vertices = np.array([[1.0, 2.0, 3.0], [3.0, 6.0, 4.0]])
    offset, scale, extent = normalising_transform(vertices)
    normalised = (vertices + offset) * scale
    np.testing.assert_allclose(extent, [0.5, 1.0, 0.25])
    np.testing.assert_allclose(normalised.min(axis=0), [-0.25, -0.5, 0.0])
    np.testing.assert_allclose(normalised.max(axis=0), [0.25, 0.5, 0.25])
