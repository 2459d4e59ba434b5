"""Finding scene photos and meshes, and checking meshes before Blender sees them (no bpy)."""

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
MESH_EXTENSIONS = {".obj", ".ply", ".stl", ".off", ".glb", ".gltf"}
SIDECAR_EXTENSIONS = {".mtl", ".json", ".txt", ".md", ".bin", ".mat", ".binvox", ".solid",
                      ".surface"} | IMAGE_EXTENSIONS
MAX_MESH_BYTES = 512 * 1024 * 1024
MAX_COORDINATE = float(np.finfo(np.float32).max)  # Blender stores coordinates as float32
# The shape rule (`check_shape`), in units of the mesh's size (its largest dimension):
FLAT_THICKNESS = 0.005  # vertices within this of one plane: a flat mesh (sheet, decal, plate)
UPRIGHT_TILT_DEG = 10.0  # a flat mesh is used only when its plane is this close to vertical
MIN_FLAT_AREA = 0.05  # ... and its faces cover at least this share of size²
MIN_AREA = 1e-6  # faces covering less than this share of size²: degenerate, nothing to render
# Stable poses (`stable_poses`), in units of the mesh's size:
MIN_POSED_HEIGHT = 0.02  # a pose leaving the mesh lower than this lies (almost) flat: not used
POSE_HULL_POINTS = 200  # the hull the poses are found on is that of this many spread points
MAX_POSES = 32  # the most probable poses kept
IDENTITY_ROTATION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
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
class MeshArrays:
    """A mesh read outside Blender (z up)."""

    vertices: np.ndarray  # (V, 3) float64
    faces: np.ndarray  # (F, 3) int64 triangles
    colors: np.ndarray | None  # (V, 3) float32 sRGB in [0, 1] per vertex, or None


@dataclass(frozen=True)
class StablePose:
    """A way a normalised mesh can rest on the ground."""

    rotation: tuple[float, ...]  # 9 floats, row-major 3x3: posed vertex = rotation @ vertex
    probability: float  # trimesh's quasi-static chance of coming to rest this way
    extent: tuple[float, float, float]  # bounding box of the posed mesh (x, y, z)


class MeshExtent(tuple):
    """A normalised mesh's extent (x, y, z), largest 1, as a plain 3-tuple to every caller that
    wants only that, carrying the mesh's stable poses in `.poses` for the scene sampler."""

    poses: tuple[StablePose, ...]

    def __new__(cls, extent: tuple[float, float, float] | np.ndarray,
                poses: tuple[StablePose, ...] = ()) -> MeshExtent:
        self = super().__new__(cls, (float(value) for value in extent))
        self.poses = tuple(poses)
        return self

    def __getnewargs__(self) -> tuple:  # pickles with its poses
        return tuple(self), self.poses


@dataclass(frozen=True)
class AssetScan:
    items: list
    skipped: list[tuple[str, str]]  # (path, reason)


def sidecar_masks(sidecar: Path) -> set[Path]:
    """The mask images a photo's sidecar names: inputs of that photo, not scene photos. Read
    leniently (a broken sidecar names none here; `render.hints.read_hints` reports it), so
    its masks are kept out of the photos even when the sidecar itself cannot be used."""
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return set()
    if not isinstance(data, dict):
        return set()
    return {sidecar.parent / data[key] for key in SIDECAR_MASK_KEYS
            if isinstance(data.get(key), str)}


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


def count_obj_faces(data: bytes) -> int:
    """Face lines of a Wavefront OBJ, counted on the raw bytes (fast, no parsing)."""
    return data.count(b"\nf ") + int(data.startswith(b"f "))


_OBJ_VERTEX_LINE = re.compile(rb"^[ \t]*v[ \t]+([^\r\n#]*)", re.MULTILINE)
NOT_FINITE = "mesh has NaN or infinite vertex coordinates"


def check_obj_coordinates(path: Path, data: bytes) -> None:
    """Parse the numbers of every `v` line of a raw OBJ (about 2 s for 70 MiB) and raise
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


def load_with_trimesh(path: Path, max_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) float64 in z-up axes and triangles (F, 3) int64 of a non-OBJ mesh file
    (see `load_mesh_arrays`)."""
    mesh = load_mesh_arrays(path, max_faces)
    return mesh.vertices, mesh.faces


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


def spread_points(points: np.ndarray, count: int) -> np.ndarray:
    """`count` of the points (N, 3) spread over them (farthest-point order from the lowest
    one), or all of them when there are no more than that; deterministic."""
    if len(points) <= count:
        return points
    chosen = [int(np.argmin(points[:, 2]))]
    distance = np.linalg.norm(points - points[chosen[0]], axis=1)
    for _ in range(count - 1):
        chosen.append(int(np.argmax(distance)))
        distance = np.minimum(distance, np.linalg.norm(points - points[chosen[-1]], axis=1))
    return points[chosen]


def posed_box(points: np.ndarray, rotation: tuple[float, ...] | np.ndarray) -> tuple[
        np.ndarray, np.ndarray]:
    """(offset (3,), extent (3,)) of points (N, 3) turned by a pose's rotation (9 floats or
    3x3): posed + offset has its box centred on x = y = 0 and its lowest point on z = 0."""
    posed = np.asarray(points, dtype=np.float64) @ np.asarray(rotation, np.float64).reshape(3, 3).T
    low, high = posed.min(axis=0), posed.max(axis=0)
    return np.array([-(low[0] + high[0]) / 2, -(low[1] + high[1]) / 2, -low[2]]), high - low


def stable_poses(vertices: np.ndarray) -> tuple[np.ndarray, tuple[StablePose, ...]]:
    """(hull points (H, 3), poses) of a normalised mesh's vertices (V, 3), z up: the points
    whose box is the mesh's box in any pose (its convex hull's vertices), and the ways it can
    rest on the ground, most probable first (at most MAX_POSES). The poses are trimesh's
    (`trimesh.poses.compute_stable_poses`) on the hull of POSE_HULL_POINTS spread hull points,
    with the centre of mass of the hull (uniform density: meshes are rarely watertight); a pose
    lower than MIN_POSED_HEIGHT (it would lie almost flat on the ground) is dropped, and a flat
    mesh has none (it is used only upright, see `check_shape`)."""
    import trimesh
    from trimesh.poses import compute_stable_poses

    vertices = np.asarray(vertices, dtype=np.float64)
    if flatness(vertices)[0] < FLAT_THICKNESS:
        return vertices, ()
    try:
        points = np.asarray(trimesh.convex.convex_hull(vertices).vertices, dtype=np.float64)
    except Exception:  # qhull refuses degenerate input
        return vertices, ()
    if len(points) < 4:
        return vertices, ()
    try:
        with warnings.catch_warnings():  # sliver faces of a hull make trimesh warn, harmlessly
            warnings.simplefilter("ignore", RuntimeWarning)
            hull = trimesh.convex.convex_hull(spread_points(points, POSE_HULL_POINTS))
            centre = np.asarray(hull.center_mass, dtype=np.float64)
            inside = np.einsum("ij,ij->i", centre - hull.triangles_center, hull.face_normals)
            if hull.volume <= 0 or not np.all(inside < 0):  # compute_stable_poses would not end
                return points, ()
            transforms, probabilities = compute_stable_poses(hull, center_mass=centre)
    except Exception:  # a degenerate hull: no poses, the mesh stands as it is
        return points, ()
    poses = []
    for transform, probability in zip(transforms, probabilities, strict=True):
        rotation = transform[:3, :3]
        _, extent = posed_box(points, rotation)
        if extent[2] >= MIN_POSED_HEIGHT and probability > 0:
            poses.append(StablePose(tuple(float(value) for value in rotation.ravel()),
                                    float(probability), tuple(float(value) for value in extent)))
    return points, tuple(poses[:MAX_POSES])


def tristrips_to_triangles(strips: np.ndarray) -> np.ndarray:
    """Triangles (F, 3) int64 of a triangle-strip index list in which -1 ends a strip: each
    window of three indices is a triangle, every second one within a strip reversed so all
    keep the strip's winding; degenerate triangles (a repeated index) are dropped."""
    strips = np.asarray(strips, dtype=np.int64).ravel()
    if len(strips) < 3:
        return np.zeros((0, 3), dtype=np.int64)
    position = np.arange(len(strips))
    last_restart = np.maximum.accumulate(np.where(strips < 0, position, -1))
    within = position - last_restart - 1  # index inside the current strip
    first, second, third = strips[:-2], strips[1:-1], strips[2:]
    odd = within[:-2] % 2 == 1
    triangles = np.stack([np.where(odd, second, first), np.where(odd, first, second), third],
                         axis=1)
    triangles = triangles[(first >= 0) & (second >= 0) & (third >= 0)]
    a, b, c = triangles.T
    return triangles[(a != b) & (b != c) & (a != c)]


_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2",
              "int16": "i2", "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4",
              "uint": "u4", "uint32": "u4", "float": "f4", "float32": "f4", "double": "f8",
              "float64": "f8"}
_PLY_COLORS = (("red", "green", "blue"), ("diffuse_red", "diffuse_green", "diffuse_blue"))


@dataclass
class _PlyElement:
    name: str
    count: int
    properties: list[tuple[str, str, str | None]]  # (name, numpy type, list-length type)


def _ply_header(head: bytes) -> tuple[str, list[_PlyElement], int] | None:
    """(format, elements, offset of the body) of a PLY file from its first bytes, or None when
    they are not a PLY header this module can read (trimesh then has its say)."""
    end = head.find(b"end_header")
    newline = head.find(b"\n", end)
    if not head.startswith(b"ply") or end < 0 or newline < 0:
        return None
    form, elements = "", []
    try:
        for line in head[:end].decode("ascii", errors="replace").splitlines():
            words = line.split()
            if not words or words[0] in {"ply", "comment", "obj_info"}:
                continue
            if words[0] == "format":
                form = words[1]
            elif words[0] == "element":
                elements.append(_PlyElement(words[1], int(words[2]), []))
            elif words[0] == "property" and words[1] == "list":
                elements[-1].properties.append((words[4], _PLY_TYPES[words[3]],
                                                _PLY_TYPES[words[2]]))
            elif words[0] == "property":
                elements[-1].properties.append((words[2], _PLY_TYPES[words[1]], None))
    except (IndexError, KeyError, ValueError):
        return None
    if form not in {"ascii", "binary_little_endian", "binary_big_endian"}:
        return None
    return form, elements, newline + 1


def _ply_elements(form: str, elements: list[_PlyElement], body: bytes) -> dict[str, dict]:
    """Every element's properties as arrays: scalar ones (count,), lists concatenated."""
    order = "<" if form == "binary_little_endian" else ">"
    tokens = body.split() if form == "ascii" else []
    cursor = 0
    result: dict[str, dict] = {}
    for element in elements:
        columns: dict[str, list] = {name: [] for name, _, _ in element.properties}
        if all(length is None for _, _, length in element.properties):
            if form == "ascii":
                width = len(element.properties)
                table = np.array(tokens[cursor:cursor + element.count * width], dtype=np.float64)
                cursor += element.count * width
                table = table.reshape(element.count, width)
                result[element.name] = {name: table[:, k]
                                        for k, (name, _, _) in enumerate(element.properties)}
            else:
                dtype = np.dtype([(name, order + kind) for name, kind, _ in element.properties])
                table = np.frombuffer(body, dtype=dtype, count=element.count, offset=cursor)
                cursor += element.count * dtype.itemsize
                result[element.name] = {name: table[name] for name in dtype.names}
            continue
        for _ in range(element.count):  # elements with lists: one at a time (strips are few)
            for name, kind, length in element.properties:
                if form == "ascii":
                    count = int(tokens[cursor]) if length else 1
                    start = cursor + (1 if length else 0)
                    columns[name].append(np.array(tokens[start:start + count], dtype=kind))
                    cursor = start + count
                    continue
                if length:
                    count = int(np.frombuffer(body, order + length, 1, cursor)[0])
                    cursor += np.dtype(length).itemsize
                else:
                    count = 1
                columns[name].append(np.frombuffer(body, order + kind, count, cursor))
                cursor += count * np.dtype(kind).itemsize
        result[element.name] = {name: np.concatenate(parts) if parts else np.zeros(0)
                                for name, parts in columns.items()}
    return result


def read_ply_strips(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """(vertices (V, 3) float64, triangles (F, 3) int64, colours (V, 3) float32 sRGB in [0, 1]
    or None) of a PLY whose surface is a `tristrips` element and has no faces; None for any
    other PLY (trimesh reads those). Raises BadAsset for a malformed file."""
    with open(path, "rb") as stream:
        header = _ply_header(stream.read(1 << 16))
    if header is None:
        return None
    form, elements, body = header
    names = {element.name: element for element in elements}
    if "tristrips" not in names or ("face" in names and names["face"].count > 0):
        return None
    data = path.read_bytes()
    try:
        table = _ply_elements(form, elements, data[body:])
        vertex, strips = table["vertex"], table["tristrips"]
        vertices = np.stack([vertex[axis] for axis in "xyz"], axis=1).astype(np.float64)
    except (KeyError, ValueError, IndexError) as error:
        raise BadAsset(path, f"PLY triangle strips cannot be read ({type(error).__name__}: "
                             f"{error})") from None
    lists = [name for name, _, length in names["tristrips"].properties if length]
    if not lists:
        raise BadAsset(path, "PLY tristrips element has no index list")
    index_list = "vertex_indices" if "vertex_indices" in lists else lists[0]
    triangles = tristrips_to_triangles(strips[index_list])
    colors = None
    types = {name: kind for name, kind, _ in names["vertex"].properties}
    for channels in _PLY_COLORS:
        if all(channel in vertex for channel in channels):
            rgb = np.stack([vertex[channel] for channel in channels], axis=1).astype(np.float32)
            if not types[channels[0]].startswith("f"):  # integer channels: 0 .. type max
                rgb /= float(np.iinfo(types[channels[0]]).max)
            colors = np.clip(rgb, 0.0, 1.0)
            break
    return vertices, triangles, colors


def normalising_transform(vertices: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """(offset (3,), scale, extent (3,)) that centre the mesh in x and y, put its lowest point on
    z = 0 and make its largest dimension 1: normalised = (v + offset) * scale."""
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    extent = high - low
    scale = 1.0 / float(extent.max())
    offset = np.array([-(low[0] + high[0]) / 2, -(low[1] + high[1]) / 2, -low[2]])
    return offset, scale, extent * scale
