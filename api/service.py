"""One running vending service: the engine, the keyring, the providers, the vendor and the wake-ups.

`create_app` builds one `Service`; HTTP handlers and workers reach everything through it. Provider
adapters are built from the settings by their factories, or injected (tests, the demo).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import httpx
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api.db import make_engine
from api.keyring import Keyring, KeyStore, SoftwareStore
from api.metrics import Metrics
from api.models.base import utcnow
from api.payments.base import PaymentEvent, PaymentProvider, check_event
from api.settings import Settings
from api.sms.base import SmsProvider
from api.vend import Vendor, VendResult

log = logging.getLogger("nguvu.service")


def build_store(settings: Settings) -> KeyStore:
    """The key store NGUVU_KEYSTORE names (the PKCS#11 session opens at first use, in each process)."""
    if settings.keystore == "pkcs11":
        from api.hsm import Pkcs11Store

        assert settings.pkcs11 is not None
        return Pkcs11Store(settings.pkcs11, settings.kek)
    return SoftwareStore(settings.kek)


class VendQueue:
    """Group commit for one event loop: events that arrive while a vend transaction is running wait
    for it to end and then go together in the next one, so N concurrent callbacks cost one commit (one
    fsync) instead of N. Nothing waits on a timer: a lone event starts its transaction at once."""

    def __init__(self, vendor: Vendor, max_batch: int) -> None:
        self.vendor = vendor
        self.max_batch = max_batch
        self._pending: list[tuple[PaymentEvent, asyncio.Future[VendResult]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, events: Sequence[PaymentEvent]) -> list[VendResult]:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in events]
        self._pending.extend(zip(events, futures, strict=True))
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain(), name="vend-queue")
        # A cancelled caller (client gone) cancels only its futures: the drainer skips them, and a batch
        # already running still commits. Every outcome is collected, so no failure goes unretrieved.
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        elapsed = time.perf_counter() - started  # the wait for the running transaction included
        for _ in events:
            self.vendor.metrics.vend_latency.observe(elapsed)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return [o for o in outcomes if isinstance(o, VendResult)]

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            log.debug("vend transaction for %d events (%d waiting)", len(batch), len(self._pending))
            try:
                results = await run_in_threadpool(self.vendor.apply_events, [e for e, _ in batch])
            except Exception as exc:  # the callers answer 5xx; the providers redeliver
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)


class Service:
    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        payment_provider: PaymentProvider | None = None,
        sms_provider: SmsProvider | None = None,
        clock: Callable[[], datetime] = utcnow,
        sms_write: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._owns_engine = engine is None
        self.engine = engine or make_engine(settings.resolved_database_url)
        self.metrics = Metrics()
        self.keyring = Keyring(build_store(settings), settings.issuer_cache_size)
        self.vendor = Vendor(self.engine, self.keyring, self.metrics, clock=clock)
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0))
        self._sms_write = sms_write
        self._payment_provider = payment_provider
        self._sms_provider = sms_provider
        self._loop: asyncio.AbstractEventLoop | None = None
        self._vend_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, VendQueue] = (
            weakref.WeakKeyDictionary()
        )
        self._wake: dict[str, asyncio.Event] = {}
        self.stopping = asyncio.Event()

    def __repr__(self) -> str:
        return f"Service({self.settings!r})"

    # Providers -------------------------------------------------------------------------------------
    @property
    def payment_provider(self) -> PaymentProvider:
        if self._payment_provider is None:
            from api.payments.factory import build_payment_provider

            env = {**self.settings.provider_env, "NGUVU_PAYMENT_PROVIDER": self.settings.payment_provider}
            self._payment_provider = build_payment_provider(env, self.http, deliver=self.deliver)
        return self._payment_provider

    @property
    def payment_provider_name(self) -> str:
        return self.payment_provider.name

    @property
    def sms_provider(self) -> SmsProvider:
        if self._sms_provider is None:
            from api.sms.factory import build_sms_provider

            env = {**self.settings.provider_env, "NGUVU_SMS_PROVIDER": self.settings.sms_provider}
            self._sms_provider = build_sms_provider(env, self.http, write=self._sms_write)
        return self._sms_provider

    def check_providers(self) -> None:
        """Build both providers now, so bad provider settings fail at start-up."""
        _ = self.payment_provider, self.sms_provider

    # Events ----------------------------------------------------------------------------------------
    async def apply_events(self, events: Sequence[PaymentEvent]) -> list[VendResult]:
        """Apply verified events (through this loop's group-commit queue); results in order. Raises
        PaymentCallbackError (nothing applied) when an event carries values the tables cannot hold."""
        if not events:
            return []
        for event in events:
            check_event(event)  # every event, before any is applied: a refusal writes nothing
        loop = asyncio.get_running_loop()
        queue = self._vend_queues.get(loop)
        if queue is None:
            queue = self._vend_queues[loop] = VendQueue(self.vendor, self.settings.vend_batch_max)
        results = await queue.submit(events)
        for event, result in zip(events, results, strict=True):
            log.info(
                "payment event %s %s -> %s %s", event.provider, event.status, result.outcome, result.reason
            )
        if any(r.outcome in ("vended", "failed", "held") for r in results):
            self.wake_sms()
            self.wake_push()
        return results

    async def deliver(self, headers: Mapping[str, str], body: bytes) -> None:
        """In-process callback delivery (the sandbox wallet): the same path as the HTTP callback route."""
        events, _reply = await self.payment_provider.handle_callback(headers, body)
        await self.apply_events(events)

    # Wake-ups: handlers (maybe on a worker thread) nudge the workers instead of waiting for a poll. --
    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._wake = {name: asyncio.Event() for name in ("payments", "sms", "push")}
        self.stopping = asyncio.Event()

    def wake_event(self, name: str) -> asyncio.Event | None:
        return self._wake.get(name)

    def _wake_up(self, name: str) -> None:
        event, loop = self._wake.get(name), self._loop
        if event is None or loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    def stop_workers(self) -> None:
        """Ask the worker loops to end after their current pass."""
        self.stopping.set()
        for event in self._wake.values():
            event.set()

    def wake_payments(self) -> None:
        self._wake_up("payments")

    def wake_sms(self) -> None:
        self._wake_up("sms")

    def wake_push(self) -> None:
        self._wake_up("push")

    async def aclose(self) -> None:
        if self._payment_provider is not None:
            await self._payment_provider.aclose()
        await self.http.aclose()
        if self._owns_engine:
            self.engine.dispose()
