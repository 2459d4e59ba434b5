"""Equirectangular panoramas as scenes: the panorama's frame, the square photo a sample's view
cuts from it (what the render camera sees), and its sun in the view's world frame (numpy and
OpenCV, no bpy). A scene photo is a panorama when its sidecar says so (`render.hints`).

The panorama's frame. An equirectangular image of W x H pixels, W = 2 H, in the pixel
coordinates of `render.hints` (x right, y down, pixel centres at +0.5):

- heading (the panorama's azimuth) of column x: 360 x / W degrees, clockwise seen from above,
  as the columns run when one looks around from inside it: 0 = the image's left edge,
  180 = its centre column, 360 = its right edge (the left edge again);
- elevation of row y: 90 - 180 y / H degrees: 90 = the top edge (zenith), 0 = the middle row
  (the horizon), -90 = the bottom edge.

A view at yaw Y (`render.spec.PanoramaView`) looks at heading Y, pitched down by the render
camera's pitch, with its field of view. In the sample's world frame (`render.spec`: the camera
looks along +y, z up) heading h is the ground direction turned h - Y clockwise from +y,
(sin(h - Y), cos(h - Y)); a sun at heading A therefore has the world azimuth of `LightSpec`
(0 = coming from +y, counter-clockwise seen from above) (Y - A) mod 360 (`world_sun_azimuth`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from dataset_tools.camera import focal_pixels, project
from render.composite import crop_photo, srgb_to_linear
from render.geometry import pixel_directions
from render.spec import CameraSpec, SceneSpec

if TYPE_CHECKING:
    from render.hints import PanoramaHints

BORDER = 2  # pixels of padding around the panorama: wrapped across 0/360, repeated at the poles


def is_equirectangular(width: int, height: int) -> bool:
    """Whether an image of `width` x `height` pixels can be an equirectangular panorama: 2:1."""
    return width == 2 * height


def world_sun_azimuth(sun_heading_deg: float, yaw_deg: float) -> float:
    """The `LightSpec` azimuth in [0, 360) of a sun at panorama heading `sun_heading_deg`, in the
    world frame of the view at `yaw_deg` (see the module docstring): the sun straight ahead
    (heading = yaw) gives 0, behind the camera 180, to the right (heading = yaw + 90) 270."""
    return (yaw_deg - sun_heading_deg) % 360.0


def panorama_pixel(heading_deg: Any, elevation_deg: Any, width: int,
                   height: int) -> tuple[Any, Any]:
    """The (x, y) pixel coordinates of heading and elevation in degrees (numbers or arrays of
    one shape) in a `width` x `height` panorama (the module docstring's frame), x in
    [0, width)."""
    return (heading_deg / 360.0) % 1.0 * width, (90.0 - elevation_deg) / 180.0 * height


def heading_of(x: Any, width: int) -> Any:
    """The heading in degrees of column coordinate `x` (a number or an array) in a panorama
    `width` pixels wide; pixel centres lie at x + 0.5 (the inverse of `panorama_pixel`)."""
    return 360.0 * x / width


def elevation_of(y: Any, height: int) -> Any:
    """The elevation in degrees of row coordinate `y` in a panorama `height` pixels high."""
    return 90.0 - 180.0 * y / height


def panorama_coordinates(directions: np.ndarray, yaw_deg: float, width: int,
                         height: int) -> tuple[np.ndarray, np.ndarray]:
    """(..., 3) world directions of the view at `yaw_deg` -> their (x, y) pixel coordinates in a
    `width` x `height` panorama, each (...) float64, x in [0, width), y in [0, height]."""
    heading = yaw_deg + np.degrees(np.arctan2(directions[..., 0], directions[..., 1]))
    elevation = np.degrees(np.arctan2(directions[..., 2], np.hypot(directions[..., 0],
                                                                   directions[..., 1])))
    return panorama_pixel(heading, elevation, width, height)


def panorama_level(panorama: np.ndarray, camera: CameraSpec, size: int) -> np.ndarray:
    """The panorama shrunk (area average) to about the view's own pixel density, so that the
    remap does not alias: the view has focal_pixels pixels per radian at its centre (more
    towards its edges), the panorama W / 2 pi. The panorama itself when it is not denser."""
    width = 2 * math.ceil(math.pi * focal_pixels(camera, size))  # even, 2:1
    if width >= panorama.shape[1]:
        return panorama
    return cv2.resize(panorama, (width, width // 2), interpolation=cv2.INTER_AREA)


def _remap(panorama: np.ndarray, yaw_deg: float, camera: CameraSpec, size: int,
           interpolation: int) -> np.ndarray:
    """What the pinhole `camera` at `yaw_deg` sees of an equirectangular image (any channels),
    sampled with OpenCV's `interpolation`, seamless across heading 0/360."""
    height, width = panorama.shape[:2]
    x, y = panorama_coordinates(pixel_directions(camera, size), yaw_deg, width, height)
    padded = np.concatenate([panorama[:, -BORDER:], panorama, panorama[:, :BORDER]], axis=1)
    padded = cv2.copyMakeBorder(padded, BORDER, BORDER, 0, 0, cv2.BORDER_REPLICATE)
    # OpenCV samples pixel centres at integer coordinates, ours lie at +0.5
    map_x = (x - 0.5 + BORDER).astype(np.float32)
    map_y = (y - 0.5 + BORDER).astype(np.float32)
    return cv2.remap(padded, map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)


def view_of_panorama(panorama: np.ndarray, yaw_deg: float, camera: CameraSpec,
                     size: int) -> np.ndarray:
    """(H, 2H, 3) uint8 equirectangular panorama -> (size, size, 3) uint8: what the pinhole
    `camera` (its pitch and field of view, `dataset_tools.camera`) sees when it looks at heading
    `yaw_deg`; bilinear from `panorama_level`, seamless across heading 0/360."""
    return _remap(panorama_level(panorama, camera, size), yaw_deg, camera, size,
                  cv2.INTER_LINEAR)


def mask_view_of_panorama(mask: np.ndarray, yaw_deg: float, camera: CameraSpec,
                          size: int) -> np.ndarray:
    """(H, 2H) uint8 instance mask in the panorama's frame (a sidecar's `object_mask` or
    `shadow_mask`) -> (size, size) uint8: the view `view_of_panorama` cuts, each pixel the value
    of the nearest panorama pixel (instance values are never blended)."""
    return _remap(mask, yaw_deg, camera, size, cv2.INTER_NEAREST)


def panorama_directions(width: int, height: int, yaw_deg: float) -> np.ndarray:
    """(height, width, 3) unit world directions (the frame of the view at `yaw_deg`, see the
    module docstring) of every pixel centre of a `width` x `height` panorama."""
    heading = np.radians(heading_of(np.arange(width) + 0.5, width) - yaw_deg)[None, :]
    elevation = np.radians(elevation_of(np.arange(height) + 0.5, height))[:, None]
    return np.stack(np.broadcast_arrays(np.sin(heading) * np.cos(elevation),
                                        np.cos(heading) * np.cos(elevation),
                                        np.sin(elevation)), axis=-1)


def panorama_region(polygon: np.ndarray, yaw_deg: float, camera: CameraSpec, size: int,
                    width: int, height: int) -> np.ndarray:
    """(height, width) bool: the pixels of a `width` x `height` panorama that the view at
    `yaw_deg` through `camera` sees inside `polygon` ((K, 2) pixel coordinates of that
    `size`-pixel view); the inverse of `mask_view_of_panorama`, for drawing masks on views."""
    drawn = np.zeros((size, size), dtype=np.uint8)
    cv2.fillPoly(drawn, [np.round(np.asarray(polygon) - 0.5).astype(np.int32)], 1)
    directions = panorama_directions(width, height, yaw_deg).reshape(-1, 3)
    uv, depth = project(camera, size, np.array([0.0, 0.0, camera.height]) + directions)
    column, row = np.floor(np.nan_to_num(uv, nan=-1.0)).astype(np.int64).T
    seen = (depth > 1e-6) & (column >= 0) & (column < size) & (row >= 0) & (row < size)
    inside = np.zeros(len(directions), dtype=bool)
    inside[seen] = drawn[row[seen], column[seen]] > 0
    return inside.reshape(height, width)


def ground_region(panorama: PanoramaHints, yaw_deg: float, camera: CameraSpec, size: int,
                  far_m: float = 1e4, steps: int = 24) -> np.ndarray | None:
    """(K, 2) polygon in the view's pixels where objects may stand by the panorama's ground
    (`PanoramaHints.ground_elevation_deg` and `.ground_sectors_deg`): the ground between the
    distances at which the camera sees the band's two elevations, over the headings of the
    view's sector that lie ahead of it. None when the sidecar gives no ground."""
    band = panorama.ground_band()
    if band is None:
        return None
    low, high = band
    near = camera.height / math.tan(math.radians(-low)) if low > -90 else 0.0
    far = camera.height / math.tan(math.radians(-high)) if high < 0 else far_m
    left, right = -89.0, 89.0
    for start, width in panorama.sectors() if panorama.ground_sectors_deg else ():
        offset = (yaw_deg - start) % 360.0
        if offset < width:  # the sector the view's yaw was drawn in
            left, right = max(left, -offset), min(right, width - offset)
            break
    angles = np.radians(np.linspace(left, right, steps))
    arc = np.stack([np.sin(angles), np.cos(angles), np.zeros_like(angles)], axis=1)
    points = np.concatenate([near * arc, far * arc[::-1]])
    uv, _ = project(camera, size, points)
    return uv


ENVIRONMENT_WIDTH = 256  # pixels across the environment a panorama lights a sample with


@dataclass(frozen=True)
class Environment:
    """The world light of a sample lit by its panorama: `decoded`, the panorama shrunk and
    sRGB-decoded (the same for every sample of it, `key`), raised to `gamma` (1 / the
    sample's tone contrast, as `photo_to_scene` decodes its photo) and times `strength`.
    The renderer uploads `decoded` once per key and sets gamma and strength per sample, so an
    image's pixels never change."""

    key: str
    decoded: np.ndarray = field(repr=False)  # (width / 2, width, 3) float32, the panorama's frame
    gamma: float
    strength: float

    def radiance(self) -> np.ndarray:
        """(width / 2, width, 3) float32 scene-linear radiance."""
        return (np.power(self.decoded, self.gamma) * self.strength).astype(np.float32)


def environment_map(panorama: np.ndarray, width: int = ENVIRONMENT_WIDTH) -> np.ndarray:
    """(H, 2H, 3) uint8 panorama -> (width / 2, width, 3) float32, area-averaged and
    sRGB-decoded (`Environment.decoded`), in the panorama's frame."""
    small = cv2.resize(panorama, (width, width // 2), interpolation=cv2.INTER_AREA)
    return srgb_to_linear(small / 255.0).astype(np.float32)


def horizontal_irradiance(environment: np.ndarray) -> np.ndarray:
    """(3,) irradiance on a horizontal surface facing up from an environment in the panorama's
    frame: its upper half, each pixel's radiance x cos(zenith) x solid angle."""
    height, width = environment.shape[:2]
    elevation = np.radians(elevation_of(np.arange(height) + 0.5, height))
    weight = np.where(elevation > 0, np.sin(elevation) * np.cos(elevation), 0.0) \
        * (2 * math.pi / width) * (math.pi / height)
    return np.einsum("h,hwc->c", weight, environment.astype(np.float64))


def scene_photo(photo_rgb: np.ndarray, spec: SceneSpec) -> np.ndarray:
    """(H, W, 3) uint8 scene image -> the sample's (size, size, 3) uint8 photo: the view of a
    panorama (`spec.photo.view`), else the photo's crop (`render.composite.crop_photo`)."""
    view = spec.photo.view
    if view is None:
        return crop_photo(photo_rgb, spec.photo, spec.size)
    return view_of_panorama(photo_rgb, view.yaw_deg, spec.camera, spec.size)
