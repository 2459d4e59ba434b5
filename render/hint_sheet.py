"""Drawing a photo's sidecar hints onto it, and a contact sheet of a scenes folder, so that
an annotation can be checked by eye (`shadow-dataset sidecars`). Nothing here imports bpy.

On each photo: the horizon (a magenta line), the ground polygon (a green outline, lightly
filled), an arrow for the shadow direction from the polygon's centre (yellow; dashed when
the direction was estimated from the photo's masks), the photo's own objects (cyan) and
shadows (red) from its masks, and as text the photo's name and the light kinds it allows with
their weights ("any light" without `lights`). On a panorama: its horizon, a ring at its sun,
and its ground (`panorama.ground`: the elevation band over the heading sectors, lightly filled
in green)."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from dataset_tools.layout import DatasetError
from dataset_tools.sheet import overlay
from render.assets import BadAsset, find_scenes
from render.hints import PanoramaHints, PhotoHints, read_hints, sidecar_path
from render.panorama import elevation_of, heading_of, panorama_pixel
from render.photo_masks import read_instance_mask
from render.scene_images import read_scene_image

TILE_WIDTH = 320
COLUMNS = 4
HORIZON = (255, 0, 255)
POLYGON = (0, 220, 0)
ARROW = (255, 220, 0)
TEXT = (255, 255, 255)
OBJECT = (0, 230, 255)
SHADOW = (255, 40, 40)


def outlined_text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float,
                  color: tuple[int, int, int] = TEXT) -> None:
    """`text` drawn in place in `color` over a black outline, legible on any photo."""
    for ink, thickness in (((0, 0, 0), 3), (color, 1)):
        cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, ink, thickness,
                    cv2.LINE_AA)


def lights_text(hints: PhotoHints | None) -> str:
    if hints is None or not hints.lights:
        return "any light"
    return ", ".join(f"{kind} {weight:g}" for kind, weight in hints.lights)


def draw_hints(photo: np.ndarray, hints: PhotoHints | None, name: str,
               masks: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The RGB photo with its hints drawn on it (a copy); `hints` None: no sidecar. `masks`:
    the sidecar's `object_mask`/`shadow_mask` images, read at the photo's size."""
    image = photo.copy()
    height, width = image.shape[:2]
    line = max(1, round(width / 320))
    if hints is not None and hints.panorama is not None:
        image = overlay(image, _ground_pixels(hints.panorama, width, height), POLYGON, 0.2)
    for key, color in (("shadow_mask", SHADOW), ("object_mask", OBJECT)):
        if masks and key in masks:
            image = overlay(image, masks[key] > 0, color, 0.6)
    if hints is not None and hints.horizon_row is not None and 0 <= hints.horizon_row < height:
        row = int(round(hints.horizon_row))
        cv2.line(image, (0, row), (width - 1, row), HORIZON, line, cv2.LINE_AA)
    centre = (width / 2, height * 0.75)
    if hints is not None and hints.ground_polygon:
        polygon = np.round(np.array(hints.ground_polygon)).astype(np.int32)
        fill = image.copy()
        cv2.fillPoly(fill, [polygon], POLYGON)
        image = cv2.addWeighted(fill, 0.2, image, 0.8, 0)
        cv2.polylines(image, [polygon], True, POLYGON, line, cv2.LINE_AA)
        centre = tuple(polygon.mean(axis=0))
    if hints is not None and hints.shadow_direction_deg is not None:
        length = 0.25 * min(width, height)
        angle = math.radians(hints.shadow_direction_deg)
        start = (int(round(centre[0])), int(round(centre[1])))
        end = (int(round(centre[0] + length * math.cos(angle))),
               int(round(centre[1] + length * math.sin(angle))))
        cv2.arrowedLine(image, start, end, ARROW, 2 * line, cv2.LINE_AA, tipLength=0.25)
        if hints.shadow_direction_estimated:
            outlined_text(image, "estimated", (end[0] + 4, end[1]), 0.4 * line)
    if hints is not None and hints.panorama is not None:
        _draw_panorama(image, hints.panorama, line)
    scale = 0.45 * width / 640 * 1.6
    outlined_text(image, name, (6, int(22 * scale / 0.7)), scale)
    outlined_text(image, lights_text(hints) if hints is not None else "no sidecar",
                  (6, height - 8), scale)
    return image


def _ground_pixels(panorama: PanoramaHints, width: int, height: int) -> np.ndarray:
    """(height, width) bool: the pixels of a panorama inside its `panorama.ground` (none when
    the sidecar gives no ground)."""
    band = panorama.ground_band()
    if band is None:
        return np.zeros((height, width), dtype=bool)
    low, high = band
    elevation = elevation_of(np.arange(height) + 0.5, height)
    in_sector = panorama.in_sectors(heading_of(np.arange(width) + 0.5, width))
    return ((elevation >= low) & (elevation <= high))[:, None] & in_sector[None, :]


def _draw_panorama(image: np.ndarray, panorama: PanoramaHints, line: int) -> None:
    """A panorama's horizon (its middle row) and its sun, a ring where the sidecar puts it
    (`render.panorama.panorama_pixel`), drawn in place."""
    height, width = image.shape[:2]
    row = int(round(height / 2))
    cv2.line(image, (0, row), (width - 1, row), HORIZON, line, cv2.LINE_AA)
    if panorama.sun_azimuth_deg is None or panorama.sun_elevation_deg is None:
        return
    x, y = panorama_pixel(panorama.sun_azimuth_deg, panorama.sun_elevation_deg, width, height)
    centre = (int(x), int(y))
    cv2.circle(image, centre, 6 * line, ARROW, 2 * line, cv2.LINE_AA)
    outlined_text(image, "sun", (centre[0] + 8 * line, centre[1]), 0.4 * line)


def photo_tiles(folder: Path, tile_width: int = TILE_WIDTH) -> tuple[list[np.ndarray],
                                                                     list[tuple[str, str]]]:
    """One annotated tile per photo of a scenes folder, and (path, reason) for each photo or
    sidecar that could not be read (the photo then shows without hints, or not at all)."""
    try:
        scan = find_scenes(folder)
    except BadAsset as error:
        raise DatasetError(Path(error.path), error.reason) from None
    sidecars = {str(sidecar_path(path)) for path in scan.items}
    tiles, problems = [], [item for item in scan.skipped if item[0] not in sidecars]
    for path in scan.items:
        try:
            photo = read_scene_image(path)
        except DatasetError as error:
            problems.append((str(path), str(error)))
            continue
        try:
            hints = read_hints(path, folder)
        except BadAsset as error:
            problems.append((str(error.path), error.reason))
            hints = None
        masks = {}
        for key, mask_path in (hints.mask_paths.items() if hints is not None else ()):
            try:
                masks[key] = read_instance_mask(Path(mask_path), photo.shape[1], photo.shape[0])
            except BadAsset as error:
                problems.append((str(error.path), error.reason))
        drawn = draw_hints(photo, hints, path.relative_to(folder).as_posix(), masks)
        height = max(1, round(drawn.shape[0] * tile_width / drawn.shape[1]))
        tiles.append(cv2.resize(drawn, (tile_width, height), interpolation=cv2.INTER_AREA))
    return tiles, problems


def hint_sheet(tiles: list[np.ndarray], columns: int = COLUMNS) -> np.ndarray:
    """Tiles of one width in rows of `columns`, each row as tall as its tallest tile."""
    if not tiles:
        raise ValueError("no tiles")
    width = tiles[0].shape[1]
    rows = []
    for start in range(0, len(tiles), columns):
        group = tiles[start:start + columns]
        height = max(tile.shape[0] for tile in group)
        row = np.zeros((height, width * columns, 3), np.uint8)
        for index, tile in enumerate(group):
            row[:tile.shape[0], index * width:(index + 1) * width] = tile
        rows.append(row)
    return np.vstack(rows)
