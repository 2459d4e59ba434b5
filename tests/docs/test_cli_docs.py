"""docs/cli/ and the generated block of docs/config.md match the code: `docs/gen_cli.py
--check` regenerates the `--help` of every verb and compares. The help of all three commands
must come without Blender, so `bpy` is blocked while it runs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

GEN_CLI = ROOT / "docs" / "gen_cli.py"
COMMANDS = ("render-dataset", "shadow-dataset", "shadow-model")


def load_gen_cli():
    spec = importlib.util.spec_from_file_location("gen_cli", GEN_CLI)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("command", COMMANDS)
def test_generated_help_is_current(command, tmp_path):
    (tmp_path / "bpy.py").write_text(
        "raise ImportError('bpy blocked: --help and --print-config must not need Blender')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    check = subprocess.run([sys.executable, str(GEN_CLI), "--check", "--command", command],
                           capture_output=True, text=True, env=env, cwd=ROOT)
    assert check.returncode == 0, check.stdout + check.stderr


def test_check_names_the_stale_file(tmp_path, monkeypatch, capsys):
    gen_cli = load_gen_cli()
    pages = tmp_path / "cli"
    pages.mkdir()
    page = pages / "shadow-dataset.md"
    current = (gen_cli.CLI_DIR / "shadow-dataset.md").read_text()
    page.write_text(current.replace("validate", "valid"))
    monkeypatch.setattr(gen_cli, "CLI_DIR", pages)
    assert gen_cli.main(["--check", "--command", "shadow-dataset"]) == 1
    assert f"{page} is out of date" in capsys.readouterr().out
    assert gen_cli.main(["--command", "shadow-dataset"]) == 0  # writes it again
    assert gen_cli.main(["--check", "--command", "shadow-dataset"]) == 0


def test_pages_hold_every_verb():
    gen_cli = load_gen_cli()
    text = (gen_cli.CLI_DIR / "shadow-dataset.md").read_text()
    for verb in ("validate", "masks", "split", "inspect", "stats", "pack", "unpack", "gather"):
        assert f"## shadow-dataset {verb}\n" in text
    text = (gen_cli.CLI_DIR / "shadow-model.md").read_text()
    for verb in ("train-attention", "train-sg", "evaluate", "predict", "export"):
        assert f"## shadow-model {verb}\n" in text
    assert "assets/real/scenes" in (gen_cli.CLI_DIR / "render-dataset.md").read_text()
    assert str(ROOT) not in (gen_cli.CLI_DIR / "render-dataset.md").read_text()
