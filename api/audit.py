"""The audit log: who did what to which row, with the row before and after. Secrets never enter it.

`snapshot()` is the one function that turns a row into what may be logged: key material, hashes and PINs
are dropped by column name, bytes are never copied, and values become JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy.orm import Session

from api.actors import Actor
from api.models.audit import AuditLog

# Column names (or endings) that hold secrets in any table, now or later: never logged.
SECRET_NAMES = frozenset({"sealed", "secret", "password", "pin", "key_hex", "token_secret"})
SECRET_ENDINGS = ("_hash", "_secret", "_pin", "_password", "_sealed")
SUBJECT_MAX = 80
ACTION_MAX = 40

Snapshot = dict[str, Any]


def is_secret(name: str) -> bool:
    return name in SECRET_NAMES or name.endswith(SECRET_ENDINGS)


def snapshot(row: object) -> Snapshot:
    """The loggable columns of a table row (or the items of a mapping) as JSON-ready values."""
    if isinstance(row, Mapping):
        items = list(row.items())
    else:
        table = getattr(type(row), "__table__", None)
        if table is None:
            raise TypeError(f"cannot snapshot a {type(row).__name__}")
        items = [(c.name, getattr(row, c.name, None)) for c in table.columns]
    return {str(k): _plain(v) for k, v in items if not is_secret(str(k)) and not isinstance(v, bytes)}


def _plain(value: object) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def record(
    session: Session,
    actor: Actor,
    action: str,
    subject: str,
    *,
    before: object | None = None,
    after: object | None = None,
    note: str = "",
) -> AuditLog:
    """Add an audit entry (in the caller's transaction). `before`/`after` are rows or mappings; when both
    are given only the fields that changed are kept. Detail is JSON `{"before": {...}, "after": {...}}`
    (plus `"note"`)."""
    if not action or len(action) > ACTION_MAX:
        raise ValueError(f"audit action must be 1-{ACTION_MAX} characters")
    old = snapshot(before) if before is not None else None
    new = snapshot(after) if after is not None else None
    if old is not None and new is not None:
        changed = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
        old = {k: v for k, v in old.items() if k in changed}
        new = {k: v for k, v in new.items() if k in changed}
    detail: dict[str, Any] = {}
    if old is not None:
        detail["before"] = old
    if new is not None:
        detail["after"] = new
    if note:
        detail["note"] = note
    entry = AuditLog(
        actor=actor.label,
        action=action,
        subject=subject[:SUBJECT_MAX],
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else "",
    )
    session.add(entry)
    return entry
