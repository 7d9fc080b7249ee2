"""The audit log, as the Audit page lists it: newest first, filtered, keyset-paginated by id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from api.errors import InvalidInput
from api.models import AuditLog
from api.queries import Page, check_limit, decode_cursor, like_pattern, page_of

MAX_TEXT = 80


@dataclass(frozen=True)
class AuditFilter:
    """Every field narrows the list. `actor` and `subject` are fragments; `action` is exact; `since`
    inclusive, `until` exclusive."""

    actor: str = ""
    action: str = ""
    subject: str = ""
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: str  # JSON written by api.audit.record (never secrets)


def listing(session: Session, f: AuditFilter, cursor: str | None = None, limit: int = 50) -> Page[AuditEntry]:
    """Entries matching `f`, newest first, after `cursor`. Raises InvalidInput (`invalid_query`,
    `invalid_cursor`)."""
    limit = check_limit(limit)
    if max(len(f.actor), len(f.action), len(f.subject)) > MAX_TEXT:
        raise InvalidInput(f"filters: at most {MAX_TEXT} characters", code="invalid_query")
    stmt = select(AuditLog)
    if f.actor:
        stmt = stmt.where(col(AuditLog.actor).ilike(like_pattern(f.actor), escape="\\"))
    if f.subject:
        stmt = stmt.where(col(AuditLog.subject).ilike(like_pattern(f.subject), escape="\\"))
    if f.action:
        stmt = stmt.where(col(AuditLog.action) == f.action)
    if f.since is not None:
        stmt = stmt.where(AuditLog.__table__.c.at >= f.since)  # type: ignore[attr-defined]
    if f.until is not None:
        stmt = stmt.where(AuditLog.__table__.c.at < f.until)  # type: ignore[attr-defined]
    if cursor:
        (last,) = decode_cursor(cursor, [int])
        stmt = stmt.where(col(AuditLog.id) < last)
    rows = list(session.scalars(stmt.order_by(col(AuditLog.id).desc()).limit(limit + 1)))
    page = page_of(rows, limit, lambda r: [r.id])
    return Page(tuple(_entry(r) for r in page.items), page.next_cursor)


def actions(session: Session) -> list[str]:
    """The actions that occur in the log (for the filter's choices)."""
    return list(session.scalars(select(col(AuditLog.action)).distinct().order_by(col(AuditLog.action))))


def _entry(r: AuditLog) -> AuditEntry:
    return AuditEntry(int(r.id or 0), r.at, r.actor, r.action, r.subject, r.detail)
