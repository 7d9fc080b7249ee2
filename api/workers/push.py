"""Serial push worker: for meters marked connected, send each new token over the serial link.

The SMS is queued whatever happens here; this is the automatic recharge on top. Retries follow the
protocol's rule that tokens are safe to resend (`used` after a retry means an earlier attempt landed).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlmodel import col
from starlette.concurrency import run_in_threadpool

from api.db import affected, transaction
from api.meterlink import MeterLinkError, push_token
from api.models import Meter, MeterPush, Token
from api.service import Service
from api.workers.loop import backoff

log = logging.getLogger("nguvu.workers.push")
BATCH = 10
LEASE = timedelta(seconds=60)
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
    with transaction(service.engine) as session:
        rows = session.execute(
            select(MeterPush, col(Token.token), col(Meter.serial_url))
            .join(Token, col(Token.id) == col(MeterPush.token_id))
            .join(Meter, col(Meter.id) == col(MeterPush.meter_id))
            .where(
                col(MeterPush.status) == "queued",
                col(MeterPush.next_attempt_at) <= now,
                or_(col(MeterPush.locked_until).is_(None), col(MeterPush.locked_until) < now),
            )
            .order_by(col(MeterPush.id))
            .limit(BATCH)
        ).all()
        claimed = []
        for push, token, url in rows:
            res = session.execute(
                update(MeterPush)
                .where(
                    col(MeterPush.id) == push.id,
                    col(MeterPush.status) == "queued",
                    or_(col(MeterPush.locked_until).is_(None), col(MeterPush.locked_until) < now),
                )
                .values(locked_until=now + LEASE)
            )
            if affected(res) == 1:
                claimed.append((push, token, url))
        return claimed


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
    attempts = push.attempts + 1
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
    for push, token, url in rows:
        result = await push_one(service, push, token, url)
        service.metrics.pushes.labels(result).inc()
        log.info("pushed token to meter %s: %s", push.meter_id, result)
    return len(rows)
