"""Accounts of the back office, as the Administrators page lists them (never their password hash)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from api.models import Administrator, LoginThrottle


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    name: str
    post_name: str
    position: str
    role: str
    active: bool
    created_at: datetime
    locked_until: datetime | None  # the account's login lock in force, if any
    lock_key: str


def listing(session: Session, now: datetime) -> list[Account]:
    """Every account (a utility has tens), by name."""
    rows = session.scalars(
        select(Administrator).order_by(col(Administrator.name), col(Administrator.id))
    ).all()
    keys = [f"account:{r.email}" for r in rows]
    locks = {
        t.key: t.locked_until
        for t in session.scalars(select(LoginThrottle).where(col(LoginThrottle.key).in_(keys))).all()
        if t.locked_until is not None and t.locked_until > now
    }
    return [
        Account(
            id=int(r.id or 0),
            email=r.email,
            name=r.name,
            post_name=r.post_name,
            position=r.position,
            role=r.role,
            active=r.active,
            created_at=r.created_at,
            locked_until=locks.get(f"account:{r.email}"),
            lock_key=f"account:{r.email}",
        )
        for r in rows
    ]
