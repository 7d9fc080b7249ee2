"""Logging in and out of the back office.

`login()` checks the throttle first (a locked account or address is refused without looking at the
password), spends one argon2id verification outside any transaction (50 ms of CPU must not hold the
SQLite write lock), then records the outcome: a failure counts against the account and the address and
is audited; a success clears the account's count, rehashes an old-parameter hash, is audited, and starts a
new session (a new id at every login, so a session id planted before login is worth nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlmodel import col

from api import audit, passwords
from api.actors import Actor
from api.admin import sessions, throttle
from api.db import reading, transaction
from api.models import Administrator

if TYPE_CHECKING:
    from api.service import Service


class LoginRefused(Exception):
    """Wrong email or password (`until` is None), or locked until `until`. Never says which part was wrong."""

    def __init__(self, until: datetime | None = None) -> None:
        super().__init__("login refused")
        self.until = until


@dataclass(frozen=True)
class LoggedIn:
    admin_id: int
    secret: str  # the new session's id, for the cookie only


def login(service: Service, email: str, password: str, address: str) -> LoggedIn:
    """Log in or raise LoginRefused (see the module docstring)."""
    email = email.strip().lower()
    keys = [throttle.account_key(email), throttle.address_key(address)]
    now = service.clock()
    with reading(service.engine) as s:
        until = throttle.locked_until(s, keys, now)
        row = s.scalars(select(Administrator).where(col(Administrator.email) == email)).first()
        found = (row.id, row.password_hash, row.active) if row is not None else None
    if until is not None:
        raise LoginRefused(until)
    good = passwords.verify(found[1] if found else None, password)
    if not (good and found and found[2]):
        _failed(service, keys, found[0] if found else None, now)
        raise LoginRefused()
    admin_id = int(found[0] or 0)
    with transaction(service.engine) as s:
        throttle.clear(s, keys[0])
        admin = s.get(Administrator, admin_id)
        assert admin is not None
        if passwords.needs_rehash(admin.password_hash):
            admin.password_hash = passwords.hash_password(password)
        audit.record(s, Actor.admin(admin), "login", f"administrator:{admin_id}", note=f"from {address}")
    return LoggedIn(admin_id, sessions.start(service, admin_id, address))


def _failed(service: Service, keys: list[str], admin_id: int | None, now: datetime) -> None:
    with transaction(service.engine) as s:
        for key in keys:
            throttle.record_failure(s, key, now)
        # What was typed is never logged: a password typed into the email box would end up in the log.
        subject = f"administrator:{admin_id}" if admin_id is not None else "unknown account"
        audit.record(s, Actor.system(), "login_failed", subject, note=f"from {keys[1][8:]}")


def logout(service: Service, admin: Administrator, secret: str) -> None:
    sessions.end(service, secret)
    with transaction(service.engine) as s:
        audit.record(s, Actor.admin(admin), "logout", f"administrator:{admin.id}")
