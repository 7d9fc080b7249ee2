"""The shared loop of every worker: run one pass, then sleep until woken or the poll interval passes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

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


def lease_until(now: datetime, seconds: float = 60.0) -> datetime:
    return now + timedelta(seconds=seconds)
