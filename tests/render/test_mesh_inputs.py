"""Mesh inputs: non-finite OBJ coordinates, flat meshes, PLY triangle strips with vertex colours
and missing textures, checked on arrays and through real renders (bpy, 48x48, 4 samples)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from rich.console import Console

from dataset_tools.layout import read_image, sample_path
from dataset_tools.records import read_manifest
from render.assets import BadAsset
from render.mesh_checks import check_mesh_file, check_shape, load_mesh_arrays
from render.ply import tristrips_to_triangles
from render.runner import RunSummary, print_summary, run
from tests.helpers import tiny_config

# ------------------------------------------------------------------ files the tests write

# A box 1 x 0.6 x 0.8 (z up) as triangle strips: the four sides in one strip, then each cap
# after a -1 restart; every triangle faces outwards when the strips alternate their winding.
BOX_VERTICES = np.array([[-0.5, -0.3, 0.0], [0.5, -0.3, 0.0], [0.5, 0.3, 0.0], [-0.5, 0.3, 0.0],
                         [-0.5, -0.3, 0.8], [0.5, -0.3, 0.8], [0.5, 0.3, 0.8], [-0.5, 0.3, 0.8]])
BOX_STRIPS = [4, 0, 5, 1, 6, 2, 7, 3, 4, 0, -1, 4, 5, 7, 6, -1, 0, 3, 1, 2]


def write_strip_ply(path: Path, vertices: np.ndarray, rgb: tuple[int, int, int],
                    strips: list[int]) -> Path:
    """A binary little-endian PLY as the Stanford scans are: vertices with a confidence and
    red/green/blue, one `tristrips` element (-1 restarts a strip), no `face` element."""
    header = (f"ply\nformat binary_little_endian 1.0\ncomment written by a test\n"
              f"element vertex {len(vertices)}\nproperty float x\nproperty float y\n"
              "property float z\nproperty float confidence\nproperty uchar red\n"
              "property uchar green\nproperty uchar blue\n"
              "element tristrips 1\nproperty list int int vertex_indices\nend_header\n")
    records = np.zeros(len(vertices), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                                             ("confidence", "<f4"), ("red", "u1"),
                                             ("green", "u1"), ("blue", "u1")])
    records["confidence"] = 0.5
    for axis, name in enumerate("xyz"):
        records[name] = vertices[:, axis]
    for value, name in zip(rgb, ("red", "green", "blue"), strict=True):
        records[name] = value
    strip_list = np.asarray(strips, dtype="<i4")
    path.write_bytes(header.encode() + records.tobytes()
                     + np.array([len(strip_list)], dtype="<i4").tobytes() + strip_list.tobytes())
    return path


def write_obj(path: Path, vertices: list[str], faces: list[str], header: str = "") -> Path:
    path.write_text(header + "".join(f"v {v}\n" for v in vertices)
                    + "".join(f"f {f}\n" for f in faces))
    return path


def signed_volume(vertices: np.ndarray, triangles: np.ndarray) -> float:
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def quad(corners: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    return np.array(corners, dtype=float), np.array([[0, 1, 2], [0, 2, 3]])


def rotated_about_x(vertices: np.ndarray, degrees: float) -> np.ndarray:
    angle = math.radians(degrees)
    rotation = np.array([[1, 0, 0], [0, math.cos(angle), -math.sin(angle)],
                         [0, math.sin(angle), math.cos(angle)]])
    return vertices @ rotation.T


# ------------------------------------------------------------------ pure checks (no bpy)


@pytest.mark.parametrize("value", ["nan", "-NaN", "inf", "-Infinity", "1e39", "1e400"])
def test_obj_coordinates_that_are_not_finite_are_refused_in_the_raw_file(tmp_path, value):
    # Blender's OBJ importer reads every one of these as 0, so only the raw text shows them.
    path = write_obj(tmp_path / "bad.obj", ["0 0 0", f"{value} 1 0", "0 1 0"], ["1 2 3"])
    with pytest.raises(BadAsset, match=r"bad.obj: mesh has NaN or infinite vertex"):
        check_mesh_file(path, 100)


def test_obj_coordinates_that_are_not_numbers_are_refused(tmp_path):
    path = write_obj(tmp_path / "comma.obj", ["0 0 0", "1,5 1 0", "0 1 0"], ["1 2 3"])
    with pytest.raises(BadAsset, match="comma.obj: .*not a number"):
        check_mesh_file(path, 100)


def test_finite_obj_passes_the_raw_check(tmp_path):
    vertices = ["0 0 0 1", "1e3 -2.5E-2 0  # a comment", "0 1 0 0.5 0.5 0.5"]
    path = write_obj(tmp_path / "ok.obj", vertices, ["1 2 3"],
                     header="# nan inf\nmtllib infinite.mtl\no nan\nvn 0 0 1\nvt 0.5 0.5\n")
    check_mesh_file(path, 100)


def test_tristrips_alternate_their_winding_and_restart_at_minus_one():
    triangles = tristrips_to_triangles(np.array([0, 1, 2, 3, -1, 4, 5, 6, 7, 8]))
    assert triangles.tolist() == [[0, 1, 2], [2, 1, 3], [4, 5, 6], [6, 5, 7], [6, 7, 8]]
    # Degenerate triangles (a repeated index, used to stitch strips) are dropped; they still
    # count for the alternation.
    assert tristrips_to_triangles(np.array([0, 1, 1, 2, 3])).tolist() == [[1, 2, 3]]
    assert tristrips_to_triangles(np.array([0, 1, -1, 2])).shape == (0, 3)
    box = tristrips_to_triangles(np.array(BOX_STRIPS))
    assert len(box) == 12
    assert signed_volume(BOX_VERTICES, box) == pytest.approx(1.0 * 0.6 * 0.8)


def test_binary_tristrip_ply_loads_with_its_vertex_colours(tmp_path):
    path = write_strip_ply(tmp_path / "scan.ply", BOX_VERTICES, (255, 0, 0), BOX_STRIPS)
    mesh = load_mesh_arrays(path, 1000)
    np.testing.assert_allclose(mesh.vertices, BOX_VERTICES, atol=1e-6)
    assert mesh.faces.shape == (12, 3)
    assert signed_volume(mesh.vertices, mesh.faces) == pytest.approx(0.48, rel=1e-5)
    assert mesh.colors is not None and mesh.colors.shape == (8, 3)
    np.testing.assert_array_equal(mesh.colors, np.tile([1.0, 0.0, 0.0], (8, 1)))
    with pytest.raises(BadAsset, match="over the --max-faces limit of 10"):
        load_mesh_arrays(path, 10)
    cut = tmp_path / "cut.ply"
    cut.write_bytes(path.read_bytes()[:-12])  # the strip list ends early
    with pytest.raises(BadAsset, match="cut.ply: PLY triangle strips cannot be read"):
        load_mesh_arrays(cut, 1000)


def test_ascii_tristrip_ply_and_face_ply_colours(tmp_path):
    ascii_ply = tmp_path / "strips.ply"
    ascii_ply.write_text("ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\n"
                         "property float y\nproperty float z\nproperty uchar red\n"
                         "property uchar green\nproperty uchar blue\nelement tristrips 1\n"
                         "property list int int vertex_indices\nend_header\n"
                         "0 0 0 0 255 0\n1 0 0 0 255 0\n0 0 1 0 255 0\n1 0 1 0 255 0\n"
                         "4 0 1 2 3\n")
    mesh = load_mesh_arrays(ascii_ply, 100)
    assert mesh.faces.tolist() == [[0, 1, 2], [2, 1, 3]]
    np.testing.assert_array_equal(mesh.colors[:, 1], 1.0)
    nan_strips = tmp_path / "nan_strips.ply"
    nan_strips.write_text(ascii_ply.read_text().replace("1 0 1 0 255 0", "nan 0 1 0 255 0"))
    with pytest.raises(BadAsset, match="NaN"):
        load_mesh_arrays(nan_strips, 100)
    # A PLY with faces goes through trimesh and keeps its colours too; one without none.
    import trimesh

    box = trimesh.creation.box()
    box.visual.vertex_colors = np.tile([0, 0, 255, 255], (len(box.vertices), 1)).astype(np.uint8)
    box.export(tmp_path / "blue.ply")
    np.testing.assert_array_equal(load_mesh_arrays(tmp_path / "blue.ply", 100).colors[:, 2], 1.0)
    trimesh.creation.box().export(tmp_path / "plain.ply")
    assert load_mesh_arrays(tmp_path / "plain.ply", 100).colors is None


def test_shape_rule_for_flat_and_degenerate_meshes():
    path = Path("sheet.obj")
    upright = quad([[-0.5, 0, 0], [0.5, 0, 0], [0.5, 0, 1.4], [-0.5, 0, 1.4]])  # paper, standing
    check_shape(path, *upright)
    check_shape(path, rotated_about_x(upright[0], 8.0), upright[1])  # leaning 8 degrees
    on_ground = quad([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    with pytest.raises(BadAsset, match=r"sheet.obj: flat mesh .* 90° from upright"):
        check_shape(path, *on_ground)
    with pytest.raises(BadAsset, match=r"flat mesh .* 45° from upright"):
        check_shape(path, rotated_about_x(upright[0], 45.0), upright[1])
    ribbon = quad([[0, 0, 0], [1, 0, 0], [1, 0, 0.02], [0, 0, 0.02]])  # upright, 2 % high
    with pytest.raises(BadAsset, match=r"flat mesh whose faces cover 2\.0% of"):
        check_shape(path, *ribbon)
    collinear = np.array([[0, 0, 0], [0.5, 0.5, 0.5], [1, 1, 1.0]]), np.array([[0, 1, 2]])
    with pytest.raises(BadAsset, match="no area"):
        check_shape(path, *collinear)
    # Solid meshes of any proportions pass, a thin plate standing upright too.
    check_shape(path, BOX_VERTICES, tristrips_to_triangles(np.array(BOX_STRIPS)))
    plate = BOX_VERTICES * np.array([1.0, 0.001, 1.0])
    check_shape(path, plate, tristrips_to_triangles(np.array(BOX_STRIPS)))
    with pytest.raises(BadAsset, match="flat mesh"):
        check_shape(path, BOX_VERTICES * np.array([1.0, 1.0, 0.001]),
                    tristrips_to_triangles(np.array(BOX_STRIPS)))


# ------------------------------------------------------------------ real renders

def render_models(out: Path, models: Path, count: int) -> tuple[RunSummary, str]:
    """Render `count` samples from the meshes in `models`; returns the summary and everything
    the run printed, the final summary included."""
    console = Console(file=io.StringIO(), width=400, soft_wrap=True)
    config = tiny_config(out, count=count, models=models)
    summary = run(config, console)
    print_summary(summary, config, console)
    return summary, console.file.getvalue()


def records_of(out: Path) -> list[dict]:
    return list(read_manifest(out).values())


def image(out: Path, record: dict, kind: str, mode: str = "L") -> np.ndarray:
    return read_image(sample_path(out, record.split, kind, record.id), mode)


@pytest.fixture(scope="module")
def bad_meshes_run(tmp_path_factory):
    """Meshes that must be skipped beside a red tristrip scan, the only usable mesh, which is
    therefore the inserted object and every occluder."""
    root = tmp_path_factory.mktemp("bad_meshes")
    models = root / "models"
    models.mkdir()
    # A big triangle once Blender has read nan as 0 (OBJ is y-up: this is an upright fan).
    write_obj(models / "nan.obj", ["0 0 0", "nan 1 0", "0 1 0", "1 0 0.5"], ["1 2 3", "1 3 4"])
    write_obj(models / "flat.obj", ["0 0 0", "1 0 0", "1 0 1", "0 0 1"], ["1 2 3 4"])  # lying
    write_strip_ply(models / "scan.ply", BOX_VERTICES, (255, 0, 0), BOX_STRIPS)
    out = root / "out"
    summary, printed = render_models(out, models, count=2)
    return out, models, summary, printed


@pytest.mark.blender
def test_nan_obj_is_skipped_with_one_line_and_listed(bad_meshes_run):
    out, models, summary, printed = bad_meshes_run
    path = str(models / "nan.obj")
    assert "NaN" in summary.skipped_assets.get(path, ""), summary.skipped_assets
    lines = [line for line in printed.splitlines() if "nan.obj" in line]
    assert len(lines) == 2, printed  # the line when it is met, and the summary's entry
    assert printed.index("skipped assets") < printed.index(lines[1])
    used = {mesh for r in records_of(out) for mesh in [r.inserted_mesh, *r.occluder_meshes]}
    assert used == {"scan"}


@pytest.mark.blender
def test_flat_mesh_on_the_ground_is_skipped_with_its_reason(bad_meshes_run):
    _, models, summary, printed = bad_meshes_run
    reason = summary.skipped_assets.get(str(models / "flat.obj"), "")
    assert "flat mesh" in reason and "from upright" in reason, summary.skipped_assets
    assert sum("flat.obj" in line for line in printed.splitlines()) == 2, printed


@pytest.mark.blender
def test_tristrip_ply_renders_in_its_vertex_colour(bad_meshes_run):
    out, models, summary, _ = bad_meshes_run
    assert summary.rendered == 2 and not summary.failed, summary
    assert str(models / "scan.ply") not in summary.skipped_assets
    for record in records_of(out):
        assert record.inserted_mesh == "scan"
        mask = cv2.erode(image(out, record, "mask"), np.ones((3, 3), np.uint8)) > 0
        assert mask.sum() >= 10
        red, green, blue = image(out, record, "noshadow", "RGB")[mask].astype(float).mean(axis=0)
        assert red > 2 * green and red > 2 * blue and red > 40, (red, green, blue)


@pytest.mark.blender
def test_upright_sheet_renders_a_clean_mask(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    write_obj(models / "paper.obj", ["-0.5 0 0", "0.5 0 0", "0.5 1.4 0", "-0.5 1.4 0"],
              ["1 2 3 4"])
    summary, printed = render_models(tmp_path / "out", models, count=1)
    assert summary.rendered == 1 and not summary.skipped_assets, printed
    record = records_of(tmp_path / "out")[0]
    mask = image(tmp_path / "out", record, "mask") > 0
    count, labels = cv2.connectedComponents(mask.astype(np.uint8))
    assert count == 2, "the sheet's mask is one piece"  # background + one component
    ys, xs = np.nonzero(mask)
    box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    assert mask.sum() >= 0.4 * box, "a quadrilateral fills much of its bounding box"


@pytest.fixture(scope="module")
def missing_texture_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("texture")
    models = root / "models"
    models.mkdir()
    (models / "skin.mtl").write_text("newmtl skin\nKd 0.2 0.6 0.2\nmap_Kd textures/wood.png\n")
    corners = [f"{x} {y} {z}" for x in (0, 1) for y in (0, 0.8) for z in (0, 0.6)]
    sides = ["1/1 2/2 4/3 3/4", "5/1 7/2 8/3 6/4", "1/1 5/2 6/3 2/4", "3/1 4/2 8/3 7/4",
             "1/1 3/2 7/3 5/4", "2/1 6/2 8/3 4/4"]
    write_obj(models / "crate.obj", corners, sides,
              header="mtllib skin.mtl\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\nusemtl skin\n")
    return root, models


@pytest.mark.blender
def test_missing_texture_is_one_line_naming_mesh_and_file_and_the_mesh_renders(
        missing_texture_run, capfd):
    root, models = missing_texture_run
    summary, printed = render_models(root / "out", models, count=1)
    worker_output = capfd.readouterr()
    everything = printed + worker_output.out + worker_output.err
    assert summary.rendered == 1 and not summary.failed, everything
    lines = [line for line in everything.splitlines() if line.strip()]
    # One line while rendering (the final summary lists it once more, tested below).
    during = everything.split("samples complete")[0].splitlines()
    named = [line for line in during if "wood.png" in line]
    assert len(named) == 1 and str(models / "crate.obj") in named[0], everything
    assert "base colour" in named[0]
    # Nothing else from Blender's importer: each line is ours (the run's or the summary's).
    assert not [line for line in lines if "Failed" in line or "WARNING" in line], everything
    record = records_of(root / "out")[0]
    assert any("wood.png" in warning for warning in record.warnings)


@pytest.mark.blender
def test_missing_texture_is_listed_in_the_run_summary(missing_texture_run):
    root, models = missing_texture_run
    _, printed = render_models(root / "out_summary", models, count=1)
    summary_part = printed[printed.index("samples complete"):]
    assert "crate.obj" in summary_part and "wood.png" in summary_part, printed
