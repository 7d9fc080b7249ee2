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

import hashlib
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.db import transaction
from api.errors import ServiceError
from api.keyring import Keyring
from api.messages import failed_sms, held_sms, token_sms
from api.metrics import Metrics
from api.models import Meter, MeterPush, Payment, PaymentStatus, SmsOutbox, Token, VendingKeyRecord
from api.models.audit import AuditLog
from api.models.base import utcnow
from api.payments.base import PaymentEvent
from api.payments.base import PaymentStatus as EventStatus
from api.pricing import quote
from api.queries import meters
from api.queries.tariffs import in_force
from tokencore import TokenError

log = logging.getLogger("nguvu.vend")

PAYMENTS = Payment.__table__  # type: ignore[attr-defined]
METERS = Meter.__table__  # type: ignore[attr-defined]
TOKENS = Token.__table__  # type: ignore[attr-defined]
SMS = SmsOutbox.__table__  # type: ignore[attr-defined]
PUSHES = MeterPush.__table__  # type: ignore[attr-defined]

# The hot path's statements, built once (executing them still hits SQLAlchemy's compiled cache).
_PAYMENT_BY_REFERENCE = select(PAYMENTS).where(PAYMENTS.c.reference == bindparam("ref")).with_for_update()
_METER_LOCKED = select(METERS).where(METERS.c.id == bindparam("mid")).with_for_update()
# A batch locks its payments, then its meters, each in id order: every vend (single or batched, in any
# process) locks payments before meters, and rows of one table in ascending order, so two batches that
# share rows wait for each other instead of deadlocking.
_PAYMENTS_BY_REFERENCES = (
    select(PAYMENTS)
    .where(PAYMENTS.c.reference.in_(bindparam("refs", expanding=True)))
    .order_by(PAYMENTS.c.id)
    .with_for_update()
)
_METERS_LOCKED = (
    select(METERS)
    .where(METERS.c.id.in_(bindparam("mids", expanding=True)))
    .order_by(METERS.c.id)
    .with_for_update()
)
_LAST_TID = select(METERS.c.last_tid).where(METERS.c.id == bindparam("mid"))
_INSERT_TOKENS = insert(TOKENS).returning(TOKENS.c.id, sort_by_parameter_order=True)
_SET_LAST_TID = update(METERS).where(METERS.c.id == bindparam("mid")).values(last_tid=bindparam("tid"))
_INSERT_TOKEN = insert(TOKENS).returning(TOKENS.c.id)
_INSERT_SMS = insert(SMS)
_INSERT_PUSH = insert(PUSHES)
_MARK_VENDED = (
    update(PAYMENTS)
    .where(PAYMENTS.c.id == bindparam("pid"))
    .values(
        status=PaymentStatus.VENDED.value,
        reason="",
        provider_txn_id=bindparam("txn"),
        paid_amount=bindparam("paid"),
        updated_at=bindparam("now"),
        provider_ref=func.coalesce(PAYMENTS.c.provider_ref, bindparam("pref")),
    )
)

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


@dataclass
class _Batch:
    """The writes of a batch's plain vends, held back and then executed as one statement per table."""

    tokens: list[dict[str, Any]] = field(default_factory=list)
    pushes: list[dict[str, Any] | None] = field(default_factory=list)  # per token: a push row or None
    last_tids: dict[int, int | None] = field(default_factory=dict)  # meter id -> its newest TID
    paid: list[dict[str, Any]] = field(default_factory=list)
    sms: list[dict[str, Any]] = field(default_factory=list)
    results: list[tuple[int, VendResult]] = field(default_factory=list)  # (position, result sans token id)

    def flush(self, session: Session, out: list[VendResult | None]) -> None:
        if not self.tokens:
            return
        ids = session.execute(_INSERT_TOKENS, self.tokens).scalars().all()
        pushes = [dict(push, token_id=tid) for push, tid in zip(self.pushes, ids, strict=True) if push]
        if pushes:
            session.execute(_INSERT_PUSH, pushes)
        session.execute(_SET_LAST_TID, [{"mid": m, "tid": t} for m, t in self.last_tids.items()])
        # The unique (provider, provider_txn_id) constraint fires here for a replayed transaction id.
        session.execute(_MARK_VENDED, self.paid)
        if self.sms:
            session.execute(_INSERT_SMS, self.sms)
        for (position, result), token_id in zip(self.results, ids, strict=True):
            out[position] = VendResult(
                result.outcome, result.payment_id, token_id, result.token, result.units, result.reason
            )
        self.tokens, self.pushes, self.last_tids, self.paid, self.sms, self.results = [], [], {}, [], [], []


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
        try:
            with transaction(self.engine) as session:
                result = self._apply(session, event)
        except IntegrityError:
            # Another worker recorded the same provider transaction first: this one is a duplicate.
            result = VendResult("duplicate", reason="provider_txn_seen")
        self.metrics.vend_outcomes.labels(result.outcome, result.reason or "-").inc()
        return result

    def apply_events(self, events: Sequence[PaymentEvent]) -> list[VendResult | Exception]:
        """Act on many verified events (group commit): the events that name our payment reference are
        applied together in ONE transaction, whose commit (the fsync) they share; each gets exactly the
        result `apply_event` would give it, in order. Events without our reference (C2B payments found
        by the provider's ids or the account) are applied one by one after it. If the shared transaction
        fails (two payments carrying one provider transaction id, a deadlock, a missing key), it is
        rolled back whole and every event is applied on its own, so one bad event costs the others
        nothing but time; an event that still raises has its exception in its place in the list.
        """
        out: list[VendResult | Exception | None] = [None] * len(events)
        shared = [i for i, e in enumerate(events) if e.reference is not None]
        if len(shared) > 1:
            try:
                with transaction(self.engine) as session:
                    results = self._apply_batch(session, [events[i] for i in shared])
            except Exception as exc:  # every event is retried alone below
                log.warning(
                    "batch of %d events rolled back (%s): applying them one by one",
                    len(shared),
                    type(exc).__name__,
                )
            else:
                for i, vended in zip(shared, results, strict=True):
                    out[i] = vended
                    self.metrics.vend_outcomes.labels(vended.outcome, vended.reason or "-").inc()
        for i, result in enumerate(out):
            if result is None:
                try:
                    out[i] = self.apply_event(events[i])
                except Exception as exc:  # that event's caller answers 5xx; the provider redelivers
                    out[i] = exc
        return [r for r in out if r is not None]

    def _apply_batch(self, session: Session, events: list[PaymentEvent]) -> list[VendResult]:
        """Plain vends (first sight of a vendable payment, amounts matching, token issued) are gathered
        and written in bulk; anything else first writes what was gathered, then takes the one-event path
        in this same transaction, so it reads exactly what a lone event would have read."""
        refs = sorted({e.reference for e in events if e.reference is not None})
        rows = {r.reference: r for r in session.execute(_PAYMENTS_BY_REFERENCES, {"refs": refs})}
        meter_ids = sorted({r.meter_id for r in rows.values() if r.meter_id is not None})
        meters = {m.id: m for m in session.execute(_METERS_LOCKED, {"mids": meter_ids})} if meter_ids else {}
        last_tids: dict[int, int | None] = {mid: m.last_tid for mid, m in meters.items()}
        tariffs: dict[tuple[str, str], Any] = {}
        out: list[VendResult | None] = [None] * len(events)
        batch = _Batch()
        seen: set[str] = set()
        for position, event in enumerate(events):
            row: Any = rows.get(event.reference or "")
            plain = (
                row is not None
                and row.reference not in seen
                and event.status is EventStatus.SUCCEEDED
                and row.status in VENDABLE
                and not _mismatch(row, event)
            )
            if plain:
                seen.add(row.reference)
                meter = meters[row.meter_id]
                key = (meter.tariff_name, row.currency)
                if key not in tariffs:
                    tariffs[key] = in_force(session, key[0], key[1], self.clock())
                plain = self._gather(session, batch, position, row, event, meter, tariffs[key], last_tids)
            if not plain:
                if row is not None:
                    seen.add(row.reference)
                batch.flush(session, out)
                out[position] = result = self._apply(session, event)
                if result.outcome == "vended" and row is not None and row.meter_id in last_tids:
                    last_tids[row.meter_id] = session.execute(_LAST_TID, {"mid": row.meter_id}).scalar()
        batch.flush(session, out)
        done = [r for r in out if r is not None]
        assert len(done) == len(events), "every event of a batch has a result"
        return done

    def _gather(
        self,
        session: Session,
        batch: _Batch,
        position: int,
        p: Any,
        event: PaymentEvent,
        meter: Any,
        tariff: Any,
        last_tids: dict[int, int | None],
    ) -> bool:
        """Issue the token of one plain vend and add its writes to the batch. False (nothing gathered)
        when the vend is not plain after all: no tariff, amount out of limits, a token rule refused it."""
        if tariff is None:
            return False
        try:
            q = quote(tariff, p.amount)
            issuer = self.keyring.issuer(meter, lambda: session.get(VendingKeyRecord, meter.vending_key_id))
            issued = issuer.credit(q.units, at=self.clock(), rnd=self.rnd(), last_tid=last_tids[meter.id])
        except (ServiceError, TokenError):
            return False
        units = issued.units if issued.units is not None else q.units
        now = self.clock()
        last_tids[meter.id] = batch.last_tids[meter.id] = issued.tid
        batch.tokens.append(
            _token_values(
                meter.id,
                issued.token,
                issued.tid,
                units,
                now,
                issued_by=_paid_by(p),
                payment_id=p.id,
                amount=p.amount,
                currency=p.currency,
                vat=q.vat,
            )
        )
        batch.pushes.append(_push_values(meter.id, now) if meter.connected and meter.serial_url else None)
        batch.paid.append(_vended_values(p, event, now))
        sms = _token_sms_values(session, p, meter, issued.token, units, now)
        if sms is not None:
            batch.sms.append(sms)
        batch.results.append((position, VendResult("vended", p.id, None, issued.token, units)))
        return True

    def _apply(self, session: Session, event: PaymentEvent) -> VendResult:
        row = self._find_payment(session, event)
        if row is None:
            if event.status is not EventStatus.SUCCEEDED or event.reference is not None or not event.account:
                return VendResult("unknown_payment", reason="unknown_reference")
            self._c2b_payment(session, event)
            row = self._find_payment(session, event)
            assert row is not None
        if event.status is EventStatus.FAILED:
            return self._fail(session, _orm(session, row.id), event)
        if event.status is not EventStatus.SUCCEEDED:
            return VendResult("ignored", row.id, reason=str(event.status))
        if row.status not in VENDABLE:
            if _another_payment(row, event):
                return self._second_payment(session, row, event)
            return VendResult("duplicate", row.id, reason=f"payment_{row.status}")
        mismatch = _mismatch(row, event)
        if mismatch:
            payment = _orm(session, row.id)
            payment.provider_txn_id = event.provider_txn_id
            payment.paid_amount = event.amount
            payment.updated_at = self.clock()
            return self._hold(session, payment, mismatch)
        return self._vend(session, row, event)

    def _find_payment(self, session: Session, event: PaymentEvent) -> Any:
        """The payment row (Core, no ORM bookkeeping on the hot path), locked until commit."""
        table = PAYMENTS
        if event.reference is not None:
            return session.execute(_PAYMENT_BY_REFERENCE, {"ref": event.reference}).first()
        if event.provider_ref is not None:
            # Providers that answer with their request id only (M-Pesa STK: CheckoutRequestID).
            stmt = select(table).where(
                table.c.provider == event.provider, table.c.provider_ref == event.provider_ref
            )
            row = session.execute(stmt.with_for_update()).first()
            if row is not None or event.provider_txn_id is None:
                return row
            stmt = select(table).where(
                table.c.provider == event.provider, table.c.provider_txn_id == event.provider_txn_id
            )
        elif event.provider_txn_id is not None:
            stmt = select(table).where(
                table.c.provider == event.provider, table.c.provider_txn_id == event.provider_txn_id
            )
        else:
            return None
        return session.execute(stmt.with_for_update()).first()

    def _c2b_payment(self, session: Session, event: PaymentEvent) -> Payment:
        """A payment the payer started (paybill with the meter number as account): record it first."""
        meter = meters.find(session, event.account or "")
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

    def _second_payment(self, session: Session, row: Any, event: PaymentEvent) -> VendResult:
        """Money moved again for a payment already settled (another provider transaction id for the
        same reference, or a success after a failure): the payer was charged twice. It is recorded as a
        payment of its own, held for refund (audited, counted as held/second_payment), never dropped.
        The unique (provider, provider_txn_id) constraint keeps a redelivery from recording it twice."""
        seen = select(PAYMENTS.c.id).where(
            PAYMENTS.c.provider == event.provider, PAYMENTS.c.provider_txn_id == event.provider_txn_id
        )
        if session.execute(seen).first() is not None:
            return VendResult("duplicate", row.id, reason="provider_txn_seen")
        reason = "second_payment" if row.provider_txn_id else "paid_after_failure"
        payment = Payment(
            # Derived from the provider's transaction id, unique per provider: the same record whichever
            # process or batch gets there first.
            reference="dup-"
            + hashlib.sha256(f"{event.provider}|{event.provider_txn_id}".encode()).hexdigest()[:24],
            channel=row.channel,
            provider=event.provider,
            provider_txn_id=event.provider_txn_id,
            msisdn=event.msisdn or row.msisdn,
            subscriber_id=row.subscriber_id,
            meter_id=row.meter_id,
            account=row.account,
            amount=event.amount if event.amount is not None else row.amount,
            currency=event.currency or row.currency,
            paid_amount=event.amount,
            language=row.language,
            status=PaymentStatus.HELD,
        )
        session.add(payment)
        session.flush()
        return self._hold(session, payment, reason, detail=f"{reason} for payment {row.reference}")

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

    def _hold(self, session: Session, payment: Payment, reason: str, *, detail: str = "") -> VendResult:
        assert payment.id is not None
        payment.status = PaymentStatus.HELD
        payment.reason = reason
        session.add(
            AuditLog(
                actor=f"provider:{payment.provider}",
                action="payment_held",
                subject=payment.reference,
                detail=detail or reason,
            )
        )
        if payment.msisdn:
            text = held_sms(payment.language, reference=payment.reference)
            session.add(SmsOutbox(to=payment.msisdn, text=text, kind="held", payment_id=payment.id))
        log.warning("payment %s held for review: %s", payment.reference, reason)
        return VendResult("held", payment.id, reason=reason)

    def _vend(self, session: Session, p: Any, event: PaymentEvent) -> VendResult:
        meter = session.execute(_METER_LOCKED, {"mid": p.meter_id}).one()
        tariff = in_force(session, meter.tariff_name, p.currency, self.clock())
        reason = ""
        if tariff is None:
            reason = "no_tariff"
        else:
            try:
                q = quote(tariff, p.amount)
            except ServiceError:  # amount outside limits after the fact (C2B): a person decides
                reason = "amount_out_of_limits"
        if not reason:
            try:
                issued = self.issue_credit(
                    session,
                    meter,
                    q.units,
                    issued_by=_paid_by(p),
                    payment_id=p.id,
                    amount=p.amount,
                    currency=p.currency,
                    vat=q.vat,
                )
            except TokenError as exc:
                reason = exc.code
        now = self.clock()
        paid = {"provider_txn_id": event.provider_txn_id, "paid_amount": event.amount, "updated_at": now}
        if event.provider_ref and not p.provider_ref:
            paid["provider_ref"] = event.provider_ref
        if reason:
            payment = _orm(session, p.id)
            for key, value in paid.items():
                setattr(payment, key, value)
            return self._hold(session, payment, reason)
        # The unique (provider, provider_txn_id) constraint fires here for a replayed transaction id.
        session.execute(_MARK_VENDED, _vended_values(p, event, now))
        sms = _token_sms_values(session, p, meter, issued.token, issued.units, now)
        if sms is not None:
            session.execute(_INSERT_SMS, sms)
        return VendResult("vended", p.id, issued.token_id, issued.token, issued.units)

    def issue_credit(
        self,
        session: Session,
        meter: Any,
        units: Decimal,
        *,
        issued_by: str,
        payment_id: int | None = None,
        amount: Decimal | None = None,
        currency: str = "",
        vat: Decimal | None = None,
    ) -> IssuedCredit:
        """Issue a credit token for `units` kWh to a LOCKED meter (row or object); store it, move the
        meter's last TID and queue the serial push. Raises TokenError, having written nothing.
        """
        issuer = self.keyring.issuer(meter, lambda: session.get(VendingKeyRecord, meter.vending_key_id))
        issued = issuer.credit(units, at=self.clock(), rnd=self.rnd(), last_tid=meter.last_tid)
        units = issued.units if issued.units is not None else units
        now = self.clock()
        session.execute(_SET_LAST_TID, {"mid": meter.id, "tid": issued.tid})
        row = _token_values(
            meter.id,
            issued.token,
            issued.tid,
            units,
            now,
            issued_by=issued_by,
            payment_id=payment_id,
            amount=amount,
            currency=currency,
            vat=vat,
        )
        token_id = session.execute(_INSERT_TOKEN, row).scalar_one()
        if meter.connected and meter.serial_url:
            session.execute(_INSERT_PUSH, dict(_push_values(meter.id, now), token_id=token_id))
        return IssuedCredit(token_id, issued.token, issued.tid, units)


# Rows and parameters both vend paths (one event, a batch) write: one definition each.
def _token_values(
    meter_id: int,
    token: str,
    tid: int | None,
    units: Decimal,
    now: datetime,
    *,
    issued_by: str,
    payment_id: int | None,
    amount: Decimal | None,
    currency: str,
    vat: Decimal | None,
) -> dict[str, Any]:
    """A new credit token row."""
    return dict(
        payment_id=payment_id,
        meter_id=meter_id,
        kind="credit",
        token=token,
        tid=tid,
        units=units,
        amount=amount,
        currency=currency,
        vat=vat,
        issued_by=issued_by[:64],
        created_at=now,
    )


def _paid_by(payment: Any) -> str:
    return f"payment:{payment.reference}"


def _vended_values(payment: Any, event: PaymentEvent, now: datetime) -> dict[str, Any]:
    """Parameters of _MARK_VENDED for a payment row and the event that paid it."""
    return {
        "pid": payment.id,
        "txn": event.provider_txn_id,
        "paid": event.amount,
        "now": now,
        "pref": event.provider_ref,
    }


def _token_sms_values(
    session: Session, payment: Any, meter: Any, token: str, units: Decimal, now: datetime
) -> dict[str, Any] | None:
    """The token SMS to the payer (or the meter's holder when the payment has no phone); None if neither."""
    phone = payment.msisdn or _subscriber_phone(session, meter.subscriber_id)
    if not phone:
        return None
    text = token_sms(
        payment.language,
        token=token,
        units=units,
        meter=meter.drn,
        amount=payment.amount,
        currency=payment.currency,
    )
    return sms_values(phone, text, "token", payment.id, now)


def _push_values(meter_id: int, now: datetime) -> dict[str, Any]:
    """A queued serial push (without its token id)."""
    return dict(
        meter_id=meter_id,
        status="queued",
        attempts=0,
        next_attempt_at=now,
        result="",
        detail="",
        updated_at=now,
    )


def sms_values(to: str, text: str, kind: str, payment_id: int | None, now: datetime) -> dict[str, Any]:
    """Every column of a new outbox row (Core inserts do not run the model's Python defaults)."""
    return dict(
        to=to,
        text=text,
        kind=kind,
        payment_id=payment_id,
        status="queued",
        attempts=0,
        next_attempt_at=now,
        provider="",
        last_error="",
        created_at=now,
    )


def _orm(session: Session, payment_id: int) -> Payment:
    payment = session.get(Payment, payment_id)
    assert payment is not None
    return payment


def _another_payment(payment: Any, event: PaymentEvent) -> bool:
    """A success naming a provider transaction other than the one that settled `payment` (or arriving
    after it failed). A success without a transaction id (a status query's) proves no second charge."""
    if event.status is not EventStatus.SUCCEEDED or event.provider_txn_id is None:
        return False
    if payment.status == PaymentStatus.FAILED:
        return True
    return payment.provider_txn_id is not None and payment.provider_txn_id != event.provider_txn_id


def _mismatch(payment: Any, event: PaymentEvent) -> str:
    if payment.meter_id is None:
        return "unknown_meter"
    if event.amount is not None and event.amount != payment.amount:
        return "amount_mismatch"
    if event.currency is not None and event.currency != payment.currency:
        return "currency_mismatch"
    return ""


def _subscriber_phone(session: Session, subscriber_id: int | None) -> str:
    from api.models import Subscriber

    if subscriber_id is None:
        return ""
    sub = session.get(Subscriber, subscriber_id)
    return sub.phone if sub else ""


def now_utc() -> datetime:
    return utcnow()
