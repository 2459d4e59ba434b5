"""Settings of one render run: frozen dataclasses, filled from a TOML config file and the CLI
(render.config_file), kept resolved in dataset.json.

Every setting is declared once (dataset_tools.options): `option` for one the command line
sets too, `_setting` for one only the config file sets. Its help is `--help`'s text and the
comment `render-dataset --print-config` writes; a `(min, max)` tuple is a range sampled
uniformly; `metadata["probability"]` marks a value in [0, 1]; `metadata["weights"]` a table
of non-negative weights; `metadata["domain"]` is the `Domain` every value (both ends of a
range) must lie in, and `metadata["choices"]` the names a text setting may take. The config
file refuses a value outside them with `setting_problem`, the command line with the same
domain (dataset_tools.commands.verb).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dataset_tools import settings
from dataset_tools.masks import DARKENING_THRESHOLD, VISIBLE_FRACTION
from dataset_tools.options import Domain, Rule, option, violation
from dataset_tools.settings import IDENTITY
from dataset_tools.split import TEST_FRACTION
from render.mesh_checks import MAX_FACES

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_SCENES = ASSETS_DIR / "real" / "scenes"  # real photos with sidecars (assets/README.md)
DEFAULT_MODELS = ASSETS_DIR / "real" / "models"  # real meshes in 19 categories

Device = Literal["cpu", "cuda", "optix"]
AREA_SHAPES = ("rectangle", "disk")


SHARE = Domain(0.0, 1.0)  # a share of the image's width or height, a colour channel
POSITIVE_METRES = Domain(0.0, 100.0, open_low=True)
MAX_SAMPLES = 65536  # Cycles samples per pixel, either render
MAX_OCCLUDERS = 3  # what the README documents: 0-3 occluders per sample


def _setting(default: Any, text: str, identity: bool | None = None, **extra: Any) -> Any:
    """A setting a config file sets (the command line does not): its help text (the file's
    comment) and flags in the metadata; `identity` says whether it decides what a sample looks
    like (dataset_tools.settings.identity), where the field's table does not say it for all
    its fields."""
    return option(default, text, identity=identity, cli=False, **extra)


def _shard_field(default: Any, identity: bool) -> Any:
    """A field neither the config file nor the command line sets as such (the shard, from
    --shard), declaring whether it decides what samples look like."""
    return field(default=default, metadata={IDENTITY: identity})


IN_FILE = "in_file"  # metadata key: a top-level field the config file sets (FILE_FIELDS)


def _nested(cls: type, identity: bool | str) -> Any:
    """A nested table of settings, which the config file sets: all of it decides what samples
    look like (True), or each of its fields says ("fields")."""
    return field(default_factory=cls, metadata={IDENTITY: identity, IN_FILE: True})


def _pitch(default: tuple[float, float], domain: Domain) -> Any:
    return _setting(default, "degrees below the horizon", domain=domain)


def _fov(default: tuple[float, float], domain: Domain) -> Any:
    return _setting(default, "field of view in degrees (square images)", domain=domain)


@dataclass(frozen=True)
class CameraRanges:
    """The camera stands at (0, 0, height) looking along +y, pitched down."""

    height: tuple[float, float] = _setting((1.0, 2.2), "metres above the ground",
                                           domain=POSITIVE_METRES)
    pitch: tuple[float, float] = _pitch((22.0, 45.0), Domain(0.0, 90.0))
    fov: tuple[float, float] = _fov((40.0, 60.0), Domain(1.0, 170.0))


@dataclass(frozen=True)
class ObjectRanges:
    inserted_size: tuple[float, float] = _setting(
        (0.55, 1.0), "largest dimension of the inserted mesh, metres", domain=POSITIVE_METRES)
    occluder_size: tuple[float, float] = _setting((0.4, 1.0), "largest dimension of an occluder",
                                                  domain=POSITIVE_METRES)
    person_size: tuple[float, float] = _setting(
        (1.5, 1.9), "largest dimension (a standing person's height) of a mesh in the person "
        "category, inserted or occluder: people keep their real size "
        "(render.poses.PERSON_CATEGORIES)", domain=POSITIVE_METRES)
    occluders: tuple[int, int] = _setting(
        (0, 3), f"number of occluders (integers, inclusive, at most {MAX_OCCLUDERS})",
        domain=Domain(0, MAX_OCCLUDERS))
    inserted_screen_x: tuple[float, float] = _setting(
        (0.3, 0.7), "where the inserted object's foot lands, share of the image width",
        domain=SHARE)
    inserted_screen_y: tuple[float, float] = _setting(
        (0.45, 0.8), "... and of the image height (0 = top)", domain=SHARE)
    stable_pose_probability: float = _setting(
        0.3, "chance that the inserted object (and, drawn apart, each occluder) rests in one of "
        "its stable poses (on a side, upside down; picked by their resting probabilities) "
        "instead of standing upright as modelled; people, vehicles, street furniture and "
        "animals always stand as modelled (render.poses.UPRIGHT_CATEGORIES)", probability=True)


@dataclass(frozen=True)
class PhotoRanges:
    crop: tuple[float, float] = _setting((0.7, 1.0), "square crop side / shorter photo side",
                                         domain=Domain(0.0, 1.0, open_low=True))
    flip_probability: float = _setting(0.5, "chance of a horizontal flip", probability=True)
    tone_contrast: tuple[float, float] = _setting(
        (1.4, 1.6), "camera tone curve vs plain sRGB: scene radiance = (sRGB-decoded photo) "
        "** (1 / contrast); camera curves are steeper than sRGB in the mid-tones",
        domain=Domain(0.1, 10.0))
    sun_weight: float = _setting(
        3.0, "how many times as often as any other scene a scene whose sidecar gives its sun or "
        "its shadows' direction is drawn (a sunny panorama, a photo with sun or "
        "shadow_direction_deg): the samples whose real shadows agree with the rendered light",
        domain=Domain(0.0, 1000.0, open_low=True))


@dataclass(frozen=True)
class PanoramaRanges:
    """Views of a panorama scene (`render.panorama`): the yaw is drawn over the full circle,
    the pitch and field of view here are the render camera's (they replace camera.pitch and
    camera.fov for a panorama's samples)."""

    pitch: tuple[float, float] = _pitch((10.0, 25.0), Domain(0.0, 80.0))
    fov: tuple[float, float] = _fov((50.0, 80.0), Domain(10.0, 120.0))


@dataclass(frozen=True)
class MaterialRanges:
    """The colour of a mesh without a material of its own, drawn in sRGB HSV."""

    hue: tuple[float, float] = _setting((0.0, 1.0), "HSV hue", domain=SHARE)
    saturation: tuple[float, float] = _setting((0.1, 0.8), "HSV saturation", domain=SHARE)
    value: tuple[float, float] = _setting((0.15, 0.85), "HSV value", domain=SHARE)
    roughness: tuple[float, float] = _setting((0.3, 0.9), "Principled BSDF roughness",
                                              domain=SHARE)
    metallic_probability: float = _setting(0.25, "chance of a metal", probability=True)


@dataclass(frozen=True)
class SunRanges:
    """Sunlight: a distant disk light (its angular size sets the penumbra) and a uniform sky."""

    elevation: tuple[float, float] = _setting((25.0, 65.0), "degrees above the horizon",
                                              domain=Domain(0.0, 90.0, open_low=True))
    angle: tuple[float, float] = _setting(
        (0.5, 5.0), "angular diameter in degrees: 0.5 is the clear-sky sun, more is hazy",
        domain=Domain(0.0, 180.0))
    ambient_fraction: tuple[float, float] = _setting(
        (0.1, 0.22), "sky light / all light on a sunlit horizontal surface (clear sky: "
        "0.1-0.25); bounds how dark the umbra is", domain=SHARE)


@dataclass(frozen=True)
class AreaRanges:
    """A lamp or softbox facing down at a finite distance from the inserted object: shadows
    sharp at the contact that widen with distance."""

    shape_weights: dict[str, float] = _setting(
        {"rectangle": 1.0, "disk": 1.0}, "relative weights of the light's shapes", weights=True)
    size: tuple[float, float] = _setting((0.3, 1.6), "side or diameter of the light, metres",
                                         domain=POSITIVE_METRES)
    distance: tuple[float, float] = _setting(
        (1.8, 4.0), "from the inserted object's foot to the light's centre, metres",
        domain=POSITIVE_METRES)
    elevation: tuple[float, float] = _setting((40.0, 75.0), "degrees above the ground, seen from "
                                              "the inserted object's foot",
                                              domain=Domain(0.0, 90.0, open_low=True))
    ambient_fraction: tuple[float, float] = _setting(
        (0.1, 0.3), "ambient (bounce) light / all light at the inserted object's foot",
        domain=SHARE)


@dataclass(frozen=True)
class OvercastRanges:
    """Sky light only: no direct light, soft contact shadows."""

    sky_level: tuple[float, float] = _setting(
        (0.8, 1.0), "sky brightness relative to the photo-matched level",
        domain=Domain(0.0, 10.0, open_low=True))


@dataclass(frozen=True)
class LightRanges:
    weights: dict[str, float] = _setting(
        {"sun": 0.7, "area": 0.2, "overcast": 0.1},
        "relative weights of the light kinds: sun, area, overcast", weights=True)
    warmth: tuple[float, float] = _setting(
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

    min_object_fraction: float = _setting(
        0.004, "inserted object's visible pixels / all pixels", probability=True)
    min_shadow_fraction: float = _setting(
        0.002, "inserted object's own visible shadow (smask) / all pixels", probability=True)
    max_hidden_fraction: float = _setting(
        0.3, "projected overlap of nearer occluders with the object", probability=True)
    max_attempts: int = _setting(12, "attempts per sample before it is recorded as failed",
                                 domain=Domain(1, 1000))
    scene_cue: bool = _setting(
        True, "every sun- or area-lit sample shows a cue to its light's direction in the scene: "
        "an occluder's cast shadow (at least min_occluder_shadow_fraction), or the photo's own "
        "shadows, agreeing with it through the sidecar's shadow_direction_deg or sun; false "
        "draws the light with no such cue")
    min_occluder_shadow_fraction: float = _setting(
        0.003, "with scene_cue: the occluders' visible shadows (rshadow) / all pixels",
        probability=True)


@dataclass(frozen=True)
class RenderSettings:
    """Cycles settings of the production render."""

    samples: int = option(
        16, "Cycles samples per pixel of the second render: the shadow region, where the "
        "pair differs (its noise is the shadow's)", identity=True, domain=Domain(1, MAX_SAMPLES))
    first_render_samples: int = option(
        6, "Cycles samples per pixel of the first render: the whole frame, whose noise (in "
        "the occluders' shadows) is the same in both images", identity=True,
        domain=Domain(1, MAX_SAMPLES))
    adaptive_threshold: float = option(
        0.0, "Cycles adaptive sampling noise threshold, 0 = off", identity=True,
        domain=Domain(0.0, 1.0))
    device: Device = option("cpu", "Cycles device: cpu, cuda or optix", identity=False,
                            choices=("cpu", "cuda", "optix"))
    threads: int = option(0, "render threads per worker, 0 = the cores shared among the "
                          "workers (a job array's task runs one worker per --threads of its "
                          "--cpus-per-task)", identity=False, domain=Domain(0, 1024))
    light_tree: bool = _setting(False, "Cycles light tree (a handful of lights: it only costs)",
                                True)
    ground_reach: float = _setting(
        1.5, "shade the ground only within this many object sizes of each object and its "
        "shadow (the factor is 1 elsewhere); 0 shades all of it", True,
        domain=Domain(0.0, 100.0))
    border_shadow_render: bool = _setting(
        True, "render the shadow variant only in the box its shadow can reach, and (with "
        "ground_reach > 0) the first render only in the box of the objects and their ground",
        True)
    sun_blur: float = _setting(
        0.7, "Gaussian sigma (px) on the direct-light part of the ground factor, 0 = off",
        True, domain=Domain(0.0, 100.0))
    ambient_blur: float = _setting(3.0, "the same for its ambient part (smooth, mostly noise)",
                                   True, domain=Domain(0.0, 100.0))
    tuned: bool = _setting(True, "false keeps Blender's default Cycles settings (the baseline)",
                           True)
    environment: str = _setting(
        "uniform", "the world light of a panorama's samples: uniform (one colour, matched to "
        "the view) or panorama (the panorama itself as the environment, scaled to the same "
        "ambient irradiance: the inserted object's shading and its shadow's softness and tint "
        "come from the photo's own sky); photos always take uniform", True,
        choices=("uniform", "panorama"))
    sampling_pattern: str = _setting(
        "BLUE_NOISE", "Cycles sampling pattern: BLUE_NOISE, TABULATED_SOBOL, AUTOMATIC", True,
        choices=("BLUE_NOISE", "TABULATED_SOBOL", "AUTOMATIC"))


@dataclass(frozen=True)
class RenderConfig:
    """One run of render-dataset; `identity` is what a resumed run must match."""

    out: Path = field(metadata={IDENTITY: False})
    scenes: Path = option(
        DEFAULT_SCENES, "folder of scene photos and panoramas (a sidecar declares a panorama)",
        identity=True)
    models: Path = option(DEFAULT_MODELS, "ShapeNet v1/v2 folder or folder of mesh files",
                          identity=True)
    count: int = option(20, "samples in the dataset", names=("-n", "--count"), identity=False,
                        domain=Domain(1))
    size: int = option(256, "image side in pixels", identity=True, in_file=True,
                       domain=Domain(16, 4096))
    seed: int = option(0, "global seed; sample i's seed derives from (seed, i) only",
                       identity=True, in_file=True)
    workers: int = option(0, "parallel Blender processes, 0 = one per core (one per --threads "
                          "cores), no more than the memory holds (1 GiB each up to 512 px)",
                          identity=False, domain=Domain(0))
    shard_index: int = _shard_field(0, False)
    shard_count: int = _shard_field(1, False)
    overwrite: bool = option(
        False, "start afresh: first remove the old run's samples, manifest and dataset.json "
        "from OUT (a dataset or an empty folder; other files stay), then render every sample "
        "with these settings", identity=False)
    restart_every: int = option(100, "replace each worker after this many samples (keeps "
                                "memory flat)", identity=False, domain=Domain(1))
    test_fraction: float = option(
        TEST_FRACTION, "share of scene photos whose samples go to test/", identity=True,
        in_file=True, probability=True, domain=Domain(0.0, 0.9))
    darkening_threshold: float = option(
        DARKENING_THRESHOLD, "relative darkening (0-1) that counts as shadow in smask and "
        "rshadow", identity=True, in_file=True, probability=True)
    shadow_visible_fraction: float = option(
        VISIBLE_FRACTION, "share of the sample's peak darkening a pixel of smask/rshadow "
        "must reach (0.5: the half-shadow line a person outlines); 0 keeps all above the "
        "darkening threshold", identity=True, in_file=True, probability=True)
    max_faces: int = option(MAX_FACES, "meshes with more faces are skipped", identity=True,
                            in_file=True, domain=Domain(1, 100_000_000))
    render: RenderSettings = _nested(RenderSettings, "fields")
    ranges: SamplingRanges = _nested(SamplingRanges, True)
    checks: QualityChecks = _nested(QualityChecks, True)

    def to_json(self) -> dict[str, Any]:
        return settings.to_json(self)

    def identity(self) -> dict[str, Any]:
        """The settings that decide what a sample looks like; a resumed run must match them."""
        return settings.identity(self)


def setting_problem(item: dataclasses.Field, value: Any) -> str | None:
    """Why `value` (already of the field's type; a range as a (min, max) tuple) is not a
    value of the setting `item`, in the config file's words ("must lie in [1, 65536], got
    -1"), or None; the check is the command line's (`dataset_tools.options.violation`)."""
    broken = violation(item, value)
    if isinstance(broken, Domain):
        values = value if isinstance(value, tuple) else (value,)
        shown = f"[{', '.join(map(str, values))}]" if isinstance(value, tuple) else value
        return f"must lie in {broken}, got {shown}"
    if isinstance(broken, Rule):
        return f"expected {broken.expected}, got {value!r}"
    if broken is not None:
        return f"must be one of {', '.join(broken)}, got {value!r}"
    return None


def field_of(cls: type, name: str) -> dataclasses.Field:
    return cls.__dataclass_fields__[name]  # type: ignore[attr-defined]


# What a config file may set: the top-level fields and nested tables that say so (IN_FILE).
FILE_FIELDS = tuple(item.name for item in dataclasses.fields(RenderConfig)
                    if item.metadata.get(IN_FILE))
