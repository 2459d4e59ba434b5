"""Draw a panorama's own objects and their cast shadows as masks in the panorama's frame (the
sidecar's `object_mask` and `shadow_mask`, `render.photo_masks`), by drawing polygons on
ordinary views of it; every sample cut from the panorama then carries them
(`render.panorama.mask_view_of_panorama`).

    python assets/annotate_panorama.py view  SCENES/pano_X.jpg --yaw 200 --pitch 35 --out v.png
    python assets/annotate_panorama.py add   SCENES/pano_X.jpg --yaw 200 --pitch 35 \\
        --object "310,250 330,250 332,420 306,420" --shadow "306,420 332,420 420,470 400,480"
    python assets/annotate_panorama.py clear SCENES/pano_X.jpg --instance 2
    python assets/annotate_panorama.py check SCENES/pano_X.jpg --out check.png
    python assets/annotate_panorama.py sheet SCENES --size 256 --out docs/panorama_masks.jpg

`view` writes the view (default 512 px, 70 degrees) with a labelled grid every 32 pixels and the
masks drawn so far (objects green, shadows red, each with its instance number), so that polygon
vertices can be read off it. `add` draws one object and its shadow, as polygons in the pixels of
that same view, into the masks with the next instance number (or `--instance N`; a shadow
without a visible caster takes 255), and names the masks in the sidecar (they live in
SCENES/masks/NAME_object.png and NAME_shadow.png). `check` writes views of every instance, and
the direction each object-shadow pair shows next to the direction the sidecar's sun casts.
`sheet` writes one view per shadow instance of every panorama in a folder (the PANORAMA
argument is then the folder), masks drawn.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dataset_tools.directions import angle_difference, object_foot, pair_directions  # noqa: E402
from dataset_tools.layout import read_image, write_png, write_text  # noqa: E402
from dataset_tools.light_labels import sun_direction_at  # noqa: E402
from dataset_tools.sheet import overlay  # noqa: E402
from render.hint_sheet import hint_sheet, outlined_text  # noqa: E402
from render.hints import parse_hints, sidecar_path  # noqa: E402
from render.panorama import (  # noqa: E402
    elevation_of,
    heading_of,
    mask_view_of_panorama,
    panorama_region,
    view_of_panorama,
    world_sun_azimuth,
)
from render.scene_images import read_scene_image  # noqa: E402
from render.spec import CameraSpec  # noqa: E402

MASKS = "masks"
GRID = 32
NO_CASTER = 255
GREEN, RED = (40, 220, 60), (230, 40, 40)


def _camera(args: argparse.Namespace) -> CameraSpec:
    return CameraSpec(height=args.height, pitch_deg=args.pitch, fov_deg=args.fov)


def _mask_paths(panorama: Path) -> dict[str, Path]:
    folder = panorama.parent / MASKS
    return {"object_mask": folder / f"{panorama.stem}_object.png",
            "shadow_mask": folder / f"{panorama.stem}_shadow.png"}


def _masks(panorama: Path, width: int, height: int) -> dict[str, np.ndarray]:
    return {key: read_image(path, "L") if path.is_file() else np.zeros((height, width), np.uint8)
            for key, path in _mask_paths(panorama).items()}


def _polygon(text: str) -> np.ndarray:
    points = [tuple(float(value) for value in point.split(",")) for point in text.split()]
    if len(points) < 3 or any(len(point) != 2 for point in points):
        raise SystemExit(f"a polygon is at least 3 'x,y' points separated by spaces: {text!r}")
    return np.array(points)


def _label(image: np.ndarray, text: str, at: tuple[int, int], color=(255, 255, 255)) -> None:
    outlined_text(image, text, at, 0.35, color)


def _view(args: argparse.Namespace, grid: bool = True) -> np.ndarray:
    """The view with the masks drawn so far, their instance numbers, and a grid."""
    photo = read_scene_image(args.panorama)
    camera = _camera(args)
    image = view_of_panorama(photo, args.yaw, camera, args.size)
    masks = _masks(args.panorama, photo.shape[1], photo.shape[0])
    views = {key: mask_view_of_panorama(mask, args.yaw, camera, args.size)
             for key, mask in masks.items()}
    for key, color in (("shadow_mask", RED), ("object_mask", GREEN)):
        image = overlay(image, views[key] > 0, color)
    for key in views:
        for value in np.unique(views[key][views[key] > 0]).tolist():
            rows, cols = np.nonzero(views[key] == value)
            _label(image, str(value), (int(cols.mean()), int(rows.mean())))
    if grid:
        for step in range(GRID, args.size, GRID):
            image[step, ::2] = 255 - image[step, ::2]
            image[::2, step] = 255 - image[::2, step]
            _label(image, str(step), (step + 2, 10))
            _label(image, str(step), (2, step - 2))
    return image


def view(args: argparse.Namespace) -> None:
    write_png(args.out, _view(args))
    print(f"{args.out}: yaw {args.yaw:g}, pitch {args.pitch:g}, fov {args.fov:g}, "
          f"{args.size} px")


def _write_sidecar_names(panorama: Path) -> None:
    sidecar = sidecar_path(panorama)
    data = json.loads(sidecar.read_text())
    names = {key: f"{MASKS}/{path.name}" for key, path in _mask_paths(panorama).items()}
    if all(data.get(key) == name for key, name in names.items()):
        return
    data.update(names)
    write_text(sidecar, json.dumps(data) + "\n")


def add(args: argparse.Namespace) -> None:
    photo = read_scene_image(args.panorama)
    height, width = photo.shape[:2]
    masks = _masks(args.panorama, width, height)
    camera = _camera(args)
    instance = args.instance
    if instance is None:
        used = np.union1d(*(np.unique(mask) for mask in masks.values()))
        instance = int(max((value for value in used if value != NO_CASTER), default=0)) + 1
    if args.object is None and instance != NO_CASTER:
        raise SystemExit(f"a shadow without --object takes --instance {NO_CASTER}")
    for key, text in (("object_mask", args.object), ("shadow_mask", args.shadow)):
        if text is not None:
            region = panorama_region(_polygon(text), args.yaw, camera, args.size, width, height)
            masks[key][region] = instance
    for key, path in _mask_paths(args.panorama).items():
        path.parent.mkdir(exist_ok=True)
        write_png(path, masks[key])
    _write_sidecar_names(args.panorama)
    print(f"{args.panorama.name}: instance {instance} drawn")


def clear(args: argparse.Namespace) -> None:
    photo = read_scene_image(args.panorama)
    masks = _masks(args.panorama, photo.shape[1], photo.shape[0])
    for key, path in _mask_paths(args.panorama).items():
        masks[key][masks[key] == args.instance] = 0
        if path.is_file():
            write_png(path, masks[key])
    print(f"{args.panorama.name}: instance {args.instance} cleared")


def sun_shadow_direction(hints, yaw: float, camera: CameraSpec, size: int,
                         foot: np.ndarray) -> float | None:
    """The image angle of the sun's shadow at the view's pixel `foot` (None without a sun)."""
    sun = hints.panorama
    if sun is None or sun.sun_azimuth_deg is None:
        return None
    spec = {"size": size, "camera": {"height": camera.height, "pitch_deg": camera.pitch_deg,
                                     "fov_deg": camera.fov_deg},
            "light": {"kind": "sun", "azimuth_deg": world_sun_azimuth(sun.sun_azimuth_deg, yaw),
                      "elevation_deg": sun.sun_elevation_deg}}
    return sun_direction_at(spec, foot)


def check(args: argparse.Namespace) -> None:
    """A view centred on each instance, with the pair's direction against the sun's."""
    photo = read_scene_image(args.panorama)
    height, width = photo.shape[:2]
    hints = parse_hints(json.loads(sidecar_path(args.panorama).read_text()), width, height)
    masks = _masks(args.panorama, width, height)
    tiles, lines = [], []
    for value in np.unique(masks["object_mask"][masks["object_mask"] > 0]).tolist():
        args.yaw = _mean_heading(np.nonzero(masks["object_mask"] == value)[1], width)
        camera = _camera(args)
        objects = mask_view_of_panorama(masks["object_mask"], args.yaw, camera, args.size)
        shadows = mask_view_of_panorama(masks["shadow_mask"], args.yaw, camera, args.size)
        pairs = dict(pair_directions(np.where(objects == value, value, 0),
                                     np.where(shadows == value, value, 0)))
        real = next(iter(pairs), None)
        sun = None
        if (objects == value).any():
            sun = sun_shadow_direction(hints, args.yaw, camera, args.size,
                                       object_foot(objects == value))
        difference = None if real is None or sun is None else angle_difference(real, sun)
        lines.append(f"instance {value}: yaw {args.yaw:.0f}, pair {real}, sun {sun}, "
                     f"difference {difference}")
        tile = _view(args, grid=False)
        _label(tile, lines[-1], (4, args.size - 6), (255, 255, 0))
        tiles.append(tile)
    print("\n".join(lines) or "no instances")
    if tiles:
        write_png(args.out, hint_sheet(tiles, min(3, len(tiles))))


def _mean_heading(columns: np.ndarray, width: int) -> float:
    """The circular mean heading in degrees of panorama columns."""
    angles = np.radians(heading_of(columns + 0.5, width))
    return float(np.degrees(np.arctan2(np.sin(angles).mean(), np.cos(angles).mean())) % 360.0)


def sheet(args: argparse.Namespace) -> None:
    """Views of every annotated instance of every panorama in a folder, masks drawn on them:
    what the samples' robject/rshadow take from the panoramas."""
    tiles = []
    for panorama in sorted(args.panorama.glob("pano_*.jpg")):
        if not all(path.is_file() for path in _mask_paths(panorama).values()):
            continue
        shadows = read_image(_mask_paths(panorama)["shadow_mask"], "L")
        height, width = shadows.shape
        for value in np.unique(shadows[shadows > 0]).tolist():
            rows, cols = np.nonzero(shadows == value)
            view_args = argparse.Namespace(**{**vars(args), "panorama": panorama})
            view_args.yaw = _mean_heading(cols, width)
            elevation = elevation_of(rows.mean() + 0.5, height)
            view_args.pitch = float(np.clip(-elevation, 10.0, 60.0))
            tile = _view(view_args, grid=False)
            _label(tile, f"{panorama.stem} #{value}", (4, 14), (255, 255, 0))
            tiles.append(tile)
    if not tiles:
        raise SystemExit(f"{args.panorama}: no panorama with masks")
    image = hint_sheet(tiles, args.columns)
    cv2.imwrite(str(args.out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"{args.out}: {len(tiles)} views")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, function in (("view", view), ("add", add), ("clear", clear), ("check", check),
                           ("sheet", sheet)):
        command = commands.add_parser(name)
        command.set_defaults(function=function)
        command.add_argument("panorama", type=Path)
        command.add_argument("--yaw", type=float, default=0.0, help="heading of the view")
        command.add_argument("--pitch", type=float, default=30.0, help="degrees below horizon")
        command.add_argument("--fov", type=float, default=70.0)
        command.add_argument("--size", type=int, default=512)
        command.add_argument("--height", type=float, default=1.6, help="camera height, m")
        if name in ("view", "check", "sheet"):
            command.add_argument("--out", type=Path, required=True)
        if name == "sheet":
            command.add_argument("--columns", type=int, default=4)
        if name == "add":
            command.add_argument("--object", help="polygon 'x,y x,y ...' in the view's pixels")
            command.add_argument("--shadow", required=True, help="the object's cast shadow")
            command.add_argument("--instance", type=int)
        if name == "clear":
            command.add_argument("--instance", type=int, required=True)
    args = parser.parse_args()
    args.function(args)


if __name__ == "__main__":
    main()
