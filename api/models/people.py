"""Administrators (who run the service) and subscribers (who buy electricity)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from api.models.base import UtcDateTime, utcnow


class Administrator(SQLModel, table=True):
    __tablename__ = "administrators"

    id: int | None = Field(default=None, primary_key=True)
    role: str = Field(max_length=16)  # "superadmin" | "admin"
    name: str = Field(max_length=80)
    post_name: str = Field(default="", max_length=80)
    email: str = Field(max_length=254, unique=True, index=True)
    position: str = Field(default="", max_length=80)
    password_hash: str = Field(max_length=255)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))


class Subscriber(SQLModel, table=True):
    __tablename__ = "subscribers"

    id: int | None = Field(default=None, primary_key=True)
    customer_code: str = Field(max_length=20, unique=True, index=True)
    name: str = Field(max_length=80)
    post_name: str = Field(default="", max_length=80)
    phone: str = Field(max_length=16, index=True)  # E.164, "+243..."
    quarter: str = Field(default="", max_length=80)
    cell: str = Field(default="", max_length=80)
    avenue: str = Field(default="", max_length=80)
    language: str = Field(default="fr", max_length=2)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    # Deleting a subscriber keeps the history (payments, tokens): the row is only marked.
    deleted_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
