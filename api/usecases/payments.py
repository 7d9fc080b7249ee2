"""Payments held for review (amount or currency mismatch, unknown meter, no tariff, a token rule): a
person resolves each, by vending it after all or by marking it for refund. Both are audited."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from api.actors import Actor
from api.audit import record
from api.db import transaction
from api.errors import AmountOutOfLimits, Conflict, FieldErrors, NotFound, VendRefused
from api.messages import token_sms
from api.models import Payment, PaymentStatus, SmsOutbox
from api.pricing import quote
from api.queries import meters as meter_queries
from api.queries.tariffs import in_force
from api.service import Service
from api.usecases.fields import Fields
from api.vend import sms_values
from tokencore import TokenError

NOTE_MAX = 200


class Resolution(StrEnum):
    VEND = "vend"  # issue the token for what was paid
    REFUND = "refund"  # no token: the money goes back (outside the service); the payment is closed


@dataclass(frozen=True)
class Resolved:
    payment_id: int
    status: PaymentStatus  # vended | refund
    token_id: int | None
    token: str | None
    units: Decimal | None


def resolve_held(
    service: Service,
    actor: Actor,
    payment_id: int,
    action: Resolution | str,
    note: str,
    meter_number: str | None = None,
) -> Resolved:
    """Resolve a HELD payment: `vend` issues the token for the amount actually paid (for the payment's
    meter, or `meter_number` when it named none) under the tariff in force, queues its SMS and marks
    it vended; `refund` marks it for refund. Audited with `note`. Raises NotFound
    (`payment_not_found`, `meter_not_found`), Conflict (`not_held`: already resolved), FieldErrors
    (`action`, `note`, `meter`: required/meter_not_found, `amount`: amount_out_of_limits, `currency`:
    no_tariff) or VendRefused; on any error nothing changes."""
    f = Fields()
    chosen = f.choice("action", action, list(Resolution))
    text = f.text("note", note, max_len=NOTE_MAX, required=True)
    f.done()
    with transaction(service.engine) as session:
        payment = _held(session, payment_id)
        before = {c: getattr(payment, c) for c in ("status", "reason", "meter_id", "subscriber_id")}
        if chosen is Resolution.REFUND:
            payment.status, payment.reason = PaymentStatus.REFUND, "refund"
            result = Resolved(payment_id, PaymentStatus.REFUND, None, None, None)
        else:
            result = _vend(service, session, payment, meter_number)
        payment.updated_at = service.clock()
        after = {c: getattr(payment, c) for c in ("status", "reason", "meter_id", "subscriber_id")}
        record(
            session,
            actor,
            f"payment_{chosen.value}",
            payment.reference,
            before=before,
            after=after,
            note=text,
        )
    if result.token_id is not None:
        service.wake_sms()
        service.wake_push()
    return result


def _held(session: Session, payment_id: int) -> Payment:
    payment = session.scalars(select(Payment).where(col(Payment.id) == payment_id).with_for_update()).first()
    if payment is None:
        raise NotFound("no such payment", code="payment_not_found")
    if payment.status != PaymentStatus.HELD:
        raise Conflict(f"this payment is {payment.status}, not held", code="not_held")
    return payment


def _vend(service: Service, session: Session, payment: Payment, meter_number: str | None) -> Resolved:
    assert payment.id is not None
    if payment.meter_id is None:
        if not meter_number:
            raise FieldErrors({"meter": "required"})
        found = meter_queries.find(session, meter_number)
        if found is None:
            raise FieldErrors({"meter": "meter_not_found"})
        payment.meter_id, payment.subscriber_id = found.id, found.subscriber_id
    assert payment.meter_id is not None
    meter = meter_queries.locked(session, payment.meter_id)
    paid = payment.paid_amount if payment.paid_amount is not None else payment.amount
    tariff = in_force(session, meter.tariff_name, payment.currency, service.clock())
    if tariff is None:
        raise FieldErrors({"currency": "no_tariff"})
    try:
        q = quote(tariff, paid)
    except AmountOutOfLimits:
        raise FieldErrors({"amount": "amount_out_of_limits"}) from None
    try:
        issued = service.vendor.issue_credit(
            session,
            meter,
            q.units,
            issued_by=f"payment:{payment.reference}",
            payment_id=payment.id,
            amount=paid,
            currency=payment.currency,
            vat=q.vat,
        )
    except TokenError as exc:
        raise VendRefused(str(exc), code=exc.code) from None
    payment.status, payment.reason = PaymentStatus.VENDED, ""
    holder = meter_queries.holder(session, meter)
    phone = payment.msisdn or (holder.phone if holder else "")
    if phone:
        text = token_sms(
            payment.language,
            token=issued.token,
            units=issued.units,
            meter=meter.drn,
            amount=paid,
            currency=payment.currency,
        )
        session.add(SmsOutbox(**sms_values(phone, text, "token", payment.id, service.clock())))
    return Resolved(payment.id, PaymentStatus.VENDED, issued.token_id, issued.token, issued.units)
