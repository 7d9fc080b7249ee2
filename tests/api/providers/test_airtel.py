"""Airtel Money adapter against the local fake Airtel Open API (real HTTP on loopback)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from api.payments.airtel import AirtelConfig, AirtelMoney, wire_amount
from api.payments.base import (
    CollectionRequest,
    PaymentCallbackError,
    PaymentRejected,
    PaymentStatus,
    ProviderUnavailable,
    Verification,
)
from tests.fakes.airtel import FakeAirtel
from tests.fakes.merchant import Merchant
from tests.fakes.server import wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def airtel() -> Iterator[FakeAirtel]:
    with FakeAirtel(client_id="id-1", client_secret="secret-1") as fake:
        yield fake


def make(airtel: FakeAirtel, http: httpx.AsyncClient, *, signed: bool = False) -> AirtelMoney:
    env = {
        "NGUVU_AIRTEL_BASE_URL": airtel.url,
        "NGUVU_AIRTEL_CLIENT_ID": "id-1",
        "NGUVU_AIRTEL_CLIENT_SECRET": "secret-1",
        "NGUVU_AIRTEL_TIMEOUT_S": "1",
    }
    if signed:
        env["NGUVU_AIRTEL_CALLBACK_SECRET"] = "hash-key"
    return AirtelMoney(AirtelConfig.from_env(env), http)


def request(ref: str = "pay-1", msisdn: str = "+243970000001", amount: str = "2500") -> CollectionRequest:
    return CollectionRequest(ref, msisdn, Decimal(amount), "CDF", "0123456789012", "Electricity")


async def collect(airtel: FakeAirtel, http: httpx.AsyncClient, *, signed: bool, count: int = 1) -> Merchant:
    async with Merchant() as merchant:
        airtel.callback_url = merchant.url + "/callback"
        merchant.provider = provider = make(airtel, http, signed=signed)
        started = await provider.start_collection(request())
        assert started.status is PaymentStatus.PENDING and started.provider_ref == "pay-1"
        await wait_for(lambda: len(merchant.events) + len(merchant.refusals) >= count)
        await wait_for(lambda: len(airtel.callbacks) >= count)  # the fake has read our replies
    return merchant


async def test_collection_request_shape(airtel: FakeAirtel, http: httpx.AsyncClient) -> None:
    airtel.knobs.outcome = "timeout"
    await make(airtel, http).start_collection(request())
    [call] = airtel.paths("/merchant/v1/payments/")
    body = json.loads(call.body)
    assert body["subscriber"] == {"country": "CD", "currency": "CDF", "msisdn": "970000001"}
    assert body["transaction"] == {"amount": 2500, "country": "CD", "currency": "CDF", "id": "pay-1"}
    assert call.headers["x-country"] == "CD" and call.headers["authorization"].startswith("Bearer ")


@pytest.mark.parametrize("signed", [False, True])
async def test_approved(airtel: FakeAirtel, http: httpx.AsyncClient, signed: bool) -> None:
    if signed:
        airtel.callback_secret = "hash-key"
    merchant = await collect(airtel, http, signed=signed)
    [event] = merchant.events
    assert event.status is PaymentStatus.SUCCEEDED and event.reference == "pay-1"
    assert event.provider_txn_id == airtel.txns["pay-1"].money_id
    assert event.amount is None  # Airtel states no amount: the core uses the requested one
    assert event.verification is (Verification.SIGNATURE if signed else Verification.QUERY)
    assert len(airtel.paths("/standard/v1/payments/pay-1")) == (0 if signed else 1)


async def test_declined(airtel: FakeAirtel, http: httpx.AsyncClient) -> None:
    airtel.knobs.outcome = "decline"
    merchant = await collect(airtel, http, signed=False)
    assert merchant.events[0].status is PaymentStatus.FAILED and merchant.events[0].provider_txn_id is None


async def test_bad_hash_is_refused_with_401(airtel: FakeAirtel, http: httpx.AsyncClient) -> None:
    airtel.callback_secret = "hash-key"
    airtel.knobs.bad_signature = True
    merchant = await collect(airtel, http, signed=True)
    assert not merchant.events
    assert merchant.refusals[0].code == "bad_signature" and airtel.callbacks[0].status_code == 401


async def test_unsigned_callback_refused_when_hash_required(
    airtel: FakeAirtel, http: httpx.AsyncClient
) -> None:
    merchant = await collect(airtel, http, signed=True)  # the fake does not sign (no secret configured)
    assert not merchant.events and merchant.refusals


async def test_duplicates_share_the_money_id(airtel: FakeAirtel, http: httpx.AsyncClient) -> None:
    airtel.knobs.duplicate_callbacks = 3
    merchant = await collect(airtel, http, signed=False, count=3)
    assert len(merchant.events) == 3 and len({e.provider_txn_id for e in merchant.events}) == 1


async def test_reused_reference_is_still_pending(airtel: FakeAirtel, http: httpx.AsyncClient) -> None:
    airtel.knobs.outcome = "timeout"
    provider = make(airtel, http)
    await provider.start_collection(request())
    again = await provider.start_collection(request())
    assert again.status is PaymentStatus.PENDING
    assert (await provider.query_status("pay-1", None)).status is PaymentStatus.PENDING
    assert (await provider.query_status("nope", None)).status is PaymentStatus.UNKNOWN


async def test_errors(airtel: FakeAirtel, http: httpx.AsyncClient) -> None:
    provider = make(airtel, http)
    with pytest.raises(PaymentRejected):
        await provider.start_collection(request(msisdn="+254708374149"))  # not a +243 number
    with pytest.raises(PaymentRejected):
        await provider.start_collection(request(amount="1.005"))
    airtel.knobs.fail_next = 1
    with pytest.raises(ProviderUnavailable):
        await provider.start_collection(request())
    airtel.knobs.delay_s = 1.5
    with pytest.raises(ProviderUnavailable):
        await provider.query_status("pay-1", None)
    airtel.knobs.delay_s = 0
    airtel.client_secret = "rotated"
    provider._tokens.invalidate()
    with pytest.raises(ProviderUnavailable):
        await provider.start_collection(request(ref="pay-2"))


async def test_malformed_callbacks(airtel: FakeAirtel, http: httpx.AsyncClient) -> None:
    provider = make(airtel, http, signed=True)
    for body in (
        b"",
        b"{",
        b"[1]",
        b'{"transaction":{"id":"x"}}',
        b'{"transaction":{"id":"x","status_code":"TS"}}',
    ):
        with pytest.raises(PaymentCallbackError):
            await provider.handle_callback({}, body)


def test_wire_amount() -> None:
    assert wire_amount(Decimal("2500")) == 2500 and isinstance(wire_amount(Decimal("2500.00")), int)
    assert wire_amount(Decimal("12.34")) == 12.34
