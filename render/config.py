"""Settings of one render run: frozen dataclasses filled by the CLI (kept in dataset.json)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_SCENES = ASSETS_DIR / "scenes"
DEFAULT_MODELS = ASSETS_DIR / "models"

Device = Literal["cpu", "cuda", "optix"]


@dataclass(frozen=True)
class SamplingRanges:
    """Ranges (inclusive) the scene sampler draws from. Lengths in metres, angles in degrees."""

    camera_height: tuple[float, float] = (1.0, 2.2)
    camera_pitch: tuple[float, float] = (22.0, 45.0)  # below the horizon
    camera_fov: tuple[float, float] = (40.0, 60.0)
    inserted_size: tuple[float, float] = (0.55, 1.0)  # largest dimension of the inserted mesh
    occluder_size: tuple[float, float] = (0.4, 1.0)
    occluders: tuple[int, int] = (0, 3)
    sun_elevation: tuple[float, float] = (25.0, 65.0)
    sun_angle: tuple[float, float] = (0.5, 4.0)  # angular diameter: soft shadows grow with it
    # Sky light / all light on a sunlit horizontal surface: 0.1-0.25 under a clear sky,
    # more in haze. It bounds how dark the umbra is (in scene-linear light).
    ambient_fraction: tuple[float, float] = (0.1, 0.22)
    tone_contrast: tuple[float, float] = (1.4, 1.6)  # camera tone curve vs sRGB (PhotoSpec)
    photo_crop: tuple[float, float] = (0.7, 1.0)  # square crop side / shorter photo side


@dataclass(frozen=True)
class QualityChecks:
    """A rendered sample is resampled when any check fails (the reason goes to the manifest)."""

    min_object_fraction: float = 0.004  # inserted object's visible pixels / all pixels
    min_shadow_fraction: float = 0.002  # inserted object's own visible shadow / all pixels
    max_hidden_fraction: float = 0.3  # projected overlap of nearer occluders with the object
    max_attempts: int = 12


@dataclass(frozen=True)
class RenderSettings:
    """Cycles settings of the production render."""

    samples: int = 10
    adaptive_threshold: float = 0.0  # 0 disables adaptive sampling (no gain at 8-16 spp)
    device: Device = "cpu"
    threads: int = 0  # 0 = all cores
    light_tree: bool = False  # a handful of lights: the tree only costs time here
    # Shade the ground only within `ground_reach` object sizes of each object and its sun
    # shadow (the factor is 1 elsewhere); 0 shades all of it.
    ground_reach: float = 1.5
    border_shadow_render: bool = True  # render the shadow variant only where it can differ
    sun_blur: float = 0.7  # Gaussian sigma (px) on the sun part of the ground factor, 0 = off
    ambient_blur: float = 3.0  # the same for its ambient part (smooth, and most of the noise)
    tuned: bool = True  # False keeps Blender's default Cycles settings (the benchmark baseline)
    sampling_pattern: str = "BLUE_NOISE"  # Cycles: BLUE_NOISE, TABULATED_SOBOL, AUTOMATIC


@dataclass(frozen=True)
class RenderConfig:
    out: Path
    scenes: Path = DEFAULT_SCENES
    models: Path = DEFAULT_MODELS
    count: int = 20
    size: int = 256
    seed: int = 0
    workers: int = 1
    shard_index: int = 0
    shard_count: int = 1
    overwrite: bool = False
    restart_every: int = 100  # samples per worker before it is replaced (keeps memory flat)
    test_fraction: float = 0.15
    shadow_threshold: float = 0.06  # relative darkening that counts as shadow in the masks
    # ... and the share of the sample's peak darkening a pixel of smask/rshadow must reach.
    shadow_visible_fraction: float = 0.5
    max_faces: int = 1_000_000
    render: RenderSettings = field(default_factory=RenderSettings)
    ranges: SamplingRanges = field(default_factory=SamplingRanges)
    checks: QualityChecks = field(default_factory=QualityChecks)

    def to_json(self) -> dict[str, Any]:
        def convert(value: Any) -> Any:
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, dict):
                return {key: convert(item) for key, item in value.items()}
            if isinstance(value, list | tuple):
                return [convert(item) for item in value]
            return value

        return convert(dataclasses.asdict(self))

    def identity(self) -> dict[str, Any]:
        """The settings that decide what a sample looks like; a resumed run must match them."""
        data = self.to_json()
        for key in ("out", "workers", "shard_index", "shard_count", "overwrite", "restart_every",
                    "count"):
            data.pop(key)
        data["render"].pop("threads")
        data["render"].pop("device")
        return data
