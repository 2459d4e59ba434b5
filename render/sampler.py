"""The scene sampler: one `SceneSpec` drawn from an explicit `np.random.Generator`, honouring a
photo's sidecar hints (pure Python and numpy, no bpy). A draw that cannot be placed raises
`SamplingError`, and the caller resamples the attempt with the next seed."""

from __future__ import annotations

import colorsys
import dataclasses
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict
from typing import TypeVar

import numpy as np

from dataset_tools.camera import ground_point
from dataset_tools.layout import INSERTED_INDEX
from dataset_tools.light_labels import DIRECTIONAL_KINDS
from dataset_tools.records import ResampledAttempt
from render.assets import BadAsset
from render.config import (
    LightRanges,
    MaterialRanges,
    PanoramaRanges,
    QualityChecks,
    SamplingRanges,
)
from render.geometry import (
    azimuth_for_shadow,
    box_overlap_fraction,
    footprint_radius,
    projected_box,
    visible_cast_fraction,
)
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
from render.panorama import ground_region, world_sun_azimuth
from render.poses import IDENTITY_ROTATION, MeshExtent
from render.spec import (
    CameraSpec,
    LightSpec,
    MaterialSpec,
    ObjectSpec,
    PanoramaView,
    PhotoSpec,
    SceneSpec,
)

# Why an attempt at a sample was resampled (the `code` of the manifest's `resampled` entries,
# `dataset_tools.records.ResampledAttempt`) -> what the run summary calls it.
RESAMPLED_CODES = {
    "no_usable_asset": "no usable photo or mesh",
    "horizon_out_of_range": "horizon hint gives an impossible pitch",
    "object_does_not_fit": "inserted object does not fit in the frame",
    "light_too_low": "area light too low above an object",
    "object_too_small": "inserted object too small or hidden",
    "shadow_too_small": "own shadow too small or hidden",
    "no_scene_cue": "no occluder shadow shows the light's direction",
}


def resampled_label(attempt: ResampledAttempt) -> str:
    """What the run summary calls a resampled attempt ("other" for a code it does not know)."""
    return RESAMPLED_CODES.get(attempt.code or "", "other")


class SamplingError(RuntimeError):
    """No valid placement was found for this attempt; the caller resamples with a new seed.
    `code` says why, as a key of RESAMPLED_CODES; the message says it with the numbers."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def sample_seed(global_seed: int, index: int, attempt: int = 0) -> int:
    """63-bit seed from (global seed, sample index, attempt) alone: shards never collide."""
    sequence = np.random.SeedSequence([global_seed & 0xFFFFFFFF, index, attempt])
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


MeshChoice = tuple[str, str]  # (mesh id, path)
ExtentLookup = Callable[[str], MeshExtent]  # a mesh's path -> its normalised box and poses
PhotoCheck = Callable[[str], object]
MAX_ASSET_DRAWS = 64
Found = TypeVar("Found")


def _draw_usable(rng: np.random.Generator, count: int, check: Callable[[int], Found],
                 bad: dict[str, str], what: str,
                 weights: np.ndarray | None = None) -> tuple[int, Found]:
    """Draw indices (uniformly, or by `weights`, which sum to 1) until `check(index)` does not
    raise BadAsset. Which files are bad is a property of the files, so the draws (and the
    sample) do not depend on what a worker saw before; bad files are collected in `bad`
    (path -> reason)."""
    for _ in range(MAX_ASSET_DRAWS):
        index = int(rng.integers(count)) if weights is None else int(rng.choice(count,
                                                                                p=weights))
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


def _pose(rng: np.random.Generator, extent: MeshExtent,
          probability: float) -> tuple[tuple[float, ...], tuple[float, float, float]]:
    """(rotation, posed extent) of an object: with `probability` one of the mesh's stable poses
    (drawn by their probabilities), otherwise upright as modelled. Draws nothing when
    `probability` is 0."""
    upright = IDENTITY_ROTATION, extent.box
    if probability <= 0 or not rng.uniform() < probability:
        return upright
    poses = extent.poses
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


def _panorama_view(rng: np.random.Generator, hints: PhotoHints, photo: PhotoSpec,
                   camera: CameraSpec, ranges: PanoramaRanges) -> tuple[PhotoSpec, CameraSpec]:
    """A view of a panorama: its yaw drawn over the full circle, the camera's pitch and field
    of view from `ranges` (the photo is what that camera sees, `render.panorama`), its height
    the sidecar's when given; no crop, no flip. The yaw is uniform over the sidecar's ground
    sectors where it gives them."""
    view = PanoramaView(yaw_deg=hints.panorama.heading_at(float(rng.uniform())))
    camera = CameraSpec(height=camera.height if hints.height_m is None else hints.height_m,
                        pitch_deg=_uniform(rng, ranges.pitch), fov_deg=_uniform(rng, ranges.fov))
    photo = dataclasses.replace(photo, crop_fraction=1.0, crop_x=0.5, crop_y=0.5, flip=False,
                                view=view)
    return photo, camera


def _hinted_light(rng: np.random.Generator, hints: PhotoHints, photo: PhotoSpec,
                  light: LightSpec, ranges: LightRanges) -> LightSpec:
    """The light a photo's sidecar allows. With `lights`, a kind drawn by its weights; without,
    a sun whenever the photo gives its sun or its shadows' direction. The given sun's azimuth
    and elevation (the azimuth for a shadow direction is solved once the object stands); a
    panorama's sun seen from the photo's view, with its angular diameter when given."""
    if hints.lights:
        kind = _choose(rng, dict(hints.lights))
        if kind != light.kind:
            light = _light(rng, ranges, kind=kind)
    elif hints.sun_azimuth_deg is None and hints.shadow_direction_deg is None \
            and not hints.panorama_sun:
        return light
    elif light.kind != "sun":
        light = _light(rng, ranges, kind="sun")
    panorama = hints.panorama
    if light.kind == "sun" and panorama is not None and panorama.sun_azimuth_deg is not None \
            and panorama.sun_elevation_deg is not None and photo.view is not None:
        angle = light.angle_deg if panorama.sun_angle_deg is None else panorama.sun_angle_deg
        return dataclasses.replace(
            light, azimuth_deg=world_sun_azimuth(panorama.sun_azimuth_deg, photo.view.yaw_deg),
            elevation_deg=panorama.sun_elevation_deg, angle_deg=angle)
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
        light.kind == "sun" and (hints.sun_azimuth_deg is not None or hints.panorama_sun))


def needs_scene_cue(checks: QualityChecks, hints: PhotoHints | None, light: LightSpec) -> bool:
    """Whether a sample must show an occluder's shadow (`QualityChecks.scene_cue`): a sun or
    area light whose direction the photo's own shadows do not show."""
    return checks.scene_cue and light.kind in DIRECTIONAL_KINDS and not photo_agrees(hints,
                                                                                      light)


def scene_weights(photos: Sequence[str], hints: Mapping[str, PhotoHints],
                  sun_weight: float) -> np.ndarray | None:
    """The chance of drawing each scene: `sun_weight` times as high for a scene whose sidecar
    gives its sun or its shadows' direction (`PhotoHints.shows_light`) as for any other; None
    (uniform, the draws of datasets made before the weight) when all weigh the same."""
    sunny = np.array([str(photo) in hints and hints[str(photo)].shows_light for photo in photos])
    if sun_weight == 1.0 or sunny.all() or not sunny.any():
        return None
    weights = np.where(sunny, sun_weight, 1.0)
    return weights / weights.sum()


def sample_scene(rng: np.random.Generator, *, index: int, attempt: int, seed: int, size: int,
                 photos: Sequence[str], meshes: Sequence[MeshChoice], extent_of: ExtentLookup,
                 ranges: SamplingRanges, checks: QualityChecks,
                 check_photo: PhotoCheck = lambda path: None,
                 bad_assets: dict[str, str] | None = None,
                 photo_hints: Mapping[str, PhotoHints] | None = None,
                 upright_meshes: Collection[str] = frozenset(),
                 person_meshes: Collection[str] = frozenset()) -> SceneSpec:
    """Draw one scene. `extent_of(path)` gives a mesh's normalised box and stable poses (each
    object takes one of them with `ranges.objects.stable_pose_probability`, except the meshes
    whose path is in `upright_meshes`, which always stand as modelled, and those in
    `person_meshes` take `ranges.objects.person_size`) and
    `check_photo(path)` loads a photo; both raise BadAsset for a broken file, which is then
    recorded in `bad_assets` and drawn again. `photo_hints` (photo path -> `PhotoHints`, from
    its sidecar) fixes what a photo's sidecar gives: camera values, the horizon's row, the sun
    or its shadows' direction, the ground polygon the objects' feet stand in; the rest is
    drawn as without hints, from the same draws. A panorama's sample is a view of it
    (`ranges.panorama`) lit by its sun. Raises SamplingError when the objects cannot
    be placed or the hints cannot be met."""
    bad = {} if bad_assets is None else bad_assets
    photo_index, _ = _draw_usable(rng, len(photos), lambda i: check_photo(str(photos[i])), bad,
                                  "scene photo", scene_weights(photos, photo_hints or {},
                                                               ranges.photo.sun_weight))
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
    if hints is not None and hints.panorama is not None:
        photo, camera = _panorama_view(rng, hints, photo, camera, ranges.panorama)
        light = _hinted_light(rng, hints, photo, light, ranges.lights)
        foot_region = ground_region(hints.panorama, photo.view.yaw_deg, camera, size)
    elif hints is not None:
        photo, camera = _hinted_photo_and_camera(rng, hints, photo, camera, size, ranges)
        light = _hinted_light(rng, hints, photo, light, ranges.lights)
        if hints.ground_polygon:
            foot_region = to_output(np.array(hints.ground_polygon), hints, photo, size)

    sizes = ranges.objects

    def pick() -> tuple[MeshChoice, tuple[float, float, float], tuple[float, ...]]:
        """A usable mesh, its posed extent and its pose."""
        choice, extent = _draw_usable(rng, len(meshes), lambda i: extent_of(meshes[i][1]),
                                      bad, "mesh")
        probability = 0.0 if meshes[choice][1] in upright_meshes \
            else sizes.stable_pose_probability
        pose, posed_extent = _pose(rng, extent, probability)
        return meshes[choice], posed_extent, pose

    def object_size(mesh: MeshChoice, sized: tuple[float, float]) -> float:
        """Its largest dimension: a person's height for a person, else drawn from `sized`."""
        return _uniform(rng, sizes.person_size if mesh[1] in person_meshes else sized)

    inserted_mesh, inserted_extent, inserted_pose = pick()
    inserted = _place(rng, camera, size, "inserted", inserted_mesh, inserted_extent,
                      object_size(inserted_mesh, sizes.inserted_size), INSERTED_INDEX,
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
                          object_size(mesh, sizes.occluder_size), INSERTED_INDEX + 1 + slot,
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
