"""One running vending service: the engine, the keyring, the providers, the vendor and the wake-ups.

`create_app` builds one `Service`; HTTP handlers and workers reach everything through it. Provider
adapters are built from the settings by their factories, or injected (tests, the demo).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

import httpx
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api.db import make_engine
from api.keyring import Keyring
from api.metrics import Metrics
from api.models.base import utcnow
from api.payments.base import PaymentEvent, PaymentProvider
from api.settings import Settings
from api.sms.base import SmsProvider
from api.vend import Vendor, VendResult

log = logging.getLogger("nguvu.service")


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
        self.keyring = Keyring(settings.kek)
        self.vendor = Vendor(self.engine, self.keyring, self.metrics, clock=clock)
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0))
        self._sms_write = sms_write
        self._payment_provider = payment_provider
        self._sms_provider = sms_provider
        self._loop: asyncio.AbstractEventLoop | None = None
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
    async def apply_events(self, events: list[PaymentEvent]) -> list[VendResult]:
        results = []
        for event in events:
            result = await run_in_threadpool(self.vendor.apply_event, event)
            log.info(
                "payment event %s %s -> %s %s", event.provider, event.status, result.outcome, result.reason
            )
            results.append(result)
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
