"""The back office's accounts state: login sessions (stored by the hash of their id) and login throttles.

An `Administrator` row (api/models/people.py) is the account; its role is superadmin, admin or cashier.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from api.models.base import UtcDateTime, utcnow


class AdminSession(SQLModel, table=True):
    """A logged-in browser. The cookie holds a random id; only its SHA-256 is stored, so a copy of the
    database does not let anyone log in. Logout, deactivation and expiry delete the row."""

    __tablename__ = "admin_sessions"

    id: int | None = Field(default=None, primary_key=True)
    id_hash: str = Field(max_length=64, unique=True)
    administrator_id: int = Field(foreign_key="administrators.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    address: str = Field(default="", max_length=64)

    def __repr__(self) -> str:
        return f"AdminSession(id={self.id}, administrator_id={self.administrator_id})"


class LoginThrottle(SQLModel, table=True):
    """Failed logins counted per account (`account:<email>`) and per client address (`address:<ip>`)."""

    __tablename__ = "login_throttles"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300, unique=True)
    failures: int = 0
    last_failure_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    locked_until: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
