"""dataset_tools.cli: the help of every verb shows an example."""

from __future__ import annotations

import pytest

from tests.helpers import run_cli


@pytest.mark.parametrize("verb", ["validate", "masks"])
def test_help_has_examples(verb):
    result = run_cli(verb, "--help")
    assert result.returncode == 0 and "Example" in result.stdout
