"""How the command line ends: exit codes and one-line error messages (docs/EXIT_CODES.md).

- 0: success.
- 1: internal error, i.e. a bug in astrotorch or a library it uses: the traceback is printed.
- 2: user error: a bad argument, a missing, unreadable or malformed input file, a refused or
  unwritable output, a full disk. One line ``error: <file or argument>: <problem>`` on stderr and no
  traceback (the global ``--debug`` option shows it).
- 130: interrupted (Ctrl-C).

Warnings (the library's and the libraries' below it) print as one line ``warning: <message>`` on
stderr, without the source location Python adds (``--debug`` keeps Python's format).
"""

from __future__ import annotations

import errno
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import Any

import typer

from astrotorch.errors import AstrotorchError

try:  # typer vendors click from 0.2x on; older typer uses click itself
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException  # type: ignore[no-redef]

EXIT_OK = 0
EXIT_INTERNAL_ERROR = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

#: OSErrors that say something about the user's files or machine, not about astrotorch's code
_USER_OS_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)
_USER_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.ENAMETOOLONG, errno.ELOOP,
                errno.EACCES, errno.EPERM, errno.ENOENT, errno.EISDIR, errno.ENOTDIR, errno.EEXIST}


class _State:
    debug = False  # set by the global --debug option (cli/main.py)


state = _State()


def one_line(text: str) -> str:
    """Collapse a message onto one line (library messages sometimes carry newlines)."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message for an error the user can fix, or None if ``exc`` is a bug."""
    if isinstance(exc, AstrotorchError):
        return one_line(str(exc))
    if isinstance(exc, OSError) and (isinstance(exc, _USER_OS_ERRORS) or exc.errno in _USER_ERRNOS):
        if exc.filename is not None:
            return one_line(f"{exc.filename}: {exc.strerror or exc}")
        return one_line(str(exc))
    return None


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
                  line: str | None = None) -> None:
    if state.debug:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
    else:
        typer.echo(f"warning: {one_line(str(message))}", err=True)


def run(app: typer.Typer, args: Sequence[str] | None = None) -> int:
    """Run the typer ``app`` on ``args`` (default: ``sys.argv[1:]``); return the exit code.

    Never lets a user error escape as a traceback: see the module docstring for the codes.
    """
    state.debug = False
    try:
        with warnings.catch_warnings():  # restores Python's warning display afterwards
            warnings.showwarning = _show_warning
            result: Any = app(args=list(args) if args is not None else None, prog_name="astrotorch",
                              standalone_mode=False)
    except ClickException as exc:  # usage errors: click's own message ("Usage: ... Error: ...")
        exc.show()
        return int(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("error: interrupted", err=True)
        return EXIT_INTERRUPTED
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_INTERNAL_ERROR)
    except Exception as exc:  # noqa: BLE001 - the last line of defence of the command line
        message = user_error_message(exc)
        if message is None or state.debug:
            traceback.print_exception(exc, file=sys.stderr)
        if message is None:
            typer.echo(f"error: internal error ({type(exc).__name__}: {one_line(str(exc))}). This is a bug: "
                       "please report it with the traceback above.", err=True)
            return EXIT_INTERNAL_ERROR
        typer.echo(f"error: {message}", err=True)
        return EXIT_USER_ERROR
    if result == EXIT_INTERRUPTED and not isinstance(result, bool):  # typer turns Ctrl-C into Exit(130)
        typer.echo("error: interrupted", err=True)
        return EXIT_INTERRUPTED
    return result if isinstance(result, int) and not isinstance(result, bool) else EXIT_OK


__all__ = ["run", "state", "user_error_message", "one_line", "EXIT_OK", "EXIT_INTERNAL_ERROR", "EXIT_USER_ERROR",
           "EXIT_INTERRUPTED"]
