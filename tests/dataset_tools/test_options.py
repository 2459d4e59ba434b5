"""Options declared once (dataset_tools.options), the verbs built from them
(dataset_tools.commands.verb) and the one error path (dataset_tools.errors)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dataset_tools.commands import Options, verb
from dataset_tools.errors import ShadowsynthError, Stopped, UsageError
from dataset_tools.layout import DatasetError
from dataset_tools.options import Domain, Rule, check_fields, expected, option


@dataclass(frozen=True)
class Example:
    folder: Path = option(help="A folder", argument=True)
    count: int = option(3, "How many", domain=Domain(1, 10))
    mode: str = option("fast", "fast or slow", choices=("fast", "slow"))
    size: int = option(64, "A side", domain=Rule(lambda v: v % 32 == 0, "a multiple of 32"),
                       names="--side")
    weights: tuple[float, float] = option((1.0, 2.0), "Two weights", domain=Domain(0.0))
    internal: float = 0.5  # not an option

    def __post_init__(self) -> None:
        check_fields(self)


def field(name: str):
    return Example.__dataclass_fields__[name]


def test_domains_rules_and_choices_say_what_they_expect():
    assert expected(field("count"), 0) == "a number in [1, 10]"
    assert expected(field("count"), 10) is None
    assert expected(field("count"), math.nan) == "a number in [1, 10]"
    assert expected(field("mode"), "medium") == "one of fast, slow"
    assert expected(field("size"), 48) == "a multiple of 32"
    assert expected(field("weights"), (1.0, -1.0)) == "numbers >= 0"
    assert str(Domain(0.0, open_low=True)) == "> 0" and str(Domain(0, 1)) == "[0, 1]"
    with pytest.raises(UsageError, match=r"^--side 48: expected a multiple of 32$"):
        Example(Path("x"), size=48)
    with pytest.raises(UsageError, match=r"^--mode 'medium': expected one of fast, slow$"):
        Example(Path("x"), mode="medium")


def make_app(seen: list) -> typer.Typer:
    app = typer.Typer(add_completion=False)

    @verb(app, "run", configs=(Example,), help="Run it.")
    def run(options: Options, fail: bool = False) -> None:
        if fail:
            raise DatasetError("some/file.png", "not a PNG")
        seen.append((options.build(Example), options.given))

    @verb(app, "stop", help="Stop it.")
    def stop(options: Options) -> None:
        raise Stopped("stopped: 3 complete", 15)

    return app


def test_a_verb_takes_its_options_from_the_config_fields_and_knows_which_were_given():
    seen: list = []
    app = make_app(seen)
    result = CliRunner().invoke(app, ["run", "data", "--count", "5", "--side", "96"])
    assert result.exit_code == 0, result.output
    config, given = seen[0]
    assert config == Example(Path("data"), count=5, size=96)
    assert given == {"folder", "count", "size"}
    help_text = CliRunner().invoke(app, ["run", "--help"], terminal_width=80).output
    for text in ("FOLDER", "--count", "How many.", "[default: 3]", "--side", "--mode",
                 "--weights", "--fail"):
        assert text in help_text, help_text
    assert "--internal" not in help_text


def test_errors_are_one_line_with_their_exit_code():
    app = make_app([])
    cases = [(["run", "data", "--count", "0"], 2, "error: --count 0: expected a number in [1, 10]"),
             (["run", "data", "--fail"], 1, "error: some/file.png: not a PNG"),
             (["stop"], 143, "stopped: 3 complete")]
    for args, code, line in cases:
        result = CliRunner().invoke(app, args)
        assert result.exit_code == code and result.output.strip() == line, (args, result.output)


def test_an_error_re_raised_by_a_torch_dataloader_keeps_its_type_and_line():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, Dataset

    class Broken(Dataset):
        def __len__(self) -> int:
            return 1

        def __getitem__(self, index: int):
            raise DatasetError("train/noshadow/000001.png", "not a PNG")

    with pytest.raises(DatasetError) as caught:
        next(iter(DataLoader(Broken(), num_workers=1)))
    assert str(caught.value) == "train/noshadow/000001.png: not a PNG"
    assert isinstance(caught.value, ShadowsynthError) and caught.value.exit_code == 1
    assert torch is not None
