"""The sandbox wallet: the default provider, a simulated mobile-money wallet that moves no money.

``start_collection`` "sends the PIN prompt"; after ``NGUVU_SANDBOX_DELAY_S`` the simulated payer answers
and the wallet delivers a signed callback, either in-process through the ``deliver`` coroutine the core
passes in, or by POSTing to the service's callback URL over loopback. Outcomes are chosen by settings
(``NGUVU_SANDBOX_OUTCOME``) or, when that is ``auto``, by the payer's last three digits:

    ...991 decline   ...992 timeout (no answer, the prompt expires)   ...993 wrong amount paid
    ...994 approve, with the callback delivered three times           anything else: approve

Callbacks are JSON signed with HMAC-SHA256 (``X-Sandbox-Signature``, hex) under
``NGUVU_SANDBOX_SECRET``; forged or altered callbacks are refused with 401. The wallet's memory is
per-process: with several workers, callbacks are verified by signature, not by query.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

import httpx

from api.payments.base import (
    PAYMENT_CALLBACK_PATH,
    CallbackReply,
    CollectionRequest,
    CollectionStarted,
    DeliverCallback,
    PaymentCallbackError,
    PaymentEvent,
    PaymentStatus,
    ProviderConfigError,
    Verification,
)
from api.payments.env import EnvReader
from api.payments.fields import parse_amount
from api.payments.secret import Secret

__all__ = ["SIGNATURE_HEADER", "Outcome", "SandboxConfig", "SandboxWallet", "sign", "signed_callback"]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-sandbox-signature"
_DEFAULT_SECRET = "nguvu-sandbox-wallet"  # moves no money; override to make forgeries harder in demos
_SUFFIXES = {"991": "decline", "992": "timeout", "993": "wrong_amount", "994": "duplicate"}
_DELIVERY_ATTEMPTS = 3
# The wallet remembers a prompt this long after it was sent (for status queries), then forgets it, so a
# long-running service does not keep every sandbox payment in memory.
_RETAIN_S = 3600.0
_PRUNE_ABOVE = 1000


class Outcome(StrEnum):
    AUTO = "auto"
    APPROVE = "approve"
    DECLINE = "decline"
    TIMEOUT = "timeout"
    WRONG_AMOUNT = "wrong_amount"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class SandboxConfig:
    delay_s: float = 1.0  # time the simulated payer takes to type the PIN
    expiry_s: float = 60.0  # an unanswered prompt fails after this long
    outcome: Outcome = Outcome.AUTO
    secret: Secret = field(default_factory=lambda: Secret(_DEFAULT_SECRET))
    callback_url: str | None = None  # POST here when the core passes no ``deliver`` coroutine
    timeout_s: float = 5.0  # for the loopback POST

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SandboxConfig:
        e = EnvReader(env, ProviderConfigError)
        outcome = Outcome(e.choice("NGUVU_SANDBOX_OUTCOME", tuple(o.value for o in Outcome), "auto"))
        return cls(
            delay_s=e.number("NGUVU_SANDBOX_DELAY_S", 1.0),
            expiry_s=e.number("NGUVU_SANDBOX_EXPIRY_S", 60.0),
            outcome=outcome,
            secret=e.optional_secret("NGUVU_SANDBOX_SECRET") or Secret(_DEFAULT_SECRET),
            callback_url=e.callback_url(
                "NGUVU_SANDBOX_CALLBACK_URL", PAYMENT_CALLBACK_PATH.format(provider="sandbox")
            ),
            timeout_s=e.number("NGUVU_SANDBOX_TIMEOUT_S", 5.0, minimum=0.1),
        )


@dataclass(frozen=True)
class _Txn:
    request: CollectionRequest
    txn_id: str
    outcome: Outcome
    started: float
    status: PaymentStatus = PaymentStatus.PENDING
    paid: Decimal | None = None


def sign(secret: Secret, body: bytes) -> str:
    return hmac.new(secret.reveal().encode(), body, hashlib.sha256).hexdigest()


def signed_callback(
    secret: Secret,
    *,
    txn_id: str,
    reference: str,
    status: PaymentStatus,
    amount: Decimal | None,
    currency: str,
    msisdn: str,
    account: str,
) -> tuple[bytes, dict[str, str]]:
    """The wallet's callback: its JSON body and headers, signed. (Load and integration tests post the
    same thing the wallet sends.)"""
    doc = {
        "id": txn_id,
        "reference": reference,
        "status": status.value,
        "amount": str(amount) if amount is not None else None,
        "currency": currency,
        "msisdn": msisdn,
        "account": account,
        "message": "approved" if status is PaymentStatus.SUCCEEDED else "declined by the payer",
    }
    body = json.dumps(doc, separators=(",", ":")).encode()
    return body, {"content-type": "application/json", SIGNATURE_HEADER: sign(secret, body)}


class SandboxWallet:
    name = "sandbox"

    def __init__(
        self, config: SandboxConfig, http: httpx.AsyncClient, *, deliver: DeliverCallback | None = None
    ) -> None:
        self._config = config
        self._http = http
        self._deliver = deliver
        self._txns: dict[str, _Txn] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def outcome_for(self, msisdn: str) -> Outcome:
        if self._config.outcome is not Outcome.AUTO:
            return self._config.outcome
        return Outcome(_SUFFIXES.get(msisdn[-3:], "approve"))

    async def start_collection(self, req: CollectionRequest) -> CollectionStarted:
        existing = self._txns.get(req.reference)
        if existing is not None:  # idempotent: the same reference is one prompt
            return CollectionStarted(existing.txn_id, PaymentStatus.PENDING, "prompt already sent")
        now = time.monotonic()
        if len(self._txns) > _PRUNE_ABOVE:
            self._forget_before(now - max(_RETAIN_S, self._config.expiry_s))
        txn = _Txn(req, "SBX" + secrets.token_hex(8).upper(), self.outcome_for(req.msisdn), now)
        self._txns[req.reference] = txn
        if txn.outcome is not Outcome.TIMEOUT:
            task = asyncio.get_running_loop().create_task(self._answer(req.reference))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return CollectionStarted(txn.txn_id, PaymentStatus.PENDING, "PIN prompt sent to the payer")

    def _forget_before(self, cutoff: float) -> None:
        for reference in [r for r, t in self._txns.items() if t.started < cutoff]:
            del self._txns[reference]

    async def _answer(self, reference: str) -> None:
        await asyncio.sleep(self._config.delay_s)
        txn = self._txns.get(reference)
        if txn is None:  # forgotten (pruned) before the payer answered
            return
        amount = txn.request.amount
        if txn.outcome is Outcome.WRONG_AMOUNT:
            amount = (amount / 2).quantize(Decimal("0.01"))
        status = PaymentStatus.FAILED if txn.outcome is Outcome.DECLINE else PaymentStatus.SUCCEEDED
        txn = replace(txn, status=status, paid=amount if status is PaymentStatus.SUCCEEDED else None)
        self._txns[reference] = txn
        req = txn.request
        body, headers = signed_callback(
            self._config.secret,
            txn_id=txn.txn_id,
            reference=req.reference,
            status=txn.status,
            amount=txn.paid,
            currency=req.currency,
            msisdn=req.msisdn,
            account=req.account,
        )
        for _ in range(3 if txn.outcome is Outcome.DUPLICATE else 1):
            await self._deliver_with_retries(headers, body)

    async def _deliver_with_retries(self, headers: Mapping[str, str], body: bytes) -> None:
        # A real wallet redelivers a callback the merchant did not acknowledge; so does this one.
        for attempt in range(1, _DELIVERY_ATTEMPTS + 1):
            try:
                await self._deliver_once(headers, body)
                return
            except Exception as exc:  # the receiver's failure must not kill the wallet's timer task
                log.warning("sandbox callback delivery %d failed: %s", attempt, type(exc).__name__)
                await asyncio.sleep(self._config.delay_s * attempt)

    async def _deliver_once(self, headers: Mapping[str, str], body: bytes) -> None:
        if self._deliver is not None:
            await self._deliver(headers, body)
            return
        if self._config.callback_url is None:
            raise RuntimeError("no deliver coroutine and no callback URL")
        response = await self._http.post(
            self._config.callback_url, content=body, headers=dict(headers), timeout=self._config.timeout_s
        )
        response.raise_for_status()

    async def handle_callback(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[list[PaymentEvent], CallbackReply]:
        given = {k.lower(): v for k, v in headers.items()}.get(SIGNATURE_HEADER, "")
        if not hmac.compare_digest(given.encode(), sign(self._config.secret, body).encode()):
            raise PaymentCallbackError(
                "sandbox callback signature is missing or wrong", code="bad_signature", http_status=401
            )
        event = _parse_callback(body)
        return [event], CallbackReply(200, b'{"ok":true}', "application/json")

    async def query_status(self, reference: str, provider_ref: str | None) -> PaymentEvent:
        txn = self._txns.get(reference)
        if txn is None:
            return PaymentEvent(self.name, None, reference, PaymentStatus.UNKNOWN, None, None, None)
        status = txn.status
        if status is PaymentStatus.PENDING and time.monotonic() - txn.started > self._config.expiry_s:
            status = PaymentStatus.FAILED
        req = txn.request
        return PaymentEvent(
            self.name,
            txn.txn_id if status is PaymentStatus.SUCCEEDED else None,
            reference,
            status,
            txn.paid,
            req.currency if txn.paid is not None else None,
            req.msisdn,
            account=req.account,
            provider_ref=txn.txn_id,
            message="prompt expired" if status is not txn.status else "",
            verification=Verification.QUERY,
        )

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _parse_callback(body: bytes) -> PaymentEvent:
    try:
        doc: Any = json.loads(body)
        status = PaymentStatus(doc["status"])
        amount = parse_amount(doc.get("amount"))
        txn_id, reference = str(doc["id"]), str(doc["reference"])
    except (ValueError, KeyError, TypeError, RecursionError):
        raise PaymentCallbackError(
            "sandbox callback is not the documented JSON", code="malformed_callback"
        ) from None
    return PaymentEvent(
        "sandbox",
        txn_id if status is PaymentStatus.SUCCEEDED else None,
        reference,
        status,
        amount,
        doc.get("currency") if amount is not None else None,
        doc.get("msisdn"),
        account=doc.get("account"),
        provider_ref=txn_id,
        message=str(doc.get("message", "")),
        verification=Verification.SIGNATURE,
    )
