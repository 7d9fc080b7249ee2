"""Typed reads for the handlers and pages: lookups and keyset-paginated listings.

One module per concept (`meters`, `subscribers`, `payments`, `tokens`, `tariffs`); each function takes an
open session and returns rows or frozen dataclasses, never writes. A listing returns a `Page`: its
`next_cursor` (opaque text) asks for the rows after the last one, so page 1000 costs what page 1 does.
Bad cursors and filters raise `InvalidInput` with a stable code.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from api.errors import InvalidInput

T = TypeVar("T")
MAX_LIMIT = 500
MAX_CURSOR = 400  # characters


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    next_cursor: str | None  # None: this is the last page


def check_limit(limit: int) -> int:
    """1..MAX_LIMIT. Raises InvalidInput (code `invalid_query`)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1-{MAX_LIMIT}", code="invalid_query")
    return limit


def encode_cursor(values: Sequence[object]) -> str:
    """An opaque cursor for the sort values (str, int, float or None) of the last row of a page."""
    raw = json.dumps(list(values), separators=(",", ":"), ensure_ascii=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: Sequence[type]) -> list[object]:
    """The values in a cursor, each checked against `kinds` (None is allowed for any). Raises
    InvalidInput (code `invalid_cursor`) for anything a page did not hand out."""
    bad = InvalidInput("this page link is not valid any more", code="invalid_cursor")
    if not isinstance(cursor, str) or not cursor or len(cursor) > MAX_CURSOR:
        raise bad
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise bad from None
    if not isinstance(values, list) or len(values) != len(kinds):
        raise bad
    for value, kind in zip(values, kinds, strict=True):
        if value is not None and (type(value) is not kind and not (kind is float and type(value) is int)):
            raise bad
    return values


def like_pattern(fragment: str) -> str:
    """`%fragment%` with LIKE's wildcards escaped (use with escape="\\\\")."""
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def page_of(rows: Sequence[T], limit: int, cursor_of: Callable[[T], Sequence[object]]) -> Page[T]:
    """A page from `limit + 1` fetched rows: the extra row only says that there is a next page."""
    items = tuple(rows[:limit])
    more = len(rows) > limit and items
    return Page(items, encode_cursor(cursor_of(items[-1])) if more else None)
