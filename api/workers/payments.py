"""Payment worker: starts collections for QUEUED payments, re-queries PENDING ones, expires the silent.

A collection request leaves the service only here, never inside a USSD request. The provider may answer
the prompt before this worker records PENDING: every update here is conditional on the state it expects,
so a callback that already vended is never overwritten.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlmodel import col
from starlette.concurrency import run_in_threadpool

from api.db import affected, transaction
from api.messages import failed_sms
from api.models import Meter, Payment, PaymentStatus, SmsOutbox
from api.payments.base import (
    CollectionRequest,
    PaymentError,
    PaymentRejected,
    ProviderUnavailable,
    check_event,
)
from api.payments.base import PaymentStatus as EventStatus
from api.service import Service
from api.workers.loop import backoff

log = logging.getLogger("nguvu.workers.payments")
BATCH = 20
MAX_START_ATTEMPTS = 6


def _due(service: Service, status: str) -> list[Payment]:
    now = service.clock()
    with transaction(service.engine) as session:
        rows = session.scalars(
            select(Payment)
            .where(
                col(Payment.status) == status,
                or_(col(Payment.next_attempt_at).is_(None), col(Payment.next_attempt_at) <= now),
            )
            .order_by(col(Payment.id))
            .limit(BATCH)
            # PostgreSQL: rows another instance is claiming right now are skipped, not waited for.
            .with_for_update(skip_locked=True)
        ).all()
        claimed = []
        for p in rows:
            # Claim: push next_attempt_at forward only if nobody else did (compare-and-set). That is the
            # lease: if this instance dies before recording an outcome, another one retakes the row then.
            res = session.execute(
                update(Payment)
                .where(
                    col(Payment.id) == p.id,
                    col(Payment.status) == status,
                    col(Payment.next_attempt_at) == p.next_attempt_at,
                )
                .values(next_attempt_at=now + timedelta(seconds=service.settings.worker_lease_seconds))
            )
            if affected(res) == 1:
                claimed.append(p)
        if claimed:
            log.debug("claimed %d %s payments", len(claimed), status)
        return claimed


def _set(service: Service, payment_id: int, expect: str, **values: object) -> bool:
    with transaction(service.engine) as session:
        res = session.execute(
            update(Payment)
            .where(col(Payment.id) == payment_id, col(Payment.status) == expect)
            .values(updated_at=service.clock(), **values)
        )
        return affected(res) == 1


def _fail(service: Service, payment: Payment, reason: str) -> None:
    with transaction(service.engine) as session:
        res = session.execute(
            update(Payment)
            .where(
                col(Payment.id) == payment.id,
                col(Payment.status).in_([PaymentStatus.QUEUED, PaymentStatus.PENDING]),
            )
            .values(status=PaymentStatus.FAILED, reason=reason[:120], updated_at=service.clock())
        )
        if affected(res) == 1 and payment.msisdn:
            meter = session.get(Meter, payment.meter_id) if payment.meter_id else None
            text = failed_sms(
                payment.language,
                amount=payment.amount,
                currency=payment.currency,
                meter=meter.drn if meter else "-",
            )
            session.add(SmsOutbox(to=payment.msisdn, text=text, kind="failed", payment_id=payment.id))


async def _start(service: Service, payment: Payment) -> None:
    assert payment.id is not None
    provider = service.payment_provider
    try:
        req = CollectionRequest(
            reference=payment.reference,
            msisdn=payment.msisdn,
            amount=payment.amount,
            currency=payment.currency,
            account=payment.account,
            description="Nguvu electricite",
        )
        started = await provider.start_collection(req)
    except ProviderUnavailable:
        attempts = payment.attempts + 1
        service.metrics.collections.labels("unavailable").inc()
        if attempts >= MAX_START_ATTEMPTS:
            await run_in_threadpool(_fail, service, payment, "provider_unavailable")
            service.wake_sms()
            return
        s = service.settings
        await run_in_threadpool(
            _set,
            service,
            payment.id,
            PaymentStatus.QUEUED,
            attempts=attempts,
            next_attempt_at=service.clock()
            + backoff(attempts, s.backoff_base_seconds, s.backoff_max_seconds),
        )
        return
    except (PaymentRejected, PaymentError, ValueError) as exc:
        service.metrics.collections.labels("rejected").inc()
        await run_in_threadpool(_fail, service, payment, getattr(exc, "code", "rejected"))
        service.wake_sms()
        return
    if started.status is EventStatus.FAILED:
        service.metrics.collections.labels("refused").inc()
        await run_in_threadpool(_fail, service, payment, started.message or "refused")
        service.wake_sms()
        return
    service.metrics.collections.labels("started").inc()
    query_at = service.clock() + timedelta(seconds=service.settings.payment_query_after_seconds)
    await run_in_threadpool(
        _set,
        service,
        payment.id,
        PaymentStatus.QUEUED,
        status=PaymentStatus.PENDING,
        provider_ref=started.provider_ref,
        attempts=payment.attempts + 1,
        next_attempt_at=query_at,
    )


async def _check(service: Service, payment: Payment) -> None:
    """A pending payment whose callback has not come: ask the provider, or give up after the timeout."""
    assert payment.id is not None
    s = service.settings
    try:
        event = check_event(
            await service.payment_provider.query_status(payment.reference, payment.provider_ref)
        )
    except PaymentError:  # unreachable, or an answer carrying values we refuse: ask again later
        event = None
    if event is not None and event.status.is_final:
        await service.apply_events([event])
        return
    age = service.clock() - payment.created_at
    if age.total_seconds() >= s.payment_timeout_seconds:
        await run_in_threadpool(
            _set, service, payment.id, PaymentStatus.PENDING, status=PaymentStatus.EXPIRED, reason="timeout"
        )
        return
    attempts = payment.attempts + 1
    await run_in_threadpool(
        _set,
        service,
        payment.id,
        PaymentStatus.PENDING,
        attempts=attempts,
        next_attempt_at=service.clock()
        + backoff(attempts, s.payment_query_after_seconds, s.backoff_max_seconds),
    )


async def one_pass(service: Service) -> int:
    queued = await run_in_threadpool(_due, service, PaymentStatus.QUEUED)
    for payment in queued:
        await _start(service, payment)
    pending = await run_in_threadpool(_due, service, PaymentStatus.PENDING)
    for payment in pending:
        await _check(service, payment)
    return len(queued) + len(pending)
