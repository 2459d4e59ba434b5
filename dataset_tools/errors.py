"""One error hierarchy and one exit-code table for the three commands (`render-dataset`,
`shadow-dataset`, `shadow-model`; docs/errors.md).

A failure the user can act on raises a `ShadowsynthError` subclass whose message is one line
naming the file or the option; the command prints `error: MESSAGE` on stderr and exits with
the error's `exit_code` (`dataset_tools.commands.error_path`, the one error path). Anything else is
a bug and keeps its traceback.
"""

from __future__ import annotations

# The exit-code table (docs/errors.md); the signal codes are 128 + N (130 Ctrl-C, 143 SIGTERM).
EXIT_OK = 0
EXIT_FAILED = 1  # a file or folder cannot be used or written, a run fails, a check fails
EXIT_USAGE = 2  # the command line is wrong: an option's value, options that do not go together
EXIT_SIGNAL_BASE = 128  # stopped by signal N: 128 + N; everything written is complete


class ShadowsynthError(Exception):
    """A failure reported as one line, `error: MESSAGE`, and exit code `exit_code`."""

    exit_code = EXIT_FAILED
    # torch's DataLoader re-raises a worker's exception as `type(message=TEXT)` when the class
    # has a `message` attribute, TEXT ending with the worker's traceback; the error keeps that
    # traceback's last line, its own message (otherwise torch raises a bare RuntimeError)
    message = "re-raised by torch's DataLoader with message="

    def __init__(self, *args: object, message: str | None = None) -> None:
        if message is not None:
            last = message.strip().splitlines()[-1]
            args = (last.split(f"{type(self).__name__}: ", 1)[-1],)
        super().__init__(*args)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else type(self).__name__


class UsageError(ShadowsynthError, ValueError):
    """The command line is wrong: an option's value outside its domain, options that do not go
    together, an output that is or lies inside one of its inputs. Exit code 2."""

    exit_code = EXIT_USAGE


class Stopped(ShadowsynthError):  # noqa: N818 (a stop, not an error)
    """The run was stopped by signal `signum` (Ctrl-C, SIGTERM); what it wrote is complete and
    the message says how to go on. Exit code 128 + signum."""

    def __init__(self, message: str, signum: int = 2) -> None:
        super().__init__(message)
        self.exit_code = EXIT_SIGNAL_BASE + signum
