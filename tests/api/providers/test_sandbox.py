"""The sandbox wallet: simulated PIN prompt, signed callbacks in-process or over loopback, outcomes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from decimal import Decimal

import httpx
import pytest

from api.payments import sandbox
from api.payments.base import (
    CollectionRequest,
    PaymentCallbackError,
    PaymentEvent,
    PaymentStatus,
    Verification,
)
from api.payments.sandbox import SIGNATURE_HEADER, Outcome, SandboxConfig, SandboxWallet
from tests.fakes.merchant import Merchant
from tests.fakes.server import wait_for

pytestmark = pytest.mark.anyio


class Core:
    """What the core's ``deliver`` does: run the callback through the adapter and keep the events."""

    def __init__(self) -> None:
        self.wallet: SandboxWallet | None = None
        self.events: list[PaymentEvent] = []
        self.failures_left = 0

    async def deliver(self, headers: Mapping[str, str], body: bytes) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("the core is busy")
        assert self.wallet is not None
        events, reply = await self.wallet.handle_callback(headers, body)
        assert reply.status_code == 200
        self.events.extend(events)


def wallet(http: httpx.AsyncClient, core: Core | None = None, **env: str) -> SandboxWallet:
    config = SandboxConfig.from_env({"NGUVU_SANDBOX_DELAY_S": "0.01", **env})
    w = SandboxWallet(config, http, deliver=core.deliver if core else None)
    if core is not None:
        core.wallet = w
    return w


def request(msisdn: str = "+243810000001", ref: str = "p1", amount: str = "2000") -> CollectionRequest:
    return CollectionRequest(ref, msisdn, Decimal(amount), "CDF", "01234567890", "Electricite")


async def test_approve_in_process(http: httpx.AsyncClient) -> None:
    core = Core()
    w = wallet(http, core)
    started = await w.start_collection(request())
    assert started.status is PaymentStatus.PENDING and started.provider_ref
    await wait_for(lambda: core.events)
    [event] = core.events
    assert event.status is PaymentStatus.SUCCEEDED and event.reference == "p1"
    assert event.amount == Decimal(2000) and event.currency == "CDF" and event.msisdn == "+243810000001"
    assert event.provider_txn_id == started.provider_ref and event.verification is Verification.SIGNATURE
    assert (await w.query_status("p1", None)).status is PaymentStatus.SUCCEEDED
    await w.aclose()


@pytest.mark.parametrize(
    ("suffix", "status", "amount"),
    [("991", PaymentStatus.FAILED, None), ("993", PaymentStatus.SUCCEEDED, Decimal("1000.00"))],
)
async def test_outcomes_by_msisdn_suffix(
    http: httpx.AsyncClient, suffix: str, status: PaymentStatus, amount: Decimal | None
) -> None:
    core = Core()
    w = wallet(http, core)
    await w.start_collection(request("+243810000" + suffix))
    await wait_for(lambda: core.events)
    assert core.events[0].status is status and core.events[0].amount == amount
    assert (core.events[0].provider_txn_id is None) is (status is PaymentStatus.FAILED)


async def test_duplicate_suffix_delivers_three_times(http: httpx.AsyncClient) -> None:
    core = Core()
    w = wallet(http, core)
    await w.start_collection(request("+243810000994"))
    await wait_for(lambda: len(core.events) == 3)
    assert len({e.provider_txn_id for e in core.events}) == 1


async def test_timeout_never_calls_back_and_expires(http: httpx.AsyncClient) -> None:
    core = Core()
    w = wallet(http, core, NGUVU_SANDBOX_EXPIRY_S="0.2")
    await w.start_collection(request("+243810000992"))
    await asyncio.sleep(0.05)
    assert not core.events and (await w.query_status("p1", None)).status is PaymentStatus.PENDING
    await asyncio.sleep(0.2)
    assert (await w.query_status("p1", None)).status is PaymentStatus.FAILED
    assert (await w.query_status("unknown", None)).status is PaymentStatus.UNKNOWN


async def test_outcome_forced_by_settings(http: httpx.AsyncClient) -> None:
    core = Core()
    w = wallet(http, core, NGUVU_SANDBOX_OUTCOME="decline")
    assert w.outcome_for("+243810000001") is Outcome.DECLINE
    await w.start_collection(request())
    await wait_for(lambda: core.events)
    assert core.events[0].status is PaymentStatus.FAILED


async def test_same_reference_is_one_prompt(http: httpx.AsyncClient) -> None:
    core = Core()
    w = wallet(http, core)
    first = await w.start_collection(request())
    second = await w.start_collection(request())
    assert first.provider_ref == second.provider_ref
    await wait_for(lambda: core.events)
    await asyncio.sleep(0.05)
    assert len(core.events) == 1


async def test_delivery_is_retried_when_the_core_fails(http: httpx.AsyncClient) -> None:
    core = Core()
    core.failures_left = 2
    w = wallet(http, core)
    await w.start_collection(request())
    await wait_for(lambda: core.events)
    assert core.failures_left == 0 and len(core.events) == 1


async def test_forged_or_altered_callbacks_are_refused(http: httpx.AsyncClient) -> None:
    core = Core()
    w = wallet(http, core)
    await w.start_collection(request())
    captured: list[tuple[Mapping[str, str], bytes]] = []
    original = core.deliver

    async def spy(headers: Mapping[str, str], body: bytes) -> None:
        captured.append((headers, body))
        await original(headers, body)

    w._deliver = spy
    await wait_for(lambda: core.events)
    headers, body = captured[0]
    altered = json.dumps({**json.loads(body), "amount": "999999"}).encode()
    for h, b in ((headers, altered), ({}, body), ({SIGNATURE_HEADER: "00" * 32}, body)):
        with pytest.raises(PaymentCallbackError) as info:
            await w.handle_callback(h, b)
        assert info.value.http_status == 401
    other = SandboxWallet(SandboxConfig.from_env({"NGUVU_SANDBOX_SECRET": "other"}), http)
    with pytest.raises(PaymentCallbackError):
        await other.handle_callback(headers, body)


async def test_posts_over_loopback_without_deliver(http: httpx.AsyncClient) -> None:
    async with Merchant() as merchant:
        w = wallet(http, None, NGUVU_SANDBOX_CALLBACK_URL=merchant.url + "/callbacks/payments/sandbox")
        merchant.provider = w
        await w.start_collection(request())
        await wait_for(lambda: merchant.events)
    assert merchant.events[0].status is PaymentStatus.SUCCEEDED
    assert merchant.events[0].reference == "p1"


async def test_aclose_cancels_pending_prompts(http: httpx.AsyncClient) -> None:
    core = Core()
    w = wallet(http, core, NGUVU_SANDBOX_DELAY_S="5")
    await w.start_collection(request())
    await w.aclose()
    await asyncio.sleep(0.02)
    assert not core.events


async def test_old_prompts_are_forgotten(http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "_PRUNE_ABOVE", 2)
    monkeypatch.setattr(sandbox, "_RETAIN_S", 0.0)
    w = wallet(http, Core(), NGUVU_SANDBOX_OUTCOME="timeout", NGUVU_SANDBOX_EXPIRY_S="0")
    for ref in ("a", "b", "c"):
        await w.start_collection(request(ref=ref))
    assert (await w.query_status("a", None)).status is PaymentStatus.FAILED  # expired, still known
    await w.start_collection(request(ref="d"))  # more than 2 remembered: the old ones go
    assert (await w.query_status("a", None)).status is PaymentStatus.UNKNOWN
    assert (await w.query_status("d", None)).status is not PaymentStatus.UNKNOWN
