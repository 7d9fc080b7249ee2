"""Subscribers: register one with its meters in one go (the thesis's form), add a meter later, edit,
and delete (soft: payments and tokens stay readable)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from api.actors import Actor
from api.audit import record
from api.errors import Conflict
from api.models import Meter, Subscriber
from api.models.base import utcnow
from api.queries import meters as meter_queries
from api.queries import subscribers as subscriber_queries
from api.usecases.fields import Fields
from api.usecases.meters import MeterInput, check_new, snapshot_fields

LANGUAGES = ("fr", "en", "sw")
CUSTOMER_CODE = re.compile(r"[A-Z0-9-]{3,20}")
# Codes given to new subscribers: the utility's prefix and the row id, `ENK-000042`.
CODE_PREFIX = "ENK"
MAX_METERS = 20  # in one form


@dataclass(frozen=True)
class SubscriberInput:
    """A subscriber as the form posts it (typed values are accepted too)."""

    name: object
    phone: object  # +243..., 099..., 00243...: stored as E.164
    post_name: object = ""
    quarter: object = ""
    cell: object = ""
    avenue: object = ""
    language: object = "fr"
    customer_code: object = ""  # empty: `ENK-<id>` is given at registration (kept as is on edit)


def _check(session: Session, f: Fields, spec: SubscriberInput, *, current_id: int | None) -> Subscriber:
    sub = Subscriber(
        customer_code="",
        name=f.text("name", spec.name, required=True),
        post_name=f.text("post_name", spec.post_name),
        phone=f.phone("phone", spec.phone),
        quarter=f.text("quarter", spec.quarter),
        cell=f.text("cell", spec.cell),
        avenue=f.text("avenue", spec.avenue),
        language=f.choice("language", spec.language, LANGUAGES),
    )
    code = f.text("customer_code", spec.customer_code, max_len=20).upper()
    if code:
        if not CUSTOMER_CODE.fullmatch(code) or code.isdigit():
            f.fail("customer_code", "invalid_customer_code")
        else:
            stmt = select(col(Subscriber.id)).where(col(Subscriber.customer_code) == code)
            other = session.scalars(stmt).first()
            if other is not None and other != current_id:
                f.fail("customer_code", "customer_code_taken")
    sub.customer_code = code
    return sub


def register(
    session: Session, actor: Actor, spec: SubscriberInput, meters: Sequence[MeterInput] = ()
) -> Subscriber:
    """Register a subscriber and its meters in the caller's transaction (audited). Every field is
    checked first: FieldErrors names each bad one (meter fields as `meters.<i>.<field>`) and nothing is
    written. A subscriber without a customer code gets `ENK-<id>` (six digits)."""
    f = Fields()
    sub = _check(session, f, spec, current_id=None)
    if len(meters) > MAX_METERS:
        f.fail("meters", "too_long")
    new_meters = _check_meters(session, f, meters)
    f.done()
    code = sub.customer_code
    sub.customer_code = code or f"tmp-{secrets.token_hex(8)}"  # unique until the id is known
    session.add(sub)
    session.flush()
    assert sub.id is not None
    if not code:
        sub.customer_code = f"{CODE_PREFIX}-{sub.id:06d}"
    record(session, actor, "subscriber_registered", sub.customer_code, after=sub)
    for meter in new_meters:
        meter.subscriber_id = sub.id
        session.add(meter)
    session.flush()
    for meter in new_meters:
        record(session, actor, "meter_registered", meter.drn, after=snapshot_fields(meter))
    return sub


def _check_meters(session: Session, f: Fields, meters: Sequence[MeterInput]) -> list[Meter]:
    taken: set[str] = set()
    out = []
    for index, spec in enumerate(meters[:MAX_METERS]):
        sub_fields = Fields()
        meter = check_new(session, sub_fields, spec, taken=taken)
        for name, key in sub_fields.errors.items():
            f.fail(f"meters.{index}.{name}", key)
        if meter is not None:
            out.append(meter)
    return out


def add_meter(session: Session, actor: Actor, subscriber_id: int | None, spec: MeterInput) -> Meter:
    """Register a meter for a live subscriber (None: a meter nobody holds yet), audited. Raises
    NotFound (`subscriber_not_found`) or FieldErrors (nothing written)."""
    if subscriber_id is not None:
        subscriber_queries.get(session, subscriber_id)
    f = Fields()
    meter = check_new(session, f, spec, taken=set())
    f.done()
    assert meter is not None
    meter.subscriber_id = subscriber_id
    session.add(meter)
    session.flush()
    record(session, actor, "meter_registered", meter.drn, after=snapshot_fields(meter))
    return meter


def edit(session: Session, actor: Actor, subscriber_id: int, spec: SubscriberInput) -> Subscriber:
    """Replace a live subscriber's fields with `spec` (an empty customer code keeps the current one),
    audited before -> after. Raises NotFound (`subscriber_not_found`) or FieldErrors."""
    sub = subscriber_queries.get(session, subscriber_id)
    f = Fields()
    checked = _check(session, f, spec, current_id=sub.id)
    f.done()
    before = dict(_columns(sub))
    for name in ("name", "post_name", "phone", "quarter", "cell", "avenue", "language"):
        setattr(sub, name, getattr(checked, name))
    sub.customer_code = checked.customer_code or sub.customer_code
    record(session, actor, "subscriber_edited", sub.customer_code, before=before, after=sub)
    session.flush()
    return sub


def delete(session: Session, actor: Actor, subscriber_id: int) -> Subscriber:
    """Soft-delete a live subscriber and its meters (history kept), audited. Raises NotFound
    (`subscriber_not_found`) or Conflict (`payment_in_flight`) while a payment for one of its meters is
    queued, pending or held."""
    sub = subscriber_queries.get(session, subscriber_id)
    live = session.scalars(
        select(Meter)
        .where(col(Meter.subscriber_id) == subscriber_id, col(Meter.deleted_at).is_(None))
        .order_by(col(Meter.id))
        .with_for_update()
    ).all()
    if any(meter_queries.payment_in_flight(session, m.id or 0) for m in live):
        raise Conflict("a payment for one of its meters is still in flight", code="payment_in_flight")
    now = utcnow()
    before = dict(_columns(sub))
    sub.deleted_at = now
    record(session, actor, "subscriber_deleted", sub.customer_code, before=before, after=sub)
    for meter in live:
        old = snapshot_fields(meter)
        meter.deleted_at = now
        record(session, actor, "meter_deleted", meter.drn, before=old, after=snapshot_fields(meter))
    session.flush()
    return sub


def _columns(row: Subscriber) -> dict[str, object]:
    return {c.name: getattr(row, c.name) for c in Subscriber.__table__.columns}  # type: ignore[attr-defined]
