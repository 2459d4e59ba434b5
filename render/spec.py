"""Scene specification: plain data sampled from an explicit RNG, and the camera geometry around it.

World frame: z up, the ground is the plane z = 0, the camera stands at (0, 0, height) and looks
along +y, pitched down. Nothing here imports bpy; `render.blender` only applies a `SceneSpec`.
"""

from __future__ import annotations

import colorsys
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import cast

import cv2
import numpy as np

from dataset_tools.camera import camera_basis, focal_pixels, ground_direction_angle, project
from dataset_tools.layout import INSERTED_INDEX
from render.assets import IDENTITY_ROTATION, BadAsset, StablePose
from render.config import LightRanges, MaterialRanges, QualityChecks, SamplingRanges
from render.hints import (
    HORIZON_PITCH_DEG,
    PhotoHints,
    inside_polygon,
    output_angle,
    output_row,
    output_sun_azimuth,
    pitch_for_horizon,
    to_output,
)

# Why an attempt at a sample was rejected (the code in the manifest's `resampled` entries and
# the run summary's counts) -> what the summary calls it.
REJECTIONS = {
    "no_usable_asset": "no usable photo or mesh",
    "horizon_out_of_range": "horizon hint gives an impossible pitch",
    "object_does_not_fit": "inserted object does not fit in the frame",
    "light_too_low": "area light too low above an object",
    "object_too_small": "inserted object too small or hidden",
    "shadow_too_small": "own shadow too small or hidden",
    "no_scene_cue": "no occluder shadow shows the light's direction",
}
DIRECTIONAL_KINDS = ("sun", "area")  # the lights whose shadows point somewhere


class SamplingError(RuntimeError):
    """No valid placement was found for this attempt; the caller resamples with a new seed.
    `code` says why, as a key of REJECTIONS; the message says it with the numbers."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class CameraSpec:
    height: float  # metres above the ground
    pitch_deg: float  # below the horizon
    fov_deg: float  # both axes (square images)


@dataclass(frozen=True)
class LightSpec:
    """The sample's light (`render.config.LightRanges`). sun: a distant disk of `angle_deg`
    in the direction (azimuth, elevation); area: a `shape` light of `size` metres facing
    down, `distance` metres from the inserted object's foot in that direction; overcast: sky
    only (azimuth and elevation unused)."""

    kind: str  # sun | area | overcast
    azimuth_deg: float  # 0 = light coming from +y (behind the scene), counter-clockwise from above
    elevation_deg: float
    angle_deg: float  # sun: angular diameter
    ambient_fraction: float  # ambient / all light on a lit horizontal surface (overcast: 1)
    color: tuple[float, float, float]
    shape: str = ""  # area: rectangle | disk
    size: float = 0.0  # area: side or diameter, metres
    distance: float = 0.0  # area: from the inserted object's foot to the light's centre
    sky_level: float = 1.0  # overcast: sky brightness relative to the photo-matched level


@dataclass(frozen=True)
class MaterialSpec:
    """Used when a mesh brings no material of its own."""

    base_color: tuple[float, float, float]  # linear RGB in [0, 1]
    roughness: float
    metallic: float


@dataclass(frozen=True)
class ObjectSpec:
    role: str  # "inserted" or "occluder"
    mesh_id: str
    mesh_path: str
    pass_index: int
    x: float
    y: float
    yaw_deg: float
    size: float  # largest dimension of the unposed mesh in metres
    # The box of the normalised mesh (largest unposed dimension 1) in its pose, before yaw:
    # the object occupies [-x/2, x/2] x [-y/2, y/2] x [0, z] times size, turned by yaw.
    extent: tuple[float, float, float]
    material: MaterialSpec
    # The stable pose it rests in: row-major 3x3 rotation of the normalised mesh, applied
    # before yaw (`object_matrix`); the identity stands it upright as modelled.
    pose: tuple[float, ...] = IDENTITY_ROTATION


@dataclass(frozen=True)
class PhotoSpec:
    path: str
    crop_fraction: float  # side of the square crop / shorter side of the photo
    crop_x: float  # position of the crop in the free range, [0, 1]
    crop_y: float
    flip: bool
    # The camera's tone curve: scene radiance = (sRGB-decoded photo) ** (1 / tone_contrast), so
    # a shadow that removes a share s of the light darkens the photo as sRGB would s ** contrast
    # (camera curves are steeper than plain sRGB in the mid-tones). 1 = plain sRGB.
    tone_contrast: float = 1.0


@dataclass(frozen=True)
class SceneSpec:
    index: int
    attempt: int
    seed: int
    size: int
    photo: PhotoSpec
    camera: CameraSpec
    light: LightSpec
    objects: tuple[ObjectSpec, ...]

    @property
    def inserted(self) -> ObjectSpec:
        return next(obj for obj in self.objects if obj.role == "inserted")

    @property
    def occluders(self) -> tuple[ObjectSpec, ...]:
        return tuple(obj for obj in self.objects if obj.role == "occluder")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> SceneSpec:
        objects = tuple(
            ObjectSpec(**{**obj, "extent": tuple(obj["extent"]),
                          "pose": tuple(obj.get("pose", IDENTITY_ROTATION)),
                          "material": MaterialSpec(**{**obj["material"], "base_color": tuple(
                              obj["material"]["base_color"])})})
            for obj in data["objects"]
        )
        light = LightSpec(**{**data["light"], "color": tuple(data["light"]["color"])})
        return cls(index=data["index"], attempt=data["attempt"], seed=data["seed"],
                   size=data["size"], photo=PhotoSpec(**data["photo"]),
                   camera=CameraSpec(**data["camera"]), light=light, objects=objects)


# ----------------------------------------------------------------------------- seeds


def sample_seed(global_seed: int, index: int, attempt: int = 0) -> int:
    """63-bit seed from (global seed, sample index, attempt) alone: shards never collide."""
    sequence = np.random.SeedSequence([global_seed & 0xFFFFFFFF, index, attempt])
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


# ----------------------------------------------------------------------------- geometry


def ground_point(camera: CameraSpec, size: int, u: float, v: float) -> np.ndarray | None:
    """The point on z = 0 seen at pixel (u, v), or None above the horizon."""
    position, right, up, forward = camera_basis(camera)
    focal = focal_pixels(camera, size)
    direction = forward + right * (u - 0.5 * size) / focal - up * (v - 0.5 * size) / focal
    if direction[2] >= -1e-6:
        return None
    return position + direction * (-position[2] / direction[2])


def ground_points(camera: CameraSpec, size: int, subpixel: float = 0.5) -> np.ndarray:
    """(size, size, 3) the point on z = 0 seen at each pixel (at `subpixel` across it in both
    axes; 0.5 = the centre); NaN above the horizon."""
    position, right, up, forward = camera_basis(camera)
    focal = focal_pixels(camera, size)
    offsets = (np.arange(size) + subpixel - 0.5 * size) / focal
    direction = (forward[None, None] + right[None, None] * offsets[None, :, None]
                 - up[None, None] * offsets[:, None, None])
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
    puts its lowest point on z = 0 (`render.assets.posed_box`), so the object fills the box of
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
    uv, depth = project(spec.camera, spec.size,
                        shadow_points(spec.inserted, spec.light, foot=inserted_foot(spec)))
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


# ----------------------------------------------------------------------------- sampling

MeshChoice = tuple[str, str]  # (mesh id, path)
# A mesh's normalised extent; a render.assets.MeshExtent also brings its stable poses.
ExtentLookup = Callable[[str], tuple[float, float, float]]
PhotoCheck = Callable[[str], object]
MAX_ASSET_DRAWS = 64


def _draw_usable(rng: np.random.Generator, count: int, check: Callable[[int], object],
                 bad: dict[str, str], what: str) -> tuple[int, object]:
    """Draw indices until `check(index)` does not raise BadAsset. Which files are bad is a
    property of the files, so the draws (and the sample) do not depend on what a worker saw
    before; bad files are collected in `bad` (path -> reason)."""
    for _ in range(MAX_ASSET_DRAWS):
        index = int(rng.integers(count))
        try:
            return index, check(index)
        except BadAsset as error:
            bad[error.path] = error.reason
    raise SamplingError("no_usable_asset",
                        f"no usable {what} in {MAX_ASSET_DRAWS} draws ({len(bad)} bad files)")


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _material(rng: np.random.Generator, ranges: MaterialRanges,
              tone_contrast: float = 1.0) -> MaterialSpec:
    """A random colour drawn in sRGB, so that it shows as drawn through the photo's tone curve
    (`PhotoSpec.tone_contrast`): the albedo is its sRGB-linear value ** (1 / contrast)."""
    hue, saturation, value = (_uniform(rng, ranges.hue), _uniform(rng, ranges.saturation),
                              _uniform(rng, ranges.value))
    srgb = colorsys.hsv_to_rgb(hue, saturation, value)
    linear = tuple(float(((c + 0.055) / 1.055) ** (2.4 / tone_contrast)) for c in srgb)
    return MaterialSpec(base_color=linear, roughness=_uniform(rng, ranges.roughness),
                        metallic=float(rng.uniform() < ranges.metallic_probability))


def _choose(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = sorted(weights)
    total = sum(weights[name] for name in names)
    return names[int(rng.choice(len(names), p=[weights[name] / total for name in names]))]


def _light(rng: np.random.Generator, ranges: LightRanges, kind: str | None = None) -> LightSpec:
    """A light of a kind drawn by the weights, or of `kind` (a photo's sun hints)."""
    kind = _choose(rng, ranges.weights) if kind is None else kind
    warmth = _uniform(rng, ranges.warmth)
    color = (1.0 + warmth, 1.0, 1.0 - warmth)
    azimuth = float(rng.uniform(0, 360))
    if kind == "sun":
        sun = ranges.sun
        return LightSpec(kind=kind, azimuth_deg=azimuth,
                         elevation_deg=_uniform(rng, sun.elevation),
                         angle_deg=_uniform(rng, sun.angle),
                         ambient_fraction=_uniform(rng, sun.ambient_fraction), color=color)
    if kind == "area":
        area = ranges.area
        return LightSpec(kind=kind, azimuth_deg=azimuth,
                         elevation_deg=_uniform(rng, area.elevation), angle_deg=0.0,
                         ambient_fraction=_uniform(rng, area.ambient_fraction), color=color,
                         shape=_choose(rng, area.shape_weights), size=_uniform(rng, area.size),
                         distance=_uniform(rng, area.distance))
    return LightSpec(kind=kind, azimuth_deg=0.0, elevation_deg=90.0, angle_deg=0.0,
                     ambient_fraction=1.0, color=(1.0, 1.0, 1.0),
                     sky_level=_uniform(rng, ranges.overcast.sky_level))


def _pose(rng: np.random.Generator, extent: tuple[float, float, float],
          probability: float) -> tuple[tuple[float, ...], tuple[float, float, float]]:
    """(rotation, posed extent) of an object: with `probability` one of the mesh's stable poses
    (`extent.poses`, a render.assets.MeshExtent's; drawn by their probabilities), otherwise
    upright as modelled. Draws nothing when `probability` is 0."""
    upright = IDENTITY_ROTATION, tuple(float(value) for value in extent)
    if probability <= 0 or not rng.uniform() < probability:
        return upright
    poses: tuple[StablePose, ...] = getattr(extent, "poses", ())
    if not poses:
        return upright
    weights = np.array([pose.probability for pose in poses], dtype=np.float64)
    pose = poses[int(rng.choice(len(poses), p=weights / weights.sum()))]
    return pose.rotation, pose.extent


def _place(rng: np.random.Generator, camera: CameraSpec, size: int, role: str, mesh: MeshChoice,
           extent: tuple[float, float, float], object_size: float, pass_index: int,
           screen_x: tuple[float, float], screen_y: tuple[float, float],
           placed: Sequence[ObjectSpec], materials: MaterialRanges,
           tone_contrast: float = 1.0, tries: int = 30,
           pose: tuple[float, ...] = IDENTITY_ROTATION,
           foot_region: np.ndarray | None = None) -> ObjectSpec | None:
    """Try positions until the object is fully in frame and its footprint overlaps no other.
    With `foot_region`, a (K, 2) polygon in output pixels (a photo's ground polygon), the foot
    is drawn in the part of the screen box that the polygon's bounds share (the polygon's
    bounds alone where they share none) and must lie inside the polygon."""
    if foot_region is not None:
        screen_x, screen_y = _region_bounds(foot_region, size, screen_x, screen_y)
        tries *= 3
    for _ in range(tries):
        u = rng.uniform(*screen_x) * size
        v = rng.uniform(*screen_y) * size
        if foot_region is not None and not inside_polygon(foot_region, u, v):
            continue
        point = ground_point(camera, size, u, v)
        if point is None:
            continue
        candidate = ObjectSpec(role=role, mesh_id=mesh[0], mesh_path=mesh[1],
                               pass_index=pass_index, x=float(point[0]), y=float(point[1]),
                               yaw_deg=float(rng.uniform(0, 360)), size=object_size,
                               extent=extent,
                               material=_material(rng, materials, tone_contrast), pose=pose)
        box = projected_box(candidate, camera, size)
        if not np.all(np.isfinite(box)) or box[0] < 1 or box[1] < 1 or box[2] > size - 1 \
                or box[3] > size - 1:
            continue
        radius = footprint_radius(candidate)
        if any(math.hypot(candidate.x - other.x, candidate.y - other.y)
               < radius + footprint_radius(other) + 0.05 for other in placed):
            continue
        return candidate
    return None


def _region_bounds(polygon: np.ndarray, size: int, screen_x: tuple[float, float],
                   screen_y: tuple[float, float]) -> tuple[tuple[float, float],
                                                           tuple[float, float]]:
    """The screen box (shares of the image side) cut to the polygon's bounds."""
    low = np.clip(polygon.min(axis=0) / size, 0.0, 1.0)
    high = np.clip(polygon.max(axis=0) / size, 0.0, 1.0)
    x = (max(screen_x[0], low[0]), min(screen_x[1], high[0]))
    y = (max(screen_y[0], low[1]), min(screen_y[1], high[1]))
    if x[0] >= x[1] or y[0] >= y[1]:
        return (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))
    return (float(x[0]), float(x[1])), (float(y[0]), float(y[1]))


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


def _hinted_photo_and_camera(rng: np.random.Generator, hints: PhotoHints, photo: PhotoSpec,
                             camera: CameraSpec, size: int, ranges: SamplingRanges,
                             redraws: int = 20) -> tuple[PhotoSpec, CameraSpec]:
    """The sampled camera with the photo's given values; with a horizon row, the pitch that
    puts it on that row of the output image (the crop is drawn again while that pitch falls
    outside `HORIZON_PITCH_DEG`)."""
    camera = CameraSpec(
        height=camera.height if hints.height_m is None else hints.height_m,
        pitch_deg=camera.pitch_deg if hints.pitch_deg is None else hints.pitch_deg,
        fov_deg=camera.fov_deg if hints.fov_deg is None else hints.fov_deg)
    if hints.horizon_row is None:
        return photo, camera
    low, high = HORIZON_PITCH_DEG
    for _ in range(redraws):
        pitch = pitch_for_horizon(output_row(hints.horizon_row, hints, photo, size),
                                  camera.fov_deg, size)
        if low <= pitch <= high:
            return photo, dataclasses.replace(camera, pitch_deg=pitch)
        photo = dataclasses.replace(photo, crop_fraction=_uniform(rng, ranges.photo.crop),
                                    crop_x=float(rng.uniform()), crop_y=float(rng.uniform()))
    raise SamplingError("horizon_out_of_range",
                        f"{photo.path}: horizon_row {hints.horizon_row:g} gives a pitch outside "
                        f"{low:g}-{high:g} deg in {redraws} crops")


def _hinted_light(rng: np.random.Generator, hints: PhotoHints, photo: PhotoSpec,
                  light: LightSpec, ranges: LightRanges) -> LightSpec:
    """The light a photo's sidecar allows. With `lights`, a kind drawn by its weights; without,
    a sun whenever the photo gives its sun or its shadows' direction. The given sun's azimuth
    and elevation (the azimuth for a shadow direction is solved once the object stands)."""
    if hints.lights:
        kind = _choose(rng, dict(hints.lights))
        if kind != light.kind:
            light = _light(rng, ranges, kind=kind)
    elif hints.sun_azimuth_deg is None and hints.shadow_direction_deg is None:
        return light
    elif light.kind != "sun":
        light = _light(rng, ranges, kind="sun")
    if light.kind == "sun" and hints.sun_azimuth_deg is not None \
            and hints.sun_elevation_deg is not None:
        light = dataclasses.replace(
            light, azimuth_deg=output_sun_azimuth(hints.sun_azimuth_deg, photo),
            elevation_deg=hints.sun_elevation_deg)
    return light


def photo_agrees(hints: PhotoHints | None, light: LightSpec) -> bool:
    """Whether the photo's own shadows show `light`'s direction: a directional light set from
    the sidecar's shadow direction or sun (`sample_scene` sets it so)."""
    if hints is None or light.kind not in DIRECTIONAL_KINDS:
        return False
    return hints.shadow_direction_deg is not None or (
        light.kind == "sun" and hints.sun_azimuth_deg is not None)


def needs_scene_cue(checks: QualityChecks, hints: PhotoHints | None, light: LightSpec) -> bool:
    """Whether a sample must show an occluder's shadow (`QualityChecks.scene_cue`): a sun or
    area light whose direction the photo's own shadows do not show."""
    return checks.scene_cue and light.kind in DIRECTIONAL_KINDS and not photo_agrees(hints,
                                                                                      light)


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


def sample_scene(rng: np.random.Generator, *, index: int, attempt: int, seed: int, size: int,
                 photos: Sequence[str], meshes: Sequence[MeshChoice], extent_of: ExtentLookup,
                 ranges: SamplingRanges, checks: QualityChecks,
                 check_photo: PhotoCheck = lambda path: None,
                 bad_assets: dict[str, str] | None = None,
                 photo_hints: Mapping[str, PhotoHints] | None = None) -> SceneSpec:
    """Draw one scene. `extent_of(path)` gives a mesh's normalised extent (largest = 1; a
    render.assets.MeshExtent with the mesh's stable poses, of which each object takes one with
    `ranges.objects.stable_pose_probability`) and
    `check_photo(path)` loads a photo; both raise BadAsset for a broken file, which is then
    recorded in `bad_assets` and drawn again. `photo_hints` (photo path -> `PhotoHints`, from
    its sidecar) fixes what a photo's sidecar gives: camera values, the horizon's row, the sun
    or its shadows' direction, the ground polygon the objects' feet stand in; the rest is
    drawn as without hints, from the same draws. Raises SamplingError when the objects cannot
    be placed or the hints cannot be met."""
    bad = {} if bad_assets is None else bad_assets
    photo_index, _ = _draw_usable(rng, len(photos), lambda i: check_photo(str(photos[i])), bad,
                                  "scene photo")
    photo = PhotoSpec(path=str(photos[photo_index]),
                      crop_fraction=_uniform(rng, ranges.photo.crop),
                      crop_x=float(rng.uniform()), crop_y=float(rng.uniform()),
                      flip=bool(rng.uniform() < ranges.photo.flip_probability),
                      tone_contrast=_uniform(rng, ranges.photo.tone_contrast))
    camera = CameraSpec(height=_uniform(rng, ranges.camera.height),
                        pitch_deg=_uniform(rng, ranges.camera.pitch),
                        fov_deg=_uniform(rng, ranges.camera.fov))
    light = _light(rng, ranges.lights)
    hints = (photo_hints or {}).get(photo.path)
    foot_region = None
    if hints is not None:
        photo, camera = _hinted_photo_and_camera(rng, hints, photo, camera, size, ranges)
        light = _hinted_light(rng, hints, photo, light, ranges.lights)
        if hints.ground_polygon:
            foot_region = to_output(np.array(hints.ground_polygon), hints, photo, size)

    sizes = ranges.objects

    def pick() -> tuple[MeshChoice, tuple[float, float, float], tuple[float, ...]]:
        """A usable mesh, its posed extent and its pose."""
        choice, found = _draw_usable(rng, len(meshes), lambda i: extent_of(meshes[i][1]), bad,
                                     "mesh")
        extent = cast(tuple[float, float, float], found)  # a MeshExtent brings the poses
        pose, posed_extent = _pose(rng, extent, sizes.stable_pose_probability)
        return meshes[choice], posed_extent, pose

    inserted_mesh, inserted_extent, inserted_pose = pick()
    inserted = _place(rng, camera, size, "inserted", inserted_mesh, inserted_extent,
                      _uniform(rng, sizes.inserted_size), INSERTED_INDEX,
                      sizes.inserted_screen_x,
                      sizes.inserted_screen_y, [], ranges.materials, photo.tone_contrast,
                      pose=inserted_pose, foot_region=foot_region)
    if inserted is None:
        raise SamplingError("object_does_not_fit",
                            "inserted object does not fit in the frame" if foot_region is None
                            else "inserted object does not fit in the frame with its foot in "
                            "the photo's ground polygon")
    if hints is not None and hints.shadow_direction_deg is not None \
            and light.kind in DIRECTIONAL_KINDS:
        wanted = output_angle(hints.shadow_direction_deg, photo)
        light = dataclasses.replace(light, azimuth_deg=azimuth_for_shadow(
            camera, size, np.array([inserted.x, inserted.y]), wanted))
    placed = [inserted]
    inserted_box = projected_box(inserted, camera, size)
    cue = needs_scene_cue(checks, hints, light)
    low = max(sizes.occluders[0], 1) if cue else sizes.occluders[0]
    occluder_count = int(rng.integers(low, max(low, sizes.occluders[1]) + 1))
    for slot in range(occluder_count):
        mesh, extent, pose = pick()
        occluder = _place(rng, camera, size, "occluder", mesh, extent,
                          _uniform(rng, sizes.occluder_size), INSERTED_INDEX + 1 + slot,
                          (0.05, 0.95), (0.35, 0.95), placed, ranges.materials,
                          photo.tone_contrast, pose=pose, foot_region=foot_region)
        if occluder is None:
            continue
        nearer = occluder.y < inserted.y
        if nearer and box_overlap_fraction(inserted_box, projected_box(occluder, camera, size)) \
                > checks.max_hidden_fraction:
            continue
        placed.append(occluder)
    if cue:
        foot = np.array([inserted.x, inserted.y, 0.0])
        best = max((visible_cast_fraction(obj, light, camera, size, foot) for obj in placed[1:]),
                   default=0.0)
        if best < checks.min_occluder_shadow_fraction:
            raise SamplingError("no_scene_cue", f"no occluder's shadow can show the {light.kind} "
                                f"light's direction: at most {best:.2%} of the image, "
                                f"{checks.min_occluder_shadow_fraction:.2%} needed")
    if light.kind == "area":
        light_height = light.distance * math.sin(math.radians(light.elevation_deg))
        tallest = max(obj.size * obj.extent[2] for obj in placed)
        if tallest > 0.8 * light_height:
            raise SamplingError("light_too_low", f"area light {light_height:.2f} m high, too "
                                f"low above an object {tallest:.2f} m tall")
    # Pass indices stay contiguous whatever was skipped.
    objects = [placed[0]] + [
        ObjectSpec(**{**asdict(obj), "pass_index": INSERTED_INDEX + 1 + slot,
                      "material": obj.material})
        for slot, obj in enumerate(placed[1:])
    ]
    return SceneSpec(index=index, attempt=attempt, seed=seed, size=size, photo=photo,
                     camera=camera, light=light, objects=tuple(objects))
