"""Work queues that survive restarts: the SMS outbox and the serial pushes to connected meters.

Both are claimed by workers with a lease (`locked_until`) so several service processes can share them,
and retried with exponential backoff (`next_attempt_at`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from api.models.base import UtcDateTime, utcnow


class SmsOutbox(SQLModel, table=True):
    __tablename__ = "sms_outbox"
    __table_args__ = (
        Index("ix_sms_outbox_due", "status", "next_attempt_at"),
        # The inbound-SMS rate limit counts a phone's recent replies.
        Index("ix_sms_outbox_to_created", "to", "created_at"),
        UniqueConstraint("inbound_message_id", name="uq_sms_outbox_inbound_message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    to: str = Field(max_length=16)
    text: str = Field(max_length=480)
    kind: str = Field(default="token", max_length=16)
    payment_id: int | None = Field(default=None, foreign_key="payments.id", index=True)
    status: str = Field(default="queued", max_length=10)  # queued|sent|delivered|failed
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default_factory=utcnow, sa_column=Column(UtcDateTime()))
    locked_until: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    provider: str = Field(default="", max_length=16)
    provider_message_id: str | None = Field(default=None, max_length=80, index=True)
    last_error: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    # A reply to an incoming SMS keeps that message's provider id: a redelivery finds it and queues nothing.
    inbound_message_id: str | None = Field(default=None, max_length=80)


class MeterPush(SQLModel, table=True):
    __tablename__ = "meter_pushes"
    __table_args__ = (Index("ix_meter_pushes_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    token_id: int = Field(foreign_key="tokens.id", unique=True)
    meter_id: int = Field(foreign_key="meters.id", index=True)
    status: str = Field(default="queued", max_length=10)  # queued|done|failed
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default_factory=utcnow, sa_column=Column(UtcDateTime()))
    locked_until: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    result: str = Field(default="", max_length=24)  # the meter's outcome word (accept, used, ...)
    detail: str = Field(default="", max_length=200)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
