"""render-dataset --config / --print-config: every sampled distribution in one TOML file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from render.config import RenderConfig, current_names
from render.config_file import ConfigFileError, load_config, print_config
from tests.helpers import ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scene.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_printed_defaults_read_back_to_the_same_settings(tmp_path):
    base = RenderConfig(out=tmp_path / "out")
    text = print_config(base)
    assert "[ranges.lights.area]" in text and "# " in text
    assert load_config(write(tmp_path, text), base) == base


def test_a_file_sets_nested_ranges_weights_and_checks(tmp_path):
    base = RenderConfig(out=tmp_path / "out")
    config = load_config(write(tmp_path, """
size = 128
[render]
samples = 6
[ranges.camera]
pitch = [30, 35]
[ranges.lights]
weights = { area = 2, overcast = 1 }
[ranges.lights.area]
shape_weights = { disk = 1 }
[checks]
max_attempts = 5
"""), base)
    assert config.size == 128 and config.render.samples == 6
    assert config.ranges.camera.pitch == (30.0, 35.0)
    assert config.ranges.lights.weights == {"sun": 0.0, "area": 2.0, "overcast": 1.0}
    assert config.ranges.lights.area.shape_weights == {"rectangle": 0.0, "disk": 1.0}
    assert config.checks.max_attempts == 5
    assert config.ranges.camera.height == base.ranges.camera.height  # left out: default


def test_renamed_settings_keep_their_old_names_for_one_release(tmp_path):
    base = RenderConfig(out=tmp_path / "out")
    config = load_config(write(tmp_path, "shadow_threshold = 0.1\n"), base)
    assert config.darkening_threshold == 0.1
    recorded = {**base.identity(), "shadow_threshold": 0.06}  # a dataset rendered before
    del recorded["darkening_threshold"]
    assert current_names(recorded) == base.identity()


@pytest.mark.parametrize(("text", "message"), [
    ("colour = 3", "unknown key colour"),
    ("[ranges.camera]\npitchh = [1, 2]", "unknown key ranges.camera.pitchh"),
    ("[ranges.camera]\npitch = [40, 30]", "ranges.camera.pitch: range min 40.0 > max 30.0"),
    ("[ranges.photo]\nflip_probability = 1.5",
     "ranges.photo.flip_probability: a probability must lie in [0, 1], got 1.5"),
    ("[ranges.lights]\nweights = { moon = 1 }", "ranges.lights.weights: unknown entry 'moon'"),
    ("[ranges.lights]\nweights = { sun = 0 }", "ranges.lights.weights: weights must be >= 0"),
    ("[render]\nsamples = 2.5", "render.samples: expected an integer, got 2.5"),
    ("[ranges.objects]\noccluders = [0, 1.5]", "ranges.objects.occluders: expected an integer"),
    ("size = [", "not valid TOML"),
    ("out = 'x'", "unknown key out"),
])
def test_a_bad_key_is_one_error_naming_it(tmp_path, text, message):
    with pytest.raises(ConfigFileError) as caught:
        load_config(write(tmp_path, text), RenderConfig(out=tmp_path / "out"))
    assert message in str(caught.value) and str(tmp_path / "scene.toml") in str(caught.value)
    assert "\n" not in str(caught.value)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from render.cli import app; app()", *args],
                          capture_output=True, text=True, cwd=ROOT)


def test_cli_prints_the_config_and_flags_override_the_file(tmp_path):
    path = write(tmp_path, "size = 96\n[render]\nsamples = 7\n")
    result = run_cli("--config", str(path), "--samples", "3", "--print-config")
    assert result.returncode == 0, result.stderr
    assert "size = 96" in result.stdout and "samples = 3" in result.stdout
    renamed = run_cli("--shadow-threshold", "0.1", "--print-config")  # the old flag name
    assert renamed.returncode == 0 and "darkening_threshold = 0.1" in renamed.stdout
    bad = run_cli("--config", str(write(tmp_path, "[ranges.camera]\nfov = [70, 50]\n")),
                  "--out", str(tmp_path / "out"))
    assert bad.returncode == 2 and "ranges.camera.fov: range min 70.0 > max 50.0" in bad.stderr
    assert not (tmp_path / "out").exists()
