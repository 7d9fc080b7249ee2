"""Payments: the filtered, keyset-paginated list (newest first) and one payment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from api.errors import InvalidInput, NotFound
from api.models import Meter, Payment, PaymentStatus, Subscriber
from api.phone import digits_fragment, is_msisdn
from api.pricing import CURRENCIES
from api.queries import Page, check_limit, decode_cursor, like_pattern, page_of

MAX_FILTER = 40


@dataclass(frozen=True)
class PaymentFilter:
    """Every field narrows the list; None/empty: no condition. `since` inclusive, `until` exclusive.
    `phone`: an exact E.164 number, or a fragment of its digits."""

    status: PaymentStatus | str | None = None
    provider: str | None = None
    currency: str | None = None
    channel: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    phone: str | None = None
    meter_id: int | None = None
    subscriber_id: int | None = None


@dataclass(frozen=True)
class PaymentView:
    id: int
    reference: str
    channel: str
    provider: str
    provider_txn_id: str | None
    status: PaymentStatus
    reason: str
    msisdn: str
    meter_id: int | None
    meter_drn: str | None
    subscriber_id: int | None
    customer_code: str | None
    amount: Decimal
    currency: str
    paid_amount: Decimal | None
    created_by: str
    created_at: datetime
    updated_at: datetime


def _checked(f: PaymentFilter) -> PaymentFilter:
    """Raises InvalidInput (code `invalid_query`) for a filter no payment could match by mistake."""
    bad = None
    if f.status and f.status not in {s.value for s in PaymentStatus}:
        bad = "unknown status"
    elif f.currency and f.currency not in CURRENCIES:
        bad = "unknown currency"
    elif any(v is not None and len(v) > MAX_FILTER for v in (f.provider, f.channel, f.phone)):
        bad = "filter text too long"
    elif any(t is not None and t.tzinfo is None for t in (f.since, f.until)):
        bad = "dates must carry their time zone"
    elif f.since and f.until and f.since >= f.until:
        bad = "the start date must be before the end date"
    if bad:
        raise InvalidInput(bad, code="invalid_query")
    return f


def listing(
    session: Session, filters: PaymentFilter = PaymentFilter(), cursor: str | None = None, limit: int = 50
) -> Page[PaymentView]:
    """Payments matching `filters`, newest first, `limit` per page after `cursor`. Raises InvalidInput
    (codes `invalid_query`, `invalid_cursor`)."""
    f, limit = _checked(filters), check_limit(limit)
    stmt = (
        select(Payment, col(Meter.drn), col(Subscriber.customer_code))
        .outerjoin(Meter, col(Meter.id) == col(Payment.meter_id))
        .outerjoin(Subscriber, col(Subscriber.id) == col(Payment.subscriber_id))
    )
    exact = {
        Payment.status: f.status,
        Payment.provider: f.provider,
        Payment.currency: f.currency,
        Payment.channel: f.channel,
        Payment.meter_id: f.meter_id,
        Payment.subscriber_id: f.subscriber_id,
    }
    for column, value in exact.items():
        if value is not None and value != "":
            stmt = stmt.where(col(column) == value)
    if f.since is not None:
        stmt = stmt.where(col(Payment.created_at) >= f.since)
    if f.until is not None:
        stmt = stmt.where(col(Payment.created_at) < f.until)
    if f.phone:
        if is_msisdn(f.phone):
            stmt = stmt.where(col(Payment.msisdn) == f.phone)
        else:
            stmt = stmt.where(col(Payment.msisdn).like(like_pattern(digits_fragment(f.phone)), escape="\\"))
    if cursor:
        (last_id,) = decode_cursor(cursor, [int])
        stmt = stmt.where(col(Payment.id) < last_id)
    rows = session.execute(stmt.order_by(col(Payment.id).desc()).limit(limit + 1)).all()
    views = [_view(p, drn, code) for p, drn, code in rows]
    return page_of(views, limit, lambda v: [v.id])


def _view(p: Payment, drn: str | None, code: str | None) -> PaymentView:
    assert p.id is not None
    return PaymentView(
        p.id,
        p.reference,
        p.channel,
        p.provider,
        p.provider_txn_id,
        PaymentStatus(p.status),
        p.reason,
        p.msisdn,
        p.meter_id,
        drn,
        p.subscriber_id,
        code,
        p.amount,
        p.currency,
        p.paid_amount,
        p.created_by,
        p.created_at,
        p.updated_at,
    )


def get(session: Session, payment_id: int) -> PaymentView:
    """One payment. Raises NotFound (code `payment_not_found`)."""
    row = session.execute(
        select(Payment, col(Meter.drn), col(Subscriber.customer_code))
        .outerjoin(Meter, col(Meter.id) == col(Payment.meter_id))
        .outerjoin(Subscriber, col(Subscriber.id) == col(Payment.subscriber_id))
        .where(col(Payment.id) == payment_id)
    ).first()
    if row is None:
        raise NotFound("no such payment", code="payment_not_found")
    return _view(*row)


def held(session: Session, cursor: str | None = None, limit: int = 50) -> Page[PaymentView]:
    """Payments held for review (amount mismatch, unknown meter ...), newest first."""
    return listing(session, PaymentFilter(status=PaymentStatus.HELD), cursor, limit)
