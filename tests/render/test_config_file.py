"""render-dataset --config / --print-config: every sampled distribution in one TOML file."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from render.config import FILE_FIELDS, RenderConfig, field_of
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


def test_identity_is_what_decides_a_sample_and_every_field_declares_it(tmp_path):
    base = RenderConfig(out=tmp_path / "out")
    moved = dataclasses.replace(base, out=tmp_path / "elsewhere", workers=4, count=7,
                                render=dataclasses.replace(base.render, threads=3))
    assert moved.identity() == base.identity()
    for changed in (dataclasses.replace(base, size=64),
                    dataclasses.replace(base, render=dataclasses.replace(base.render,
                                                                         samples=3))):
        assert changed.identity() != base.identity()
    assert "threads" not in base.identity()["render"] and "out" not in base.identity()


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
    bad = run_cli("--config", str(write(tmp_path, "[ranges.camera]\nfov = [70, 50]\n")),
                  "--out", str(tmp_path / "out"))
    assert bad.returncode == 2 and "ranges.camera.fov: range min 70.0 > max 50.0" in bad.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("text", "message"), [
    ("size = 0", "size: must lie in [16, 4096], got 0"),
    ("size = -48", "size: must lie in [16, 4096], got -48"),
    ("size = 100000", "size: must lie in [16, 4096], got 100000"),
    ("[render]\nsamples = -1", "render.samples: must lie in [1, 65536], got -1"),
    ("[render]\nfirst_render_samples = -5",
     "render.first_render_samples: must lie in [1, 65536], got -5"),
    ("[render]\ndevice = 'gpu'", "render.device: must be one of cpu, cuda, optix, got 'gpu'"),
    ("[ranges.objects]\ninserted_size = [-1.0, -0.5]",
     "ranges.objects.inserted_size: must lie in (0, 100], got [-1.0, -0.5]"),
    ("[ranges.camera]\nheight = [-2, -1]",
     "ranges.camera.height: must lie in (0, 100], got [-2.0, -1.0]"),
    ("[ranges.camera]\nheight = [nan, 1.0]",
     "ranges.camera.height: must lie in (0, 100], got [nan, 1.0]"),
    ("[ranges.camera]\nheight = [1.0, inf]",
     "ranges.camera.height: must lie in (0, 100], got [1.0, inf]"),
    ("[ranges.objects]\noccluders = [0, 1000]",
     "ranges.objects.occluders: must lie in [0, 3], got [0, 1000]"),
    ("test_fraction = 0.95", "test_fraction: must lie in [0, 0.9], got 0.95"),
    ("[checks]\nmax_attempts = 0", "checks.max_attempts: must lie in [1, 1000], got 0"),
])
@pytest.mark.slow
def test_a_value_outside_its_domain_is_refused_before_any_work_in_one_line(tmp_path, text,
                                                                          message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigFileError) as caught:
        load_config(path, RenderConfig(out=tmp_path / "out"))
    assert str(caught.value) == f"{path}: {message}"
    result = run_cli("--config", str(path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and result.stderr == f"error: {path}: {message}\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--size", "0", "0: expected a number in [16, 4096]"),
    ("--samples", "-3", "-3: expected a number in [1, 65536]"),
    ("--first-render-samples", "0", "0: expected a number in [1, 65536]"),
    ("--test-fraction", "0.95", "0.95: expected a number in [0, 0.9]"),
    ("--darkening-threshold", "nan", "nan: expected a number in [0, 1]"),
    ("--device", "gpu", "'gpu': expected one of cpu, cuda, optix"),
])
@pytest.mark.slow
def test_the_command_line_is_checked_against_the_same_domains(tmp_path, flag, value, message):
    result = run_cli(flag, value, "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and result.stderr == f"error: {flag} {message}\n"
    assert not (tmp_path / "out").exists()


def test_every_number_a_file_can_set_has_a_domain():
    def numbers(instance, prefix=""):
        for item in dataclasses.fields(instance):
            value = getattr(instance, item.name)
            if dataclasses.is_dataclass(value):
                yield from numbers(value, f"{prefix}{item.name}.")
            elif isinstance(value, int | float | tuple) and not isinstance(value, bool):
                yield f"{prefix}{item.name}", item

    config = RenderConfig(out=Path("out"))
    top = {name: getattr(config, name) for name in FILE_FIELDS}
    without = [name for key, value in top.items()
               for name, item in (numbers(value, f"{key}.") if dataclasses.is_dataclass(value)
                                  else [(key, field_of(RenderConfig, key))])
               if key != "seed" and "domain" not in item.metadata
               and not item.metadata.get("probability")]
    assert without == []


@pytest.mark.parametrize("text", [
    "[ranges.lights]\nweights = { sun = inf }",
    "[ranges.lights]\nweights = { sun = nan }",
    "[ranges.lights]\nweights = { sun = -inf }",
    "[ranges.lights]\nweights = { sun = 1, area = inf }",
    "[ranges.lights]\nweights = { sun = 0, area = 0, overcast = 0 }",
    "[ranges.lights.area]\nshape_weights = { disk = inf }",
    "[ranges.lights.area]\nshape_weights = { disk = nan, rectangle = 1 }",
])
def test_weights_that_are_not_finite_or_all_zero_are_refused_naming_file_and_key(tmp_path,
                                                                                 text):
    path = write(tmp_path, text)
    key = "ranges.lights.weights" if "[ranges.lights]" in text \
        else "ranges.lights.area.shape_weights"
    with pytest.raises(ConfigFileError) as caught:
        load_config(path, RenderConfig(out=tmp_path / "out"))
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: weights must be >= 0, finite"), message
    assert "\n" not in message


def test_an_infinite_weight_exits_2_before_any_work(tmp_path):
    path = write(tmp_path, "[ranges.lights]\nweights = { sun = inf }")
    result = run_cli("--config", str(path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and result.stderr.startswith(f"error: {path}: ranges.lights")
    assert not (tmp_path / "out").exists()
