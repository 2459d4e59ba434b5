"""The first render only in `camera_region`: with ground patches everything a render shows lies
inside that box, so rendering only the box gives the same pixels (real bpy, all light kinds)."""

from __future__ import annotations

import numpy as np
import pytest

from dataset_tools.camera import project
from render.geometry import camera_region, ground_patches, object_corners
from tests.helpers import blender_script
from tests.render.test_spec import drawable


def test_camera_region_holds_the_objects_and_their_patches():
    for spec in drawable(range(20)):
        x0, y0, x1, y1 = camera_region(spec, 1.5)
        points = [object_corners(obj) for obj in spec.objects]
        points += [np.column_stack([polygon, np.zeros(len(polygon))])
                   for polygon in ground_patches(spec, 1.5)]
        uv, depth = project(spec.camera, spec.size, np.concatenate(points))
        if np.any(depth <= 1e-6):
            assert (x0, y0, x1, y1) == (0, 0, spec.size, spec.size)
            continue
        inside = (uv >= 0).all(axis=1) & (uv < spec.size).all(axis=1)
        assert inside.any()
        assert np.all((uv[inside] >= [x0, y0]) & (uv[inside] <= [x1, y1]))
        assert 0 <= x0 < x1 <= spec.size and 0 <= y0 < y1 <= spec.size


@pytest.mark.blender
def test_the_first_render_in_its_camera_region_gives_the_same_pixels(tmp_path):
    script = f"""
import json, sys
import numpy as np
from pathlib import Path
from render.blender import BlenderScene
from render.config import RenderSettings
from render.geometry import camera_region
from tests.helpers import applied_scenes
settings = RenderSettings(samples=4, first_render_samples=4, threads=1)
scene = BlenderScene(settings, 64, Path({str(tmp_path)!r}))
results = []
for kind in ("sun", "area", "overcast"):
    for spec, _ in applied_scenes(scene, kind, 2, range(40)):
        scene.set_inserted_affects_scene(False)
        whole = scene.render()
        x0, y0, x1, y1 = box = camera_region(spec, settings.ground_reach)
        part = scene.render(box)
        outside = np.ones((64, 64), bool)
        outside[y0:y1, x0:x1] = False
        arrays = [(name, getattr(whole, name), getattr(part, name))
                  for name in ("combined", "direct", "ambient", "object_alpha", "object_index")]
        results.append(dict(
            kind=kind, box=list(box),
            shown_outside={{name: int(np.count_nonzero(w[outside])) for name, w, _ in arrays}},
            differ_inside=[name for name, w, p in arrays
                           if not np.array_equal(w[~outside], p[~outside])],
            covered=float((whole.combined[..., 3] > 0).mean())))
        scene.clear()
sys.stderr.write("RESULT" + json.dumps(results) + "\\n")
"""
    results = blender_script(script)
    assert [result["kind"] for result in results] == ["sun"] * 2 + ["area"] * 2 + ["overcast"] * 2
    for result in results:
        assert result["covered"] > 0, result  # the render shows something
        assert not any(result["shown_outside"].values()), result  # nothing beyond the box
        assert result["differ_inside"] == [], result  # the same pixels within it
    # The box leaves part of the frame out in some scene: the saving is real.
    assert any((x1 - x0) * (y1 - y0) < 64 * 64 for x0, y0, x1, y1 in
               (result["box"] for result in results))
