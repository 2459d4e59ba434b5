"""Settings of one render run: frozen dataclasses, filled from a TOML config file and the CLI
(render.config_file), kept resolved in dataset.json.

Every field's `metadata["help"]` is the comment `render-dataset --print-config` writes; a
`(min, max)` tuple is a range sampled uniformly; `metadata["probability"]` marks a value in
[0, 1]; `metadata["weights"]` marks a table of non-negative weights; `metadata["domain"]` is
the `Domain` every value (both ends of a range) must lie in, and `metadata["choices"]` the
names a text setting may take. `setting_problem` checks a value against them: the config
file (render.config_file) and the command line (render.cli) both refuse with it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dataset_tools import settings
from dataset_tools.masks import DARKENING_THRESHOLD, VISIBLE_FRACTION
from dataset_tools.settings import IDENTITY
from dataset_tools.split import TEST_FRACTION
from render.mesh_checks import MAX_FACES

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_SCENES = ASSETS_DIR / "real" / "scenes"  # real photos with sidecars (assets/README.md)
DEFAULT_MODELS = ASSETS_DIR / "real" / "models"  # real meshes in 19 categories
PROCEDURAL_SCENES = ASSETS_DIR / "scenes"  # 6 tiny procedural textures: fast tests
PROCEDURAL_MODELS = ASSETS_DIR / "models"  # 8 procedural meshes

Device = Literal["cpu", "cuda", "optix"]
AREA_SHAPES = ("rectangle", "disk")


@dataclass(frozen=True)
class Domain:
    """The values a setting may take: finite numbers from `low` to `high`, each end included
    unless `open_low` / `open_high`."""

    low: float
    high: float
    open_low: bool = False
    open_high: bool = False

    def __contains__(self, value: float) -> bool:
        if not math.isfinite(value):  # also NaN, which every comparison lets through
            return False
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        return above and below

    def __str__(self) -> str:
        return (f"{'(' if self.open_low else '['}{self.low:g}, {self.high:g}"
                f"{')' if self.open_high else ']'}")


PROBABILITY = Domain(0.0, 1.0)
SHARE = Domain(0.0, 1.0)  # a share of the image's width or height, a colour channel
POSITIVE_METRES = Domain(0.0, 100.0, open_low=True)
MAX_SAMPLES = 65536  # Cycles samples per pixel, either render
MAX_OCCLUDERS = 3  # what the README documents: 0-3 occluders per sample


def _doc(default: Any, text: str, identity: bool | None = None, **extra: Any) -> Any:
    """A dataclass field with its help text (and flags) in the metadata; `identity` says
    whether it decides what a sample looks like (dataset_tools.settings.identity), where the
    field's table does not say it for all its fields."""
    metadata = {"help": text, **extra}
    if identity is not None:
        metadata[IDENTITY] = identity
    if isinstance(default, dict | list):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def _run(default: Any, identity: bool) -> Any:
    """A field the config file cannot set, declaring whether it decides what samples look
    like (scenes, models) or only how and where the run goes (workers, out)."""
    return field(default=default, metadata={IDENTITY: identity})


def _table(cls: type, identity: bool | str) -> Any:
    """A nested table of settings: all of it decides what samples look like (True), or each
    of its fields says ("fields")."""
    return field(default_factory=cls, metadata={IDENTITY: identity})


@dataclass(frozen=True)
class CameraRanges:
    """The camera stands at (0, 0, height) looking along +y, pitched down."""

    height: tuple[float, float] = _doc((1.0, 2.2), "metres above the ground",
                                       domain=POSITIVE_METRES)
    pitch: tuple[float, float] = _doc((22.0, 45.0), "degrees below the horizon",
                                      domain=Domain(0.0, 90.0))
    fov: tuple[float, float] = _doc((40.0, 60.0), "field of view in degrees (square images)",
                                    domain=Domain(1.0, 170.0))


@dataclass(frozen=True)
class ObjectRanges:
    inserted_size: tuple[float, float] = _doc(
        (0.55, 1.0), "largest dimension of the inserted mesh, metres", domain=POSITIVE_METRES)
    occluder_size: tuple[float, float] = _doc((0.4, 1.0), "largest dimension of an occluder",
                                              domain=POSITIVE_METRES)
    person_size: tuple[float, float] = _doc(
        (1.5, 1.9), "largest dimension (a standing person's height) of a mesh in the person "
        "category, inserted or occluder: people keep their real size "
        "(render.poses.PERSON_CATEGORIES)", domain=POSITIVE_METRES)
    occluders: tuple[int, int] = _doc(
        (0, 3), f"number of occluders (integers, inclusive, at most {MAX_OCCLUDERS})",
        domain=Domain(0, MAX_OCCLUDERS))
    inserted_screen_x: tuple[float, float] = _doc(
        (0.3, 0.7), "where the inserted object's foot lands, share of the image width",
        domain=SHARE)
    inserted_screen_y: tuple[float, float] = _doc(
        (0.45, 0.8), "... and of the image height (0 = top)", domain=SHARE)
    stable_pose_probability: float = _doc(
        0.3, "chance that the inserted object (and, drawn apart, each occluder) rests in one of "
        "its stable poses (on a side, upside down; picked by their resting probabilities) "
        "instead of standing upright as modelled; people, vehicles, street furniture and "
        "animals always stand as modelled (render.poses.UPRIGHT_CATEGORIES)", probability=True)


@dataclass(frozen=True)
class PhotoRanges:
    crop: tuple[float, float] = _doc((0.7, 1.0), "square crop side / shorter photo side",
                                     domain=Domain(0.0, 1.0, open_low=True))
    flip_probability: float = _doc(0.5, "chance of a horizontal flip", probability=True)
    tone_contrast: tuple[float, float] = _doc(
        (1.4, 1.6), "camera tone curve vs plain sRGB: scene radiance = (sRGB-decoded photo) "
        "** (1 / contrast); camera curves are steeper than sRGB in the mid-tones",
        domain=Domain(0.1, 10.0))
    sun_weight: float = _doc(
        3.0, "how many times as often as any other scene a scene whose sidecar gives its sun or "
        "its shadows' direction is drawn (a sunny panorama, a photo with sun or "
        "shadow_direction_deg): the samples whose real shadows agree with the rendered light",
        domain=Domain(0.0, 1000.0, open_low=True))


@dataclass(frozen=True)
class PanoramaRanges:
    """Views of a panorama scene (`render.panorama`): the yaw is drawn over the full circle,
    the pitch and field of view here are the render camera's (they replace camera.pitch and
    camera.fov for a panorama's samples)."""

    pitch: tuple[float, float] = _doc((10.0, 25.0), "degrees below the horizon",
                                      domain=Domain(0.0, 80.0))
    fov: tuple[float, float] = _doc((50.0, 80.0), "field of view in degrees (square images)",
                                    domain=Domain(10.0, 120.0))


@dataclass(frozen=True)
class MaterialRanges:
    """The colour of a mesh without a material of its own, drawn in sRGB HSV."""

    hue: tuple[float, float] = _doc((0.0, 1.0), "HSV hue", domain=SHARE)
    saturation: tuple[float, float] = _doc((0.1, 0.8), "HSV saturation", domain=SHARE)
    value: tuple[float, float] = _doc((0.15, 0.85), "HSV value", domain=SHARE)
    roughness: tuple[float, float] = _doc((0.3, 0.9), "Principled BSDF roughness",
                                          domain=SHARE)
    metallic_probability: float = _doc(0.25, "chance of a metal", probability=True)


@dataclass(frozen=True)
class SunRanges:
    """Sunlight: a distant disk light (its angular size sets the penumbra) and a uniform sky."""

    elevation: tuple[float, float] = _doc((25.0, 65.0), "degrees above the horizon",
                                          domain=Domain(0.0, 90.0, open_low=True))
    angle: tuple[float, float] = _doc(
        (0.5, 5.0), "angular diameter in degrees: 0.5 is the clear-sky sun, more is hazy",
        domain=Domain(0.0, 180.0))
    ambient_fraction: tuple[float, float] = _doc(
        (0.1, 0.22), "sky light / all light on a sunlit horizontal surface (clear sky: "
        "0.1-0.25); bounds how dark the umbra is", domain=SHARE)


@dataclass(frozen=True)
class AreaRanges:
    """A lamp or softbox facing down at a finite distance from the inserted object: shadows
    sharp at the contact that widen with distance."""

    shape_weights: dict[str, float] = _doc(
        {"rectangle": 1.0, "disk": 1.0}, "relative weights of the light's shapes", weights=True)
    size: tuple[float, float] = _doc((0.3, 1.6), "side or diameter of the light, metres",
                                     domain=POSITIVE_METRES)
    distance: tuple[float, float] = _doc(
        (1.8, 4.0), "from the inserted object's foot to the light's centre, metres",
        domain=POSITIVE_METRES)
    elevation: tuple[float, float] = _doc((40.0, 75.0), "degrees above the ground, seen from "
                                          "the inserted object's foot",
                                          domain=Domain(0.0, 90.0, open_low=True))
    ambient_fraction: tuple[float, float] = _doc(
        (0.1, 0.3), "ambient (bounce) light / all light at the inserted object's foot",
        domain=SHARE)


@dataclass(frozen=True)
class OvercastRanges:
    """Sky light only: no direct light, soft contact shadows."""

    sky_level: tuple[float, float] = _doc(
        (0.8, 1.0), "sky brightness relative to the photo-matched level",
        domain=Domain(0.0, 10.0, open_low=True))


@dataclass(frozen=True)
class LightRanges:
    weights: dict[str, float] = _doc(
        {"sun": 0.7, "area": 0.2, "overcast": 0.1},
        "relative weights of the light kinds: sun, area, overcast", weights=True)
    warmth: tuple[float, float] = _doc(
        (-0.08, 0.08), "colour temperature shift of the direct light (+ warmer)",
        domain=Domain(-1.0, 1.0))
    sun: SunRanges = field(default_factory=SunRanges)
    area: AreaRanges = field(default_factory=AreaRanges)
    overcast: OvercastRanges = field(default_factory=OvercastRanges)


@dataclass(frozen=True)
class SamplingRanges:
    """The distributions the scene sampler draws from (uniform within each range)."""

    camera: CameraRanges = field(default_factory=CameraRanges)
    objects: ObjectRanges = field(default_factory=ObjectRanges)
    photo: PhotoRanges = field(default_factory=PhotoRanges)
    panorama: PanoramaRanges = field(default_factory=PanoramaRanges)
    materials: MaterialRanges = field(default_factory=MaterialRanges)
    lights: LightRanges = field(default_factory=LightRanges)


@dataclass(frozen=True)
class QualityChecks:
    """A rendered sample is resampled when any check fails (the reason goes to the manifest)."""

    min_object_fraction: float = _doc(
        0.004, "inserted object's visible pixels / all pixels", probability=True)
    min_shadow_fraction: float = _doc(
        0.002, "inserted object's own visible shadow (smask) / all pixels", probability=True)
    max_hidden_fraction: float = _doc(
        0.3, "projected overlap of nearer occluders with the object", probability=True)
    max_attempts: int = _doc(12, "attempts per sample before it is recorded as failed",
                             domain=Domain(1, 1000))
    scene_cue: bool = _doc(
        True, "every sun- or area-lit sample shows a cue to its light's direction in the scene: "
        "an occluder's cast shadow (at least min_occluder_shadow_fraction), or the photo's own "
        "shadows, agreeing with it through the sidecar's shadow_direction_deg or sun; false "
        "draws the light with no such cue")
    min_occluder_shadow_fraction: float = _doc(
        0.003, "with scene_cue: the occluders' visible shadows (rshadow) / all pixels",
        probability=True)


@dataclass(frozen=True)
class RenderSettings:
    """Cycles settings of the production render."""

    samples: int = _doc(
        16, "Cycles samples per pixel of the second render: the shadow region, where the "
        "pair differs (its noise is the shadow's)", True, domain=Domain(1, MAX_SAMPLES))
    first_render_samples: int = _doc(
        6, "Cycles samples per pixel of the first render: the whole frame, whose noise (in "
        "the occluders' shadows) is the same in both images", True,
        domain=Domain(1, MAX_SAMPLES))
    adaptive_threshold: float = _doc(
        0.0, "adaptive sampling noise threshold, 0 = off", True, domain=Domain(0.0, 1.0))
    device: Device = _doc("cpu", "cpu, cuda or optix", False, choices=("cpu", "cuda", "optix"))
    threads: int = _doc(0, "render threads per worker, 0 = all cores", False,
                        domain=Domain(0, 1024))
    light_tree: bool = _doc(False, "Cycles light tree (a handful of lights: it only costs)",
                            True)
    ground_reach: float = _doc(
        1.5, "shade the ground only within this many object sizes of each object and its "
        "shadow (the factor is 1 elsewhere); 0 shades all of it", True,
        domain=Domain(0.0, 100.0))
    border_shadow_render: bool = _doc(
        True, "render the shadow variant only in the box its shadow can reach", True)
    sun_blur: float = _doc(
        0.7, "Gaussian sigma (px) on the direct-light part of the ground factor, 0 = off",
        True, domain=Domain(0.0, 100.0))
    ambient_blur: float = _doc(3.0, "the same for its ambient part (smooth, mostly noise)",
                               True, domain=Domain(0.0, 100.0))
    tuned: bool = _doc(True, "false keeps Blender's default Cycles settings (the baseline)",
                       True)
    environment: str = _doc(
        "uniform", "the world light of a panorama's samples: uniform (one colour, matched to "
        "the view) or panorama (the panorama itself as the environment, scaled to the same "
        "ambient irradiance: the inserted object's shading and its shadow's softness and tint "
        "come from the photo's own sky); photos always take uniform", True,
        choices=("uniform", "panorama"))
    sampling_pattern: str = _doc(
        "BLUE_NOISE", "Cycles sampling pattern: BLUE_NOISE, TABULATED_SOBOL, AUTOMATIC", True,
        choices=("BLUE_NOISE", "TABULATED_SOBOL", "AUTOMATIC"))


@dataclass(frozen=True)
class RenderConfig:
    """One run of render-dataset; `identity` is what a resumed run must match."""

    out: Path = field(metadata={IDENTITY: False})
    scenes: Path = _run(DEFAULT_SCENES, True)
    models: Path = _run(DEFAULT_MODELS, True)
    count: int = _run(20, False)
    size: int = _doc(256, "image side in pixels", True, domain=Domain(16, 4096))
    seed: int = _doc(0, "global seed; sample i's seed derives from (seed, i) only", True)
    workers: int = _run(1, False)
    shard_index: int = _run(0, False)
    shard_count: int = _run(1, False)
    overwrite: bool = _run(False, False)
    # samples per worker before it is replaced (keeps memory flat)
    restart_every: int = _run(100, False)
    test_fraction: float = _doc(
        TEST_FRACTION, "share of scene photos whose samples go to test/", True,
        probability=True, domain=Domain(0.0, 0.9))
    darkening_threshold: float = _doc(
        DARKENING_THRESHOLD, "relative darkening (0-1) that counts as shadow in smask and "
        "rshadow", True, probability=True)
    shadow_visible_fraction: float = _doc(
        VISIBLE_FRACTION, "share of the sample's peak darkening a pixel of smask/rshadow "
        "must reach (the half-shadow line a person outlines); 0 keeps all above "
        "darkening_threshold", True, probability=True)
    max_faces: int = _doc(MAX_FACES, "meshes with more faces are skipped", True,
                          domain=Domain(1, 100_000_000))
    render: RenderSettings = _table(RenderSettings, "fields")
    ranges: SamplingRanges = _table(SamplingRanges, True)
    checks: QualityChecks = _table(QualityChecks, True)

    def to_json(self) -> dict[str, Any]:
        return settings.to_json(self)

    def identity(self) -> dict[str, Any]:
        """The settings that decide what a sample looks like; a resumed run must match them."""
        return settings.identity(self)


def setting_problem(item: dataclasses.Field, value: Any) -> str | None:
    """Why `value` (already of the field's type; a range as a (min, max) tuple) is not a
    value of the setting `item`, in words ("must lie in [1, 65536], got -1"), or None. The
    one check of every setting's domain, for the config file and the command line alike."""
    domain = item.metadata.get("domain")
    if domain is None and item.metadata.get("probability"):
        domain = PROBABILITY
    if domain is not None and isinstance(value, int | float | tuple) \
            and not isinstance(value, bool):
        values = value if isinstance(value, tuple) else (value,)
        if not all(number in domain for number in values):
            shown = f"[{', '.join(map(str, values))}]" if isinstance(value, tuple) else value
            return f"must lie in {domain}, got {shown}"
    choices = item.metadata.get("choices")
    if choices is not None and value not in choices:
        return f"must be one of {', '.join(choices)}, got {value!r}"
    return None


def field_of(cls: type, name: str) -> dataclasses.Field:
    return cls.__dataclass_fields__[name]  # type: ignore[attr-defined]


# What a config file may set: these top-level fields and the nested tables.
FILE_FIELDS = ("size", "seed", "test_fraction", "darkening_threshold",
               "shadow_visible_fraction", "max_faces", "render", "ranges", "checks")
