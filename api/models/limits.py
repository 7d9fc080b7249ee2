"""Request counters of the rate limits (api.ratelimit): one row per limited subject, shared by every
worker and instance through the database."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel


class RateCount(SQLModel, table=True):
    """Requests of one subject (`ussd-phone:<hash>`, `api-key:<hash>` ...) in its current window."""

    __tablename__ = "rate_counts"

    key: str = Field(max_length=80, primary_key=True)
    window_start: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))  # Unix seconds
    count: int = 0
