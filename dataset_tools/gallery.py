"""A static HTML gallery of a dataset: paging, filters by split/scene/mesh, manifest parameters.

The page references the dataset's PNGs by relative paths (nothing is copied) and reports its
own health in <body data-images-ok data-images-broken data-errors> for automated checks."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

from dataset_tools.layout import KINDS, sample_path, write_text
from dataset_tools.records import ManifestRecord, read_manifest
from dataset_tools.resplit import find_samples

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font:13px system-ui,sans-serif;margin:12px;background:#f4f4f4}
.row{display:flex;gap:6px;align-items:flex-start;background:#fff;margin:6px 0;padding:6px}
.row img{width:__TILE__px;height:__TILE__px;image-rendering:pixelated;background:#ddd}
.meta{font-size:11px;max-width:260px;white-space:pre-wrap;overflow:hidden}
label{margin-right:10px}
</style></head>
<body data-images-ok="0" data-images-broken="0" data-errors="0">
<h1>__TITLE__</h1>
<div id="controls">
<label>split <select id="split"></select></label>
<label>scene <select id="scene"></select></label>
<label>mesh <select id="mesh"></select></label>
<button id="prev">&larr;</button> <span id="page"></span> <button id="next">&rarr;</button>
</div>
<div id="header" class="row"></div><div id="rows"></div>
<script>
"use strict";
const SAMPLES = __SAMPLES__;
const KINDS = __KINDS__;
const PER_PAGE = __PER_PAGE__;
let page = 0, errors = 0, ok = 0, broken = 0;
window.addEventListener("error", () => { errors += 1; report(); });
function report() {
  document.body.dataset.imagesOk = ok; document.body.dataset.imagesBroken = broken;
  document.body.dataset.errors = errors;
}
function fill(id, values) {
  const select = document.getElementById(id);
  const values_ = ["all", ...[...new Set(values)].sort()];
  for (const value of values_) {
    const option = document.createElement("option"); option.value = option.textContent = value;
    select.appendChild(option);
  }
  select.addEventListener("change", () => { page = 0; render(); });
}
function chosen() {
  const want = k => document.getElementById(k).value;
  const keep = s => ["split", "scene", "mesh"].every(k => want(k) === "all" || s[k] === want(k));
  return SAMPLES.filter(keep);
}
function render() {
  const list = chosen(), pages = Math.max(1, Math.ceil(list.length / PER_PAGE));
  page = Math.min(page, pages - 1);
  document.getElementById("page").textContent =
    `page ${page + 1}/${pages} (${list.length} samples)`;
  const rows = document.getElementById("rows"); rows.replaceChildren();
  for (const s of list.slice(page * PER_PAGE, (page + 1) * PER_PAGE)) {
    const row = document.createElement("div"); row.className = "row";
    for (const kind of KINDS) {
      if (!s.images[kind]) continue;
      const img = document.createElement("img"); img.alt = `${s.id} ${kind}`; img.title = kind;
      img.addEventListener("load", () => { ok += 1; report(); });
      img.addEventListener("error", () => { broken += 1; report(); });
      img.src = s.images[kind]; row.appendChild(img);
    }
    const meta = document.createElement("div"); meta.className = "meta";
    meta.textContent = `${s.split}/${s.id}\\nscene: ${s.scene}\\nmesh: ${s.mesh}\\n` + s.params;
    row.appendChild(meta); rows.appendChild(row);
  }
}
document.getElementById("header").textContent = KINDS.join(" | ");
fill("split", SAMPLES.map(s => s.split)); fill("scene", SAMPLES.map(s => s.scene));
fill("mesh", SAMPLES.map(s => s.mesh));
document.getElementById("prev").onclick = () => { page = Math.max(0, page - 1); render(); };
document.getElementById("next").onclick = () => { page += 1; render(); };
render(); report();
</script></body></html>
"""


def _params(record: ManifestRecord) -> str:
    light, camera = record.light, (record.spec or {}).get("camera", {})
    parts = []
    kind = record.light_kind
    if kind == "sun" and light:
        parts.append(f"sun az {light['azimuth_deg']:.0f} el {light['elevation_deg']:.0f} "
                     f"size {light['angle_deg']:.1f} ambient {light['ambient_fraction']:.2f}")
    elif kind == "area":
        parts.append(f"area {light['shape']} {light['size']:.2f} m at {light['distance']:.1f} m, "
                     f"az {light['azimuth_deg']:.0f} el {light['elevation_deg']:.0f} ambient "
                     f"{light['ambient_fraction']:.2f}")
    elif kind == "overcast":
        parts.append(f"overcast sky {light['sky_level']:.2f}")
    if camera:
        parts.append(f"camera h {camera['height']:.2f} pitch {camera['pitch_deg']:.0f} "
                     f"fov {camera['fov_deg']:.0f}")
    if record.occluders is not None:
        parts.append(f"occluders {record.occluders}")
    if record.seed is not None:
        parts.append(f"seed {record.seed}")
    return "\n".join(parts)


def write_gallery(root: Path, out: Path, per_page: int = 50, tile: int = 128) -> Path:
    """Write out/index.html for the dataset at root; returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(root)
    samples = []
    for sample_id, split in sorted(find_samples(root).items()):
        record = manifest.get(sample_id) or ManifestRecord(sample_id)
        images = {}
        for kind in KINDS:
            path = sample_path(root, split, kind, sample_id)
            if path.is_file():
                images[kind] = Path(os.path.relpath(path.resolve(), out.resolve())).as_posix()
        samples.append({"id": sample_id, "split": split,
                        "scene": str(record.scene or "?"),
                        "mesh": str(record.inserted_mesh or "?"),
                        "params": _params(record), "images": images})
    page = (PAGE.replace("__TITLE__", html.escape(f"shadowsynth: {root.name}"))
            .replace("__TILE__", str(tile)).replace("__PER_PAGE__", str(per_page))
            .replace("__KINDS__", json.dumps(list(KINDS)))
            .replace("__SAMPLES__", json.dumps(samples).replace("</", "<\\/")))
    index = out / "index.html"
    write_text(index, page)
    return index
