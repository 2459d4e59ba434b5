"""Camera and shadow geometry of a `SceneSpec`: the ground seen at each pixel, object boxes and
matrices, light directions and polygons, and how far a shadow can reach on the ground and in
the image (pure numpy; the pinhole camera itself is `dataset_tools.camera`'s)."""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

from dataset_tools.camera import camera_basis, focal_pixels, ground_direction_angle, project
from render.spec import CameraSpec, LightSpec, ObjectSpec, SceneSpec


def pixel_directions(camera: CameraSpec, size: int, subpixel: float = 0.5) -> np.ndarray:
    """(size, size, 3) world direction (not normalised; unit forward component) of the ray
    through each pixel, at `subpixel` across it in both axes (0.5 = the centre)."""
    _, right, up, forward = camera_basis(camera)
    offsets = (np.arange(size) + subpixel - 0.5 * size) / focal_pixels(camera, size)
    return (forward[None, None] + right[None, None] * offsets[None, :, None]
            - up[None, None] * offsets[:, None, None])


def ground_points(camera: CameraSpec, size: int, subpixel: float = 0.5) -> np.ndarray:
    """(size, size, 3) the point on z = 0 seen at each pixel (at `subpixel` across it in both
    axes; 0.5 = the centre); NaN above the horizon."""
    position = camera_basis(camera)[0]
    direction = pixel_directions(camera, size, subpixel)
    down = direction[..., 2]
    distance = np.where(down < -1e-6, -position[2] / np.minimum(down, -1e-6), np.nan)
    return position + direction * distance[..., None]


def object_corners(obj: ObjectSpec) -> np.ndarray:
    """(8, 3) corners of the object's oriented bounding box in world space (it stands on z = 0)."""
    ex, ey, ez = (obj.size * value for value in obj.extent)
    xs = np.array([-ex, ex]) / 2
    ys = np.array([-ey, ey]) / 2
    local = np.array([[x, y, z] for x in xs for y in ys for z in (0.0, ez)])
    yaw = math.radians(obj.yaw_deg)
    rotation = np.array([[math.cos(yaw), -math.sin(yaw), 0],
                         [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]])
    return local @ rotation.T + np.array([obj.x, obj.y, 0.0])


def object_matrix(obj: ObjectSpec, pose_offset: np.ndarray) -> np.ndarray:
    """(4, 4) world matrix of the object's normalised mesh: T(x, y, 0) · Rz(yaw) · S(size) ·
    T(pose_offset) · R(pose). `pose_offset` (3,) centres the posed mesh's box on x = y = 0 and
    puts its lowest point on z = 0 (`render.poses.posed_box`), so the object fills the box of
    `object_corners` and touches the ground."""
    yaw = math.radians(obj.yaw_deg)
    turn = np.eye(4)
    turn[:2, :2] = [[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]]
    place = np.eye(4)
    place[:2, 3] = obj.x, obj.y
    posed = np.eye(4)
    posed[:3, :3] = np.asarray(obj.pose, dtype=np.float64).reshape(3, 3)
    posed[:3, 3] = pose_offset
    return place @ turn @ np.diag([obj.size, obj.size, obj.size, 1.0]) @ posed


def footprint_radius(obj: ObjectSpec) -> float:
    return 0.5 * obj.size * math.hypot(obj.extent[0], obj.extent[1])


def sun_direction(light: LightSpec, azimuth_offset_deg: float = 0.0,
                  elevation_offset_deg: float = 0.0) -> np.ndarray:
    """(3,) unit vector from the ground towards the light (the sun's direction)."""
    azimuth = math.radians(light.azimuth_deg + azimuth_offset_deg)
    elevation = math.radians(min(89.9, light.elevation_deg + elevation_offset_deg))
    return np.array([-math.sin(azimuth) * math.cos(elevation),
                     math.cos(azimuth) * math.cos(elevation), math.sin(elevation)])


def area_light_polygon(light: LightSpec, foot: np.ndarray, vertices: int = 24) -> np.ndarray:
    """(K, 3) world vertices of an area light (counter-clockwise seen from below, facing down):
    a rectangle turned to face its azimuth, or a disk as a regular polygon of equal area."""
    centre = np.array([foot[0], foot[1], 0.0]) + light.distance * sun_direction(light)
    if light.shape == "rectangle":
        angles = np.radians(light.azimuth_deg + np.array([45.0, 135.0, 225.0, 315.0]))
        radius = light.size / math.sqrt(2.0)
    else:
        angles = np.linspace(0.0, 2 * math.pi, vertices, endpoint=False)
        area = math.pi * light.size ** 2 / 4
        radius = math.sqrt(2 * area / (vertices * math.sin(2 * math.pi / vertices)))
    ring = np.stack([np.cos(angles), np.sin(angles), np.zeros_like(angles)], axis=1) * radius
    return centre + ring


def light_hull_points(light: LightSpec, foot: np.ndarray) -> np.ndarray:
    """(N, 3) points whose convex hull holds the area light (its corners, or the square
    around its disk)."""
    if light.shape == "rectangle":
        return area_light_polygon(light, foot)
    return area_light_polygon(dataclasses.replace(light, shape="rectangle"), foot)


def shadow_points(obj: ObjectSpec, light: LightSpec, reach_factor: float = 1.0,
                  foot: np.ndarray | None = None) -> np.ndarray:
    """(N, 3) world points whose convex hull holds everything the object can darken: its box
    corners, their projections onto the ground away from the light (along the sun's cone:
    projection along a direction is affine, so the shadow lies in their hull; from each
    corner of an area light: a central projection, likewise) and the ground around its foot
    within `reach_factor` times its own size (contact darkening, ambient occlusion). `foot` is
    the inserted object's foot, where an area light is anchored."""
    corners = object_corners(obj)
    reach = reach_factor * obj.size * max(obj.extent)
    around = np.array([[obj.x + dx, obj.y + dy, 0.0] for dx in (-reach, reach)
                       for dy in (-reach, reach)])
    points = [corners, around]
    if light.kind == "sun":
        half = light.angle_deg / 2 + 0.5
        for d_az, d_el in ((0, 0), (-half, 0), (half, 0), (0, -half), (0, half)):
            direction = sun_direction(light, d_az, d_el)
            points.append(corners - np.outer(corners[:, 2] / direction[2], direction))
    elif light.kind == "area":
        anchor = np.array([obj.x, obj.y, 0.0]) if foot is None else foot
        for vertex in light_hull_points(light, anchor):
            scale = vertex[2] / np.maximum(vertex[2] - corners[:, 2], 1e-6)
            points.append(vertex + (corners - vertex) * scale[:, None])
    return np.concatenate(points)


def inserted_foot(spec: SceneSpec) -> np.ndarray:
    return np.array([spec.inserted.x, spec.inserted.y, 0.0])


def shadow_region(spec: SceneSpec, margin: int = 3) -> tuple[int, int, int, int]:
    """Pixel box (x0, y0, x1, y1), end exclusive, that holds every pixel the inserted object's
    shadow can touch (the projection of `shadow_points`) plus a margin."""
    return _pixel_box(spec, shadow_points(spec.inserted, spec.light, foot=inserted_foot(spec)),
                      margin)


def camera_region(spec: SceneSpec, reach_factor: float, margin: int = 3) -> tuple[int, int,
                                                                                   int, int]:
    """Pixel box (x0, y0, x1, y1), end exclusive, that holds everything a render with ground
    patches (`ground_patches` at `reach_factor` > 0) shows: the objects' boxes and the patches,
    plus a margin. Elsewhere such a render is empty, so rendering only this box gives the
    same pixels."""
    points = [object_corners(obj) for obj in spec.objects]
    for polygon in ground_patches(spec, reach_factor):
        points.append(np.column_stack([polygon, np.zeros(len(polygon))]))
    return _pixel_box(spec, np.concatenate(points), margin)


def _pixel_box(spec: SceneSpec, points: np.ndarray, margin: int) -> tuple[int, int, int, int]:
    """The box of the world `points`' projections plus `margin`, clipped to the frame; the
    whole frame when one lies behind the camera."""
    uv, depth = project(spec.camera, spec.size, points)
    if np.any(depth <= 1e-6) or not np.all(np.isfinite(uv)):
        return 0, 0, spec.size, spec.size
    x0, y0 = np.floor(uv.min(axis=0)).astype(int) - margin
    x1, y1 = np.ceil(uv.max(axis=0)).astype(int) + margin
    clamp = lambda value: int(min(max(value, 0), spec.size))  # noqa: E731
    return clamp(x0), clamp(y0), clamp(x1), clamp(y1)


def ground_patches(spec: SceneSpec, reach_factor: float) -> list[np.ndarray]:
    """Per object, the convex polygon (K, 2) of ground (x, y), counter-clockwise seen from above,
    outside which the object casts no shadow and blocks no noticeable ambient light: the hull of
    its `shadow_points`. The renderer shades the ground only inside their union."""
    polygons = []
    for obj in spec.objects:
        points = shadow_points(obj, spec.light, reach_factor, inserted_foot(spec))[:, :2].astype(
            np.float32)
        hull = cv2.convexHull(points)[:, 0, :].astype(np.float64)
        x, y = hull[:, 0], hull[:, 1]
        if float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) < 0:
            hull = hull[::-1]
        polygons.append(hull)
    return polygons


def projected_box(obj: ObjectSpec, camera: CameraSpec, size: int) -> np.ndarray:
    """(4,) pixel box x0, y0, x1, y1 of the object's bounding box (NaN when behind the camera)."""
    uv, depth = project(camera, size, object_corners(obj))
    if np.any(depth <= 1e-6):
        return np.full(4, np.nan)
    return np.concatenate([uv.min(axis=0), uv.max(axis=0)])


def box_overlap_fraction(box: np.ndarray, other: np.ndarray) -> float:
    """Area of box ∩ other divided by the area of box."""
    width = max(0.0, min(box[2], other[2]) - max(box[0], other[0]))
    height = max(0.0, min(box[3], other[3]) - max(box[1], other[1]))
    area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-9)
    return width * height / area


def azimuth_for_shadow(camera: CameraSpec, size: int, foot: np.ndarray,
                       angle_deg: float) -> float:
    """The sun azimuth (degrees) whose shadow, cast on the ground from `foot` away from the
    sun (-(sun direction x, y) = (sin az, -cos az)), points at image angle `angle_deg`: the
    closest of a 0.5 degree scan, refined in 0.01 degree steps around it."""
    def closest(azimuths: np.ndarray) -> float:
        radians = np.radians(azimuths)
        directions = np.stack([np.sin(radians), -np.cos(radians)], axis=1)
        error = (ground_direction_angle(camera, size, foot, directions) - angle_deg + 180.0) \
            % 360.0 - 180.0
        return float(azimuths[int(np.argmin(np.abs(error)))])

    coarse = closest(np.arange(0.0, 360.0, 0.5))
    return closest(coarse + np.arange(-0.5, 0.5001, 0.01)) % 360.0


def visible_cast_fraction(obj: ObjectSpec, spec_light: LightSpec, camera: CameraSpec, size: int,
                          foot: np.ndarray) -> float:
    """Share of the frame that `obj`'s cast shadow can cover, outside the object's own image:
    the hull of its projected shadow points (reach 0) minus its box's hull, clipped to the
    frame (a cheap bound before rendering; the render's rshadow decides)."""
    def hull_mask(points: np.ndarray) -> np.ndarray | None:
        uv, depth = project(camera, size, points)
        if np.any(depth <= 1e-6) or not np.all(np.isfinite(uv)):
            return None
        mask = np.zeros((size, size), np.uint8)
        hull = cv2.convexHull(np.round(uv * 4).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 1, shift=2)
        return mask

    shadow = hull_mask(shadow_points(obj, spec_light, 0.0, foot))
    own = hull_mask(object_corners(obj))
    if shadow is None or own is None:
        return 0.0
    return float(np.count_nonzero(shadow & (1 - own))) / (size * size)
