"""One sample: sample a spec, render the pair, composite, derive masks, write the files.

Runs inside a worker process that owns a `render.blender.BlenderScene`; the scene is passed in,
so this module itself never imports bpy.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from dataset_tools.layout import (
    INSERTED_INDEX,
    DatasetError,
    passes_path,
    sample_path,
    write_npz,
    write_png,
)
from dataset_tools.light_labels import light_label
from dataset_tools.masks import (
    PHOTO_MASK_PASSES,
    masks_from_passes,
    occluder_shadow_mask,
    region_weight,
)
from dataset_tools.records import (
    ManifestRecord,
    RecordedLighting,
    ResampledAttempt,
    generator_name,
)
from render.assets import SIDECAR_MASK_KEYS, BadAsset
from render.catalog import Catalog
from render.composite import (
    GROUND_ALBEDO,
    GroundSplit,
    ambient_tint,
    area_light_ground,
    composite,
    crop_mask,
    darkening,
    ground_factor,
    luminance,
    photo_to_scene,
    polygon_irradiance,
    scene_to_photo,
    split_ground,
    unshadowed_ground,
)
from render.config import RenderConfig
from render.geometry import (
    area_light_polygon,
    ground_points,
    inserted_foot,
    projected_box,
    shadow_region,
)
from render.hints import PhotoHints
from render.panorama import (
    Environment,
    environment_map,
    horizontal_irradiance,
    mask_view_of_panorama,
    scene_photo,
)
from render.photo_masks import read_instance_mask
from render.poses import MeshExtent
from render.sampler import SamplingError, needs_scene_cue, sample_scene, sample_seed
from render.scene_images import read_scene_image
from render.spec import SceneSpec


class Rejected(Exception):
    """The first render of an attempt already fails a quality check (`plain_problem`): the
    second is not made. `problem`: (code of `render.sampler.RESAMPLED_CODES`, message)."""

    def __init__(self, problem: tuple[str, str]) -> None:
        super().__init__(problem[1])
        self.problem = problem


class SampleFailed(RuntimeError):
    """Every attempt of a sample was resampled and none was left. `resampled`: the attempts,
    as a record's `resampled` holds them; `bad_assets`: path -> why, the files skipped
    meanwhile."""

    def __init__(self, index: int, resampled: list[ResampledAttempt],
                 bad_assets: dict[str, str]) -> None:
        last = resampled[-1].reason if resampled else "no attempt"
        super().__init__(f"sample {index}: {len(resampled)} attempts rejected, last: {last}")
        self.resampled = resampled
        self.bad_assets = bad_assets


@dataclass(frozen=True)
class Lighting:
    """The light of one sample matched to its photo (`lighting_for`). `strength` is what
    Blender's light takes: the sun's irradiance (W/m^2), the area light's power (W), 0 when
    overcast; `radiance` is the area light's emitted radiance. Its kind is the spec's."""

    level: float  # radiance of a white horizontal surface in full light at the object's foot
    ambient_rgb: tuple[float, float, float]  # the world's radiance
    strength: float
    radiance: float | None = None
    # with `RenderSettings.environment = "panorama"`: the panorama as the world's radiance
    # (`render.panorama.Environment`), whose irradiance on the ground is pi x ambient_rgb;
    # None: a uniform world of ambient_rgb
    environment: Environment | None = field(default=None, repr=False)

    def recorded(self) -> RecordedLighting:
        """As the manifest records it."""
        return RecordedLighting(level=self.level, ambient_rgb=self.ambient_rgb,
                                strength=self.strength, radiance=self.radiance)


class Renderer(Protocol):
    """What a sample needs from the Blender side (render.blender.BlenderScene)."""

    def load_mesh(self, path: str) -> MeshExtent: ...
    def set_samples(self, samples: int, adaptive_threshold: float) -> None: ...
    def mesh_warnings(self, path: str) -> list[str]: ...
    def apply(self, spec: SceneSpec, ambient_rgb: tuple[float, float, float],
              strength: float, environment: Environment | None = None) -> None: ...
    def set_inserted_affects_scene(self, affects: bool) -> None: ...
    def render(self, border: tuple[int, int, int, int] | None = None) -> Any: ...


@dataclass
class RenderedPair:
    noshadow: np.ndarray  # (H, W, 3) uint8 sRGB
    shadow: np.ndarray  # (H, W, 3) uint8 sRGB
    masks: dict[str, np.ndarray]  # mask, robject, rshadow, smask, sregion: (H, W) uint8 0/255
    object_index: np.ndarray  # (H, W) uint8
    darkening: np.ndarray  # (H, W) float32
    occluder_darkening: np.ndarray  # (H, W) float32
    lighting: Lighting
    region: tuple[int, int, int, int]
    seconds: dict[str, float]
    # the photo's own objects and shadows in this sample, PHOTO_MASK_PASSES -> (H, W) uint8
    # instance values (`sample_photo_masks`), stored so in passes/ID.npz
    photo_masks: dict[str, np.ndarray] = field(default_factory=dict)


class PhotoCache:
    """The scene photos and the photos' own masks (sidecar `object_mask`/`shadow_mask`) a
    worker read last, `capacity` of them: every attempt and sample on a photo reads its files
    once."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self.images: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()

    def _cached(self, key: tuple[str, str], load: Callable[[], np.ndarray]) -> np.ndarray:
        if key in self.images:
            self.images.move_to_end(key)
            return self.images[key]
        image = load()
        self.images[key] = image
        while len(self.images) > self.capacity:
            self.images.popitem(last=False)
        return image

    def get(self, path: str) -> np.ndarray:
        """The photo at `path`, (H, W, 3) uint8 RGB. Raises BadAsset."""
        return self._cached(("photo", path), lambda: _read_photo(path))

    def mask(self, path: str, width: int, height: int) -> np.ndarray:
        """A photo's own mask at `path` (`read_instance_mask`). Raises BadAsset."""
        return self._cached(("mask", path),
                            lambda: read_instance_mask(Path(path), width, height))


def _read_photo(path: str) -> np.ndarray:
    try:
        image = read_scene_image(Path(path))
    except DatasetError as error:
        raise BadAsset(path, error.reason) from None
    if min(image.shape[:2]) < 16:
        raise BadAsset(path, f"image is only {image.shape[1]}x{image.shape[0]} pixels")
    return image


def sample_photo_masks(hints: PhotoHints | None, spec: SceneSpec,
                       photos: PhotoCache) -> dict[str, np.ndarray]:
    """The masks of the photo's own objects and shadows that its sidecar names, as
    `PHOTO_MASK_PASSES` -> (spec.size, spec.size) uint8 instance values in the sample (an
    object and its shadow share a value, `render.photo_masks`): cropped, flipped and scaled as
    the photo is (each instance as `crop_mask` does a mask), or cut from a panorama's masks as
    its view is (`render.panorama.mask_view_of_panorama`). Empty without a sidecar or masks."""
    if hints is None:
        return {}
    names = dict(zip(SIDECAR_MASK_KEYS, PHOTO_MASK_PASSES, strict=True))
    view = spec.photo.view

    def in_sample(mask: np.ndarray) -> np.ndarray:
        if view is not None:
            return mask_view_of_panorama(mask, view.yaw_deg, spec.camera, spec.size)
        instances = np.zeros((spec.size, spec.size), dtype=np.uint8)
        for value in np.unique(mask[mask > 0]).tolist():
            instances[crop_mask(mask == value, spec.photo, spec.size)] = value
        return instances

    return {names[key]: in_sample(photos.mask(path, hints.width, hints.height))
            for key, path in hints.mask_paths.items()}

def _scaled(color: tuple[float, ...], factor: float) -> tuple[float, float, float]:
    red, green, blue = (float(channel * factor) for channel in color)
    return red, green, blue


def lighting_for(spec: SceneSpec, photo_linear: np.ndarray) -> Lighting:
    """The light's strength and the ambient colour, matched to the photo.

    A white horizontal surface in full light at the inserted object's foot gets radiance
    `level` (set from the photo's mean luminance); where the direct light is blocked it keeps
    `ambient_fraction` of that."""
    level = float(np.clip(2.5 * luminance(photo_linear).mean(), 0.25, 1.2))
    tint = ambient_tint(photo_linear)
    light = spec.light
    if light.kind == "overcast":
        return Lighting(level, _scaled(tint, level * light.sky_level), strength=0.0)
    fraction = light.ambient_fraction
    ambient = _scaled(tint, fraction * level)
    direct_irradiance = math.pi * (1.0 - fraction) * level  # on a horizontal surface
    if light.kind == "sun":
        strength = direct_irradiance / math.sin(math.radians(light.elevation_deg))
        return Lighting(level, ambient, strength)
    foot = inserted_foot(spec)
    polygon = area_light_polygon(light, foot)
    radiance = direct_irradiance / float(polygon_irradiance(foot[None], polygon)[0])
    area = light.size ** 2 if light.shape == "rectangle" else math.pi * light.size ** 2 / 4
    return Lighting(level, ambient, strength=radiance * math.pi * area,
                    radiance=radiance)


def with_environment(lighting: Lighting, panorama_rgb: np.ndarray, spec: SceneSpec) -> Lighting:
    """`lighting` with the panorama itself as the world: its environment (decoded as the
    sample's photo is) scaled so that the ground's ambient irradiance (luminance) is the
    matched ambient's, pi x ambient_rgb; ambient_rgb becomes the environment's own irradiance
    / pi, its colour the sky's."""
    unscaled = Environment(spec.photo.path, environment_map(panorama_rgb),
                           gamma=1.0 / spec.photo.tone_contrast, strength=1.0)
    irradiance = horizontal_irradiance(unscaled.radiance())
    wanted = math.pi * float(luminance(np.asarray(lighting.ambient_rgb, np.float32)))
    scale = wanted / max(float(luminance(irradiance.astype(np.float32))), 1e-9)
    ambient = tuple(float(value) for value in irradiance * scale / math.pi)
    return replace(lighting, ambient_rgb=ambient,
                   environment=replace(unscaled, strength=scale))


AREA_REFERENCE_STEP = 2  # pixels per evaluation of the area light's unshadowed ground


def unshadowed_references(spec: SceneSpec, lighting: Lighting) -> tuple[np.ndarray,
                                                                        np.ndarray]:
    """(direct, ambient) radiance of the unshadowed ground, each (3,) or (H, W, 3)."""
    light = spec.light
    ambient = GROUND_ALBEDO * np.asarray(lighting.ambient_rgb, dtype=np.float32)
    if light.kind == "sun":
        return unshadowed_ground(lighting.strength, light.color, light.elevation_deg,
                                 lighting.ambient_rgb)
    if light.kind == "overcast":
        return np.zeros(3, dtype=np.float32), ambient
    # The irradiance is smooth on the ground: computed on a grid AREA_REFERENCE_STEP times
    # coarser (Lambert's formula per pixel is costly) and interpolated.
    polygon = area_light_polygon(light, inserted_foot(spec))
    coarse = max(1, spec.size // AREA_REFERENCE_STEP)
    direct = area_light_ground(float(lighting.radiance or 0.0), light.color,
                               ground_points(spec.camera, coarse), polygon)
    return cv2.resize(direct, (spec.size, spec.size), interpolation=cv2.INTER_LINEAR), ambient


def _dilate(mask: np.ndarray, pixels: int = 1) -> np.ndarray:
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), dtype=np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def render_pair(renderer: Renderer, spec: SceneSpec, photo_rgb: np.ndarray,
                config: RenderConfig,
                photo_masks: dict[str, np.ndarray] | None = None,
                cue: bool | None = None) -> RenderedPair:
    """Render the spec without and with the inserted object's effect on the scene (its cast
    shadow, the ambient light it blocks, its reflections) and composite both onto the photo.
    The inserted object's own pixels come from the second render in both images (its
    self-shadowing must not differ), so the pair differs only where its shadow falls.
    `photo_masks` (`sample_photo_masks`) join robject and rshadow. With `cue` given (whether
    the sample must show an occluder's shadow), raises Rejected when the first render already
    fails `plain_problem`, and the second render is not made; without it (a benchmark's
    renders), it always renders both."""
    photo_masks = photo_masks or {}
    size, settings = spec.size, config.render
    contrast = spec.photo.tone_contrast
    photo_linear = photo_to_scene(scene_photo(photo_rgb, spec), contrast)
    lighting = lighting_for(spec, photo_linear)
    if settings.environment == "panorama" and spec.photo.view is not None:
        lighting = with_environment(lighting, photo_rgb, spec)
    renderer.apply(spec, lighting.ambient_rgb, lighting.strength, lighting.environment)
    references = unshadowed_references(spec, lighting)

    # The first render's noise is the same in both images (only the inserted object's own
    # pixels and, inside `region`, what it changes come from the second), so it takes fewer
    # samples than the second, whose noise is the shadow's and which covers only the smaller
    # region (docs/benchmarks.md has the measurements).
    if settings.tuned:
        renderer.set_samples(settings.first_render_samples, settings.adaptive_threshold)
    renderer.set_inserted_affects_scene(False)
    plain = renderer.render()

    def split(passes: Any) -> GroundSplit:
        return split_ground(passes.combined, passes.direct, passes.ambient, passes.object_alpha,
                            *references)

    before = split(plain)
    factor_plain = ground_factor(before.direct, before.ambient, settings.sun_blur,
                                 settings.ambient_blur)
    # Stored as float16 in passes/ID.npz: derive the masks from the stored precision so that
    # `masks_from_passes` on the saved file gives exactly the written masks.
    occluder_darkening = np.where(plain.object_index == 0, 1.0 - luminance(factor_plain),
                                  0.0).astype(np.float16).astype(np.float32)
    photo_flags = {key: mask > 0 for key, mask in photo_masks.items()}
    problem = None if cue is None else plain_problem(
        plain.object_index == INSERTED_INDEX,
        occluder_shadow_mask(plain.object_index, occluder_darkening, config.darkening_threshold,
                             visible_fraction=config.shadow_visible_fraction,
                             photo_shadow=photo_flags.get("photo_shadow")), config, cue)
    if problem is not None:
        raise Rejected(problem)
    renderer.set_inserted_affects_scene(True)
    region = shadow_region(spec) if settings.border_shadow_render else (0, 0, size, size)
    if settings.tuned:
        renderer.set_samples(settings.samples, settings.adaptive_threshold)
    cast = renderer.render(region)
    after = split(cast)
    x0, y0, x1, y1 = region
    inside = (slice(y0, y1), slice(x0, x1))
    # The cast render holds only its region, and there only its objects and the ground the
    # inserted object can reach; the rest is the first render's.
    in_region = np.zeros((size, size), dtype=bool)
    in_region[inside] = True
    after.objects = np.where(in_region[..., None], after.objects, before.objects)
    use_after = (in_region & after.ground)[..., None]
    after.direct = np.where(use_after, after.direct, before.direct)
    after.ambient = np.where(use_after, after.ambient, before.ambient)
    factor_shadow = factor_plain.copy()  # outside the region both stay exactly equal
    factor_shadow[inside] = ground_factor(after.direct, after.ambient, settings.sun_blur,
                                          settings.ambient_blur)[inside]
    inserted_area = _dilate(plain.object_index == INSERTED_INDEX)
    objects_plain = np.where(inserted_area[..., None], after.objects, before.objects)

    noshadow_linear = composite(photo_linear, objects_plain, factor_plain)
    shadow_linear = composite(photo_linear, after.objects, factor_shadow)
    own_darkening = darkening(shadow_linear, noshadow_linear).astype(np.float16).astype(
        np.float32)  # as stored, like occluder_darkening
    masks = masks_from_passes(plain.object_index, own_darkening, occluder_darkening,
                              config.darkening_threshold,
                              visible_fraction=config.shadow_visible_fraction, **photo_flags)
    # The pair differs only in `sregion`: below a just-perceptible darkening (mostly noise)
    # the shadow image keeps the noshadow pixel, fading in above it.
    keep = region_weight(own_darkening)[..., None]
    shadow_linear = noshadow_linear + keep * (shadow_linear - noshadow_linear)
    return RenderedPair(
        noshadow=scene_to_photo(noshadow_linear, contrast),
        shadow=scene_to_photo(shadow_linear, contrast),
        masks=masks, object_index=plain.object_index, darkening=own_darkening,
        occluder_darkening=occluder_darkening, lighting=lighting, region=region,
        seconds={"render_noshadow": plain.seconds, "render_shadow": cast.seconds},
        photo_masks=photo_masks)


BOX_MARGIN = 2  # pixels around the projected box that an object's mask may still reach


def object_surely_too_small(spec: SceneSpec, config: RenderConfig) -> tuple[str, str] | None:
    """The rejection `quality_problem` would give after rendering, known before it: the
    inserted object's mask lies inside its projected box (`render.geometry.projected_box`,
    `BOX_MARGIN` pixels wider, cut to the image), so a box under `min_object_fraction` of the
    image is a mask under it too. The same attempts are rejected, so the same samples are
    made, without their render (the manifest's reason names the box instead of the mask)."""
    size = spec.size
    box = projected_box(spec.inserted, spec.camera, size)
    if not np.all(np.isfinite(box)):
        return None
    x0, y0, x1, y1 = np.clip(box + [-BOX_MARGIN, -BOX_MARGIN, BOX_MARGIN, BOX_MARGIN], 0, size)
    fraction = float((x1 - x0) * (y1 - y0)) / (size * size)
    if fraction < config.checks.min_object_fraction:
        return ("object_too_small", f"inserted object too small: at most {fraction:.2%} of the "
                "image, its projected box (not rendered)")
    return None


def plain_problem(inserted: np.ndarray, occluder_shadow: np.ndarray, config: RenderConfig,
                  cue: bool = False) -> tuple[str, str] | None:
    """The rejections of `quality_problem` that the first render decides alone, from the
    (H, W) bool masks `mask` (the inserted object seen) and `rshadow` (`occluder_shadow_mask`).
    `cue`: the sample must show an occluder's shadow (`render.sampler.needs_scene_cue`)."""
    pixels = inserted.size
    object_fraction = np.count_nonzero(inserted) / pixels
    if object_fraction < config.checks.min_object_fraction:
        return ("object_too_small",
                f"inserted object too small or hidden ({object_fraction:.2%} of the image)")
    cue_fraction = np.count_nonzero(occluder_shadow) / pixels
    if cue and cue_fraction < config.checks.min_occluder_shadow_fraction:
        return ("no_scene_cue", f"occluder shadows too small or hidden to show the light's "
                f"direction ({cue_fraction:.2%} of the image)")
    return None


def quality_problem(pair: RenderedPair, config: RenderConfig,
                    cue: bool = False) -> tuple[str, str] | None:
    """Why a rendered pair is rejected, as (a code of `render.sampler.RESAMPLED_CODES`, message),
    or None: `plain_problem` (which `render_pair` has checked before its second render), then
    the inserted object's own shadow. `cue` as for `plain_problem`."""
    problem = plain_problem(pair.masks["mask"] > 0, pair.masks["rshadow"] > 0, config, cue)
    if problem is not None:
        return problem
    shadow_fraction = np.count_nonzero(pair.masks["smask"]) / pair.object_index.size
    if shadow_fraction < config.checks.min_shadow_fraction:
        return ("shadow_too_small",
                f"own shadow too small or hidden ({shadow_fraction:.2%} of the image)")
    return None


def sample_id(index: int) -> str:
    return f"{index:06d}"


def write_sample(out: Path, split: str, identifier: str, pair: RenderedPair) -> None:
    """All files of a sample, each atomically; the manifest line (written by the caller after
    this returns) is what marks the sample done."""
    write_npz(passes_path(out, identifier), object_index=pair.object_index,
              darkening=pair.darkening.astype(np.float16),
              occluder_darkening=pair.occluder_darkening.astype(np.float16),
              **{key: mask.astype(np.uint8) for key, mask in pair.photo_masks.items()})
    for kind, mask in pair.masks.items():
        write_png(sample_path(out, split, kind, identifier), mask)
    write_png(sample_path(out, split, "shadow", identifier), pair.shadow)
    write_png(sample_path(out, split, "noshadow", identifier), pair.noshadow)


def make_sample(renderer: Renderer, photos: PhotoCache, catalog: Catalog, config: RenderConfig,
                index: int) -> ManifestRecord:
    """Render sample `index` (resampling rejected attempts) and write it; returns its manifest
    record. Raises SampleFailed when every attempt is rejected."""
    start = time.perf_counter()
    resampled: list[ResampledAttempt] = []
    bad_assets: dict[str, str] = {}
    for attempt in range(config.checks.max_attempts):
        seed = sample_seed(config.seed, index, attempt)
        rng = np.random.default_rng(seed)
        try:
            spec = sample_scene(rng, index=index, attempt=attempt, seed=seed, size=config.size,
                                photos=catalog.photos, meshes=catalog.meshes,
                                upright_meshes=catalog.upright, person_meshes=catalog.people,
                                extent_of=renderer.load_mesh, ranges=config.ranges,
                                checks=config.checks, check_photo=photos.get,
                                bad_assets=bad_assets, photo_hints=catalog.hints)
            photo = photos.get(spec.photo.path)
        except SamplingError as error:
            resampled.append(ResampledAttempt(attempt, error.code, str(error)))
            continue
        hints = catalog.hints.get(spec.photo.path)
        problem = object_surely_too_small(spec, config)
        if problem is not None:  # rejected after rendering too: skip the render
            resampled.append(ResampledAttempt(attempt, *problem))
            continue
        cue = needs_scene_cue(config.checks, hints, spec.light)
        try:
            pair = render_pair(renderer, spec, photo, config,
                               sample_photo_masks(hints, spec, photos), cue)
        except Rejected as rejected:
            resampled.append(ResampledAttempt(attempt, *rejected.problem))
            continue
        problem = quality_problem(pair, config, cue)
        if problem is not None:
            resampled.append(ResampledAttempt(attempt, *problem))
            continue
        identifier = sample_id(index)
        scenes_root, photo_path = Path(catalog.scenes_root), Path(spec.photo.path)
        scene = (photo_path.relative_to(scenes_root).as_posix()
                 if photo_path.is_relative_to(scenes_root) else str(photo_path))
        groups = ManifestRecord(identifier, scene=scene, inserted_mesh=spec.inserted.mesh_id)
        split = catalog.rule.split_of(groups)  # the one place a sample's split is decided
        write_sample(Path(config.out), split, identifier, pair)
        warnings = [w for obj in spec.objects for w in renderer.mesh_warnings(obj.mesh_path)]
        return ManifestRecord(
            identifier, index=index, split=split, scene=scene,
            inserted_mesh=spec.inserted.mesh_id,
            occluder_meshes=[obj.mesh_id for obj in spec.occluders],
            occluders=len(spec.occluders),
            # the sidecar's hints this sample honours (a sample meets all of its photo's)
            hints=hints.kinds if hints is not None else [],
            seed=seed, attempt=attempt, spec=spec.to_json(),
            lighting=pair.lighting.recorded(),
            light_label=light_label(spec.to_json()).to_json(), shadow_region=list(pair.region),
            areas={kind: int(np.count_nonzero(mask)) for kind, mask in pair.masks.items()},
            resampled=resampled, bad_assets=bad_assets, warnings=sorted(set(warnings)),
            timings={**pair.seconds, "total": time.perf_counter() - start},
            generator=generator_name(),
            split_groups=catalog.rule.groups_of(groups) or None)
    raise SampleFailed(index, resampled, bad_assets)
