"""The merchant side of a callback, as the core's HTTP route would do it, for adapter tests.

``Merchant`` serves ``/callback`` (-> ``handle_callback``) and ``/c2b/validation`` (-> ``validate_c2b``)
on loopback and records the events, the refusals and the replies.
"""

from __future__ import annotations

import asyncio
import json

from api.payments.base import (
    C2BValidator,
    PaymentCallbackError,
    PaymentEvent,
    PaymentProvider,
    ProviderUnavailable,
)
from tests.fakes.server import Receiver

__all__ = ["Merchant"]


class Merchant:
    def __init__(
        self, provider: PaymentProvider | None = None, known_accounts: set[str] | None = None
    ) -> None:
        self.provider = provider  # usually set once ``url`` is known (the provider needs it)
        self.known_accounts = known_accounts or set()
        self.events: list[PaymentEvent] = []
        self.refusals: list[PaymentCallbackError] = []
        self.validations: list[str] = []
        self._receiver = Receiver(asyncio.get_running_loop(), self._handle)

    @property
    def url(self) -> str:
        return self._receiver.url

    async def _lookup(self, account: str) -> bool:
        self.validations.append(account)
        return account in self.known_accounts

    async def _handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, str]:
        assert self.provider is not None
        try:
            if path.endswith("/c2b/validation"):
                assert isinstance(self.provider, C2BValidator)
                reply = await self.provider.validate_c2b(headers, body, self._lookup)
            else:
                events, reply = await self.provider.handle_callback(headers, body)
                self.events.extend(events)
        except PaymentCallbackError as exc:
            self.refusals.append(exc)
            return exc.http_status, json.dumps({"code": exc.code}).encode(), "application/json"
        except ProviderUnavailable as exc:
            return 503, json.dumps({"code": exc.code}).encode(), "application/json"
        return reply.status_code, reply.body, reply.media_type

    async def __aenter__(self) -> Merchant:
        await self._receiver.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._receiver.__aexit__(*exc)
