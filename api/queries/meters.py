"""Meters: finding one by what a person types, their public parameters (never keys), and whether a
payment is in flight for one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from api.errors import NotFound
from api.models import Meter, Payment, PaymentStatus, Subscriber, VendingKeyRecord

# A payment in one of these states may still make a token for its meter (held: a person may vend it).
IN_FLIGHT = (PaymentStatus.QUEUED, PaymentStatus.PENDING, PaymentStatus.HELD)


def find(session: Session, number: str) -> Meter | None:
    """A live meter by DRN (11/13 digits), MeterPAN (18 digits) or its subscriber's customer code (the
    subscriber's first live meter); None if there is none. Raises nothing."""
    number = number.strip().replace(" ", "")
    if not number or len(number) > 20:
        return None
    if number.isascii() and number.isdigit() and len(number) in (11, 13):
        stmt = select(Meter).where(col(Meter.drn) == number)
    elif number.isascii() and number.isdigit() and len(number) == 18:
        stmt = select(Meter).where(col(Meter.pan) == number)
    else:
        stmt = (
            select(Meter)
            .join(Subscriber, col(Subscriber.id) == col(Meter.subscriber_id))
            .where(col(Subscriber.customer_code) == number.upper(), col(Subscriber.deleted_at).is_(None))
            .order_by(col(Meter.id))
        )
    return session.scalars(stmt.where(col(Meter.deleted_at).is_(None))).first()


def find_or_404(session: Session, number: str, *, lock: bool = False) -> Meter:
    """Like `find`; raises NotFound (code `meter_not_found`). `lock`: the row is locked until commit
    (SELECT ... FOR UPDATE), as a token for it must be."""
    meter = find(session, number)
    if meter is None or meter.id is None:
        raise NotFound("no such meter", code="meter_not_found")
    return locked(session, meter.id) if lock else meter


def get_live(session: Session, meter_id: int, *, lock: bool = False) -> Meter:
    """The live (not deleted) meter with this id. Raises NotFound (code `meter_not_found`)."""
    stmt = select(Meter).where(col(Meter.id) == meter_id, col(Meter.deleted_at).is_(None))
    meter = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if meter is None:
        raise NotFound("no such meter", code="meter_not_found")
    return meter


def locked(session: Session, meter_id: int) -> Meter:
    """The meter row locked until commit (deleted or not: a vend in flight still completes)."""
    return session.scalars(select(Meter).where(col(Meter.id) == meter_id).with_for_update()).one()


def payment_in_flight(session: Session, meter_id: int) -> bool:
    """True while a payment for this meter may still make a token (queued, pending, held)."""
    stmt = select(col(Payment.id)).where(
        col(Payment.meter_id) == meter_id, col(Payment.status).in_([s.value for s in IN_FLIGHT])
    )
    return session.scalars(stmt.limit(1)).first() is not None


@dataclass(frozen=True)
class MeterView:
    """A meter as pages and the API show it: its identity and key PARAMETERS, never a key."""

    id: int
    drn: str
    pan: str
    serial_number: str
    phases: int
    latitude: float | None
    longitude: float | None
    altitude: float | None
    connection_date: date | None
    subscriber_id: int | None
    tariff_name: str
    sgc: int
    ti: int
    krn: int
    kt: int
    ken: int
    base_date: int
    dkga: int
    ea: int
    vending_key: str  # the key's label
    last_tid: int | None
    connected: bool
    serial_url: str
    created_at: datetime
    deleted_at: datetime | None


def view(session: Session, meter: Meter) -> MeterView:
    """The MeterView of a meter row."""
    label = session.scalars(
        select(col(VendingKeyRecord.label)).where(col(VendingKeyRecord.id) == meter.vending_key_id)
    ).first()
    return _view(meter, label or "")


def _view(m: Meter, label: str) -> MeterView:
    assert m.id is not None
    return MeterView(
        m.id,
        m.drn,
        m.pan,
        m.serial_number,
        m.phases,
        m.latitude,
        m.longitude,
        m.altitude,
        m.connection_date,
        m.subscriber_id,
        m.tariff_name,
        m.sgc,
        m.ti,
        m.krn,
        m.kt,
        m.ken,
        m.base_date,
        m.dkga,
        m.ea,
        label,
        m.last_tid,
        m.connected,
        m.serial_url,
        m.created_at,
        m.deleted_at,
    )


def of_subscriber(session: Session, subscriber_id: int, *, deleted: bool = False) -> list[MeterView]:
    """The meters of a subscriber (live ones; with `deleted`, the deleted ones too), oldest first."""
    stmt = (
        select(Meter, col(VendingKeyRecord.label))
        .join(VendingKeyRecord, col(VendingKeyRecord.id) == col(Meter.vending_key_id))
        .where(col(Meter.subscriber_id) == subscriber_id)
        .order_by(col(Meter.id))
    )
    if not deleted:
        stmt = stmt.where(col(Meter.deleted_at).is_(None))
    return [_view(m, label) for m, label in session.execute(stmt).all()]


def holder(session: Session, meter: Meter) -> Subscriber | None:
    """The live subscriber holding a meter, if any."""
    if meter.subscriber_id is None:
        return None
    sub = session.get(Subscriber, meter.subscriber_id)
    return sub if sub is not None and sub.deleted_at is None else None
