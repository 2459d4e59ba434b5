"""A run's inputs as every worker sees them: the scene photos with their sidecar hints, the
meshes, and the one rule that gives each new sample its split (`Catalog`, plain picklable
data; no bpy)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from dataset_tools.errors import ShadowsynthError
from dataset_tools.records import DatasetInfo, read_manifest
from dataset_tools.split import GROUPINGS, SplitRule, assign_groups
from render.assets import BadAsset, declares_panorama, find_meshes, find_scenes
from render.config import RenderConfig
from render.hints import PhotoHints, read_hints, sidecar_path
from render.poses import PERSON_CATEGORIES, UPRIGHT_CATEGORIES


class RunError(ShadowsynthError, RuntimeError):
    """The run cannot start or go on (a folder it cannot use, workers that cannot start); the
    message is one line naming the path. Exit code 1."""


@dataclass(frozen=True)
class Catalog:
    """What every worker knows about the run's inputs (plain data, picklable)."""

    scenes_root: str
    photos: tuple[str, ...]
    meshes: tuple[tuple[str, str], ...]  # (mesh id, path)
    upright: frozenset[str]  # paths of meshes used only as modelled (UPRIGHT_CATEGORIES)
    rule: SplitRule  # the split of a new sample (`split_rule`): the worker writes it there
    hints: dict[str, PhotoHints] = field(default_factory=dict)  # photo path -> its sidecar's
    people: frozenset[str] = frozenset()  # paths of meshes at a person's size (PERSON_CATEGORIES)


def build_catalog(config: RenderConfig, console: Console) -> tuple[Catalog, dict[str, str]]:
    """The catalog of `config`'s scenes and models, and the files skipped (path -> why), each
    also printed. Raises RunError when a folder is missing or holds no usable file."""
    try:
        scenes = find_scenes(config.scenes)
        meshes = find_meshes(config.models)
    except BadAsset as error:
        raise RunError(str(error)) from None
    sidecars = {str(sidecar_path(photo)) for photo in scenes.items}
    skipped = dict([entry for entry in scenes.skipped if entry[0] not in sidecars]
                   + meshes.skipped)
    hints: dict[str, PhotoHints] = {}
    usable = []
    for photo in scenes.items:
        try:
            found = read_hints(photo, config.scenes)
        except BadAsset as error:  # a photo is used without hints, a panorama not at all
            panorama = declares_panorama(sidecar_path(photo))
            skipped[error.path] = error.reason + (" (the panorama is skipped)" if panorama
                                                  else "")
            if not panorama:
                usable.append(photo)
            continue
        usable.append(photo)
        if found is not None:
            hints[str(photo)] = found
    for path, reason in skipped.items():
        console.print(f"[yellow]skipped[/] {path}: {reason}")
    if not usable:
        raise RunError(f"{config.scenes}: no scene images found (.jpg, .png, ...)")
    if not meshes.items:
        raise RunError(
            f"{config.models}: no meshes found (ShapeNet folders or "
            ".obj/.ply/.stl/.off/.glb/.gltf files)"
        )
    photos = tuple(str(path) for path in usable)
    scenes_relative = [Path(photo).relative_to(config.scenes).as_posix() for photo in photos]
    catalog = Catalog(
        scenes_root=str(config.scenes),
        photos=photos,
        meshes=tuple((mesh.mesh_id, str(mesh.path)) for mesh in meshes.items),
        upright=frozenset(str(mesh.path) for mesh in meshes.items
                          if mesh.category in UPRIGHT_CATEGORIES),
        people=frozenset(str(mesh.path) for mesh in meshes.items
                         if mesh.category in PERSON_CATEGORIES),
        rule=split_rule(config, scenes_relative),
        hints=hints,
    )
    return catalog, skipped


def split_rule(config: RenderConfig, scenes: list[str]) -> SplitRule:
    """Where new samples go: by the rule `shadow-dataset split` recorded in dataset.json, else
    by scene photo (`scenes`: relative to the scenes folder, split by `assign_groups`); either
    way a scene (mesh) the folder already holds keeps its split, so no new sample leaks it
    into another split."""
    records = {} if config.overwrite else read_manifest(config.out)
    info = None if config.overwrite else DatasetInfo.read(config.out)
    recorded = info.split if info is not None else None
    if isinstance(recorded, dict) and recorded.get("by") in GROUPINGS:
        return SplitRule.from_samples(recorded["by"], float(recorded.get("test", 0.0)),
                                      float(recorded.get("val", 0.0)),
                                      int(recorded.get("seed", 0)), records)
    base = assign_groups(scenes, config.test_fraction, seed=config.seed)
    return SplitRule.from_samples("scene", config.test_fraction, 0.0, config.seed, records,
                                  base={"scene": base})
