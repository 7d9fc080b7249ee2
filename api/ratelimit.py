"""Rate limits counted in the database, so that every worker of every instance shares them.

A limit allows `per` requests of one subject (a phone, a USSD session, an API key) in each fixed window
of `window_s` seconds. Each request adds one to its subject's row in one statement (an upsert that also
starts a new window), so two requests at once never both read a stale count. Requests refused still
count: a client hammering past its limit stays refused until the window ends. Subjects are stored as a
hash (phone numbers and key ids never sit in this table in clear). Rows of windows over a day old are
purged now and then by the requests themselves.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.errors import ServiceError
from api.models import RateCount

__all__ = ["Limit", "RateLimited", "hit"]

RATES = RateCount.__table__  # type: ignore[attr-defined]
_PURGE_ONE_IN = 500
_KEEP_S = 86_400


@dataclass(frozen=True)
class Limit:
    name: str  # "ussd-phone", "ussd-session", "api-key"
    per: int  # requests allowed per window; 0: no limit
    window_s: int


class RateLimited(ServiceError):
    """Too many requests from one subject: 429, with the seconds until its window ends."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def hit(session: Session, limit: Limit, subject: str, now: datetime) -> int:
    """Count one request of `subject` (in the caller's transaction). Returns 0 when it is within the
    limit, else the seconds until the subject's window ends."""
    if limit.per <= 0:
        return 0
    seconds = int(now.timestamp())
    window = seconds - seconds % limit.window_s
    digest = hashlib.sha256(subject.encode()).hexdigest()[:40]
    values: dict[str, Any] = {"key": f"{limit.name}:{digest}"[:80], "window_start": window, "count": 1}
    insert = (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert(RATES)
    stmt = (
        insert.values(**values)
        .on_conflict_do_update(
            index_elements=[RATES.c.key],
            set_={
                "count": case((RATES.c.window_start == window, RATES.c.count + 1), else_=1),
                "window_start": window,
            },
        )
        .returning(RATES.c.count)
    )
    count = int(session.execute(stmt).scalar_one())
    if secrets.randbelow(_PURGE_ONE_IN) == 0:
        session.execute(delete(RATES).where(RATES.c.window_start < seconds - _KEEP_S))
    return 0 if count <= limit.per else max(1, window + limit.window_s - seconds)
