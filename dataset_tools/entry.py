"""The console scripts' front door: a bad option or value on the command line is one line
on stderr ("error: ...", exit 2), as every other error of the three commands is, instead of
typer's boxed panel (which wraps and pads long messages)."""

from __future__ import annotations

import sys
from typing import Any


def run(app: Any) -> None:
    """Run a typer app as a console script; exits with its code."""
    import typer

    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(1)
    except typer.TyperException as error:  # typer's own click exceptions
        message = error.format_message().strip()
        if type(error).__name__ == "NoArgsIsHelpError":  # no arguments: the help, as asked
            print(message)
            sys.exit(0)
        context = getattr(error, "ctx", None)
        where = f" (see '{context.command_path} --help')" if context is not None else ""
        print(f"error: {' '.join(message.split())}{where}", file=sys.stderr)
        sys.exit(getattr(error, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)
