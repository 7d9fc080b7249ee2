"""Payments (one mobile-money collection or a manual payment) and the tokens issued for them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from api.models.base import MONEY, PAID, UNITS, UtcDateTime, utcnow


class PaymentStatus(StrEnum):
    QUEUED = "queued"  # created by the USSD session; the collection is not started yet
    PENDING = "pending"  # the provider is prompting the payer
    VENDED = "vended"  # paid, token issued (terminal)
    FAILED = "failed"  # declined / could not start (terminal)
    EXPIRED = "expired"  # no answer within the timeout (terminal unless a late success arrives)
    HELD = "held"  # paid, but something does not match (amount, meter): review, no token
    REFUND = "refund"  # a held payment a person marked for refund (terminal; the money goes back)


class Payment(SQLModel, table=True):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("provider", "provider_txn_id", name="uq_payments_provider_txn"),
        Index("ix_payments_due", "status", "next_attempt_at"),
        Index("ix_payments_provider_ref", "provider", "provider_ref"),
        Index("ix_payments_msisdn_created", "msisdn", "created_at"),  # resend keyword, API search
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=40, unique=True)  # our id, sent to the provider
    channel: str = Field(default="ussd", max_length=8)  # ussd | c2b | api | cash
    provider: str = Field(max_length=16)
    provider_ref: str | None = Field(default=None, max_length=80)
    provider_txn_id: str | None = Field(default=None, max_length=80)
    status: str = Field(default=PaymentStatus.QUEUED, max_length=8)
    msisdn: str = Field(default="", max_length=16)
    subscriber_id: int | None = Field(default=None, foreign_key="subscribers.id", index=True)
    meter_id: int | None = Field(default=None, foreign_key="meters.id", index=True)
    account: str = Field(default="", max_length=40)
    amount: Decimal = Field(sa_column=Column(MONEY, nullable=False))
    currency: str = Field(max_length=3)
    paid_amount: Decimal | None = Field(default=None, sa_column=Column(PAID, nullable=True))
    language: str = Field(default="fr", max_length=2)
    # Who recorded it when a person did (the cashier of a counter sale: an api.actors label).
    created_by: str = Field(default="", max_length=80)
    reason: str = Field(default="", max_length=120)  # why failed / held (a stable code)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))


class Token(SQLModel, table=True):
    __tablename__ = "tokens"

    id: int | None = Field(default=None, primary_key=True)
    # At most one token per payment: the last guard of "exactly one token per payment".
    payment_id: int | None = Field(default=None, foreign_key="payments.id", unique=True)
    meter_id: int = Field(foreign_key="meters.id", index=True)
    kind: str = Field(max_length=24)  # credit | clear_credit | clear_tamper | set_mpl | key_change
    token: str = Field(max_length=100)  # 20 digits; a key change is 2 or 4 tokens joined by spaces
    tid: int | None = None
    units: Decimal | None = Field(default=None, sa_column=Column(UNITS, nullable=True))
    amount: Decimal | None = Field(default=None, sa_column=Column(MONEY, nullable=True))
    currency: str = Field(default="", max_length=3)
    vat: Decimal | None = Field(default=None, sa_column=Column(MONEY, nullable=True))
    issued_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
