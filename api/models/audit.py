"""API keys for vendors (stored hashed, with scopes) and the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from api.models.base import UtcDateTime, utcnow


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(max_length=16, unique=True)  # public part of the key, "ngv_<key_id>_<secret>"
    secret_hash: str = Field(max_length=64)  # SHA-256 hex of the 256-bit random secret part
    name: str = Field(max_length=80)
    scopes: str = Field(max_length=200)  # space-separated
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))

    def __repr__(self) -> str:
        return f"ApiKey(key_id={self.key_id!r}, name={self.name!r}, scopes={self.scopes!r})"


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False, index=True))
    actor: str = Field(max_length=80)  # "cli", "apikey:<id>", "provider:<name>", "ussd"
    action: str = Field(max_length=40)
    subject: str = Field(default="", max_length=80)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
