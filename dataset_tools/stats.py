"""Dataset statistics: counts per split, mask and shadow areas, sun, occluders, scenes, meshes,
and which panoramas and which of their directions the views cover."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from dataset_tools.darkness import REAL_SUNNY, shadow_darkness, summarize_darkness
from dataset_tools.directions import angle_difference, instance_pairs, mean_direction
from dataset_tools.layout import SPLITS, atomic_write, passes_path, read_image, sample_path
from dataset_tools.light_labels import label_of, sun_direction_at
from dataset_tools.masks import PHOTO_MASK_PASSES, smask_from_pair
from dataset_tools.records import ManifestRecord, read_manifest
from dataset_tools.resplit import find_samples


def hint_counts(records: list[ManifestRecord]) -> Counter:
    """How many samples used each kind of photo hint (the manifest's `hints`, from the scene
    photo's sidecar file; datasets rendered before sidecars have none)."""
    return Counter(kind for record in records for kind in record.hints or [])


# A sample shows its light's direction in the scene when its occluders' visible shadows
# (rshadow) cover at least this share of the image (render.config.QualityChecks'
# min_occluder_shadow_fraction, the renderer's check, has the same default), or when its
# photo's own shadows agree with the light (the sidecar's shadow direction or sun).
CUE_FRACTION = 0.003
PHOTO_CUE_HINTS = ("shadow_direction", "estimated_shadow_direction", "sun")


def cue_audit(records: dict[str, ManifestRecord],
              rshadow: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Per light kind: samples, how many show an occluder shadow of at least CUE_FRACTION,
    how many have photo-consistent light, and the share with either cue."""
    audit: dict[str, dict[str, Any]] = {}
    for sample_id, record in records.items():
        if record.spec is None:
            continue
        row = audit.setdefault(record.light_kind, {"samples": 0, "occluder_shadow": 0,
                                                   "photo_consistent": 0, "with_cue": 0})
        occluder = rshadow.get(sample_id, 0.0) >= CUE_FRACTION
        photo = any(kind in PHOTO_CUE_HINTS for kind in record.hints or [])
        row["samples"] += 1
        row["occluder_shadow"] += occluder
        row["photo_consistent"] += photo
        row["with_cue"] += occluder or photo
    for row in audit.values():
        row["share_with_cue"] = row["with_cue"] / row["samples"]
    return dict(sorted(audit.items()))


YAW_SECTORS = 8  # a panorama's headings in sectors of 360 / YAW_SECTORS = 45 degrees


def view_yaw(record: ManifestRecord) -> float | None:
    """The yaw in degrees of the sample's panorama view (the spec's `photo.view.yaw_deg`,
    render.spec.PanoramaView), None for a photo's crop or a record without a spec."""
    view = ((record.spec or {}).get("photo") or {}).get("view")
    return None if view is None else float(view["yaw_deg"])


def panorama_coverage(records: list[ManifestRecord]) -> dict[str, Any]:
    """How the views cover the panoramas: the number of panoramas (distinct scenes with a
    view), of distinct views (panorama, yaw to 0.1 deg), and per panorama its views and the
    yaw sectors seen (sector k holds yaws [45 k, 45 (k + 1)), k = 0..7, 0 = the panorama's left
    edge)."""
    per_panorama: dict[str, dict[str, Any]] = {}
    views: set[tuple[str, float]] = set()
    for record in records:
        yaw = view_yaw(record)
        if yaw is None or record.scene is None:
            continue
        yaw %= 360.0
        views.add((record.scene, round(yaw, 1)))
        row = per_panorama.setdefault(record.scene, {"samples": 0, "sectors": set()})
        row["samples"] += 1
        row["sectors"].add(int(yaw // (360.0 / YAW_SECTORS)) % YAW_SECTORS)
    return {"panoramas": len(per_panorama), "views": len(views),
            "sector_deg": 360.0 / YAW_SECTORS,
            "per_panorama": {scene: {"samples": row["samples"],
                                     "sectors": sorted(row["sectors"])}
                             for scene, row in sorted(per_panorama.items())}}


AGREE_DEG = 20.0  # a photo's own shadow agrees with the rendered light within this


def photo_shadow_agreement(root: Path, located: dict[str, str],
                           manifest: dict[str, ManifestRecord]) -> dict[str, Any]:
    """Whether the photo's own shadows (passes/ID.npz `photo_object`/`photo_shadow`, a sidecar's
    masks cut into the sample) agree with the sample's sun: of the sun-lit samples, how many
    show real shadows; per sample with object-shadow pairs, the difference between their
    direction (`estimate_shadow_direction`'s mean) and the light label's (drawn from the inserted
    object's foot); per pair, between its direction and the sun's from its own foot
    (`sun_direction_at`: perspective turns a direction across the image), over all of them
    and per real pair (the scene and the pair's instance value: which annotation disagrees)."""
    sun_lit = with_shadows = 0
    label_differences: list[float] = []
    foot_differences: list[float] = []
    by_pair: dict[str, list[float]] = {}
    for sample_id in located:
        record = manifest.get(sample_id)
        if record is None or record.spec is None or record.light_kind != "sun":
            continue
        sun_lit += 1
        path = passes_path(root, sample_id)
        if not path.is_file():
            continue
        with np.load(path) as data:
            if not set(PHOTO_MASK_PASSES) <= set(data.files):
                continue
            objects, shadows = (data[key].astype(np.uint8) for key in PHOTO_MASK_PASSES)
        if not shadows.any():
            continue
        with_shadows += 1
        pairs = instance_pairs(objects, shadows)
        estimate = mean_direction([(angle, area) for _, _, angle, area in pairs])
        label = label_of(record)
        if estimate is not None and label is not None and label.direction_deg is not None:
            label_differences.append(angle_difference(estimate, label.direction_deg))
        for value, foot, angle, _ in pairs:
            expected = sun_direction_at(record.spec, foot)
            if expected is not None:
                difference = angle_difference(angle, expected)
                foot_differences.append(difference)
                by_pair.setdefault(f"{record.scene} #{value}", []).append(difference)

    def agreement(differences: list[float]) -> dict[str, Any]:
        if not differences:
            return {"count": 0}
        return {"count": len(differences), "median_deg": float(np.median(differences)),
                "within": float(np.mean(np.array(differences) <= AGREE_DEG))}

    return {"sun_lit": sun_lit, "with_photo_shadows": with_shadows, "within_deg": AGREE_DEG,
            "label": agreement(label_differences), "per_pair": agreement(foot_differences),
            "by_pair": {key: agreement(by_pair[key]) for key in sorted(by_pair)}}


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    array = np.asarray(values, dtype=np.float64)
    return {"min": float(array.min()), "mean": float(array.mean()),
            "median": float(np.median(array)), "max": float(array.max())}


def collect(root: Path) -> dict[str, Any]:
    """Per-sample values from the files (areas as fractions of the image) and the manifest."""
    located = find_samples(root)
    manifest = read_manifest(root)
    areas: dict[str, list[float]] = {"mask": [], "smask": [], "robject": [], "rshadow": []}
    darkness = []
    darkness_by_kind: dict[str, list] = {}
    rshadow: dict[str, float] = {}
    for sample_id, split in located.items():
        masks = {}
        for kind in areas:
            path = sample_path(root, split, kind, sample_id)
            if path.is_file():
                masks[kind] = mask = read_image(path, "L")
                areas[kind].append(float(np.count_nonzero(mask > 127)) / mask.size)
                if kind == "rshadow":
                    rshadow[sample_id] = areas[kind][-1]
        measured = _darkness(root, split, sample_id, masks)
        if measured is not None:
            darkness.append(measured)
            if sample_id in manifest:
                kind = manifest[sample_id].light_kind
                darkness_by_kind.setdefault(kind, []).append(measured)
    records = [manifest[sample_id] for sample_id in located if sample_id in manifest]
    lights = [record.light for record in records if record.spec is not None]
    suns = [light for light in lights if light.get("kind", "sun") == "sun"]
    return {
        "counts": {split: sum(1 for value in located.values() if value == split)
                   for split in SPLITS if split in located.values()},
        "areas": areas,
        "darkness": darkness,
        "darkness_by_kind": darkness_by_kind,
        "light_kinds": Counter(light.get("kind", "sun") for light in lights),
        "cues": cue_audit({sample_id: manifest[sample_id] for sample_id in located
                           if sample_id in manifest}, rshadow),
        "hints": hint_counts(records),
        "hinted": sum(1 for record in records if record.hints),
        "sun_elevation": [sun["elevation_deg"] for sun in suns],
        "sun_azimuth": [sun["azimuth_deg"] for sun in suns],
        "occluders": [record.occluders for record in records if record.occluders is not None],
        "scenes": Counter(record.scene for record in records if record.scene is not None),
        "panorama_views": panorama_coverage(records),
        "photo_shadows": photo_shadow_agreement(root, located, manifest),
        "meshes": Counter(record.inserted_mesh for record in records
                          if record.inserted_mesh is not None),
    }


def _darkness(root: Path, split: str, sample_id: str, masks: dict[str, np.ndarray]):
    """The sample's shadow darkness over its smask (derived from the pair when it has none)."""
    shadow = read_image(sample_path(root, split, "shadow", sample_id), "RGB")
    noshadow = read_image(sample_path(root, split, "noshadow", sample_id), "RGB")
    if shadow.shape != noshadow.shape:
        return None
    region = masks.get("smask")
    if region is None and "mask" in masks:
        region = smask_from_pair(shadow, noshadow, masks["mask"])
    if region is None or region.shape != noshadow.shape[:2]:
        return None
    return shadow_darkness(shadow, noshadow, region)


def summarize(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "counts": data["counts"],
        "shadow_darkness": {**summarize_darkness(data["darkness"]), "real_sunny": REAL_SUNNY,
                            "by_light_kind": {kind: summarize_darkness(values) for kind, values
                                              in sorted(data["darkness_by_kind"].items())}},
        "area_fraction": {kind: _summary(values) for kind, values in data["areas"].items()},
        "light_kinds": dict(data["light_kinds"].most_common()),
        "light_kind_share": {kind: count / sum(data["light_kinds"].values())
                             for kind, count in data["light_kinds"].most_common()},
        "light_cues": {"occluder_shadow_fraction": CUE_FRACTION, **data["cues"]},
        "photo_hints": {"samples": data["hinted"], **dict(data["hints"].most_common())},
        "sun_elevation_deg": _summary(data["sun_elevation"]),
        "sun_azimuth_deg": _summary(data["sun_azimuth"]),
        "occluders": dict(sorted(Counter(data["occluders"]).items())),
        "scenes": dict(data["scenes"].most_common()),
        "panorama_views": data["panorama_views"],
        "photo_shadows": data["photo_shadows"],
        "meshes": dict(data["meshes"].most_common()),
    }


PLOTS = ("areas", "sun", "occluders", "darkness")  # the histograms `plot` draws, by name


def plot_paths(out: Path) -> list[Path]:
    """The PNG files `plot` writes into the folder `out`."""
    return [out / f"{name}.png" for name in PLOTS]


def plot(data: dict[str, Any], out: Path) -> list[Path]:
    """Histograms as PNG files in `out` (`plot_paths`); returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    panels = [("area fraction of the image", data["areas"]),
              ("degrees", {"sun elevation": data["sun_elevation"],
                           "sun azimuth": data["sun_azimuth"]}),
              ("occluders per sample", {"occluders": data["occluders"]}),
              ("sRGB luminance shadow / noshadow in smask (median per sample)",
               {"this dataset": [sample.median_ratio for sample in data["darkness"]]})]
    for path, (xlabel, series) in zip(plot_paths(out), panels, strict=True):
        figure, axis = plt.subplots(figsize=(6, 3.5))
        for label, values in series.items():
            if values:
                axis.hist(values, bins=20, alpha=0.6, label=label)
        axis.set_xlabel(xlabel)
        axis.set_ylabel("samples")
        axis.legend()
        figure.tight_layout()
        atomic_write(path, lambda tmp, figure=figure: figure.savefig(tmp, dpi=100, format="png"))
        plt.close(figure)
        written.append(path)
    return written


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The text `shadow-dataset stats` prints for a `summarize` result, one line each."""
    lines = ["samples: " + ", ".join(f"{k} {v}" for k, v in summary["counts"].items())]
    for kind, values in summary["area_fraction"].items():
        if values:
            lines.append(f"{kind:>8} area: mean {values['mean']:.2%}, median "
                         f"{values['median']:.2%}, max {values['max']:.2%}")
    darkness = summary["shadow_darkness"]
    if "median" in darkness:
        real = darkness["real_sunny"]
        lines.append(
            f"shadow darkness (sRGB luminance shadow/noshadow in smask, median per sample): "
            f"median {darkness['median']:.2f} (10-90 %: {darkness['p10']:.2f}-"
            f"{darkness['p90']:.2f}), {darkness['darker_than_half']:.0%} of smask darker than "
            f"half; real sunny photos: {real['median']:.2f} ({real['p10']:.2f}-"
            f"{real['p90']:.2f}), {real['darker_than_half']:.0%}")
        for kind, values in darkness["by_light_kind"].items():
            lines.append(f"  {kind}-lit samples ({values['samples']}): median "
                         f"{values['median']:.2f} ({values['p10']:.2f}-{values['p90']:.2f}), "
                         f"{values['darker_than_half']:.0%} darker than half")
    if summary["light_kinds"]:
        lines.append("light kinds: " + ", ".join(
            f"{kind} {count} ({summary['light_kind_share'][kind]:.0%})"
            for kind, count in summary["light_kinds"].items()))
    cues = summary["light_cues"]
    for kind, row in cues.items():
        if isinstance(row, dict):
            lines.append(f"  {kind}: {row['share_with_cue']:.1%} show a cue to the light's "
                         f"direction ({row['occluder_shadow']} an occluder shadow of at least "
                         f"{cues['occluder_shadow_fraction']:.1%} of the image, "
                         f"{row['photo_consistent']} photo-consistent light, of "
                         f"{row['samples']})")
    hinted = summary["photo_hints"]
    if hinted["samples"]:
        lines.append(f"photo hints (sidecar files): {hinted['samples']} samples; " + ", ".join(
            f"{kind} {count}" for kind, count in hinted.items() if kind != "samples"))
    if summary["sun_elevation_deg"]:
        elevation = summary["sun_elevation_deg"]
        lines.append(f"sun elevation: {elevation['min']:.0f}-{elevation['max']:.0f} deg, "
                     f"mean {elevation['mean']:.0f}")
    if summary["occluders"]:
        lines.append("occluders per sample: " + ", ".join(
            f"{k}: {v}" for k, v in summary["occluders"].items()))
    lines.append(f"scenes used: {len(summary['scenes'])}, meshes used: "
                 f"{len(summary['meshes'])}")
    real = summary["photo_shadows"]
    if real["with_photo_shadows"]:
        lines.append(f"photo's own shadows: {real['with_photo_shadows']} of {real['sun_lit']} "
                     f"sun-lit samples ({real['with_photo_shadows'] / real['sun_lit']:.0%}) "
                     f"show them (sidecar masks)")
        for key, what in (("label", "their direction (pairs' mean) vs the light label"),
                          ("per_pair", "each pair vs the sun's direction at its own foot")):
            row = real[key]
            if row["count"]:
                lines.append(f"  {what}: median {row['median_deg']:.1f} deg, "
                             f"{row['within']:.0%} within {real['within_deg']:.0f} deg "
                             f"({row['count']} {'samples' if key == 'label' else 'pairs'})")
        for name, row in real["by_pair"].items():
            lines.append(f"    {name}: median {row['median_deg']:.1f} deg, "
                         f"{row['within']:.0%} within {real['within_deg']:.0f} deg "
                         f"({row['count']} views)")
    coverage = summary["panorama_views"]
    if coverage["panoramas"]:
        sectors = coverage["per_panorama"].values()
        lines.append(f"panoramas viewed: {coverage['panoramas']}, distinct views "
                     f"{coverage['views']}; {coverage['sector_deg']:.0f}-degree yaw sectors "
                     f"seen per panorama: mean "
                     f"{np.mean([len(row['sectors']) for row in sectors]):.1f} of "
                     f"{YAW_SECTORS}")
        for scene, row in coverage["per_panorama"].items():
            lines.append(f"  {scene}: {row['samples']} views, sectors "
                         + " ".join(str(sector) for sector in row["sectors"]))
    return lines
