"""Finding scene photos and meshes under their folders, and the error a bad input file raises
(no bpy). Checking a mesh is `render.mesh_checks`'s, its stable poses `render.poses`'s."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp",
                    ".hdr"}  # .hdr: tone-mapped (render.scene_images)
MESH_EXTENSIONS = {".obj", ".ply", ".stl", ".off", ".glb", ".gltf"}
SIDECAR_EXTENSIONS = {".mtl", ".json", ".txt", ".md", ".bin", ".mat", ".binvox", ".solid",
                      ".surface"} | IMAGE_EXTENSIONS
SIDECAR_MASK_KEYS = ("object_mask", "shadow_mask")  # a photo sidecar's masks (render.hints)


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


def read_json_asset(path: Path) -> Any:
    """The JSON value in the input file at `path` (a sidecar, a taxonomy). Raises BadAsset
    naming it when it cannot be read, is not JSON, or is nested too deeply for the parser
    (json raises RecursionError at about a thousand levels)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise BadAsset(path, f"not a readable JSON file ({error})") from None
    except RecursionError:
        raise BadAsset(path, "not a readable JSON file (nested too deeply)") from None


def sidecar_masks(sidecar: Path) -> set[Path]:
    """The mask images a photo's sidecar names: inputs of that photo, not scene photos. Read
    leniently (a broken sidecar names none here; `render.hints.read_hints` reports it), so
    its masks are kept out of the photos even when the sidecar itself cannot be used."""
    try:
        data = read_json_asset(sidecar)
    except BadAsset:
        return set()
    if not isinstance(data, dict):
        return set()
    return {sidecar.parent / data[key] for key in SIDECAR_MASK_KEYS
            if isinstance(data.get(key), str)}


def declares_panorama(sidecar: Path) -> bool:
    """Whether a photo's sidecar declares it a panorama (a JSON object with a `panorama` key;
    `render.hints`), read leniently: a panorama whose sidecar is otherwise unusable is skipped
    rather than taken for a plain photo."""
    try:
        data = read_json_asset(sidecar)
    except BadAsset:
        return False
    return isinstance(data, dict) and "panorama" in data


def find_scenes(folder: Path) -> AssetScan:
    """Image files under folder, sorted, except the masks sidecars name; other files are
    reported as skipped."""
    if not folder.is_dir():
        raise BadAsset(folder, "scenes folder does not exist")
    photos, skipped, masks = [], [], set()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.startswith("."):
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            photos.append(path)
        else:
            masks |= sidecar_masks(path) if path.suffix.lower() == ".json" else set()
            if path.name.lower() not in {"readme.md", "license", "license.txt"}:
                skipped.append((str(path), "not an image file"))
    return AssetScan([path for path in photos if path not in masks], skipped)


def _taxonomy(folder: Path) -> dict[str, str]:
    path = folder / "taxonomy.json"
    if not path.exists():
        return {}
    try:
        entries = read_json_asset(path)
        return {entry["synsetId"]: entry["name"].split(",")[0] for entry in entries}
    except (BadAsset, KeyError, TypeError, AttributeError):
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
