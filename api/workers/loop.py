"""The shared loop of every worker: run one pass, then sleep until woken or the poll interval passes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.exc import OperationalError

from api.service import Service

log = logging.getLogger("nguvu.workers")


def backoff(attempts: int, base: float, cap: float) -> timedelta:
    """Exponential backoff with +-20 % jitter: base, 2 base, 4 base ... capped."""
    seconds = min(cap, base * (2 ** max(0, attempts - 1)))
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))


async def run_forever(service: Service, name: str, one_pass: Callable[[Service], Awaitable[int]]) -> None:
    """Run passes until `service.stopping` is set; a pass in progress (maybe on a thread, inside a
    database transaction) always finishes, so shutting down never abandons a connection mid-commit."""
    poll = max(0.01, service.settings.worker_poll_seconds)
    wake = service.wake_event(name)
    while not service.stopping.is_set():
        try:
            done = await one_pass(service)
        except asyncio.CancelledError:
            raise
        except Exception:  # a worker must survive a bad row or a database blip; the row is retried
            log.exception("%s worker pass failed", name)
            done = 0
        if done or service.stopping.is_set():
            continue  # more may be waiting (or we are stopping: the loop condition ends it)
        if wake is None:
            await asyncio.sleep(poll)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=poll)
        wake.clear()


RECORD_TRIES = 4


def recorded(record: Callable[..., None]) -> Callable[..., None]:
    """Wrap a function that records what already happened outside (an SMS the provider took, a meter's
    answer): a database connection cut at that moment (failover, pg_terminate_backend) is retried a few
    times on a fresh connection, so the job is not done a second time when its lease ends."""

    def wrapper(*args: object, **kwargs: object) -> None:
        for attempt in range(RECORD_TRIES):
            try:
                record(*args, **kwargs)
                return
            except OperationalError:
                if attempt == RECORD_TRIES - 1:
                    raise
                log.warning("recording a worker outcome failed on a lost connection; retrying")
                time.sleep(0.2 * 2**attempt)

    return wrapper


def lease_until(now: datetime, seconds: float = 60.0) -> datetime:
    return now + timedelta(seconds=seconds)
