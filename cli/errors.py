"""The one place where operational errors become a clear line on stderr and an exit code."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from tokencore.errors import (
    AmountRangeError,
    FieldRangeError,
    IdentityError,
    KeyParameterError,
    TokenError,
    TokenFormatError,
)

# Operational errors that mean "the input is wrong" rather than "the rules refuse this request".
_INPUT_ERRORS = (AmountRangeError, FieldRangeError, IdentityError, KeyParameterError, TokenFormatError)

P = ParamSpec("P")
R = TypeVar("R")

# Exit codes: 0 ok, 1 refused by the rules (key expired, DDTK, past the rollover...), 2 bad input.
EXIT_REFUSED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command-line input that the CLI itself detects (missing key, unreadable file...)."""


def exit_code_for(exc: BaseException) -> int | None:
    """Map an operational error to an exit code; None means: not ours, let it propagate."""
    if isinstance(exc, (UsageError, ValueError, *_INPUT_ERRORS)):
        return EXIT_USAGE
    if isinstance(exc, TokenError):
        return EXIT_REFUSED
    return None


def guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Run a command; turn known errors into one line on stderr and a non-zero exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            code = exit_code_for(exc)
            if code is None:
                raise
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(code) from None

    return wrapper
