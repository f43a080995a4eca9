"""The ``freqlens`` command line: a thin shell over the library.

Every command turns a :class:`~freqlens.errors.FreqlensError` into a one-line message on stderr and exit code 2, and
Ctrl-C into one line (what was kept, how to continue: :class:`~freqlens.errors.Interrupted`) and exit code 130.
Commands live in one module each under ``freqlens.cli`` and register themselves on :data:`app`; every module of
this package except ``common`` is imported at start-up.
"""

from __future__ import annotations

import sys
import warnings

import typer

from freqlens import __version__
from freqlens.errors import FreqlensError, Interrupted

INTERRUPTED = 130  # exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it

app = typer.Typer(
    name="freqlens",
    help="How convolutional networks use the frequencies of their input images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"freqlens {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """How convolutional networks use the frequencies of their input images."""


_ARGV: list[str] = []  # the arguments of the running command, for the "continue with" line of an interrupt


def command_line() -> list[str]:
    """The running command as typed: ``["freqlens", *arguments]``."""
    return ["freqlens", *_ARGV]


def _register() -> None:
    """Import every command module in this package (each registers itself with ``@app.command()``)."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        if module.name != "common":
            importlib.import_module(f"freqlens.cli.{module.name}")


def _warning_line(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, mapping bad input to exit code 2 with a one-line error and Ctrl-C to 130."""
    _register()
    _ARGV[:] = sys.argv[1:] if argv is None else list(argv)
    warnings.formatwarning = _warning_line
    try:
        # Outside standalone mode typer returns the code of a `typer.Exit` (and 130 for a KeyboardInterrupt it caught
        # itself) instead of raising; a command that returns normally gives None.
        code = app(args=argv, standalone_mode=False)
    except FreqlensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr)
        return INTERRUPTED
    except KeyboardInterrupt:  # raised outside typer's own handling (while it parses, say)
        code = INTERRUPTED
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return 1
    except typer.TyperException as exc:  # usage errors: unknown command or option, bad value
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        return int(getattr(exc, "exit_code", 2))
    if code == INTERRUPTED:
        print("interrupted before the command finished; its results were not written; run it again", file=sys.stderr)
    return code if isinstance(code, int) else 0
