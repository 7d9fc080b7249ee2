"""The vend: a confirmed payment becomes exactly one token, in one database transaction.

    lock payment -> check its state -> lock meter -> units from the tariff -> token from tokencore
    (meter's key, last TID) -> store token, meter.last_tid, payment state -> queue SMS (+ serial push)

Exactly-once comes from three guards that all live in the same transaction: the payment row is locked
(SELECT ... FOR UPDATE on PostgreSQL; BEGIN IMMEDIATE on SQLite) and its state moves only forward; the
provider's transaction id is unique per provider; a token row is unique per payment. Two payments for one
meter serialise on the meter row, so each reads the TID the other stored and tokencore issues a greater
one (the same-minute rule).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from api.db import transaction
from api.errors import ServiceError
from api.keyring import Keyring
from api.messages import failed_sms, held_sms, token_sms
from api.metrics import Metrics
from api.models import Meter, MeterPush, Payment, PaymentStatus, SmsOutbox, Tariff, Token, VendingKeyRecord
from api.models.audit import AuditLog
from api.models.base import utcnow
from api.payments.base import PaymentEvent
from api.payments.base import PaymentStatus as EventStatus
from api.pricing import quote
from tokencore import TokenError

log = logging.getLogger("nguvu.vend")

Clock = Callable[[], datetime]

# Payment states from which money arriving makes a token (EXPIRED too: a late success still paid).
VENDABLE = (PaymentStatus.QUEUED, PaymentStatus.PENDING, PaymentStatus.EXPIRED)


@dataclass(frozen=True)
class VendResult:
    outcome: str  # vended | duplicate | held | failed | ignored | unknown_payment
    payment_id: int | None = None
    token_id: int | None = None
    token: str | None = None
    units: Decimal | None = None
    reason: str = ""


@dataclass(frozen=True)
class IssuedCredit:
    token_id: int
    token: str
    tid: int | None
    units: Decimal


class Vendor:
    """Applies verified payment events and issues credit tokens. Thread-safe; one per process."""

    def __init__(
        self,
        engine: Engine,
        keyring: Keyring,
        metrics: Metrics,
        *,
        clock: Clock = utcnow,
        rnd: Callable[[], int] = lambda: secrets.randbelow(16),
    ) -> None:
        self.engine = engine
        self.keyring = keyring
        self.metrics = metrics
        self.clock = clock
        self.rnd = rnd

    def apply_event(self, event: PaymentEvent) -> VendResult:
        """Act on one verified event. Safe to call any number of times, concurrently, for one event."""
        with self.metrics.vend_latency.time():
            try:
                with transaction(self.engine) as session:
                    result = self._apply(session, event)
            except IntegrityError:
                # Another worker recorded the same provider transaction first: this one is a duplicate.
                result = VendResult("duplicate", reason="provider_txn_seen")
        self.metrics.vend_outcomes.labels(result.outcome, result.reason or "-").inc()
        return result

    def _apply(self, session: Session, event: PaymentEvent) -> VendResult:
        payment = self._find_payment(session, event)
        if payment is None:
            if event.status is not EventStatus.SUCCEEDED or event.reference is not None:
                return VendResult("unknown_payment", reason="unknown_reference")
            payment = self._c2b_payment(session, event)
        assert payment.id is not None
        if event.status is EventStatus.FAILED:
            return self._fail(session, payment, event)
        if event.status is not EventStatus.SUCCEEDED:
            return VendResult("ignored", payment.id, reason=str(event.status))
        if payment.status not in VENDABLE:
            return VendResult("duplicate", payment.id, reason=f"payment_{payment.status}")
        payment.provider_txn_id = event.provider_txn_id
        payment.paid_amount = event.amount
        payment.updated_at = self.clock()
        if event.provider_ref and not payment.provider_ref:
            payment.provider_ref = event.provider_ref
        mismatch = _mismatch(payment, event)
        if mismatch:
            return self._hold(session, payment, mismatch)
        return self._vend(session, payment)

    def _find_payment(self, session: Session, event: PaymentEvent) -> Payment | None:
        if event.reference is not None:
            stmt = select(Payment).where(col(Payment.reference) == event.reference)
        elif event.provider_txn_id is not None:
            stmt = select(Payment).where(
                col(Payment.provider) == event.provider, col(Payment.provider_txn_id) == event.provider_txn_id
            )
        else:
            return None
        return session.scalars(stmt.with_for_update()).first()

    def _c2b_payment(self, session: Session, event: PaymentEvent) -> Payment:
        """A payment the payer started (paybill with the meter number as account): record it first."""
        meter = find_meter(session, event.account or "")
        payment = Payment(
            reference=f"c2b-{secrets.token_hex(8)}",
            channel="c2b",
            provider=event.provider,
            provider_txn_id=event.provider_txn_id,
            msisdn=event.msisdn or "",
            meter_id=meter.id if meter else None,
            subscriber_id=meter.subscriber_id if meter else None,
            account=(event.account or "")[:40],
            amount=event.amount if event.amount is not None else Decimal(0),
            currency=(event.currency or "")[:3],
            status=PaymentStatus.PENDING,
        )
        session.add(payment)
        session.flush()
        return payment

    def _fail(self, session: Session, payment: Payment, event: PaymentEvent) -> VendResult:
        assert payment.id is not None
        if payment.status not in (PaymentStatus.QUEUED, PaymentStatus.PENDING):
            return VendResult("duplicate", payment.id, reason=f"payment_{payment.status}")
        payment.status = PaymentStatus.FAILED
        payment.reason = (event.message or "declined")[:120]
        payment.updated_at = self.clock()
        meter = session.get(Meter, payment.meter_id) if payment.meter_id else None
        if payment.msisdn:
            text = failed_sms(
                payment.language,
                amount=payment.amount,
                currency=payment.currency,
                meter=meter.drn if meter else "-",
            )
            session.add(SmsOutbox(to=payment.msisdn, text=text, kind="failed", payment_id=payment.id))
        return VendResult("failed", payment.id, reason="declined")

    def _hold(self, session: Session, payment: Payment, reason: str) -> VendResult:
        assert payment.id is not None
        payment.status = PaymentStatus.HELD
        payment.reason = reason
        session.add(
            AuditLog(
                actor=f"provider:{payment.provider}",
                action="payment_held",
                subject=payment.reference,
                detail=reason,
            )
        )
        if payment.msisdn:
            text = held_sms(payment.language, reference=payment.reference)
            session.add(SmsOutbox(to=payment.msisdn, text=text, kind="held", payment_id=payment.id))
        log.warning("payment %s held for review: %s", payment.reference, reason)
        return VendResult("held", payment.id, reason=reason)

    def _vend(self, session: Session, payment: Payment) -> VendResult:
        assert payment.id is not None and payment.meter_id is not None
        meter = lock_meter(session, payment.meter_id)
        tariff = find_tariff(session, meter, payment.currency)
        if tariff is None:
            return self._hold(session, payment, "no_tariff")
        try:
            q = quote(tariff, payment.amount)
        except ServiceError:  # amount outside limits after the fact (C2B): a person decides
            return self._hold(session, payment, "amount_out_of_limits")
        try:
            issued = self.issue_credit(
                session, meter, q.units, issued_by=f"payment:{payment.reference}", payment=payment, vat=q.vat
            )
        except TokenError as exc:
            return self._hold(session, payment, exc.code)
        payment.status = PaymentStatus.VENDED
        payment.reason = ""
        phone = payment.msisdn or _subscriber_phone(session, meter)
        if phone:
            text = token_sms(
                payment.language,
                token=issued.token,
                units=issued.units,
                meter=meter.drn,
                amount=payment.amount,
                currency=payment.currency,
            )
            session.add(SmsOutbox(to=phone, text=text, kind="token", payment_id=payment.id))
        return VendResult("vended", payment.id, issued.token_id, issued.token, issued.units)

    def issue_credit(
        self,
        session: Session,
        meter: Meter,
        units: Decimal,
        *,
        issued_by: str,
        payment: Payment | None = None,
        vat: Decimal | None = None,
    ) -> IssuedCredit:
        """Issue a credit token for `units` kWh to a LOCKED meter row; store it and queue its push.

        Raises TokenError (nothing is written by this function in that case).
        """
        assert meter.id is not None
        record = session.get(VendingKeyRecord, meter.vending_key_id)
        assert record is not None
        issued = self.keyring.issuer(meter, record).credit(
            units, at=self.clock(), rnd=self.rnd(), last_tid=meter.last_tid
        )
        units = issued.units if issued.units is not None else units
        meter.last_tid = issued.tid
        token = Token(
            payment_id=payment.id if payment else None,
            meter_id=meter.id,
            kind="credit",
            token=issued.token,
            tid=issued.tid,
            units=units,
            amount=payment.amount if payment else None,
            currency=payment.currency if payment else "",
            vat=vat,
            issued_by=issued_by[:64],
        )
        session.add(token)
        session.flush()
        assert token.id is not None
        if meter.connected and meter.serial_url:
            session.add(MeterPush(token_id=token.id, meter_id=meter.id))
        return IssuedCredit(token.id, issued.token, issued.tid, units)


def _mismatch(payment: Payment, event: PaymentEvent) -> str:
    if payment.meter_id is None:
        return "unknown_meter"
    if event.amount is not None and event.amount != payment.amount:
        return "amount_mismatch"
    if event.currency is not None and event.currency != payment.currency:
        return "currency_mismatch"
    return ""


def lock_meter(session: Session, meter_id: int) -> Meter:
    meter = session.scalars(select(Meter).where(col(Meter.id) == meter_id).with_for_update()).one()
    return meter


def find_tariff(session: Session, meter: Meter, currency: str) -> Tariff | None:
    stmt = select(Tariff).where(
        col(Tariff.name) == meter.tariff_name, col(Tariff.currency) == currency, col(Tariff.active)
    )
    return session.scalars(stmt).first()


def find_meter(session: Session, number: str) -> Meter | None:
    """A live meter by DRN (11/13 digits), MeterPAN (18 digits) or its subscriber's customer code."""
    from api.models import Subscriber

    number = number.strip().replace(" ", "")
    if not number or len(number) > 20:
        return None
    if number.isdigit() and len(number) in (11, 13):
        stmt = select(Meter).where(col(Meter.drn) == number)
    elif number.isdigit() and len(number) == 18:
        stmt = select(Meter).where(col(Meter.pan) == number)
    else:
        stmt = (
            select(Meter)
            .join(Subscriber, col(Subscriber.id) == col(Meter.subscriber_id))
            .where(col(Subscriber.customer_code) == number.upper(), col(Subscriber.deleted_at).is_(None))
            .order_by(col(Meter.id))
        )
    return session.scalars(stmt.where(col(Meter.deleted_at).is_(None))).first()


def _subscriber_phone(session: Session, meter: Meter) -> str:
    from api.models import Subscriber

    if meter.subscriber_id is None:
        return ""
    sub = session.get(Subscriber, meter.subscriber_id)
    return sub.phone if sub else ""


def now_utc() -> datetime:
    return utcnow()
