"""The soak's traffic: subscribers buying over USSD, the wallet's signed callbacks, keypads typing tokens.

A small load-spreading client sends each request to a random live instance and, when that instance is
gone (killed) or answers 5xx, to another one, as a gateway or a provider retrying would. The wallet
decides each payment's fate when the session confirms and records what the service must end up with.
"""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import time
from dataclasses import dataclass, field
from decimal import Decimal

import httpx

from api.payments.base import PaymentStatus as EventStatus
from api.payments.sandbox import SandboxConfig, signed_callback
from api.payments.secret import Secret
from api.ussd.handler import payment_reference
from api.ussd.texts import text as ussd_text

SERVICE_CODE = "*384*1234#"
AMOUNTS = (1000, 2000, 3000, 5000, 10000)
QUEUED = ussd_text("queued", "fr")
RATE_LIMITED = ussd_text("rate_limited", "fr")
TOKEN_IN_SMS = re.compile(r"\b(\d{4} \d{4} \d{4} \d{4} \d{4})\b")


@dataclass
class Ledger:
    """What the soak did and what it expects, for the checks."""

    expected: dict[str, str] = field(default_factory=dict)  # reference -> vended | failed | held
    ussd_sessions: int = 0
    ussd_unknown_meter: int = 0
    rate_limited: int = 0
    ussd_latency: list[float] = field(default_factory=list)
    callbacks_sent: int = 0
    callback_latency: list[float] = field(default_factory=list)
    duplicated: int = 0
    late: int = 0
    out_of_order: int = 0
    declined: int = 0
    wrong_amount: int = 0
    unknown_reference: int = 0
    retried_requests: int = 0
    bodies: list[str] = field(default_factory=list)  # every response body, for the secrets scan
    keypad_typed: dict[str, str] = field(default_factory=dict)  # token digits -> first meter reply
    keypad_again: dict[str, str] = field(default_factory=dict)  # token -> reply to a duplicate SMS copy
    errors: list[str] = field(default_factory=list)


class Spread:
    """Requests to a random instance among those alive, retried elsewhere on failure."""

    def __init__(self, urls: list[str], alive: list[bool], ledger: Ledger) -> None:
        self.urls, self.alive, self.ledger = urls, alive, ledger
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=2.0), limits=limits)

    async def post(self, path: str, deadline: float, **kwargs: object) -> httpx.Response:
        while True:
            choices = [u for u, a in zip(self.urls, self.alive, strict=True) if a] or self.urls
            url = random.choice(choices)
            try:
                r = await self.http.post(url + path, **kwargs)  # type: ignore[arg-type]
                if r.status_code < 500:
                    self.ledger.bodies.append(r.text[:2000])
                    return r
            except httpx.HTTPError:
                pass
            self.ledger.retried_requests += 1
            if time.monotonic() > deadline:
                raise TimeoutError(f"no instance answered {path}")
            await asyncio.sleep(0.2 + random.random() * 0.3)

    async def aclose(self) -> None:
        await self.http.aclose()


@dataclass
class Meters:
    connected: list[str]  # DRNs
    keypad: list[str]
    phones: list[str]


class Traffic:
    def __init__(
        self, spread: Spread, meters: Meters, secret: str, ledger: Ledger, query_after: float
    ) -> None:
        self.spread, self.meters, self.ledger = spread, meters, ledger
        self.secret = Secret(secret) if secret else SandboxConfig().secret
        self.query_after = query_after
        self.tasks: set[asyncio.Task[None]] = set()
        self.stop = asyncio.Event()

    # --- USSD ------------------------------------------------------------------------------------
    async def _step(self, session: str, phone: str, text: str) -> str:
        form = {"sessionId": session, "serviceCode": SERVICE_CODE, "phoneNumber": phone, "text": text}
        started = time.monotonic()
        r = await self.spread.post("/ussd", time.monotonic() + 60, data=form)
        self.ledger.ussd_latency.append(time.monotonic() - started)
        if r.status_code != 200:
            self.ledger.errors.append(f"USSD step answered {r.status_code}: {r.text[:80]}")
        return r.text

    async def customer(self, rng: random.Random) -> None:
        while not self.stop.is_set():
            try:
                await self._purchase(rng)
            except TimeoutError as exc:
                self.ledger.errors.append(str(exc))
            await asyncio.sleep(rng.random() * 0.2)

    async def _purchase(self, rng: random.Random) -> None:
        phone = rng.choice(self.meters.phones)
        session = "soak-" + secrets.token_hex(8)
        self.ledger.ussd_sessions += 1
        roll = rng.random()
        if roll < 0.03:
            drn = "47" + "".join(rng.choice("0123456789") for _ in range(9))  # almost surely unknown
        elif roll < 0.13:
            drn = rng.choice(self.meters.keypad)
        else:
            drn = rng.choice(self.meters.connected)
        amount = rng.choice(AMOUNTS)
        for text in ("", "1", "1*1", "1*1*1", f"1*1*1*{drn}"):
            reply = await self._step(session, phone, text)
        if drn not in self.meters.connected and drn not in self.meters.keypad:
            self.ledger.ussd_unknown_meter += 1
            if "Montant" in reply:
                self.ledger.errors.append(f"unknown meter {drn} offered an amount screen")
            return
        await self._step(session, phone, f"1*1*1*{drn}*{amount}")
        reply = await self._step(session, phone, f"1*1*1*{drn}*{amount}*1")
        if reply.startswith("END") and RATE_LIMITED in reply:
            self.ledger.rate_limited += 1  # the per-phone USSD limit (docs/service.md): no payment
            return
        if not reply.startswith("END " + QUEUED):
            self.ledger.errors.append(f"confirm did not queue the purchase: {reply[:60]!r}")
            return
        reference = payment_reference(SERVICE_CODE, session)
        self._spawn(self._wallet(rng, reference, phone, drn, Decimal(amount)))

    # --- the wallet ------------------------------------------------------------------------------
    def _spawn(self, coro: object) -> None:
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _callback(self, body: bytes, headers: dict[str, str]) -> int:
        started = time.monotonic()
        r = await self.spread.post(
            "/callbacks/payments/sandbox", time.monotonic() + 120, content=body, headers=headers
        )
        self.ledger.callbacks_sent += 1
        self.ledger.callback_latency.append(time.monotonic() - started)
        return r.status_code

    def _signed(
        self, reference: str, txn: str, status: EventStatus, amount: Decimal | None, phone: str, drn: str
    ) -> tuple[bytes, dict[str, str]]:
        return signed_callback(
            self.secret,
            txn_id=txn,
            reference=reference,
            status=status,
            amount=amount,
            currency="CDF",
            msisdn=phone,
            account=drn,
        )

    async def _wallet(
        self, rng: random.Random, reference: str, phone: str, drn: str, amount: Decimal
    ) -> None:
        """The payer answers the prompt: approve (most), decline, pay a wrong amount; the callback is
        sometimes late (after the service's status query), duplicated, or followed by a stale one."""
        txn = "SBX" + secrets.token_hex(8).upper()
        roll = rng.random()
        delay = rng.uniform(0.1, 1.5)
        if rng.random() < 0.05:
            delay = self.query_after + rng.uniform(1, 3)  # late: after the status query
            self.ledger.late += 1
        await asyncio.sleep(delay)
        if roll < 0.05:
            self.ledger.expected[reference] = "failed"
            self.ledger.declined += 1
            body, headers = self._signed(reference, txn, EventStatus.FAILED, None, phone, drn)
        elif roll < 0.10:
            self.ledger.expected[reference] = "held"
            self.ledger.wrong_amount += 1
            body, headers = self._signed(reference, txn, EventStatus.SUCCEEDED, amount - 500, phone, drn)
        else:
            self.ledger.expected[reference] = "vended"
            body, headers = self._signed(reference, txn, EventStatus.SUCCEEDED, amount, phone, drn)
        copies = 1
        if rng.random() < 0.10:
            copies = rng.choice((2, 3))
            self.ledger.duplicated += 1
        statuses = await asyncio.gather(*(self._callback(body, headers) for _ in range(copies)))
        if any(s != 200 for s in statuses):
            self.ledger.errors.append(f"callback for {reference} answered {statuses}")
        if self.ledger.expected[reference] == "vended" and rng.random() < 0.03:
            # Out of order: a stale "failed" for the same prompt arrives after the success.
            self.ledger.out_of_order += 1
            stale, h = self._signed(reference, txn, EventStatus.FAILED, None, phone, drn)
            await self._callback(stale, h)
        if rng.random() < 0.02:
            self.ledger.unknown_reference += 1
            ghost, h = self._signed(
                "u" + secrets.token_hex(11)[:23], txn + "X", EventStatus.SUCCEEDED, amount, phone, drn
            )
            await self._callback(ghost, h)

    async def answer_leftovers(self, pending: list[tuple[str, str, str, Decimal]]) -> None:
        """The wallet answers every prompt it was sent: payments the soak lost track of (a confirm whose
        answer never came back) are approved at the end."""
        rng = random.Random(1)
        for reference, phone, drn, amount in pending:
            if reference in self.ledger.expected:
                continue
            self.ledger.expected[reference] = "vended"
            await self._wallet_direct(rng, reference, phone, drn, amount)

    async def _wallet_direct(
        self, rng: random.Random, reference: str, phone: str, drn: str, amount: Decimal
    ) -> None:
        body, headers = self._signed(
            reference, "SBX" + secrets.token_hex(8).upper(), EventStatus.SUCCEEDED, amount, phone, drn
        )
        await self._callback(body, headers)

    async def drain_tasks(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
