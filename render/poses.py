"""The stable poses of a normalised mesh: the ways it can rest on the ground, found on its convex
hull with trimesh (no bpy)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from render.mesh_checks import FLAT_THICKNESS, flatness

# Stable poses (`stable_poses`), in units of the mesh's size:
MIN_POSED_HEIGHT = 0.02  # a pose leaving the mesh lower than this lies (almost) flat: not used
POSE_HULL_POINTS = 200  # the hull the poses are found on is that of this many spread points
MAX_POSES = 32  # the most probable poses kept
IDENTITY_ROTATION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
# Categories (the first folder under --models, or a ShapeNet taxonomy name) whose meshes stand
# only as modelled, never in another stable pose: a person, a car, a bench, a post or a dog
# lying on its side or its back is not what a photo shows. (The sampler's `upright_meshes`.)
UPRIGHT_CATEGORIES = frozenset({
    "person", "animal", "vehicle", "street",  # the folders of assets/real/models
    "car", "bus", "motorcycle", "bicycle", "train", "bench",  # ShapeNet's names for such things
})

# Categories whose meshes take `ObjectRanges.person_size` instead of the object sizes.
PERSON_CATEGORIES = frozenset({"person"})


@dataclass(frozen=True)
class StablePose:
    """A way a normalised mesh can rest on the ground."""

    rotation: tuple[float, ...]  # 9 floats, row-major 3x3: posed vertex = rotation @ vertex
    probability: float  # trimesh's quasi-static chance of coming to rest this way
    extent: tuple[float, float, float]  # bounding box of the posed mesh (x, y, z)



@dataclass(frozen=True)
class MeshExtent:
    """What the scene sampler knows of a loaded mesh: its normalised box and its stable
    poses (`render.blender.meshes.MeshLibrary.load` gives it)."""

    box: tuple[float, float, float]  # x, y, z of the normalised mesh, the largest 1
    poses: tuple[StablePose, ...] = ()  # most probable first; none: it stands as modelled

# A worker's stable poses by mesh (`render.blender.meshes.MeshLibrary`): (path, size, mtime in
# ns, digest of the normalised vertices) -> `hull_poses` of them (the hull points, up to
# megabytes for a smooth mesh, are found again: qhull takes milliseconds)
PoseTable = dict[tuple[str, int, int, str], tuple[StablePose, ...]]


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


def pose_hull(vertices: np.ndarray) -> tuple[np.ndarray, bool]:
    """(points, whether poses can be found on them) of a normalised mesh's vertices (V, 3):
    the points whose box is the mesh's box in any pose, its convex hull's vertices, or the
    vertices themselves for a flat mesh or one qhull refuses (then no poses)."""
    import trimesh

    vertices = np.asarray(vertices, dtype=np.float64)
    if flatness(vertices)[0] < FLAT_THICKNESS:
        return vertices, False
    try:
        points = np.asarray(trimesh.convex.convex_hull(vertices).vertices, dtype=np.float64)
    except Exception:  # qhull refuses degenerate input
        return vertices, False
    if len(points) < 4:
        return vertices, False
    return points, True


def hull_poses(points: np.ndarray) -> tuple[StablePose, ...]:
    """The stable poses on `pose_hull`'s points, most probable first (at most MAX_POSES):
    trimesh's (`trimesh.poses.compute_stable_poses`) on the hull of POSE_HULL_POINTS spread
    points, with the centre of mass of the hull (uniform density: meshes are rarely
    watertight); a pose lower than MIN_POSED_HEIGHT (it would lie almost flat on the ground)
    is dropped."""
    import trimesh
    from trimesh.poses import compute_stable_poses

    try:
        with warnings.catch_warnings():  # sliver faces of a hull make trimesh warn, harmlessly
            warnings.simplefilter("ignore", RuntimeWarning)
            hull = trimesh.convex.convex_hull(spread_points(points, POSE_HULL_POINTS))
            centre = np.asarray(hull.center_mass, dtype=np.float64)
            inside = np.einsum("ij,ij->i", centre - hull.triangles_center, hull.face_normals)
            if hull.volume <= 0 or not np.all(inside < 0):  # compute_stable_poses would not end
                return ()
            transforms, probabilities = compute_stable_poses(hull, center_mass=centre)
    except Exception:  # a degenerate hull: no poses, the mesh stands as it is
        return ()
    poses = []
    for transform, probability in zip(transforms, probabilities, strict=True):
        rotation = transform[:3, :3]
        _, extent = posed_box(points, rotation)
        if extent[2] >= MIN_POSED_HEIGHT and probability > 0:
            poses.append(StablePose(tuple(float(value) for value in rotation.ravel()),
                                    float(probability), tuple(float(value) for value in extent)))
    return tuple(poses[:MAX_POSES])


def stable_poses(vertices: np.ndarray) -> tuple[np.ndarray, tuple[StablePose, ...]]:
    """(hull points (H, 3), poses) of a normalised mesh's vertices (V, 3), z up: `pose_hull`'s
    points and the ways the mesh can rest on the ground (`hull_poses`); a flat mesh has none
    (it is used only upright, see `check_shape`)."""
    points, usable = pose_hull(vertices)
    return points, hull_poses(points) if usable else ()
