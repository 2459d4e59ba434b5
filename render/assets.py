"""Finding scene photos and meshes, and checking meshes before Blender sees them (no bpy)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
MESH_EXTENSIONS = {".obj", ".ply", ".stl", ".off", ".glb", ".gltf"}
SIDECAR_EXTENSIONS = {".mtl", ".json", ".txt", ".md", ".bin", ".mat", ".binvox", ".solid",
                      ".surface"} | IMAGE_EXTENSIONS
MAX_MESH_BYTES = 512 * 1024 * 1024


class BadAsset(RuntimeError):
    """An input file that cannot be used; str() is one line naming the file."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class MeshAsset:
    mesh_id: str  # "SYNSET/MODEL" for ShapeNet, the relative path without suffix otherwise
    path: Path
    category: str


@dataclass(frozen=True)
class AssetScan:
    items: list
    skipped: list[tuple[str, str]]  # (path, reason)


def find_scenes(folder: Path) -> AssetScan:
    """Image files under folder, sorted; other files are reported as skipped."""
    if not folder.is_dir():
        raise BadAsset(folder, "scenes folder does not exist")
    photos, skipped = [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.startswith("."):
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            photos.append(path)
        elif path.name.lower() not in {"readme.md", "license", "license.txt"}:
            skipped.append((str(path), "not an image file"))
    return AssetScan(photos, skipped)


def _taxonomy(folder: Path) -> dict[str, str]:
    path = folder / "taxonomy.json"
    if not path.exists():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        return {entry["synsetId"]: entry["name"].split(",")[0] for entry in entries}
    except (ValueError, KeyError, TypeError):
        return {}


def find_meshes(folder: Path) -> AssetScan:
    """ShapeNet v2 (SYNSET/ID/models/model_normalized.obj), ShapeNet v1 (SYNSET/ID/model.obj)
    and loose mesh files, sorted by id."""
    if not folder.is_dir():
        raise BadAsset(folder, "models folder does not exist")
    names = _taxonomy(folder)
    meshes: list[MeshAsset] = []
    skipped: list[tuple[str, str]] = []

    def visit(directory: Path) -> None:
        v2 = directory / "models" / "model_normalized.obj"
        v1 = directory / "model.obj"
        shapenet = v2 if v2.is_file() else v1 if v1.is_file() else None
        if shapenet is not None and directory != folder:
            relative = directory.relative_to(folder)
            synset = relative.parts[0] if len(relative.parts) > 1 else ""
            meshes.append(MeshAsset(relative.as_posix(), shapenet, names.get(synset, synset)))
            return
        for child in sorted(directory.iterdir()):
            if child.name.startswith("."):
                continue
            if child.is_dir():
                visit(child)
            elif child.suffix.lower() in MESH_EXTENSIONS:
                relative = child.relative_to(folder)
                category = relative.parts[0] if len(relative.parts) > 1 else child.stem
                meshes.append(MeshAsset(relative.with_suffix("").as_posix(), child,
                                        names.get(category, category)))
            elif child.suffix.lower() not in SIDECAR_EXTENSIONS:
                skipped.append((str(child), "not a mesh file"))

    visit(folder)
    return AssetScan(sorted(meshes, key=lambda mesh: mesh.mesh_id), skipped)


def count_obj_faces(path: Path) -> int:
    """Face lines of a Wavefront OBJ, counted on the raw bytes (fast, no parsing)."""
    data = path.read_bytes()
    return data.count(b"\nf ") + int(data.startswith(b"f "))


def check_mesh_file(path: Path, max_faces: int) -> None:
    """Cheap checks before a Blender import: exists, not empty, not absurdly large."""
    if not path.is_file():
        raise BadAsset(path, "mesh file is missing")
    size = path.stat().st_size
    if size == 0:
        raise BadAsset(path, "mesh file is empty")
    if size > MAX_MESH_BYTES:
        raise BadAsset(path, f"mesh file is {size / 2**20:.0f} MiB, over the "
                             f"{MAX_MESH_BYTES / 2**20:.0f} MiB limit")
    if path.suffix.lower() == ".obj":
        faces = count_obj_faces(path)
        if faces == 0:
            raise BadAsset(path, "OBJ file has no faces")
        if faces > max_faces:
            raise BadAsset(path, f"{faces} faces, over the --max-faces limit of {max_faces}")


def load_with_trimesh(path: Path, max_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) float64 in z-up axes and triangles (F, 3) int64 of a non-OBJ mesh file.
    glTF is y-up by its specification and converted; PLY, STL and OFF are taken as z-up."""
    import trimesh

    check_mesh_file(path, max_faces)
    try:
        mesh = trimesh.load(path, force="mesh", process=False, skip_materials=True)
    except Exception as error:  # trimesh raises many types for malformed files
        raise BadAsset(path, f"cannot be read as a mesh ({type(error).__name__}: {error})") \
            from None
    vertices = np.asarray(getattr(mesh, "vertices", np.zeros((0, 3))), dtype=np.float64)
    faces = np.asarray(getattr(mesh, "faces", np.zeros((0, 3))), dtype=np.int64)
    validate_geometry(path, vertices, faces, max_faces)
    if path.suffix.lower() in {".glb", ".gltf"}:
        vertices = vertices[:, [0, 2, 1]] * np.array([1.0, -1.0, 1.0])
    return vertices, faces


def validate_geometry(path: Path, vertices: np.ndarray, faces: np.ndarray,
                      max_faces: int) -> None:
    if len(faces) == 0 or len(vertices) == 0:
        raise BadAsset(path, "mesh has no faces")
    if len(faces) > max_faces:
        raise BadAsset(path, f"{len(faces)} faces, over the --max-faces limit of {max_faces}")
    if not np.all(np.isfinite(vertices)):
        raise BadAsset(path, "mesh has NaN or infinite vertex coordinates")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise BadAsset(path, "mesh faces point at vertices that do not exist")
    extent = vertices.max(axis=0) - vertices.min(axis=0)
    if extent.max() <= 1e-9 or not math.isfinite(float(extent.max())):
        raise BadAsset(path, "mesh has zero size")


def normalising_transform(vertices: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """(offset (3,), scale, extent (3,)) that centre the mesh in x and y, put its lowest point on
    z = 0 and make its largest dimension 1: normalised = (v + offset) * scale."""
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    extent = high - low
    scale = 1.0 / float(extent.max())
    offset = np.array([-(low[0] + high[0]) / 2, -(low[1] + high[1]) / 2, -low[2]])
    return offset, scale, extent * scale
