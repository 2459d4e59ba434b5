"""The light as an input of the shadow network (`train-sg --condition light`).

A sample's light (`dataset_tools.light_labels.LightLabel`) reaches the network as a vector of
LIGHT_CHANNELS numbers, broadcast to constant input planes:

    [given, cos(direction), sin(direction), elevation / 90, softness]

`given` is 0 when no light is known (a hand-made dataset, condition dropout, a prediction
without a light): then every entry is 0 and the network runs unconditioned. An overcast light
is given with no direction (cos = sin = 0).

Beside the numbers, `hint_plane` gives the geometry: the hard shadow the object mask would
cast under that light, with no learning, in the spirit of pixel-height shadow mapping (Sheng
et al., PixHt-Lab, CVPR 2023). Each object pixel is lifted by its image height above the foot
of its column (the mask's lowest pixel there) and cast from that foot along the light's image
direction, by height / tan(elevation), shortened where the direction runs into the depth of
the picture (ground distances there shrink by about GROUND_FORESHORTENING). The network then
has to soften, darken and correct a projected silhouette rather than invent its shape.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from dataset_tools.light_labels import LightLabel
from model.config import CONDITIONS, PredictConfig

__all__ = ["CONDITIONS", "LIGHT_CHANNELS", "LIGHT_OUTPUTS", "decode_light", "direction_errors",
           "drop_condition", "estimated_light", "field_loss", "given_light", "hint_plane",
           "is_light", "light_inputs", "light_loss", "light_report", "light_vector"]
LIGHT_CHANNELS = 5
GIVEN = 0.5  # the "given" channel at or above this: a light is given (it is 0 or 1)
# The raw light an attention network with a light head reads (model.networks.AttentionNet):
# [directional logit, cos, sin, elevation / 90, softness].
LIGHT_OUTPUTS = 5
# A light estimated from a photo has a direction only; these stand for the rest (a sun of 2
# degrees, half-way up the sky), and a user's --elevation / --softness replace them.
DEFAULT_ELEVATION_DEG = PredictConfig.elevation
DEFAULT_SOFTNESS = PredictConfig.softness
GROUND_FORESHORTENING = 0.4  # image length of a ground distance in depth / the same across
ELEVATION_RANGE_DEG = (5.0, 85.0)  # the hint's elevation is clamped to this


def light_vector(label: LightLabel | None, flipped: bool = False) -> np.ndarray:
    """(LIGHT_CHANNELS,) float32 of a label (zeros for None); `flipped`: the image was
    mirrored left-right, so the direction is mirrored too (180 - direction)."""
    if label is None:
        return np.zeros(LIGHT_CHANNELS, np.float32)
    cos = sin = 0.0
    if label.direction_deg is not None:
        direction = math.radians(label.direction_deg)
        cos, sin = math.cos(direction), math.sin(direction)
        if flipped:
            cos = -cos
    return np.array([1.0, cos, sin, label.elevation_deg / 90.0, label.softness], np.float32)


def given_light(direction_deg: float | None, elevation_deg: float, softness: float) -> np.ndarray:
    """The vector of a light a user names (`predict --shadow-direction`)."""
    if not 0 <= softness <= 1:
        raise ValueError(f"softness {softness}: expected a value in [0, 1]")
    if not 0 < elevation_deg <= 90:
        raise ValueError(f"elevation {elevation_deg}: expected degrees in (0, 90]")
    return light_vector(LightLabel(direction_deg, elevation_deg, softness))


def estimated_light(occluder: np.ndarray, occluder_shadow: np.ndarray,
                    elevation_deg: float = DEFAULT_ELEVATION_DEG,
                    softness: float = DEFAULT_SOFTNESS) -> tuple[np.ndarray, float | None]:
    """(vector, direction) of the light a photo shows: the direction its occluders' shadows
    point in, from (H, W) bool masks of the attention block's predicted occluders and their
    shadows, through the sidecars' pair estimate (`dataset_tools.directions`); a zero vector
    and None when they show none."""
    from dataset_tools.directions import estimate_shadow_direction

    direction = estimate_shadow_direction(occluder.astype(np.uint8),
                                          occluder_shadow.astype(np.uint8))
    if direction is None:
        return light_vector(None), None
    return given_light(direction, elevation_deg, softness), direction


def _directional(light: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(known, directional) bool (N,) of (N, LIGHT_CHANNELS) light vectors: a light is known,
    and it has a direction (sun, area) rather than none (overcast)."""
    known = light[:, 0] >= GIVEN
    return known, known & (light[:, 1:3].abs().sum(dim=1) > 1e-6)


def light_loss(raw: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
    """The light head's loss against the samples' light vectors (`light_vector`; a sample
    whose light is unknown adds nothing): binary cross-entropy of "directional", the squared
    error of (cos, sin) and the absolute error of elevation / 90 where the light has a
    direction, and of softness where it is known."""
    raw, light = raw.float(), light.float()
    known, directional = _directional(light)

    def mean(values: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
        return (values * where).sum() / where.sum().clamp_min(1)

    kind = F.binary_cross_entropy_with_logits(raw[:, 0], directional.float(), reduction="none")
    direction = ((raw[:, 1:3] - light[:, 1:3]) ** 2).sum(dim=1)
    elevation = (raw[:, 3] - light[:, 3]).abs()
    softness = (raw[:, 4] - light[:, 4]).abs()
    known_f, directional_f = known.float(), directional.float()
    return (mean(kind, known_f) + mean(direction, directional_f)
            + mean(elevation, directional_f) + mean(softness, known_f))


FIELD_KAPPA = 8.0  # concentration of the soft class of a direction (about 20 degrees wide)
FIELD_FLOOR_WEIGHT = 0.1  # weight of a cell without evidence, beside 1 for one with


def field_loss(field: torch.Tensor, light: torch.Tensor, evidence: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of a (N, BINS, h, w) direction field (`model.networks.DirectionField`)
    against each directional sample's direction as a soft class (weights exp(FIELD_KAPPA x
    cos(bin - direction)), normalised), per cell, weighted by the cell's share of (N, 1, H, W)
    `evidence` pixels (the occluders, their shadows, the object) plus FIELD_FLOOR_WEIGHT;
    0 without a directional sample."""
    _, directional = _directional(light.float())
    bins = field.shape[1]
    angles = torch.arange(bins, device=field.device, dtype=torch.float32) * (2 * math.pi / bins)
    truth = torch.atan2(light[:, 2].float(), light[:, 1].float())
    target = torch.softmax(FIELD_KAPPA * torch.cos(angles[None] - truth[:, None]), dim=1)
    cross = -(target[:, :, None, None] * torch.log_softmax(field.float(), dim=1)).sum(dim=1)
    cells = F.adaptive_avg_pool2d(evidence.float(), field.shape[2:])[:, 0] + FIELD_FLOOR_WEIGHT
    weights = cells * directional.float()[:, None, None]
    return (cross * weights).sum() / weights.sum().clamp_min(1e-6)


def decode_light(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(light vectors (N, LIGHT_CHANNELS), confidence (N,) in [0, 1]) of the light head's raw
    outputs: a directional light when its probability is at least a half, with the unit
    direction of (cos, sin), else a light with no direction (overcast); elevation clamped to
    ELEVATION_RANGE_DEG, softness to [0, 1]. The confidence of a direction is its probability
    times the length of (cos, sin), which the squared error shrinks where the head is unsure
    (1 at most); of no direction, 1 minus the probability."""
    raw = raw.float()
    probability = torch.sigmoid(raw[:, 0])
    length = raw[:, 1:3].norm(dim=1)
    unit = raw[:, 1:3] / length.clamp_min(1e-6)[:, None]
    directional = (probability >= 0.5) & (length > 1e-6)
    direction = torch.where(directional[:, None], unit, torch.zeros_like(unit))
    low, high = (value / 90.0 for value in ELEVATION_RANGE_DEG)
    vector = torch.cat([torch.ones_like(raw[:, :1]), direction,
                        raw[:, 3:4].clamp(low, high), raw[:, 4:5].clamp(0, 1)], dim=1)
    confidence = torch.where(directional, probability * length.clamp(max=1.0), 1 - probability)
    return vector, confidence


def direction_errors(estimated: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
    """Angles in degrees (M,) between the estimated and the true directions of the M samples
    whose true light has a direction; an estimate with none counts as 180 degrees off."""
    _, directional = _directional(light.float())
    truth = light[directional, 1:3].float()
    guess = estimated[directional, 1:3].float()
    cosine = (truth * guess).sum(dim=1) / (truth.norm(dim=1) * guess.norm(dim=1)).clamp_min(1e-6)
    angles = torch.rad2deg(torch.arccos(cosine.clamp(-1, 1)))
    return torch.where(guess.abs().sum(dim=1) > 1e-6, angles, torch.full_like(angles, 180.0))


def is_light(vector: np.ndarray) -> bool:
    """Whether a light vector (`light_vector`) carries a light: its "given" channel is set
    (a zero vector is no light)."""
    return float(vector[0]) >= GIVEN


def light_report(vector: np.ndarray) -> dict[str, float | None]:
    """A light vector (`light_vector`) back as JSON numbers: direction (None when it has
    none), elevation and softness; all None for no light."""
    _, cos, sin, elevation, softness = (float(value) for value in vector)
    if not is_light(vector):
        return {"direction_deg": None, "elevation_deg": None, "softness": None}
    direction = (math.degrees(math.atan2(sin, cos)) % 360.0
                 if abs(cos) + abs(sin) > 1e-6 else None)
    return {"direction_deg": direction, "elevation_deg": elevation * 90.0, "softness": softness}


def drop_condition(light: torch.Tensor, probability: float,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """`light` with each sample's vector zeroed with `probability` (condition dropout: one
    network serves with and without a given light)."""
    if probability <= 0:
        return light
    keep = torch.rand(light.shape[0], generator=generator) >= probability
    return light * keep.to(light.device, light.dtype)[:, None]


@torch.no_grad()
def hint_plane(mask: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) in {0, 1}: the hard shadow of the (N, 1, H, W) object mask under each
    (N, LIGHT_CHANNELS) light, off the object; zeros where no directional light is given."""
    n, _, height, width = mask.shape
    inside = mask[:, 0] > 0.5
    rows = torch.arange(height, device=mask.device).view(1, height, 1).expand(n, height, width)
    foot_row = torch.where(inside, rows, torch.full_like(rows, -1)).amax(dim=1)  # (N, W)
    cos, sin = light[:, 1].float(), light[:, 2].float()
    directional = _directional(light)[1]
    elevation = (light[:, 3].float() * 90).clamp(*ELEVATION_RANGE_DEG)
    # image length per unit of ground length along the direction, relative to across
    stretch = torch.rsqrt(cos ** 2 + (sin / GROUND_FORESHORTENING) ** 2).clamp(max=1.0)
    scale = stretch / torch.tan(elevation * (math.pi / 180))
    batch, y, x = inside.nonzero(as_tuple=True)
    foot = foot_row[batch, x]
    lifted = (foot - y).float()
    plane = torch.zeros(n, height * width, device=mask.device)
    for step in (0.0, 0.5):  # half-pixel steps: no gaps for shadows longer than the object
        length = (lifted + step) * scale[batch]
        to_x = torch.floor(x + 0.5 + length * cos[batch]).long()
        to_y = torch.floor(foot + 0.5 + length * sin[batch]).long()
        ok = directional[batch] & (to_x >= 0) & (to_x < width) & (to_y >= 0) & (to_y < height)
        plane[batch[ok], to_y[ok] * width + to_x[ok]] = 1.0
    plane = F.max_pool2d(plane.view(n, 1, height, width), 3, stride=1, padding=1)
    return (plane * (1 - mask.float())).to(mask.dtype)


def light_inputs(mask: torch.Tensor, light: torch.Tensor | None,
                 hint: bool = True) -> torch.Tensor:
    """(N, LIGHT_CHANNELS + hint, H, W): the light's constant planes and, with `hint`, its
    hint plane; all zeros for None (no light given)."""
    n, _, height, width = mask.shape
    if light is None:
        return mask.new_zeros(n, LIGHT_CHANNELS + hint, height, width)
    light = light.to(mask.dtype)
    planes = light[:, :, None, None].expand(n, LIGHT_CHANNELS, height, width)
    return torch.cat([planes, hint_plane(mask, light)], dim=1) if hint else planes
