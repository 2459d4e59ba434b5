"""Every `--help` of the three commands fits an 80-column terminal without cutting anything:
no line over 80 characters, and every option name, whole, in the text (rich's tables cut
them to `--first-render-s…`)."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from dataset_tools.cli import app as dataset_app
from model.cli import app as model_app
from render.cli import app as render_app

COLUMNS = 80
APPS = {"render-dataset": render_app, "shadow-dataset": dataset_app, "shadow-model": model_app}


def commands() -> list[tuple[str, typer.Typer, list[str], Any]]:
    """(script, app, argv before --help, click command) for each script and each verb."""
    found = []
    for script, app in APPS.items():
        command = typer.main.get_command(app)
        found.append((script, app, [], command))
        verbs = getattr(command, "commands", {})  # a group's verbs (typer's own click)
        found += [(script, app, [name], verb) for name, verb in verbs.items()]
    return found


@pytest.mark.parametrize(("script", "app", "argv", "command"), commands(),
                         ids=lambda value: value if isinstance(value, str) else None)
def test_help_fits_80_columns_and_cuts_nothing(script: str, app: typer.Typer, argv: list[str],
                                               command: Any) -> None:
    result = CliRunner().invoke(app, [*argv, "--help"], terminal_width=COLUMNS,
                                env={"COLUMNS": str(COLUMNS)})
    assert result.exit_code == 0, result.output
    text = result.output
    too_wide = [line for line in text.splitlines() if len(line) > COLUMNS]
    assert not too_wide, f"{script} {' '.join(argv)}: lines over {COLUMNS} columns: {too_wide}"
    assert "…" not in text
    words = set(text.replace("/", " ").replace(",", " ").split())
    for param in command.params:
        for name in [*param.opts, *param.secondary_opts]:
            if name.startswith("-"):
                assert name in words, f"{script} {' '.join(argv)}: {name} missing from --help"
