"""Photo-matched scenes: what a scene photo's sidecar file (`street.jpg` + `street.json`) says
about the photo, read once per run, and how a sample's crop maps it into the output image.

Pixel coordinates, in the original photo and in the output image alike, are continuous: x to
the right, y down, (0, 0) the top-left corner of the top-left pixel (pixel centres at +0.5),
as `dataset_tools.camera.project` gives them. Image-plane angles are measured in these coordinates:
0 = pointing right, 90 = pointing down (towards the camera on the ground), 180 = left,
270 = up (away from the camera): clockwise as seen on screen. Nothing here imports bpy.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dataset_tools.directions import estimate_shadow_direction
from dataset_tools.layout import DatasetError
from dataset_tools.light_labels import LIGHT_KINDS
from render.assets import SIDECAR_MASK_KEYS, BadAsset, read_json_asset
from render.panorama import is_equirectangular
from render.photo_masks import read_instance_mask
from render.scene_images import read_scene_image
from render.spec import PhotoSpec

SIDECAR_SUFFIX = ".json"
KEYS = ("horizon_row", "camera", "shadow_direction_deg", "sun", "ground_polygon", "lights",
        *SIDECAR_MASK_KEYS, "panorama")
CAMERA_KEYS = ("pitch_deg", "fov_deg", "height_m")
SUN_KEYS = ("azimuth_deg", "elevation_deg")
PANORAMA_KEYS = ("sun", "ground")
PANORAMA_GROUND_KEYS = ("elevation_deg", "sectors_deg")
PANORAMA_SUN_KEYS = (*SUN_KEYS, "angle_deg")
# What a panorama's sidecar may give beside `panorama`: a view's horizon, pitch and field of
# view follow from the view, its crop and light direction from the panorama.
PANORAMA_ALLOWED = ("panorama", "camera", "lights", *SIDECAR_MASK_KEYS)
PANORAMA_CAMERA_KEYS = ("height_m",)
HORIZON_PITCH_DEG = (3.0, 70.0)  # pitches a horizon hint may imply; else the crop is redrawn
# Pixel coordinates (horizon_row, ground_polygon) must lie within this many photo sides
# (the longer one) of the photo's origin: far beyond any horizon a camera pitch of 3-70 degrees
# puts there, and small enough that no sum or product of them overflows.
COORDINATE_LIMIT_SIDES = 1000
HINT_KINDS = ("camera", "horizon", "sun", "shadow_direction", "estimated_shadow_direction",
              "ground_polygon", "lights", "photo_masks", "panorama")


@dataclass(frozen=True)
class PanoramaHints:
    """A panorama's sidecar `panorama` table: its sun, in the panorama's own frame
    (`render.panorama`: heading 0 = the image's left edge, clockwise seen from above), or
    none (an overcast or indoor panorama, whose sidecar then gives `lights` without the sun)."""

    sun_azimuth_deg: float | None = None  # heading in [0, 360): the sun's column is A/360 W
    sun_elevation_deg: float | None = None  # in (0, 90): its row is (90 - E)/180 H
    sun_angle_deg: float | None = None  # the sun's angular diameter; None: sampled
    # where objects may stand: the ground's elevation range below the horizon, (low, high)
    # degrees with -90 <= low < high <= 0 (None: anywhere the view sees ground), and the
    # heading sectors ((from, to), ...) where it is flat and visible, each in [0, 360) and
    # running clockwise from `from` to `to` (across 0 when to < from); (): all around
    ground_elevation_deg: tuple[float, float] | None = None
    ground_sectors_deg: tuple[tuple[float, float], ...] = ()

    def ground_band(self) -> tuple[float, float] | None:
        """The ground's elevation band, (-90, 0) when only sectors are given; None when the
        sidecar gives no ground (objects stand wherever the view sees ground)."""
        if self.ground_elevation_deg is None and not self.ground_sectors_deg:
            return None
        return self.ground_elevation_deg or (-90.0, 0.0)

    def sectors(self) -> tuple[tuple[float, float], ...]:
        """(start, width) in degrees of each ground sector; ((0, 360),) all around."""
        return tuple((start, (end - start) % 360.0 or 360.0)
                     for start, end in self.ground_sectors_deg) or ((0.0, 360.0),)

    def sector_width(self) -> float:
        """Degrees of heading the ground sectors cover (360 without sectors)."""
        return sum(width for _, width in self.sectors())

    def heading_at(self, share: float) -> float:
        """The heading at `share` in [0, 1) of the ground sectors' total width, sector after
        sector: a uniform share gives a heading uniform over the sectors."""
        left = share * self.sector_width()
        for start, width in self.sectors():
            if left < width:
                return (start + left) % 360.0
            left -= width
        start, width = self.sectors()[-1]
        return (start + width) % 360.0

    def in_sectors(self, headings: np.ndarray) -> np.ndarray:
        """Whether each heading (degrees, any shape) lies in a ground sector."""
        return np.any([(np.asarray(headings) - start) % 360.0 < width
                       for start, width in self.sectors()], axis=0)


@dataclass(frozen=True)
class PhotoHints:
    """What a photo's sidecar gives (None / empty: sample it). `width`, `height`: the original
    photo's size in pixels, which maps the hints through a sample's crop."""

    width: int
    height: int
    horizon_row: float | None = None  # original-photo y of the horizon (may lie outside it)
    pitch_deg: float | None = None  # the render camera's (`render.spec.CameraSpec`)
    fov_deg: float | None = None
    height_m: float | None = None
    shadow_direction_deg: float | None = None  # image-plane angle, see the module docstring
    sun_azimuth_deg: float | None = None  # world frame of the unflipped photo (LightSpec's)
    sun_elevation_deg: float | None = None
    ground_polygon: tuple[tuple[float, float], ...] = ()  # original-photo (x, y) vertices
    # the light kinds that fit the photo and their relative weights, ((kind, weight), ...) in
    # LIGHT_KINDS order; empty: the configuration's weights (`render.config.LightRanges`)
    lights: tuple[tuple[str, float], ...] = ()
    # the photo's own object and shadow masks (`render.photo_masks`): paths as the sidecar
    # gives them, relative to it, until `read_hints` resolves them
    object_mask: str | None = None
    shadow_mask: str | None = None
    shadow_direction_estimated: bool = False  # from the masks' pairs, not given
    # an equirectangular panorama (`render.panorama`): every sample is a view of it
    panorama: PanoramaHints | None = None

    @property
    def panorama_sun(self) -> bool:
        """Whether the photo is a panorama that gives its sun."""
        return self.panorama is not None and self.panorama.sun_azimuth_deg is not None

    @property
    def shows_light(self) -> bool:
        """Whether the scene's own shadows show its light: the sidecar gives its sun (a
        photo's or a panorama's) or its shadows' direction (given or from its masks)."""
        return self.sun_azimuth_deg is not None or self.panorama_sun \
            or self.shadow_direction_deg is not None

    @property
    def mask_paths(self) -> dict[str, str]:
        """The photo's masks that the sidecar names, {"object_mask": path, ...}."""
        paths = {"object_mask": self.object_mask, "shadow_mask": self.shadow_mask}
        return {key: path for key, path in paths.items() if path is not None}

    @property
    def kinds(self) -> list[str]:
        """The kinds of hint given, in `HINT_KINDS` order (what the manifest's `hints` lists)."""
        given = {
            "camera": any(value is not None for value in
                          (self.pitch_deg, self.fov_deg, self.height_m)),
            "horizon": self.horizon_row is not None,
            "sun": self.sun_azimuth_deg is not None or self.panorama_sun,
            "shadow_direction": self.shadow_direction_deg is not None
            and not self.shadow_direction_estimated,
            "estimated_shadow_direction": self.shadow_direction_estimated,
            "ground_polygon": bool(self.ground_polygon),
            "lights": bool(self.lights),
            "photo_masks": bool(self.mask_paths),
            "panorama": self.panorama is not None,
        }
        return [kind for kind in HINT_KINDS if given[kind]]


def sidecar_path(photo: Path) -> Path:
    return photo.with_suffix(SIDECAR_SUFFIX)


def _number(value: Any, key: str, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number, got {value!r}")
    if not low < value < high:
        raise ValueError(f"{key} must lie strictly between {low:g} and {high:g}, got {value!r}")
    return float(value)


def _sun_elevation(value: Any, key: str) -> float:
    """A sun's elevation in degrees, strictly between the horizon (0) and the zenith (90)."""
    elevation = _number(value, key)
    if elevation <= 0:
        raise ValueError(f"{key} {elevation:g} puts the sun at or below the horizon: it casts "
                         "no shadow on the ground (give a sun above 0 degrees, or no sun)")
    if elevation >= 90:
        raise ValueError(f"{key} must lie below 90 (the zenith), got {elevation:g}")
    return elevation


def _table(value: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be an object with {', '.join(allowed)}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ValueError(f"unknown key {key}.{unknown[0]} (expected {', '.join(allowed)})")
    return value


def _light_weights(value: Any) -> tuple[tuple[str, float], ...]:
    """A sidecar's `lights`: {kind: weight} over LIGHT_KINDS, weights >= 0, one above 0."""
    table = _table(value, "lights", LIGHT_KINDS)
    weights = {}
    for kind in LIGHT_KINDS:
        if kind in table:
            weight = table[kind]
            if isinstance(weight, bool) or not isinstance(weight, int | float) \
                    or not math.isfinite(weight) or weight < 0:
                raise ValueError(f"lights.{kind} must be a finite number >= 0, got {weight!r}")
            weights[kind] = float(weight)
    if not any(weight > 0 for weight in weights.values()):
        raise ValueError("lights must give at least one of "
                         f"{', '.join(LIGHT_KINDS)} a weight above 0")
    return tuple((kind, weight) for kind, weight in weights.items() if weight > 0)


def parse_hints(data: Any, width: int, height: int) -> PhotoHints:
    """Validate a sidecar's JSON for a photo of `width` x `height` pixels; raises ValueError
    with a one-line reason."""
    data = _table(data, "the sidecar", KEYS)
    if "panorama" in data:
        return parse_panorama(data, width, height)
    values: dict[str, Any] = {}
    limit = COORDINATE_LIMIT_SIDES * max(width, height)
    if "horizon_row" in data:
        values["horizon_row"] = _number(data["horizon_row"], "horizon_row", -limit, limit)
    camera = _table(data.get("camera", {}), "camera", CAMERA_KEYS)
    limits = {"pitch_deg": (-89.0, 89.0), "fov_deg": (1.0, 179.0), "height_m": (0.0, 1000.0)}
    for key, (low, high) in limits.items():
        if key in camera:
            values[key] = _number(camera[key], f"camera.{key}", low, high)
    if "pitch_deg" in values and "horizon_row" in values:
        raise ValueError("give camera.pitch_deg or horizon_row, not both (each sets the pitch)")
    if "sun" in data and "shadow_direction_deg" in data:
        raise ValueError("give sun or shadow_direction_deg, not both (each sets the azimuth)")
    if "shadow_direction_deg" in data:
        values["shadow_direction_deg"] = _number(data["shadow_direction_deg"],
                                                 "shadow_direction_deg") % 360.0
    if "sun" in data:
        sun = _table(data["sun"], "sun", SUN_KEYS)
        if set(sun) != set(SUN_KEYS):
            raise ValueError("sun needs both azimuth_deg and elevation_deg")
        values["sun_azimuth_deg"] = _number(sun["azimuth_deg"], "sun.azimuth_deg") % 360.0
        values["sun_elevation_deg"] = _sun_elevation(sun["elevation_deg"], "sun.elevation_deg")
    if "ground_polygon" in data:
        polygon = data["ground_polygon"]
        if not isinstance(polygon, list) or len(polygon) < 3 or not all(
                isinstance(point, list) and len(point) == 2 for point in polygon):
            raise ValueError("ground_polygon must be a list of at least 3 [x, y] points")
        vertices = tuple((_number(x, "ground_polygon x", -limit, limit),
                          _number(y, "ground_polygon y", -limit, limit)) for x, y in polygon)
        if abs(_signed_area(np.array(vertices))) < 1.0:
            raise ValueError("ground_polygon encloses no area")
        if abs(_signed_area(clip_to_rectangle(np.array(vertices), width, height))) < 1.0:
            raise ValueError(f"ground_polygon lies entirely outside the {width}x{height} photo")
        values["ground_polygon"] = vertices
    if "lights" in data:
        values["lights"] = _light_weights(data["lights"])
        if "sun" in data and dict(values["lights"]).get("sun", 0.0) <= 0:
            raise ValueError("lights gives the sun no weight, but the sidecar gives the sun")
    values.update(_mask_paths(data))
    return PhotoHints(width=width, height=height, **values)


def _mask_paths(data: dict[str, Any]) -> dict[str, str]:
    """The sidecar's `object_mask`/`shadow_mask` paths, as given (relative to the sidecar)."""
    paths = {}
    for key in SIDECAR_MASK_KEYS:
        if key in data:
            if not isinstance(data[key], str) or not data[key].strip():
                raise ValueError(f"{key} must be the mask image's path, relative to the sidecar")
            paths[key] = data[key]
    return paths


def _ground(value: Any) -> dict[str, Any]:
    """A panorama's `panorama.ground` table -> PanoramaHints' ground fields."""
    table = _table(value, "panorama.ground", PANORAMA_GROUND_KEYS)
    ground: dict[str, Any] = {}
    if "elevation_deg" in table:
        band = table["elevation_deg"]
        if not isinstance(band, list) or len(band) != 2:
            raise ValueError("panorama.ground.elevation_deg must be [low, high] degrees below "
                             "the horizon, e.g. [-90, -5]")
        low, high = (_number(value, "panorama.ground.elevation_deg") for value in band)
        if low < -90 or high > 0 or low >= high:
            raise ValueError(f"panorama.ground.elevation_deg [{low:g}, {high:g}] holds no ground "
                             "(low must lie below high, both at or below the horizon, 0)")
        ground["ground_elevation_deg"] = (low, high)
    if "sectors_deg" in table:
        sectors = table["sectors_deg"]
        if not isinstance(sectors, list) or not sectors or not all(
                isinstance(sector, list) and len(sector) == 2 for sector in sectors):
            raise ValueError("panorama.ground.sectors_deg must be a list of [from, to] headings, "
                             "e.g. [[300, 60], [120, 200]]")
        given = [(_number(start, "panorama.ground.sectors_deg"),
                  _number(end, "panorama.ground.sectors_deg")) for start, end in sectors]
        for start, end in given:
            if abs(end - start) < 360.0 and min((end - start) % 360.0,
                                                (start - end) % 360.0) < 1.0:
                raise ValueError(f"panorama.ground.sectors_deg [{start:g}, {end:g}] is under a "
                                 "degree wide (all around: [0, 360] or no sectors_deg)")
        if not any(abs(end - start) >= 360.0 for start, end in given):  # else all around
            ground["ground_sectors_deg"] = tuple((start % 360.0, end % 360.0)
                                                 for start, end in given)
    return ground


def parse_panorama(data: dict[str, Any], width: int, height: int) -> PhotoHints:
    """Validate the sidecar of a panorama (`data` holds `panorama`, its keys known) of `width`
    x `height` pixels; raises ValueError with a one-line reason."""
    if not is_equirectangular(width, height):
        raise ValueError(f"declares a panorama, but its image is {width}x{height}, not 2:1")
    given = [key for key in data if key not in PANORAMA_ALLOWED]
    if given:
        raise ValueError(f"a panorama's sidecar cannot give {given[0]} (its views' camera and "
                         f"light follow from the view; it gives {', '.join(PANORAMA_ALLOWED)})")
    table = _table(data["panorama"], "panorama", PANORAMA_KEYS)
    camera = _table(data.get("camera", {}), "camera", PANORAMA_CAMERA_KEYS)
    values: dict[str, Any] = {}
    if "height_m" in camera:
        values["height_m"] = _number(camera["height_m"], "camera.height_m", 0.0, 1000.0)
    ground = _ground(table["ground"]) if "ground" in table else {}
    panorama = PanoramaHints(**ground)
    if "sun" in table:
        sun = _table(table["sun"], "panorama.sun", PANORAMA_SUN_KEYS)
        if not set(SUN_KEYS) <= set(sun):
            raise ValueError("panorama.sun needs both azimuth_deg and elevation_deg")
        angle = sun.get("angle_deg")
        panorama = PanoramaHints(
            sun_azimuth_deg=_number(sun["azimuth_deg"], "panorama.sun.azimuth_deg") % 360.0,
            sun_elevation_deg=_sun_elevation(sun["elevation_deg"], "panorama.sun.elevation_deg"),
            sun_angle_deg=None if angle is None
            else _number(angle, "panorama.sun.angle_deg", 0, 180), **ground)
    if "lights" in data:
        values["lights"] = _light_weights(data["lights"])
    sun_weight = dict(values.get("lights", ())).get("sun", 0.0)
    if panorama.sun_azimuth_deg is not None and "lights" in values and sun_weight <= 0:
        raise ValueError("lights gives the sun no weight, but the panorama gives its sun")
    if panorama.sun_azimuth_deg is None and ("lights" not in values or sun_weight > 0):
        raise ValueError('a panorama without panorama.sun needs lights without the sun, '
                         'e.g. {"overcast": 1}')
    values.update(_mask_paths(data))
    return PhotoHints(width=width, height=height, panorama=panorama, **values)


def read_hints(photo: Path, scenes: Path | None = None) -> PhotoHints | None:
    """The hints of `photo` from its sidecar, None without one. Raises BadAsset naming the
    sidecar when it cannot be used (the photo is then used without hints), among others when
    a mask path leads out of `scenes` (the scenes folder; default: the sidecar's folder)."""
    sidecar = sidecar_path(photo)
    if not sidecar.is_file():
        return None
    data = read_json_asset(sidecar)  # BadAsset when unreadable or nested too deeply
    try:  # read as the sampler's photo cache reads it (EXIF orientation applied alike)
        image = read_scene_image(photo)
    except DatasetError:
        raise BadAsset(sidecar, f"cannot read the size of {photo.name}") from None
    try:
        hints = parse_hints(data, width=int(image.shape[1]), height=int(image.shape[0]))
    except ValueError as error:
        raise BadAsset(sidecar, str(error)) from None
    top = Path(os.path.realpath(scenes if scenes is not None else sidecar.parent))
    for key, path in hints.mask_paths.items():
        target = Path(os.path.realpath(sidecar.parent / path))
        if top not in target.parents:  # "/etc/shadow", "../../x.png", a link out of it
            raise BadAsset(sidecar, f"{key} {path!r} lies outside the scenes folder {top}")
    return with_photo_masks(hints, sidecar.parent)


def with_photo_masks(hints: PhotoHints, folder: Path) -> PhotoHints:
    """`hints` with its mask paths resolved against the sidecar's `folder`, each mask checked
    (BadAsset naming the mask file), and, when the sidecar of a photo (not a panorama, whose
    views take their light from its sun) gives neither the sun nor the shadow direction, the
    direction estimated from the masks' object-shadow pairs. (Paths
    outside the scenes folder are `read_hints`'s to refuse, before any file is opened.)"""
    paths = {key: str(folder / path) for key, path in hints.mask_paths.items()}
    masks = {key: read_instance_mask(Path(path), hints.width, hints.height)
             for key, path in paths.items()}
    hints = dataclasses.replace(hints, **paths)
    if len(masks) < len(SIDECAR_MASK_KEYS) or hints.sun_azimuth_deg is not None \
            or hints.shadow_direction_deg is not None or hints.panorama is not None:
        return hints
    estimate = estimate_shadow_direction(masks["object_mask"], masks["shadow_mask"])
    if estimate is None:
        return hints
    return dataclasses.replace(hints, shadow_direction_deg=estimate,
                               shadow_direction_estimated=True)


# ----------------------------------------------------------------------------- the crop


def crop_window(hints: PhotoHints, photo: PhotoSpec) -> tuple[int, int, int]:
    """(x0, y0, side) of the square crop in the original photo, rounded as
    `render.composite.crop_photo` rounds it."""
    side = max(1, int(round(min(hints.height, hints.width) * photo.crop_fraction)))
    x0 = int(round((hints.width - side) * photo.crop_x))
    y0 = int(round((hints.height - side) * photo.crop_y))
    return x0, y0, side


def to_output(points: np.ndarray, hints: PhotoHints, photo: PhotoSpec, size: int) -> np.ndarray:
    """(N, 2) original-photo pixel coordinates -> (N, 2) output-image coordinates (the crop,
    its resize to `size` and the flip)."""
    x0, y0, side = crop_window(hints, photo)
    scaled = (np.asarray(points, dtype=np.float64) - [x0, y0]) * (size / side)
    if photo.flip:
        scaled[:, 0] = size - scaled[:, 0]
    return scaled


def output_row(row: float, hints: PhotoHints, photo: PhotoSpec, size: int) -> float:
    """Output-image y of original-photo row `row` (y)."""
    return float(to_output(np.array([[0.0, row]]), hints, photo, size)[0, 1])


def output_angle(angle_deg: float, photo: PhotoSpec) -> float:
    """An original-photo image-plane angle in the output image: a uniform scale keeps it, a
    horizontal flip mirrors it (180 - angle)."""
    return (180.0 - angle_deg) % 360.0 if photo.flip else angle_deg % 360.0


def output_sun_azimuth(azimuth_deg: float, photo: PhotoSpec) -> float:
    """A world azimuth given for the unflipped photo, in the flipped scene: mirrored in x."""
    return (-azimuth_deg) % 360.0 if photo.flip else azimuth_deg % 360.0


def pitch_for_horizon(row: float, fov_deg: float, size: int) -> float:
    """Pitch (degrees below the horizon) of our camera that puts the horizon at output-image
    y `row`: the zero-elevation direction projects at size/2 - focal * tan(pitch)."""
    focal = 0.5 * size / math.tan(math.radians(fov_deg) / 2)
    return math.degrees(math.atan((0.5 * size - row) / focal))


# ----------------------------------------------------------------------------- polygons


def _signed_area(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def clip_to_rectangle(polygon: np.ndarray, width: float, height: float) -> np.ndarray:
    """The (K, 2) polygon clipped to the rectangle [0, width] x [0, height]
    (Sutherland-Hodgman); (0, 2) when nothing of it lies inside."""
    points = [tuple(point) for point in np.asarray(polygon, dtype=np.float64)]
    edges = ((0, 0.0, 1.0), (0, float(width), -1.0), (1, 0.0, 1.0), (1, float(height), -1.0))
    for axis, bound, sign in edges:  # keep the side where sign * (coordinate - bound) >= 0
        kept: list[tuple[float, float]] = []
        for index, current in enumerate(points):
            previous = points[index - 1]
            inside_now = sign * (current[axis] - bound) >= 0
            inside_before = sign * (previous[axis] - bound) >= 0
            if inside_now != inside_before:
                t = (bound - previous[axis]) / (current[axis] - previous[axis])
                kept.append((previous[0] + t * (current[0] - previous[0]),
                             previous[1] + t * (current[1] - previous[1])))
            if inside_now:
                kept.append(current)
        points = kept
        if not points:
            break
    return np.array(points, dtype=np.float64).reshape(-1, 2)


def inside_polygon(polygon: np.ndarray, u: float, v: float) -> bool:
    """Whether (u, v) lies inside the (K, 2) polygon (even-odd rule, any orientation)."""
    x, y = polygon[:, 0], polygon[:, 1]
    next_x, next_y = np.roll(x, -1), np.roll(y, -1)
    crosses = (y > v) != (next_y > v)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = x + (v - y) * (next_x - x) / (next_y - y)
    return bool(np.count_nonzero(crosses & (u < at)) % 2)
