"""Regenerate the embedded default assets (run from the repository root):

    python assets/make_assets.py

Meshes are built procedurally with trimesh and written in ShapeNet v2 layout (y-up, centred,
bounding-box diagonal 1, OBJ + MTL). Scene photos are copied from scikit-image's CC0 /
public-domain sample data (install scikit-image to rerun that part) and two floors are drawn
procedurally. Everything here is CC0.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import trimesh

ROOT = Path(__file__).resolve().parent
SYNSETS = {"03001627": "chair", "04379243": "table", "03797390": "mug",
           "03636649": "lamp", "02876657": "bottle"}


def box(extents, center):
    return trimesh.creation.box(extents=extents, transform=trimesh.transformations.
                                translation_matrix(center))


def cylinder(radius, height, center, sections=32):
    return trimesh.creation.cylinder(radius=radius, height=height, sections=sections,
                                     transform=trimesh.transformations.translation_matrix(center))


def revolve(profile, sections=40):
    """profile: (N, 2) (radius, z) from bottom to top -> closed surface of revolution."""
    return trimesh.creation.revolve(np.asarray(profile, dtype=float), sections=sections)


def chair(seat=0.45, height=0.45, back=0.45, leg=0.035):
    legs = [box((leg, leg, height), (sx * (seat / 2 - leg), sy * (seat / 2 - leg), height / 2))
            for sx in (-1, 1) for sy in (-1, 1)]
    return [(trimesh.util.concatenate(legs), "wood"),
            (box((seat, seat, 0.05), (0, 0, height + 0.025)), "fabric"),
            (box((seat, 0.05, back), (0, seat / 2 - 0.025, height + 0.05 + back / 2)), "fabric")]


def stool():
    return [(cylinder(0.03, 0.6, (0, 0, 0.3)), "metal"), (cylinder(0.22, 0.03, (0, 0, 0.015)),
            "metal"), (cylinder(0.2, 0.06, (0, 0, 0.63)), "fabric")]


def table(width=1.2, depth=0.7, height=0.72, leg=0.05):
    legs = [box((leg, leg, height - 0.04), (sx * (width / 2 - leg), sy * (depth / 2 - leg),
                                           (height - 0.04) / 2))
            for sx in (-1, 1) for sy in (-1, 1)]
    return [(trimesh.util.concatenate(legs), "wood_dark"),
            (box((width, depth, 0.04), (0, 0, height - 0.02)), "wood")]


def round_table():
    return [(cylinder(0.25, 0.03, (0, 0, 0.015)), "metal"),
            (cylinder(0.04, 0.7, (0, 0, 0.35)), "metal"),
            (cylinder(0.45, 0.04, (0, 0, 0.72), sections=48), "white")]


def mug():
    body = revolve([(0.0, 0.0), (0.045, 0.0), (0.045, 0.1), (0.04, 0.1), (0.04, 0.008),
                    (0.0, 0.008)])
    handle = trimesh.creation.torus(major_radius=0.03, minor_radius=0.007)
    handle.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 2, (1, 0, 0)))
    handle.apply_translation((0.055, 0, 0.05))
    return [(body, "ceramic"), (handle, "ceramic")]


def lamp():
    shade = revolve([(0.0, 0.38), (0.18, 0.38), (0.09, 0.56), (0.0, 0.56)])
    return [(cylinder(0.12, 0.03, (0, 0, 0.015)), "metal"),
            (cylinder(0.012, 0.42, (0, 0, 0.22)), "metal"), (shade, "shade")]


def bottle(radius=0.035, height=0.3):
    profile = [(0.0, 0.0), (radius, 0.0), (radius, height * 0.6), (radius * 0.4, height * 0.8),
               (radius * 0.35, height), (0.0, height)]
    return [(revolve(profile), "glass_green")]


def wine_bottle():
    return bottle(0.04, 0.33)


MATERIALS = {"wood": (0.45, 0.3, 0.17), "wood_dark": (0.25, 0.15, 0.08),
             "fabric": (0.2, 0.3, 0.55), "metal": (0.6, 0.6, 0.62), "white": (0.85, 0.85, 0.82),
             "ceramic": (0.8, 0.35, 0.25), "shade": (0.9, 0.85, 0.7),
             "glass_green": (0.15, 0.4, 0.2)}

MODELS = [("03001627", "chair_a", chair()), ("03001627", "stool_a", stool()),
          ("04379243", "table_a", table()), ("04379243", "round_table_a", round_table()),
          ("03797390", "mug_a", mug()), ("03636649", "lamp_a", lamp()),
          ("02876657", "bottle_a", bottle()), ("02876657", "bottle_b", wine_bottle())]


def write_shapenet_obj(folder: Path, parts) -> None:
    """parts: [(trimesh in z-up metres, material name)] -> ShapeNet v2 normalised OBJ + MTL."""
    meshes = [mesh for mesh, _ in parts]
    everything = trimesh.util.concatenate(meshes)
    low, high = everything.bounds
    center = (low + high) / 2
    scale = 1.0 / np.linalg.norm(high - low)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["# shadowsynth procedural model (CC0)", "mtllib model_normalized.mtl"]
    offset = 1
    used = []
    for mesh, material in parts:
        vertices = (mesh.vertices - center) * scale
        yup = np.stack([vertices[:, 0], vertices[:, 2], -vertices[:, 1]], axis=1)
        lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in yup]
        lines.append(f"usemtl {material}")
        lines += [f"f {a + offset} {b + offset} {c + offset}" for a, b, c in mesh.faces]
        offset += len(vertices)
        used.append(material)
    (folder / "model_normalized.obj").write_text("\n".join(lines) + "\n")
    mtl = []
    for name in dict.fromkeys(used):
        r, g, b = MATERIALS[name]
        mtl += [f"newmtl {name}", f"Kd {r} {g} {b}", "Ka 0 0 0", "Ks 0.1 0.1 0.1", "Ns 20",
                "d 1", "illum 2", ""]
    (folder / "model_normalized.mtl").write_text("\n".join(mtl))


def make_meshes() -> None:
    root = ROOT / "models"
    for synset, name, parts in MODELS:
        write_shapenet_obj(root / synset / name / "models", parts)
    taxonomy = [{"synsetId": synset, "name": name, "children": [],
                 "numInstances": sum(model[0] == synset for model in MODELS)}
                for synset, name in SYNSETS.items()]
    (root / "taxonomy.json").write_text(json.dumps(taxonomy, indent=2) + "\n")


def make_floors(rng: np.random.Generator) -> None:
    size = 512
    # Tiled floor: grout lines on slightly varying tiles, drawn in perspective.
    tiles = np.zeros((size, size, 3), np.uint8)
    for ty in range(8):
        for tx in range(8):
            shade = np.array([200, 196, 188]) * rng.uniform(0.85, 1.0)
            tiles[ty * 64:(ty + 1) * 64, tx * 64:(tx + 1) * 64] = shade
    tiles[::64] = (90, 85, 80)
    tiles[:, ::64] = (90, 85, 80)
    noise = rng.normal(0, 6, tiles.shape)
    tiles = np.clip(tiles + noise, 0, 255).astype(np.uint8)
    source = np.float32([[0, 0], [size, 0], [size, size], [0, size]])
    target = np.float32([[150, 0], [362, 0], [size + 200, size], [-200, size]])
    warp = cv2.getPerspectiveTransform(source, target)
    floor = cv2.warpPerspective(tiles, warp, (size, size), borderMode=cv2.BORDER_REFLECT)
    cv2.imwrite(str(ROOT / "scenes" / "tiled_floor.jpg"), floor[..., ::-1],
                [cv2.IMWRITE_JPEG_QUALITY, 88])
    # Wooden boards: stretched noise with per-board tint.
    grain = cv2.resize(rng.normal(0, 1, (size, 16)).astype(np.float32), (size, size))
    boards = np.zeros((size, size, 3), np.float32)
    for board in range(8):
        tint = np.array([150, 100, 60]) * rng.uniform(0.8, 1.1)
        boards[:, board * 64:(board + 1) * 64] = tint
    boards *= (1 + 0.08 * grain[..., None])
    boards[:, ::64] *= 0.5
    wood = cv2.warpPerspective(np.clip(boards, 0, 255).astype(np.uint8), warp, (size, size),
                               borderMode=cv2.BORDER_REFLECT)
    cv2.imwrite(str(ROOT / "scenes" / "wood_floor.jpg"), wood[..., ::-1],
                [cv2.IMWRITE_JPEG_QUALITY, 88])


def copy_photos() -> None:
    from skimage import data

    for name in ("coffee", "grass", "gravel", "brick"):
        image = getattr(data, name)()
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        scale = 640 / max(image.shape[:2])
        if scale < 1:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(ROOT / "scenes" / f"{name}.jpg"), image[..., ::-1],
                    [cv2.IMWRITE_JPEG_QUALITY, 88])


if __name__ == "__main__":
    (ROOT / "scenes").mkdir(exist_ok=True)
    make_meshes()
    make_floors(np.random.default_rng(7))
    copy_photos()
