"""render-dataset on a file system that fills up during the run (real bpy, 48x48, 4 spp): it
stops at the first write the disk refuses, with one line saying how far it got and how to
resume, keeps every complete sample, and exits non-zero; the resumed run finishes the set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dataset_tools.records import read_manifest
from dataset_tools.validate import validate_dataset
from tests.helpers import ROOT, TINY_ARGS, blender_run

pytestmark = pytest.mark.blender

# Imported at the start of every Python process run with this folder on PYTHONPATH (the
# render-dataset process and its spawned Blender workers): from sample 000002 on, every write
# of a sample's files fails as on a full disk, where the bytes are written.
FULL_FROM_SAMPLE_2 = '''
import errno
from pathlib import Path

from dataset_tools import layout

_real = layout.write_staged


def _write_staged(path, write):
    def full(tmp):
        raise OSError(errno.ENOSPC, "No space left on device", tmp)

    stem = Path(path).stem
    return _real(path, full if stem.isdigit() and int(stem) >= 2 else write)


layout.write_staged = _write_staged
'''


def render(out: Path, *extra: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from render.cli import app; app()",
                           "--out", str(out), "-n", "4", "--test-fraction", "0", *TINY_ARGS,
                           *extra], capture_output=True, text=True, timeout=300, env=env,
                          cwd=ROOT)


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_full_disk_stops_the_run_in_one_line_and_keeps_the_complete_samples(tmp_path,
                                                                              workers):
    """With one worker the samples come in order: 0 and 1 complete, 2 meets the full disk.
    With two, the worker still rendering when the other meets it is stopped mid-render
    (SIGINT), which must not print Blender's traceback of the interrupted render either."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(FULL_FROM_SAMPLE_2)
    plain = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")])}
    full = {**plain, "PYTHONPATH": os.pathsep.join([str(hook), plain["PYTHONPATH"]])}
    out = tmp_path / "data"
    result = render(out, "--workers", workers, env=full)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "failed" not in result.stderr, result.stderr
    assert lines[-1].startswith(f"error: no space left on device writing {out}/"), result.stderr
    assert "; free space and resume with: render-dataset --out" in lines[-1]
    complete = sorted(read_manifest(out))
    if workers == "1":
        assert "000002" in lines[-1] and "; 2 of 4 samples complete in " in lines[-1]
        assert complete == ["000000", "000001"]
    else:
        assert f"; {len(complete)} of 4 samples complete in " in lines[-1]
        assert set(complete) <= {"000000", "000001"}
    report = validate_dataset(out)
    assert report.valid and report.counts == ({"train": len(complete)} if complete else {}), \
        report.problems
    assert not list(out.rglob("*.partial")) and not list(out.rglob("000002*"))
    resumed = render(out, env=plain)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(read_manifest(out)) == [f"{i:06d}" for i in range(4)]
    assert validate_dataset(out).valid


INTERRUPTED_RENDER = """
import json, os, signal, sys, threading
from pathlib import Path
from render.blender import BlenderScene
from render.config import RenderSettings
from tests.helpers import applied_scenes
scene = BlenderScene(RenderSettings(samples=400, threads=1), 64, Path(sys.argv[1]))
for _ in applied_scenes(scene, "sun", 1):
    pass
threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
try:
    passes = scene.render()
    outcome = "not interrupted"
except KeyboardInterrupt:
    outcome = "interrupted after the render"
sys.stderr.write("RESULT" + json.dumps(outcome) + "\\n")
"""


@pytest.mark.slow
def test_ctrl_c_during_a_render_ends_it_without_blenders_traceback(tmp_path):
    """SIGINT (Ctrl-C, or the pool's stop of a busy worker) while Cycles renders: raised in
    Cycles' Python callback, Blender would print it as a traceback and go on; the worker sees
    it as KeyboardInterrupt once the render returns, and nothing is printed."""
    outcome, stderr = blender_run(INTERRUPTED_RENDER, str(tmp_path))
    assert "Traceback" not in stderr, stderr
    assert outcome == "interrupted after the render"
