"""One sample: sample a spec, render the pair, composite, derive masks, write the files (the
light: render.lighting; the photos: render.photos; the checks: render.quality).

Runs inside a worker process that owns a `render.blender.BlenderScene`; the scene is passed in,
so this module itself never imports bpy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from dataset_tools.layout import (
    INSERTED_INDEX,
    passes_path,
    sample_id,
    sample_path,
    write_npz,
    write_png,
)
from dataset_tools.light_labels import scene_light_label
from dataset_tools.masks import (
    masks_from_passes,
    occluder_shadow_mask,
    region_weight,
)
from dataset_tools.records import (
    ManifestRecord,
    ResampledAttempt,
    generator_name,
)
from render.catalog import Catalog
from render.composite import (
    GroundSplit,
    composite,
    darkening,
    ground_factor,
    luminance,
    photo_to_scene,
    scene_to_photo,
    split_ground,
)
from render.config import RenderConfig
from render.geometry import (
    camera_region,
    shadow_region,
)
from render.lighting import Lighting, lighting_for, unshadowed_references, with_environment
from render.panorama import (
    Environment,
    scene_photo,
)
from render.photos import PhotoCache, sample_photo_masks
from render.poses import MeshExtent
from render.quality import Rejected, object_surely_too_small, plain_problem, quality_problem
from render.sampler import SamplingError, needs_scene_cue, sample_scene, sample_seed
from render.spec import SceneSpec


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
    # With ground patches the render is empty outside the objects and the patches: rendering
    # only their box gives the same pixels, 16 % faster (docs/benchmarks.md).
    plain = renderer.render(camera_region(spec, settings.ground_reach)
                            if settings.border_shadow_render and settings.ground_reach > 0
                            else None)

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
        scene_photo = (photo_path.relative_to(scenes_root).as_posix()
                       if photo_path.is_relative_to(scenes_root) else str(photo_path))
        groups = ManifestRecord(identifier, scene=scene_photo,
                                inserted_mesh=spec.inserted.mesh_id)
        split = catalog.rule.split_of(groups)  # the one place a sample's split is decided
        write_sample(Path(config.out), split, identifier, pair)
        warnings = [w for obj in spec.objects for w in renderer.mesh_warnings(obj.mesh_path)]
        return ManifestRecord(
            identifier, index=index, split=split, scene=scene_photo,
            inserted_mesh=spec.inserted.mesh_id,
            occluder_meshes=[obj.mesh_id for obj in spec.occluders],
            occluders=len(spec.occluders),
            # the sidecar's hints this sample honours (a sample meets all of its photo's)
            hints=hints.kinds if hints is not None else [],
            seed=seed, attempt=attempt, spec=spec.to_json(),
            lighting=pair.lighting.recorded(),
            light_label=scene_light_label(
                spec.camera, spec.size, spec.light,
                np.array([spec.inserted.x, spec.inserted.y])).to_json(),
            shadow_region=list(pair.region),
            areas={kind: int(np.count_nonzero(mask)) for kind, mask in pair.masks.items()},
            resampled=resampled, bad_assets=bad_assets, warnings=sorted(set(warnings)),
            timings={**pair.seconds, "total": time.perf_counter() - start},
            generator=generator_name(),
            split_groups=catalog.rule.groups_of(groups) or None)
    raise SampleFailed(index, resampled, bad_assets)
