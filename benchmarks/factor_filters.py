"""Can a denoiser on the ground factor buy back fewer shadow-render samples? (issue 32)

    cd benchmarks && python factor_filters.py             # 12 samples (6 sun, 4 overcast, 2 area)
    python factor_filters.py --sun 2 --overcast 1 --area 0 --reference-samples 256   # quicker

Renders default samples (`render-dataset` with the embedded defaults), picks some of each
light kind, renders each once at --reference-samples spp (both renders) with its factor
unfiltered (what every filter should converge to), and then with the shadow render at fewer
samples per pixel, smoothing the factor's two parts (direct light,
ambient light: `render.composite.ground_factor`) by each filter in turn: the production
Gaussians, none, a bilateral filter (edge-preserving), and Open Image Denoise, the neural
denoiser Blender ships (called through its C API from the library inside the bpy wheel; left
out where that library is missing). Prints, per variant, the shadow image's RMSE (0-255)
inside the reference's smask, per light kind, the occluders' shadows' RMSE in the noshadow
image, the shadow render's seconds and the filter's. Nothing here changes the renderer.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import json
import multiprocessing as mp
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from machine_info import machine
from render_speed import production_rate, spawned

# name, shadow-render spp, (filter, sigma px, parameter) of the direct part, of the ambient part.
# The production default is the first row: Gaussian sigma 0.7 and 3 px (RenderSettings).
VARIANTS = [
    ("production: 16 spp, Gaussian 0.7 / 3", 16, ("gauss", 0.7, 0), ("gauss", 3.0, 0)),
    ("8 spp, Gaussian 0.7 / 3", 8, ("gauss", 0.7, 0), ("gauss", 3.0, 0)),
    ("8 spp, ambient unfiltered", 8, ("gauss", 0.7, 0), ("none", 0, 0)),
    ("8 spp, ambient bilateral 3 px, range 0.05", 8, ("gauss", 0.7, 0), ("bilateral", 3.0, 0.05)),
    ("8 spp, ambient bilateral 3 px, range 0.3", 8, ("gauss", 0.7, 0), ("bilateral", 3.0, 0.3)),
    ("8 spp, ambient bilateral 5 px, range 1", 8, ("gauss", 0.7, 0), ("bilateral", 5.0, 1.0)),
    ("8 spp, ambient OIDN (fast)", 8, ("gauss", 0.7, 0), ("oidn", 0, 4)),
    ("8 spp, ambient OIDN (high quality)", 8, ("gauss", 0.7, 0), ("oidn", 0, 6)),
    ("8 spp, both OIDN (fast)", 8, ("oidn", 0, 4), ("oidn", 0, 4)),
    ("4 spp, both OIDN (fast)", 4, ("oidn", 0, 4), ("oidn", 0, 4)),
]


class Denoiser:
    """Open Image Denoise's "RT" filter on (H, W, 3) float32 images, through its C API
    (oidn.h: device, filter, shared images), on the CPU with one thread."""

    FLOAT3, CPU = 3, 1

    def __init__(self, library: Path) -> None:
        lib = ctypes.CDLL(str(library))
        handle, text = ctypes.c_void_p, ctypes.c_char_p
        lib.oidnNewDevice.restype, lib.oidnNewDevice.argtypes = handle, [ctypes.c_int]
        lib.oidnSetDeviceInt.argtypes = [handle, text, ctypes.c_int]
        lib.oidnCommitDevice.argtypes = [handle]
        lib.oidnGetDeviceError.restype = ctypes.c_int
        lib.oidnGetDeviceError.argtypes = [handle, ctypes.POINTER(text)]
        lib.oidnNewFilter.restype, lib.oidnNewFilter.argtypes = handle, [handle, text]
        lib.oidnSetSharedFilterImage.argtypes = [handle, text, handle, ctypes.c_int,
                                                 *[ctypes.c_size_t] * 5]
        lib.oidnSetFilterBool.argtypes = [handle, text, ctypes.c_bool]
        lib.oidnSetFilterInt.argtypes = [handle, text, ctypes.c_int]
        for name in ("oidnCommitFilter", "oidnExecuteFilter", "oidnReleaseFilter"):
            getattr(lib, name).argtypes = [handle]
        self.lib = lib
        self.device = lib.oidnNewDevice(self.CPU)
        lib.oidnSetDeviceInt(self.device, b"numThreads", 1)
        lib.oidnCommitDevice(self.device)
        self._check()

    def _check(self) -> None:
        message = ctypes.c_char_p()
        code = self.lib.oidnGetDeviceError(self.device, ctypes.byref(message))
        if code:
            raise RuntimeError(f"Open Image Denoise error {code}: {message.value!r}")

    def __call__(self, image: np.ndarray, quality: int) -> np.ndarray:
        color = np.ascontiguousarray(image, dtype=np.float32)
        output = np.empty_like(color)
        height, width = color.shape[:2]
        lib = self.lib
        filter_ = lib.oidnNewFilter(self.device, b"RT")
        for name, array in ((b"color", color), (b"output", output)):
            lib.oidnSetSharedFilterImage(filter_, name, array.ctypes.data, self.FLOAT3, width,
                                         height, 0, 0, 0)
        lib.oidnSetFilterBool(filter_, b"hdr", True)
        lib.oidnSetFilterInt(filter_, b"quality", quality)
        lib.oidnCommitFilter(filter_)
        lib.oidnExecuteFilter(filter_)
        lib.oidnReleaseFilter(filter_)
        self._check()
        return output


def rmse(image: np.ndarray, reference: np.ndarray, where: np.ndarray) -> float | None:
    """RMSE (0-255) of uint8 `image` against `reference` over the (H, W) bool `where`; None
    where it is empty."""
    difference = image.astype(float) - reference.astype(float)
    return float(np.sqrt((difference[where] ** 2).mean())) if where.any() else None


def _measure(specs: list[dict], reference_samples: int, queue: mp.Queue) -> None:
    """Runs in a spawned process: imports bpy."""
    import bpy
    import cv2

    import render.sample
    from dataset_tools.masks import smooth
    from render.blender import BlenderScene
    from render.config import RenderConfig
    from render.sample import PhotoCache, render_pair
    from render.spec import SceneSpec

    library = Path(bpy.utils.resource_path("LOCAL")).parent / "lib" / "libOpenImageDenoise.so.2"
    denoise = Denoiser(library) if library.exists() else None
    config = RenderConfig(out=Path(tempfile.mkdtemp()), count=1, size=256)
    scene = BlenderScene(config.render, config.size, Path(tempfile.mkdtemp()))
    photos = PhotoCache()

    def unfiltered(direct: np.ndarray, ambient: np.ndarray, *_: float) -> np.ndarray:
        return (direct + ambient).astype(np.float32)

    def at(spp: int, first: int | None = None) -> RenderConfig:
        return dataclasses.replace(config, render=dataclasses.replace(
            config.render, samples=spp,
            first_render_samples=first or config.render.first_render_samples))

    def filtered(part: np.ndarray, how: tuple) -> np.ndarray:
        kind, sigma, parameter = how
        if kind == "gauss":
            return smooth(part, sigma)
        if kind == "bilateral":
            return cv2.bilateralFilter(np.ascontiguousarray(part, np.float32), -1, parameter,
                                       sigma)
        if kind == "oidn":
            return denoise(part, parameter)
        return part

    rows = []
    for raw in specs:
        spec = SceneSpec.from_json(raw)
        photo = photos.get(spec.photo.path)
        for obj in spec.objects:
            scene.load_mesh(obj.mesh_path)
        # the reference unfiltered: what every filter should converge to
        render.sample.ground_factor = unfiltered
        slow = render_pair(scene, spec, photo, at(reference_samples, reference_samples))
        inside, occluders = slow.masks["smask"] > 0, slow.masks["rshadow"] > 0
        for name, spp, direct_filter, ambient_filter in VARIANTS:
            if denoise is None and "oidn" in (direct_filter[0], ambient_filter[0]):
                continue
            seconds = []

            def factor(direct: np.ndarray, ambient: np.ndarray, *_: float,
                       how: tuple = (direct_filter, ambient_filter),
                       seconds: list = seconds) -> np.ndarray:
                start = time.perf_counter()
                result = filtered(direct, how[0]) + filtered(ambient, how[1])
                seconds.append(time.perf_counter() - start)
                return result.astype(np.float32)

            render.sample.ground_factor = factor
            fast = render_pair(scene, spec, photo, at(spp))

            rows.append(dict(variant=name, kind=spec.light.kind,
                             shadow=rmse(fast.shadow, slow.shadow, inside),
                             occluders=rmse(fast.noshadow, slow.noshadow, occluders),
                             render_s=fast.seconds["render_shadow"], filter_s=sum(seconds)))
    queue.put(dict(rows=rows, oidn=denoise is not None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sun", type=int, default=6, help="sun-lit samples")
    parser.add_argument("--overcast", type=int, default=4, help="overcast samples")
    parser.add_argument("--area", type=int, default=2, help="area-lit samples")
    parser.add_argument("--reference-samples", type=int, default=1024)
    parser.add_argument("--json", type=Path, help="also write the raw rows here")
    options = parser.parse_args()
    print(f"machine: {machine()}")

    from dataset_tools.records import read_manifest

    work = Path(tempfile.mkdtemp(prefix="factor-filters-"))
    wanted = {"sun": options.sun, "overcast": options.overcast, "area": options.area}
    production_rate(work / "specs", 4 * sum(wanted.values()), 2, 1, 16, "BLUE_NOISE")
    specs = []
    for record in sorted(read_manifest(work / "specs").values(), key=lambda r: r.index):
        kind = record.spec["light"]["kind"]
        if wanted.get(kind, 0) > 0:
            wanted[kind] -= 1
            specs.append(record.spec)
    result = spawned("factor filters", _measure, specs, options.reference_samples)
    if options.json:
        options.json.write_text(json.dumps(result, indent=1))
    if not result["oidn"]:
        print("Open Image Denoise not found in the bpy wheel: its variants are left out")
    rows: dict[str, list[dict]] = defaultdict(list)
    for row in result["rows"]:
        rows[row["variant"]].append(row)
    kinds = sorted({row["kind"] for row in result["rows"]})
    print(f"\nshadow RMSE (0-255) inside smask against {options.reference_samples} spp, "
          f"{len(specs)} samples; occluders: RMSE in rshadow of the noshadow image")
    header = "".join(f"{kind:>10}" for kind in kinds)
    print(f"{'variant':<46}{'shadow':>8}{header}{'occluders':>11}{'render s':>10}{'filter s':>10}")

    def mean(values: list) -> float:
        values = [value for value in values if value is not None]
        return float(np.mean(values)) if values else float("nan")

    for name, group in rows.items():
        per_kind = "".join(f"{mean([r['shadow'] for r in group if r['kind'] == kind]):>10.2f}"
                           for kind in kinds)
        print(f"{name:<46}{mean([r['shadow'] for r in group]):>8.2f}{per_kind}"
              f"{mean([r['occluders'] for r in group]):>11.2f}"
              f"{mean([r['render_s'] for r in group]):>10.3f}"
              f"{mean([r['filter_s'] for r in group]):>10.4f}")


if __name__ == "__main__":
    main()
