"""Login throttling: failed logins are counted per account and per client address.

From the fifth failure in a row, the key is locked for 30 s, then twice as long at each further failure,
up to one hour; attempts during a lock are refused without checking the password (so a lock cannot be
used to guess faster). A success clears the account's count (not the address's: one good account must
not wipe out an address that is guessing others). Failures older than a day are forgotten. The super
administrator sees the locks on the Administrators page and can lift them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlmodel import col

from api.models import LoginThrottle

LIMIT = 5
FIRST_LOCK = timedelta(seconds=30)
LONGEST_LOCK = timedelta(hours=1)
FORGET_AFTER = timedelta(hours=24)


def account_key(email: str) -> str:
    return f"account:{email.strip().lower()}"[:300]


def address_key(address: str) -> str:
    return f"address:{address}"[:300]


def lock_length(failures: int) -> timedelta | None:
    """How long `failures` failures in a row lock the key (None below the limit)."""
    if failures < LIMIT:
        return None
    longer: timedelta = FIRST_LOCK * 2 ** min(failures - LIMIT, 16)
    return min(longer, LONGEST_LOCK)


def locked_until(session: Session, keys: list[str], now: datetime) -> datetime | None:
    """The end of the longest lock in force on any of `keys`, or None."""
    rows = session.scalars(select(LoginThrottle).where(col(LoginThrottle.key).in_(keys))).all()
    ends = [r.locked_until for r in rows if r.locked_until is not None and r.locked_until > now]
    return max(ends) if ends else None


def record_failure(session: Session, key: str, now: datetime) -> LoginThrottle:
    row = session.scalars(select(LoginThrottle).where(col(LoginThrottle.key) == key)).first()
    if row is None:
        row = LoginThrottle(key=key)
        session.add(row)
    if row.last_failure_at is not None and now - row.last_failure_at > FORGET_AFTER:
        row.failures = 0
    row.failures += 1
    row.last_failure_at = now
    length = lock_length(row.failures)
    row.locked_until = now + length if length is not None else None
    session.flush()
    return row


def clear(session: Session, key: str) -> bool:
    """Forget the failures of `key` (a success, or the super administrator's unlock); True if any."""
    result = session.execute(delete(LoginThrottle).where(col(LoginThrottle.key) == key))
    return bool(getattr(result, "rowcount", 0))


def locks(session: Session, now: datetime) -> list[LoginThrottle]:
    """Locks in force, longest first (for the super administrator)."""
    rows = session.scalars(
        select(LoginThrottle)
        .where(col(LoginThrottle.locked_until) > now)
        .order_by(col(LoginThrottle.locked_until).desc())
    ).all()
    return list(rows)
