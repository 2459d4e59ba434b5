"""What the three commands share: their verbs built from the configs they fill, one error
path, one console.

`verb` makes a typer command whose options are the `option` fields of the given config
classes (dataset_tools.options: type, default, help, domain and choices declared once, on the
field) plus the function's own typer parameters; the function gets the parsed `Options` and
builds its config from them. Every verb runs inside `error_path`: a `ShadowsynthError` (or a
full disk) becomes `error: MESSAGE` on stderr and its exit code (dataset_tools.errors), a
warning becomes `warning: MESSAGE`.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import sys
import typing
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
import typer.models
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from dataset_tools.errors import EXIT_FAILED, EXIT_USAGE, ShadowsynthError, Stopped, UsageError
from dataset_tools.options import OPTION, Domain, domain_of, flag_name, refusal
from dataset_tools.settings import field_default

console = Console(stderr=True, soft_wrap=True)  # every message of the three commands
T = TypeVar("T")


def warn(message: str) -> None:
    """A problem the verb goes on after: "warning: MESSAGE" on stderr."""
    console.print(f"[yellow]warning[/]: {escape(message)}", highlight=False)


def say(message: str) -> None:
    """A line for the user on stderr, as written (no markup)."""
    console.print(message, markup=False, highlight=False)


def stop(error: ShadowsynthError) -> NoReturn:
    """The one way a verb stops on an error: "error: MESSAGE" on stderr (a stop by a signal:
    its MESSAGE alone, which says what is complete and how to go on), its exit code."""
    if isinstance(error, Stopped):
        say(str(error))
    else:
        console.print(f"[red]error[/]: {escape(str(error))}", highlight=False)
    raise typer.Exit(error.exit_code)


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    warn(str(message))


@contextmanager
def error_path() -> Iterator[None]:
    """Known failures become one line and their exit code (dataset_tools.errors); a write that
    finds the disk full is one too (exit code 1); anything else keeps its traceback."""
    from dataset_tools.layout import DiskFullError, is_disk_full

    warnings.showwarning = _warning_line
    try:
        yield
    except ShadowsynthError as error:
        stop(error)
    except OSError as error:
        if not is_disk_full(error):
            raise
        stop(DiskFullError(error.filename))


def progress(on: Console | None = None) -> Progress:
    """A transient progress bar on a terminal; nothing at all elsewhere (a log, a pipe), where
    a transient bar would leave a blank line before every message."""
    on = on or console
    return Progress(console=on, transient=True, disable=not on.is_terminal)


@dataclass(frozen=True)
class Options:
    """The option values of one verb's invocation, by field name, each with its config class
    and the names the command line (or the environment) gave."""

    values: dict[str, Any]
    owners: dict[str, type]
    given: frozenset[str]

    def of(self, cls: type) -> dict[str, Any]:
        """The values of the options that fill `cls`'s fields."""
        return {name: value for name, value in self.values.items() if self.owners[name] is cls}

    def build(self, cls: type[T], **extra: Any) -> T:
        """`cls` from its options (and `extra` fields)."""
        return cls(**self.of(cls), **extra)

    def apply(self, config: T) -> T:
        """`config` with the options the command line gave, nested tables included."""
        return _replace_given(config, self)


def _replace_given(config: Any, options: Options) -> Any:
    changes: dict[str, Any] = {}
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if dataclasses.is_dataclass(value):
            nested = _replace_given(value, options)
            if nested is not value:
                changes[item.name] = nested
        elif item.name in options.given and options.owners.get(item.name) is type(config):
            changes[item.name] = options.values[item.name]
    return dataclasses.replace(config, **changes) if changes else config


def option_fields(cls: type) -> Iterator[tuple[type, dataclasses.Field, Any]]:
    """(owning class, field, type) of every field of `cls`, nested config tables included,
    that the command line sets."""
    hints = typing.get_type_hints(cls)
    for item in dataclasses.fields(cls):
        if OPTION in item.metadata:
            yield cls, item, hints[item.name]
        elif dataclasses.is_dataclass(hints[item.name]):
            yield from option_fields(hints[item.name])


def _sentence(item: dataclasses.Field) -> str:
    """The field's help as `--help` shows it: a capital (unless it starts with a value, one of
    its choices or its default, or a name such as `smask/rshadow`), a full stop, the range of
    a number and a default `default_text` gives. A config file shows the help as its comment."""
    text = item.metadata["help"]
    first = re.match(r"[a-z][a-z-]*(?=[ ,;:]|$)", text)
    values = {*(item.metadata.get("choices") or ()), str(field_default(item))}
    if first is not None and first.group() not in values:
        text = text[0].upper() + text[1:]
    text = text if text.endswith((".", "?", "!")) else text + "."
    domain = domain_of(item)
    if isinstance(domain, Domain):
        text += f" Range {domain}."
    flag = item.metadata[OPTION]
    if flag.default_text is not None:  # typer would put it in parentheses
        text += f"  [default: {flag.default_text}]"
    return text


def _cli_type(hint: Any) -> Any:
    """The type typer parses a field as: a Literal of names as text."""
    if typing.get_origin(hint) is typing.Literal:
        return str
    return hint


def _parameter(item: dataclasses.Field, hint: Any) -> inspect.Parameter:
    flag = item.metadata[OPTION]
    default = field_default(item)
    help_text = _sentence(item)
    if flag.argument:
        info: Any = typer.Argument(help=help_text, metavar=flag.metavar or item.name.upper(),
                                   show_default=False)
    else:
        info = typer.Option(*flag.names, help=help_text, metavar=flag.metavar,
                            show_default=flag.default_text is None)
    if flag.parser is not None:  # text, parsed by `verb` inside the error path
        hint, default = str, flag.default_text or str(default)
    return inspect.Parameter(item.name, inspect.Parameter.KEYWORD_ONLY,
                             default=inspect.Parameter.empty if default is dataclasses.MISSING
                             else default, annotation=Annotated[_cli_type(hint), info])


def _parsed(item: dataclasses.Field, value: Any) -> Any:
    """An option's value as its field takes it: text through the flag's parser (a ValueError
    is the option's UsageError)."""
    parser = item.metadata[OPTION].parser
    if parser is None or not isinstance(value, str):
        return value
    try:
        return parser(value)
    except ValueError as error:
        raise UsageError(f"{flag_name(item)} {value!r}: {error}") from None


def verb(app: typer.Typer, name: str | None = None, *, configs: tuple[type, ...] = (),
         help: str, **settings: Any) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register `body(options, **own)` as verb `name` of `app`: its options are the `option`
    fields of `configs` (in order, after the body's own typer parameters), checked against
    their domains before the body runs, which runs inside `error_path`."""

    def register(body: Callable[..., None]) -> Callable[..., None]:
        hints = typing.get_type_hints(body, include_extras=True)
        own = [inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=p.default,
                                 annotation=hints[p.name])
               for p in list(inspect.signature(body).parameters.values())[1:]]
        declared = [entry for cls in configs for entry in option_fields(cls)]
        owners = {item.name: cls for cls, item, _ in declared}
        if len(owners) != len(declared) or set(owners) & {p.name for p in own}:
            raise TypeError(f"{body.__name__}: two options of one name")
        parameters = [inspect.Parameter("context", inspect.Parameter.KEYWORD_ONLY,
                                        annotation=typer.Context),
                      *own, *(_parameter(item, hint) for _, item, hint in declared)]
        # typer orders arguments by their place: the declared ones first
        parameters.sort(key=lambda p: not isinstance(_info(p), typer.models.ArgumentInfo))
        fields = {item.name: item for _, item, _ in declared}

        @functools.wraps(body)
        def command(context: typer.Context, **values: Any) -> None:
            own_values = {p.name: values.pop(p.name) for p in own}
            source = ("COMMANDLINE", "ENVIRONMENT")  # typer's click has its own ParameterSource
            given = frozenset(name for name in values
                              if getattr(context.get_parameter_source(name), "name", None)
                              in source)
            with error_path():
                values = {key: _parsed(fields[key], value) for key, value in values.items()}
                for key, value in values.items():  # before the config's own checks
                    error = refusal(fields[key], value)
                    if error is not None:
                        raise error
                body(Options(values, owners, given), **own_values)

        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        del command.__wrapped__  # typer reads the signature above, not the body's
        app.command(name, help=help, **settings)(command)
        return body

    return register


def _info(parameter: inspect.Parameter) -> Any:
    extras = getattr(parameter.annotation, "__metadata__", ())
    return extras[0] if extras else None


def run_app(app: typer.Typer) -> None:
    """Run a typer app as a console script and exit with its code; a bad option or value on
    the command line is one line on stderr ("error: ...", exit code 2), as every other error
    is, instead of typer's boxed panel."""
    args = sys.argv[1:]
    if not args and app.info.no_args_is_help:  # no arguments: the help, as asked
        args = ["--help"]
    try:
        code = app(args=args, standalone_mode=False)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(EXIT_FAILED)
    except typer.TyperException as error:  # typer's own click exceptions
        message = error.format_message().strip()
        context = getattr(error, "ctx", None)
        where = f" (see '{context.command_path} --help')" if context is not None else ""
        print(f"error: {' '.join(message.split())}{where}", file=sys.stderr)
        sys.exit(getattr(error, "exit_code", EXIT_USAGE))
    sys.exit(code if isinstance(code, int) else 0)


def resolved(path: Path, option: str) -> Path:
    """`path` made absolute, links resolved; a link loop is a bad value of `option`."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop (Python 3.11)
        raise UsageError(f"{option} {path}: cannot resolve the path ({error})") from None
