"""Orange Money RDC adapter against the local fake SOAP endpoint (real HTTP on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from api.payments.base import (
    CollectionRequest,
    PaymentCallbackError,
    PaymentRejected,
    PaymentStatus,
    ProviderUnavailable,
)
from api.payments.orange import OrangeConfig, OrangeMoney, check_status
from api.payments.soap import parse_fields
from tests.fakes.merchant import Merchant
from tests.fakes.orange import FakeOrange
from tests.fakes.server import wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def orange() -> Iterator[FakeOrange]:
    with FakeOrange(partner_id="P42", merchant_msisdn="243890000042") as fake:
        yield fake


def make(orange: FakeOrange, http: httpx.AsyncClient, callback: str = "http://127.0.0.1:9/cb") -> OrangeMoney:
    env = {
        "NGUVU_ORANGE_URL": orange.url + "/apigw/soap",
        "NGUVU_ORANGE_PARTNER_ID": "P42",
        "NGUVU_ORANGE_MERCHANT_MSISDN": "+243890000042",
        "NGUVU_ORANGE_CALLBACK_URL": callback,
        "NGUVU_ORANGE_TIMEOUT_S": "1",
    }
    return OrangeMoney(OrangeConfig.from_env(env), http)


def request(ref: str = "pay-7", amount: str = "5000", currency: str = "CDF") -> CollectionRequest:
    return CollectionRequest(ref, "+243840000007", Decimal(amount), currency, "0123456789012", "Electricite")


async def run(orange: FakeOrange, http: httpx.AsyncClient, count: int = 1) -> Merchant:
    async with Merchant() as merchant:
        merchant.provider = provider = make(orange, http, merchant.url + "/callback")
        started = await provider.start_collection(request())
        assert started.status is PaymentStatus.PENDING
        assert started.provider_ref == orange.txns["pay-7"].system_id
        await wait_for(lambda: len(merchant.events) + len(merchant.refusals) >= count)
        await wait_for(lambda: len(orange.callbacks) >= count)  # the fake has read our replies
    return merchant


async def test_approved_callback_is_confirmed_by_check(orange: FakeOrange, http: httpx.AsyncClient) -> None:
    merchant = await run(orange, http)
    [event] = merchant.events
    assert event.status is PaymentStatus.SUCCEEDED and event.reference == "pay-7"
    assert event.amount == Decimal(5000) and event.currency == "CDF" and event.msisdn == "+243840000007"
    assert event.provider_txn_id == orange.txns["pay-7"].system_id
    reply = parse_fields(orange.callbacks[0].reply, "doCallbackResponse")
    assert reply["resultCode"] == "0"
    s2m = parse_fields(orange.paths("/apigw/soap")[0].body, "doS2M")
    assert s2m["subsmsisdn"] == "243840000007" and s2m["amount"] == "5000" and s2m["transid"] == "pay-7"


async def test_declined(orange: FakeOrange, http: httpx.AsyncClient) -> None:
    orange.knobs.outcome = "decline"
    merchant = await run(orange, http)
    assert merchant.events[0].status is PaymentStatus.FAILED and merchant.events[0].provider_txn_id is None


async def test_lying_callback_is_overruled(orange: FakeOrange, http: httpx.AsyncClient) -> None:
    orange.knobs.outcome = "decline"
    orange.knobs.bad_signature = True
    merchant = await run(orange, http)
    assert merchant.events[0].status is PaymentStatus.FAILED


async def test_wrong_amount(orange: FakeOrange, http: httpx.AsyncClient) -> None:
    orange.knobs.outcome = "wrong_amount"
    merchant = await run(orange, http)
    assert merchant.events[0].status is PaymentStatus.SUCCEEDED and merchant.events[0].amount == Decimal(4900)


async def test_duplicates(orange: FakeOrange, http: httpx.AsyncClient) -> None:
    orange.knobs.duplicate_callbacks = 3
    merchant = await run(orange, http, count=3)
    assert len({e.provider_txn_id for e in merchant.events}) == 1


async def test_timeout_pending_and_unknown(orange: FakeOrange, http: httpx.AsyncClient) -> None:
    orange.knobs.outcome = "timeout"
    provider = make(orange, http)
    await provider.start_collection(request())
    assert (await provider.query_status("pay-7", None)).status is PaymentStatus.PENDING
    assert (await provider.query_status("other", None)).status is PaymentStatus.UNKNOWN


async def test_errors(orange: FakeOrange, http: httpx.AsyncClient) -> None:
    provider = make(orange, http)
    with pytest.raises(PaymentRejected):
        await provider.start_collection(request(currency="EUR"))
    await provider.start_collection(request())
    with pytest.raises(PaymentRejected):  # the same transid twice
        await provider.start_collection(request())
    orange.knobs.fail_next = 1
    with pytest.raises(ProviderUnavailable):
        await provider.start_collection(request(ref="x1"))
    orange.knobs.delay_s = 1.5
    with pytest.raises(ProviderUnavailable):
        await provider.query_status("pay-7", None)


async def test_callbacks_for_another_partner_or_malformed_are_refused(
    orange: FakeOrange, http: httpx.AsyncClient
) -> None:
    provider = make(orange, http)
    foreign = (
        b"<Envelope><Body><doCallback><PartnId>EVIL</PartnId><mermsisdn>243890000042</mermsisdn>"
        b"<transid>pay-7</transid></doCallback></Body></Envelope>"
    )
    with pytest.raises(PaymentCallbackError) as info:
        await provider.handle_callback({}, foreign)
    assert info.value.http_status == 401
    bomb = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>'
    for body in (b"", b"<a>", bomb, b"<Envelope><Body><doCallback/></Body></Envelope>"):
        with pytest.raises(PaymentCallbackError):
            await provider.handle_callback({}, body)
    assert not orange.requests


def test_check_status_words() -> None:
    assert check_status({"resultCode": "200", "resultDesc": "SUCCESS"}) is PaymentStatus.SUCCEEDED
    assert (
        check_status({"resultCode": "0", "resultDesc": "Paiement En Cours de traitement"})
        is PaymentStatus.PENDING
    )
    assert check_status({"resultCode": "1", "resultDesc": "Transaction echouee"}) is PaymentStatus.FAILED
    assert (
        check_status({"resultCode": "404", "resultDesc": "Transaction introuvable"}) is PaymentStatus.UNKNOWN
    )
    assert check_status({"status": "SUCCESSFUL", "resultCode": "0"}) is PaymentStatus.SUCCEEDED
    assert check_status({}) is PaymentStatus.UNKNOWN
