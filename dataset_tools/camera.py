"""The renderer's pinhole camera, as plain geometry: where a world point lands in the image,
and which way a direction on the ground points there. The scene sampler (`render.spec`) places
objects and lights with it; the light labels (`dataset_tools.light_labels`) read a sample's
light in the image with it, so that both agree by construction.

World frame: z up, the ground is the plane z = 0, the camera stands at (0, 0, height) and looks
along +y, pitched down by `pitch_deg`; square images of `size` pixels, `fov_deg` on both axes.
Image angles follow the sidecar convention: degrees on screen, 0 = right, 90 = down."""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np


class Camera(Protocol):
    """What the geometry reads of a camera (`render.spec.CameraSpec` is one)."""

    height: float  # metres above the ground
    pitch_deg: float  # below the horizon
    fov_deg: float  # both axes


def camera_basis(camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(position, right, up, forward) of the camera, each (3,) float64."""
    pitch = math.radians(camera.pitch_deg)
    position = np.array([0.0, 0.0, camera.height])
    forward = np.array([0.0, math.cos(pitch), -math.sin(pitch)])
    up = np.array([0.0, math.sin(pitch), math.cos(pitch)])
    right = np.array([1.0, 0.0, 0.0])
    return position, right, up, forward


def focal_pixels(camera: Camera, size: int) -> float:
    return 0.5 * size / math.tan(math.radians(camera.fov_deg) / 2)


def project(camera: Camera, size: int, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pinhole projection of (N, 3) world points to (N, 2) pixel coordinates (x right, y down,
    pixel centres at +0.5) and (N,) depth along the view axis (<= 0: behind the camera)."""
    position, right, up, forward = camera_basis(camera)
    offset = np.asarray(points, dtype=np.float64) - position
    depth = offset @ forward
    safe = np.where(depth > 1e-9, depth, np.nan)
    focal = focal_pixels(camera, size)
    u = 0.5 * size + focal * (offset @ right) / safe
    v = 0.5 * size - focal * (offset @ up) / safe
    return np.stack([u, v], axis=-1), depth



def ground_point(camera: Camera, size: int, u: float, v: float) -> np.ndarray | None:
    """The point on z = 0 seen at pixel (u, v), or None above the horizon."""
    position, right, up, forward = camera_basis(camera)
    focal = focal_pixels(camera, size)
    direction = forward + right * (u - 0.5 * size) / focal - up * (v - 0.5 * size) / focal
    if direction[2] >= -1e-6:
        return None
    return position + direction * (-position[2] / direction[2])


def ground_direction_angle(camera: Camera, size: int, foot: np.ndarray,
                           directions: np.ndarray) -> np.ndarray:
    """(N,) image-plane angles in degrees (`render.hints`: 0 = right, 90 = down) of (N, 2)
    ground directions starting at `foot` (x, y). A ground line projects to an image line, so
    the angle from the foot's image to any point of the ray is the same; a short step keeps
    the point in front of the camera."""
    step = 0.01 * max(1.0, float(np.hypot(foot[0], foot[1])))
    ends = np.concatenate([np.asarray(foot[:2], dtype=np.float64)[None] + step * directions,
                           np.zeros((len(directions), 1))], axis=1)
    uv, _ = project(camera, size, np.vstack([[foot[0], foot[1], 0.0], ends]))
    delta = uv[1:] - uv[0]
    return np.degrees(np.arctan2(delta[:, 1], delta[:, 0])) % 360.0
