"""SMS outbox worker: sends due messages through the SMS provider, retrying with exponential backoff."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlmodel import col
from starlette.concurrency import run_in_threadpool

from api.db import affected, transaction
from api.models import SmsOutbox
from api.service import Service
from api.sms.base import SmsError, SmsMessage, SmsPermanentError, SmsTemporaryError
from api.workers.loop import backoff, recorded

log = logging.getLogger("nguvu.workers.sms")
BATCH = 50


def claim(service: Service) -> list[SmsOutbox]:
    now = service.clock()
    with transaction(service.engine) as session:
        rows = session.scalars(
            select(SmsOutbox)
            .where(
                col(SmsOutbox.status) == "queued",
                col(SmsOutbox.next_attempt_at) <= now,
                or_(col(SmsOutbox.locked_until).is_(None), col(SmsOutbox.locked_until) < now),
            )
            .order_by(col(SmsOutbox.id))
            .limit(BATCH)
            .with_for_update(skip_locked=True)  # PostgreSQL: skip rows another instance is claiming
        ).all()
        claimed = []
        for row in rows:
            res = session.execute(
                update(SmsOutbox)
                .where(
                    col(SmsOutbox.id) == row.id,
                    col(SmsOutbox.status) == "queued",
                    or_(col(SmsOutbox.locked_until).is_(None), col(SmsOutbox.locked_until) < now),
                )
                .values(locked_until=now + timedelta(seconds=service.settings.worker_lease_seconds))
            )
            if affected(res) == 1:
                claimed.append(row)
        if claimed:
            log.debug("claimed %d SMS", len(claimed))
        return claimed


@recorded
def _record(service: Service, row_id: int, **values: object) -> None:
    with transaction(service.engine) as session:
        session.execute(
            update(SmsOutbox).where(col(SmsOutbox.id) == row_id).values(locked_until=None, **values)
        )


async def send_one(service: Service, row: SmsOutbox) -> str:
    assert row.id is not None
    provider = service.sms_provider
    s = service.settings
    attempts = row.attempts + 1
    try:
        sent = await provider.send(SmsMessage(to=row.to, text=row.text, reference=str(row.id)))
    except SmsPermanentError as exc:
        await run_in_threadpool(
            _record,
            service,
            row.id,
            status="failed",
            attempts=attempts,
            last_error=exc.code[:200],
            provider=provider.name,
        )
        return "failed"
    except (SmsTemporaryError, SmsError) as exc:
        if attempts >= s.sms_max_attempts:
            await run_in_threadpool(
                _record,
                service,
                row.id,
                status="failed",
                attempts=attempts,
                last_error=f"gave up: {exc.code}"[:200],
                provider=provider.name,
            )
            return "failed"
        retry_at = service.clock() + backoff(attempts, s.backoff_base_seconds, s.backoff_max_seconds)
        await run_in_threadpool(
            _record,
            service,
            row.id,
            attempts=attempts,
            next_attempt_at=retry_at,
            last_error=exc.code[:200],
            provider=provider.name,
        )
        return "retry"
    except ValueError:  # an address the provider interface refuses: it will never be sendable
        await run_in_threadpool(
            _record,
            service,
            row.id,
            status="failed",
            attempts=attempts,
            last_error="invalid_recipient",
            provider=provider.name,
        )
        return "failed"
    await run_in_threadpool(
        _record,
        service,
        row.id,
        status="sent",
        attempts=attempts,
        provider=provider.name,
        provider_message_id=sent.provider_message_id,
        sent_at=service.clock(),
        last_error="",
    )
    return "sent"


def depth(service: Service) -> int:
    with transaction(service.engine) as session:
        return int(session.scalar(select(func.count()).where(col(SmsOutbox.status) == "queued")) or 0)


def release(service: Service, row_ids: list[int]) -> None:
    """Give claimed rows back (the lease would end before they are sent): any instance may take them."""
    with transaction(service.engine) as session:
        session.execute(
            update(SmsOutbox)
            .where(col(SmsOutbox.id).in_(row_ids), col(SmsOutbox.status) == "queued")
            .values(locked_until=None)
        )


async def one_pass(service: Service) -> int:
    claimed_at = service.clock()
    rows = await run_in_threadpool(claim, service)
    # No send starts in the second half of the lease, so one that takes the provider's whole timeout
    # (shorter than half a lease: docs/service.md) still ends before another instance may retake it.
    last_start = claimed_at + timedelta(seconds=service.settings.worker_lease_seconds / 2)
    for i, row in enumerate(rows):
        if service.clock() > last_start or service.stopping.is_set():
            await run_in_threadpool(release, service, [r.id for r in rows[i:] if r.id is not None])
            log.debug("released %d SMS before the lease ended", len(rows) - i)
            break
        result = await send_one(service, row)
        service.metrics.sms_sent.labels(result).inc()
        log.debug("SMS %s: %s", row.id, result)
    return len(rows)
