"""Selling: the counter sale (cash, by a cashier) and the vendor API's sale, both through the ONE vend
path the mobile-money providers use: a Payment row, then a payment event applied by the service's
vend queue (api.service.VendQueue -> api.vend.Vendor). Also the units preview, reprint and resend SMS.

Idempotency: a sale names a key (the counter form's hidden field, the vendor's reference); the payment's
reference is derived from it, so the same key again finds the same payment and its one token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col
from starlette.concurrency import run_in_threadpool

from api.actors import Actor
from api.audit import record
from api.db import reading, transaction
from api.errors import AmountOutOfLimits, Conflict, FieldErrors, NotFound
from api.models import Meter, Payment, PaymentStatus, SmsOutbox, Token
from api.payments.base import PaymentEvent
from api.payments.base import PaymentStatus as EventStatus
from api.pricing import CURRENCIES, Quote, quote
from api.queries import meters as meter_queries
from api.queries import tokens as token_queries
from api.queries.tariffs import in_force
from api.resend import resend_body
from api.service import Service
from api.usecases.fields import Fields
from api.vend import VENDABLE

MAX_KEY = 200
UNIT_MIN, UNIT_MAX = Decimal("0.1"), Decimal(1_000_000)  # kWh per unit credit


class Channel(StrEnum):
    """Where a sale is made: the payment's `channel`; `provider` is the name its event carries."""

    CASH = "cash"  # the counter: a cashier takes the money
    API = "api"  # a vendor's system (REST API key)

    @property
    def provider(self) -> str:
        return "cash" if self is Channel.CASH else "vendor"


@dataclass(frozen=True)
class SaleResult:
    """A sale's payment and, once vended, its token (held: no token, `reason` says why)."""

    payment_id: int
    reference: str
    status: PaymentStatus  # vended | held (| pending for a sale another request is still vending)
    reason: str
    token_id: int | None
    token: str | None  # 20 digits
    tid: int | None
    units: Decimal | None  # kWh
    amount: Decimal
    currency: str
    vat: Decimal | None
    meter_id: int
    meter_drn: str
    subscriber_id: int | None
    recorded_by: str  # the cashier / API key (actor label)
    created_at: datetime
    replayed: bool  # True: the key was seen before; this is the first sale's outcome


def _priced(
    session: Session, meter_number: object, amount: object, currency: object, at: datetime
) -> tuple[Meter, Quote]:
    """The live meter and the quote of `amount` under its tariff in force at `at`. Raises FieldErrors
    (`meter`: required/meter_not_found; `amount`: invalid_amount/amount_out_of_limits; `currency`:
    invalid_choice/no_tariff)."""
    f = Fields()
    number = f.text("meter", meter_number, max_len=24, required=True)
    value = f.money("amount", amount)
    cur = f.choice("currency", currency, CURRENCIES)
    meter = meter_queries.find(session, number) if number else None
    if number and meter is None:
        f.fail("meter", "meter_not_found")
    f.done()
    assert meter is not None
    tariff = in_force(session, meter.tariff_name, cur, at)
    if tariff is None:
        raise FieldErrors({"currency": "no_tariff"})
    try:
        return meter, quote(tariff, value)
    except AmountOutOfLimits:
        raise FieldErrors({"amount": "amount_out_of_limits"}) from None


def preview(session: Session, meter_number: object, amount: object, currency: object, at: datetime) -> Quote:
    """What `amount` buys for this meter now (units from the tariff in force at `at`, VAT, fee). Writes
    nothing. Raises FieldErrors (fields `meter`, `amount`, `currency`)."""
    return _priced(session, meter_number, amount, currency, at)[1]


def reference_for(channel: Channel, scope: str, key: str) -> str:
    """The payment reference of an idempotency key (36 characters, whatever the key's length)."""
    digest = hashlib.sha256(f"{channel}|{scope}|{key}".encode()).hexdigest()[:32]
    return f"{channel}-{digest}"


async def counter_sale(
    service: Service,
    actor: Actor,
    meter_number: object,
    amount: object,
    currency: object,
    idempotency_key: str,
) -> SaleResult:
    """A cash sale at the counter by `actor` (the cashier, recorded on the payment): a manual payment
    vended by the service's vend path; the token SMS goes to the meter's holder. The same
    `idempotency_key` again (a double click, a resubmitted form) returns the first sale
    (`replayed=True`): one payment, one token. Raises FieldErrors (`meter`, `amount`, `currency`,
    `idempotency_key`) before writing anything, or Conflict (`idempotency_key_reused`) when the key
    was used for a different sale."""
    return await sell(service, actor, meter_number, amount, currency, idempotency_key, Channel.CASH)


async def sell(
    service: Service,
    actor: Actor,
    meter_number: object,
    amount: object,
    currency: object,
    idempotency_key: str | None,
    channel: Channel,
) -> SaleResult:
    """A sale on `channel` (see counter_sale; for the API, a None key means a fresh one). Same errors."""
    if idempotency_key is None:
        idempotency_key = secrets.token_hex(16)
    if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= MAX_KEY:
        raise FieldErrors({"idempotency_key": "invalid"})
    scope = actor.ident if channel is Channel.API else ""  # a vendor's references are its own
    reference = reference_for(channel, scope, idempotency_key)
    recorded = await run_in_threadpool(
        _record, service, actor, reference, meter_number, amount, currency, channel
    )
    if recorded.vendable:
        event = PaymentEvent(
            provider=channel.provider,
            provider_txn_id=reference,
            reference=reference,
            status=EventStatus.SUCCEEDED,
            amount=recorded.amount,
            currency=recorded.currency,
            msisdn=None,
        )
        await service.apply_events([event])
    payment_id, replayed = recorded.payment_id, recorded.replayed
    return await run_in_threadpool(_result, service, payment_id, replayed)


def _record(
    service: Service,
    actor: Actor,
    reference: str,
    meter_number: object,
    amount: object,
    currency: object,
    channel: Channel,
) -> _Recorded:
    """The sale's payment, recorded now or found again."""
    try:
        with transaction(service.engine) as session:
            meter, q = _priced(session, meter_number, amount, currency, service.clock())
            existing = _by_reference(session, reference)
            if existing is not None:
                return _replay(existing, meter, q)
            holder = meter_queries.holder(session, meter)
            payment = Payment(
                reference=reference,
                channel=channel.value,
                provider=channel.provider,
                status=PaymentStatus.PENDING,
                meter_id=meter.id,
                subscriber_id=meter.subscriber_id,
                account=meter.drn,
                amount=q.amount,
                currency=q.currency,
                language=holder.language if holder else "fr",
                created_by=actor.label,
                created_at=service.clock(),
                updated_at=service.clock(),
            )
            session.add(payment)
            session.flush()
            assert payment.id is not None
            record(session, actor, "sale_recorded", reference, after=payment)
            return _Recorded(payment.id, False, True, payment.amount, payment.currency)
    except IntegrityError:  # the same key submitted twice at once: the other request recorded it
        with reading(service.engine) as session:
            meter, q = _priced(session, meter_number, amount, currency, service.clock())
            existing = _by_reference(session, reference)
            if existing is None:
                raise
            return _replay(existing, meter, q)


def _by_reference(session: Session, reference: str) -> Payment | None:
    return session.scalars(select(Payment).where(col(Payment.reference) == reference)).first()


@dataclass(frozen=True)
class _Recorded:
    payment_id: int
    replayed: bool
    vendable: bool  # not vended yet: apply its event (again: the vend path makes one token at most)
    amount: Decimal
    currency: str


def _replay(existing: Payment, meter: Meter, q: Quote) -> _Recorded:
    if (existing.meter_id, existing.amount, existing.currency) != (meter.id, q.amount, q.currency):
        raise Conflict("this sale key was already used for another sale", code="idempotency_key_reused")
    assert existing.id is not None
    vendable = existing.status in VENDABLE
    return _Recorded(existing.id, True, vendable, existing.amount, existing.currency)


def _result(service: Service, payment_id: int, replayed: bool) -> SaleResult:
    with reading(service.engine) as session:
        p = session.get(Payment, payment_id)
        assert p is not None and p.id is not None and p.meter_id is not None
        token = session.scalars(select(Token).where(col(Token.payment_id) == p.id)).first()
        meter = session.get(Meter, p.meter_id)
        assert meter is not None
        return SaleResult(
            p.id,
            p.reference,
            PaymentStatus(p.status),
            p.reason,
            token.id if token else None,
            token.token if token else None,
            token.tid if token else None,
            token.units if token else None,
            p.amount,
            p.currency,
            token.vat if token else None,
            meter.id or 0,
            meter.drn,
            p.subscriber_id,
            p.created_by,
            p.created_at,
            replayed,
        )


def reprint(session: Session, actor: Actor, token_id: int) -> token_queries.TokenView:
    """The token to print again (receipt or technician sheet); the reprint is audited. Raises NotFound
    (`token_not_found`)."""
    view = token_queries.get(session, token_id)
    record(session, actor, "token_reprinted", view.meter_drn, note=f"token #{view.id}")
    return view


def resend_sms(service: Service, actor: Actor, token_id: int) -> int:
    """Queue the credit token's SMS again to the payer's phone (else the meter holder's); audited.
    Returns the outbox row id. Raises NotFound (`token_not_found`) or Conflict (`no_phone`,
    `not_a_credit_token`)."""
    with transaction(service.engine) as session:
        token = session.get(Token, token_id)
        if token is None:
            raise NotFound("no such token", code="token_not_found")
        if token.kind != "credit":
            raise Conflict("only credit tokens are sent by SMS", code="not_a_credit_token")
        meter = session.get(Meter, token.meter_id)
        assert meter is not None
        payment = session.get(Payment, token.payment_id) if token.payment_id else None
        holder = meter_queries.holder(session, meter)
        to = (payment.msisdn if payment else "") or (holder.phone if holder else "")
        if not to:
            raise Conflict("nobody's phone is known for this token", code="no_phone")
        language = (payment.language if payment else "") or (holder.language if holder else "fr")
        now = service.clock()
        text = resend_body(language, meter.drn, token, service.settings.zone)
        sms = SmsOutbox(to=to, text=text, kind="token", payment_id=token.payment_id, created_at=now)
        sms.next_attempt_at = now
        session.add(sms)
        session.flush()
        assert sms.id is not None
        record(session, actor, "token_sms_resent", meter.drn, note=f"token #{token.id} to {to}")
        sms_id = sms.id
    service.wake_sms()
    return sms_id
