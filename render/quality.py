"""The quality checks a sample must pass (`RenderConfig.checks`): before any render
(`object_surely_too_small`), after the first (`plain_problem`, which spares the second) and
after both (`quality_problem`). A failed check resamples the attempt; its code and message go
to the manifest (`render.sampler.RESAMPLED_CODES`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from render.config import RenderConfig
from render.geometry import (
    projected_box,
)
from render.spec import SceneSpec

if TYPE_CHECKING:
    from render.sample import RenderedPair
class Rejected(Exception):
    """The first render of an attempt already fails a quality check (`plain_problem`): the
    second is not made. `problem`: (code of `render.sampler.RESAMPLED_CODES`, message)."""

    def __init__(self, problem: tuple[str, str]) -> None:
        super().__init__(problem[1])
        self.problem = problem


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
