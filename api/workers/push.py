"""Serial push worker: for meters marked connected, send each new token over the serial link.

The SMS is queued whatever happens here; this is the automatic recharge on top. Retries follow the
protocol's rule that tokens are safe to resend (`used` after a retry means an earlier attempt landed).
Pushes to different meters run at once (up to NGUVU_PUSH_PARALLEL per instance: each mostly waits for
its meter); one meter gets its tokens one at a time and in issue order (a push is taken only when no
earlier push of its meter is still queued), so a meter never sees a newer token before an older one.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import aliased
from sqlmodel import col
from starlette.concurrency import run_in_threadpool

from api.db import affected, transaction
from api.meterlink import MeterLinkError, push_token
from api.models import Meter, MeterPush, Token
from api.service import Service
from api.workers.loop import backoff, recorded

log = logging.getLogger("nguvu.workers.push")
# Final outcomes: the meter decided. Anything else (link error, `locked`, ERROR) is retried.
FINAL = {
    "accept",
    "used",
    "old",
    "crc_error",
    "key_expired",
    "overflow",
    "format_error",
    "function_error",
    "range_error",
    "key_type_error",
    "ddtk_error",
    "mfr_code_error",
}


def claim(service: Service) -> list[tuple[MeterPush, str, str]]:
    now = service.clock()
    lease = timedelta(seconds=service.settings.worker_lease_seconds)
    earlier = aliased(MeterPush)
    with transaction(service.engine) as session:
        rows = session.execute(
            select(MeterPush, col(Token.token), col(Meter.serial_url))
            .join(Token, col(Token.id) == col(MeterPush.token_id))
            .join(Meter, col(Meter.id) == col(MeterPush.meter_id))
            .where(
                col(MeterPush.status) == "queued",
                col(MeterPush.next_attempt_at) <= now,
                or_(col(MeterPush.locked_until).is_(None), col(MeterPush.locked_until) < now),
                ~exists().where(
                    col(earlier.meter_id) == col(MeterPush.meter_id),
                    col(earlier.status) == "queued",
                    col(earlier.id) < col(MeterPush.id),
                ),
            )
            .order_by(col(MeterPush.id))
            .limit(service.settings.push_parallel)
            # PostgreSQL: skip pushes another instance is claiming; lock only the push rows (never the
            # meters, which vends lock).
            .with_for_update(skip_locked=True, of=MeterPush)
        ).all()
        claimed = []
        for push, token, url in rows:
            # The attempt is counted when it starts: one that dies with its instance still counts, so
            # a meter answering `used` to the next attempt is seen as the retry it is.
            attempt = push.attempts + 1
            res = session.execute(
                update(MeterPush)
                .where(
                    col(MeterPush.id) == push.id,
                    col(MeterPush.status) == "queued",
                    or_(col(MeterPush.locked_until).is_(None), col(MeterPush.locked_until) < now),
                )
                .values(locked_until=now + lease, attempts=attempt)
                .execution_options(synchronize_session=False)
            )
            if affected(res) == 1:
                session.expunge(push)  # a detached copy: what it is given here is not written back
                push.attempts = attempt
                claimed.append((push, token, url))
        if claimed:
            log.debug("claimed %d meter pushes", len(claimed))
        return claimed


@recorded
def _record(service: Service, push_id: int, **values: object) -> None:
    with transaction(service.engine) as session:
        session.execute(
            update(MeterPush)
            .where(col(MeterPush.id) == push_id)
            .values(locked_until=None, updated_at=service.clock(), **values)
        )


async def push_one(service: Service, push: MeterPush, token: str, url: str) -> str:
    assert push.id is not None
    s = service.settings
    attempts = push.attempts  # counted by the claim
    try:
        reply = await run_in_threadpool(push_token, url, token, s.serial_timeout_seconds)
        outcome, detail = reply.outcome, reply.line[:200]
    except MeterLinkError as exc:
        outcome, detail = "unreachable", str(exc)[:200]
    if outcome in FINAL:
        await run_in_threadpool(
            _record, service, push.id, status="done", attempts=attempts, result=outcome, detail=detail
        )
        return outcome
    if attempts >= s.push_max_attempts:
        await run_in_threadpool(
            _record, service, push.id, status="failed", attempts=attempts, result=outcome, detail=detail
        )
        return "failed"
    retry_at = service.clock() + backoff(attempts, s.backoff_base_seconds, s.backoff_max_seconds)
    await run_in_threadpool(
        _record, service, push.id, attempts=attempts, result=outcome, detail=detail, next_attempt_at=retry_at
    )
    return "retry"


async def one_pass(service: Service) -> int:
    rows = await run_in_threadpool(claim, service)

    async def one(push: MeterPush, token: str, url: str) -> None:
        result = await push_one(service, push, token, url)
        service.metrics.pushes.labels(result).inc()
        log.info("pushed token to meter %s: %s", push.meter_id, result)

    # Rows are for distinct meters (at most one queued push per meter is claimable): they run at once.
    # Each records its own outcome; a failure (the database) is raised once all have ended.
    outcomes = await asyncio.gather(
        *(one(push, token, url) for push, token, url in rows), return_exceptions=True
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return len(rows)
