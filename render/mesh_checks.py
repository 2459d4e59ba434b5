"""Checking a mesh before Blender sees it: the file, its raw coordinates, its geometry and its
shape, and reading the non-OBJ formats into arrays (no bpy)."""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from render.assets import BadAsset
from render.ply import read_ply_strips

MAX_MESH_BYTES = 512 * 1024 * 1024
MAX_FACES = 1_000_000  # the default limit (--max-faces): meshes with more faces are skipped
MAX_COORDINATE = float(np.finfo(np.float32).max)  # Blender stores coordinates as float32
# The shape rule (`check_shape`), in units of the mesh's size (its largest dimension):
FLAT_THICKNESS = 0.005  # vertices within this of one plane: a flat mesh (sheet, decal, plate)
UPRIGHT_TILT_DEG = 10.0  # a flat mesh is used only when its plane is this close to vertical
MIN_FLAT_AREA = 0.05  # ... and its faces cover at least this share of size²
MIN_AREA = 1e-6  # faces covering less than this share of size²: degenerate, nothing to render


@dataclass(frozen=True)
class MeshArrays:
    """A mesh read outside Blender (z up)."""

    vertices: np.ndarray  # (V, 3) float64
    faces: np.ndarray  # (F, 3) int64 triangles
    colors: np.ndarray | None  # (V, 3) float32 sRGB in [0, 1] per vertex, or None


def count_obj_faces(data: bytes) -> int:
    """Face lines of a Wavefront OBJ, counted on the raw bytes (fast, no parsing)."""
    return data.count(b"\nf ") + int(data.startswith(b"f "))


_OBJ_VERTEX_LINE = re.compile(rb"^[ \t]*v[ \t]+([^\r\n#]*)", re.MULTILINE)
NOT_FINITE = "mesh has NaN or infinite vertex coordinates"


def check_obj_coordinates(path: Path, data: bytes) -> None:
    """Parse the numbers of every `v` line of a raw OBJ and raise
    BadAsset unless all are finite and fit Blender's float32: its importer reads `nan`, `inf`
    and overflowing values silently as 0, which makes a broken mesh look like a valid one."""
    lines = _OBJ_VERTEX_LINE.findall(data)
    if not lines:
        return
    text = b" ".join(lines).decode("ascii", errors="replace")
    try:
        with warnings.catch_warnings():  # a token that is not a number stops the fast parse
            warnings.simplefilter("error", DeprecationWarning)
            values = np.fromstring(text, dtype=np.float64, sep=" ")
    except (DeprecationWarning, ValueError):
        values = None
    if values is None or not np.all(np.abs(values) <= MAX_COORDINATE):
        for number, line in enumerate(lines, start=1):  # the slow path names the culprit
            for token in line.split():
                try:
                    value = float(token)
                except ValueError:
                    raise BadAsset(path, f"vertex {number} has a coordinate that is not a "
                                         f"number ({token.decode(errors='replace')!r})") from None
                if not abs(value) <= MAX_COORDINATE:
                    raise BadAsset(path, f"{NOT_FINITE} (vertex {number}: "
                                         f"{line.decode(errors='replace').strip()})")


def check_mesh_file(path: Path, max_faces: int) -> None:
    """Checks before a Blender import: exists, not empty, not absurdly large; for OBJ also the
    face count and the raw vertex coordinates."""
    if not path.is_file():
        raise BadAsset(path, "mesh file is missing")
    size = path.stat().st_size
    if size == 0:
        raise BadAsset(path, "mesh file is empty")
    if size > MAX_MESH_BYTES:
        raise BadAsset(path, f"mesh file is {size / 2**20:.0f} MiB, over the "
                             f"{MAX_MESH_BYTES / 2**20:.0f} MiB limit")
    if path.suffix.lower() == ".obj":
        data = path.read_bytes()
        faces = count_obj_faces(data)
        if faces == 0:
            raise BadAsset(path, "OBJ file has no faces")
        if faces > max_faces:
            raise BadAsset(path, f"{faces} faces, over the --max-faces limit of {max_faces}")
        check_obj_coordinates(path, data)


def load_mesh_arrays(path: Path, max_faces: int) -> MeshArrays:
    """Vertices in z-up axes, triangles and (PLY only) vertex colours of a non-OBJ mesh file.
    glTF is y-up by its specification and converted; PLY, STL and OFF are taken as z-up. A PLY
    made of triangle strips (`tristrips`, as the Stanford scans) is read here, the rest with
    trimesh. Raises BadAsset."""
    import trimesh

    check_mesh_file(path, max_faces)
    colors = None
    try:
        ply = read_ply_strips(path) if path.suffix.lower() == ".ply" else None
        if ply is not None:
            vertices, faces, colors = ply
        else:
            mesh = trimesh.load(path, force="mesh", process=False, skip_materials=True)
            vertices = np.asarray(getattr(mesh, "vertices", np.zeros((0, 3))), dtype=np.float64)
            faces = np.asarray(getattr(mesh, "faces", np.zeros((0, 3))), dtype=np.int64)
            visual = getattr(mesh, "visual", None)
            if path.suffix.lower() == ".ply" and getattr(visual, "kind", None) == "vertex":
                colors = np.asarray(visual.vertex_colors, dtype=np.float32)[:, :3] / 255.0
    except BadAsset:
        raise
    except Exception as error:  # trimesh and numpy raise many types for malformed files
        raise BadAsset(path, f"cannot be read as a mesh ({type(error).__name__}: {error})") \
            from None
    validate_geometry(path, vertices, faces, max_faces)
    if colors is not None and len(colors) != len(vertices):
        colors = None
    if path.suffix.lower() in {".glb", ".gltf"}:
        vertices = vertices[:, [0, 2, 1]] * np.array([1.0, -1.0, 1.0])
    return MeshArrays(vertices, faces, colors)


def validate_geometry(path: Path, vertices: np.ndarray, faces: np.ndarray,
                      max_faces: int) -> None:
    if len(faces) == 0 or len(vertices) == 0:
        raise BadAsset(path, "mesh has no faces")
    if len(faces) > max_faces:
        raise BadAsset(path, f"{len(faces)} faces, over the --max-faces limit of {max_faces}")
    if not np.all(np.isfinite(vertices)):
        raise BadAsset(path, NOT_FINITE)
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise BadAsset(path, "mesh faces point at vertices that do not exist")
    extent = vertices.max(axis=0) - vertices.min(axis=0)
    if extent.max() <= 1e-9 or not math.isfinite(float(extent.max())):
        raise BadAsset(path, "mesh has zero size")


def check_shape(path: Path, vertices: np.ndarray, triangles: np.ndarray) -> None:
    """Refuse meshes that cannot give a clean mask and shadow: faces with (almost) no area, and
    flat meshes (every vertex within FLAT_THICKNESS·size of one plane) unless they stand
    upright (plane within UPRIGHT_TILT_DEG of vertical, like a sheet of paper on its edge) and
    cover at least MIN_FLAT_AREA·size². One lying on the ground coincides with it (a speckled
    mask) and casts no shadow. `vertices` (V, 3) z up, `triangles` (F, 3)."""
    size = float((vertices.max(axis=0) - vertices.min(axis=0)).max())
    corners = vertices[triangles]
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    area = 0.5 * float(np.linalg.norm(cross, axis=1).sum()) / size**2
    if area < MIN_AREA:
        raise BadAsset(path, "mesh faces have no area (degenerate): nothing to render")
    thickness, normal = flatness(vertices)
    if thickness >= FLAT_THICKNESS:
        return
    tilt = math.degrees(math.asin(min(1.0, abs(float(normal[2])))))
    if tilt > UPRIGHT_TILT_DEG:
        raise BadAsset(path, f"flat mesh (all vertices in one plane) tilted {tilt:.0f}° from "
                             f"upright: lying on the ground it gives no clean mask or shadow "
                             f"(flat meshes are used only within {UPRIGHT_TILT_DEG:.0f}° of "
                             f"vertical)")
    if area < MIN_FLAT_AREA:
        raise BadAsset(path, f"flat mesh whose faces cover {area:.1%} of its size squared "
                             f"(at least {MIN_FLAT_AREA:.0%} needed for a usable mask)")


def flatness(vertices: np.ndarray) -> tuple[float, np.ndarray]:
    """(thickness in units of the mesh's size, unit normal (3,) of the plane it is thinnest
    across) of vertices (V, 3): under FLAT_THICKNESS the mesh is flat."""
    size = float((vertices.max(axis=0) - vertices.min(axis=0)).max())
    centred = vertices - vertices.mean(axis=0)
    _, axes = np.linalg.eigh(centred.T @ centred)
    normal = axes[:, 0]  # the direction of least spread: a flat mesh's plane normal
    return float(np.ptp(centred @ normal)) / size, normal

def normalising_transform(vertices: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """(offset (3,), scale, extent (3,)) that centre the mesh in x and y, put its lowest point on
    z = 0 and make its largest dimension 1: normalised = (v + offset) * scale."""
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    extent = high - low
    scale = 1.0 / float(extent.max())
    offset = np.array([-(low[0] + high[0]) / 2, -(low[1] + high[1]) / 2, -low[2]])
    return offset, scale, extent * scale
