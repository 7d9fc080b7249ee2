"""M-Pesa Daraja adapter against the local fake Daraja (real HTTP on loopback)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from api.payments.base import (
    CollectionRequest,
    PaymentCallbackError,
    PaymentRejected,
    PaymentStatus,
    ProviderUnavailable,
    Verification,
)
from api.payments.mpesa import MpesaConfig, MpesaDaraja, stk_password
from api.payments.secret import Secret
from tests.fakes.merchant import Merchant
from tests.fakes.mpesa import FakeDaraja
from tests.fakes.server import wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def daraja() -> Iterator[FakeDaraja]:
    with FakeDaraja(consumer_key="key-1", consumer_secret="secret-1", passkey="pass-1") as fake:
        yield fake


def make(
    daraja: FakeDaraja, http: httpx.AsyncClient, callback_base: str = "http://127.0.0.1:9"
) -> MpesaDaraja:
    env = {
        "NGUVU_MPESA_BASE_URL": daraja.url,
        "NGUVU_MPESA_CONSUMER_KEY": "key-1",
        "NGUVU_MPESA_CONSUMER_SECRET": "secret-1",
        "NGUVU_MPESA_SHORTCODE": "174379",
        "NGUVU_MPESA_PASSKEY": "pass-1",
        "NGUVU_MPESA_CALLBACK_URL": callback_base + "/callback",
        "NGUVU_MPESA_C2B_VALIDATION_URL": callback_base + "/c2b/validation",
        "NGUVU_MPESA_C2B_CONFIRMATION_URL": callback_base + "/c2b/confirmation",
        "NGUVU_MPESA_TIMEOUT_S": "1",
    }
    return MpesaDaraja(MpesaConfig.from_env(env), http)


def request(amount: str = "500", account: str = "58000000001", ref: str = "pay-1") -> CollectionRequest:
    return CollectionRequest(ref, "+254708374149", Decimal(amount), "KES", account, "Electricity")


def test_password_is_base64_of_shortcode_passkey_timestamp() -> None:
    expected = base64.b64encode(b"174379" + b"bfb279f9" + b"20260101120000").decode()
    assert stk_password("174379", Secret("bfb279f9"), "20260101120000") == expected


async def test_stk_push_approved_callback_is_confirmed_by_query(
    daraja: FakeDaraja, http: httpx.AsyncClient
) -> None:
    async with Merchant() as merchant:
        merchant.provider = provider = make(daraja, http, merchant.url)
        started = await provider.start_collection(request())
        assert started.status is PaymentStatus.PENDING and started.provider_ref in daraja.stk
        await wait_for(lambda: merchant.events and daraja.callbacks)
    [event] = merchant.events
    stk = daraja.stk[started.provider_ref]
    assert event.status is PaymentStatus.SUCCEEDED
    assert event.provider_txn_id == stk.receipt
    assert event.amount == Decimal(500) and event.currency == "KES" and event.msisdn == "+254708374149"
    assert event.provider_ref == started.provider_ref and event.reference is None
    assert event.verification is Verification.QUERY
    assert len(daraja.paths("/mpesa/stkpushquery/v1/query")) == 1
    assert json.loads(daraja.callbacks[0].reply) == {"ResultCode": 0, "ResultDesc": "Accepted"}
    push = json.loads(daraja.paths("/mpesa/stkpush/v1/processrequest")[0].body)
    assert (
        push["AccountReference"] == "58000000001"
        and push["Amount"] == 500
        and push["PartyA"] == "254708374149"
    )


async def test_token_is_reused_across_calls(daraja: FakeDaraja, http: httpx.AsyncClient) -> None:
    daraja.knobs.outcome = "timeout"
    provider = make(daraja, http)
    await provider.start_collection(request(ref="a"))
    await provider.start_collection(request(ref="b"))
    assert len(daraja.paths("/oauth/v1/generate")) == 1


async def test_concurrent_pushes_fetch_one_token(daraja: FakeDaraja, http: httpx.AsyncClient) -> None:
    daraja.knobs.outcome = "timeout"
    provider = make(daraja, http)
    started = await asyncio.gather(*(provider.start_collection(request(ref=f"r{i}")) for i in range(8)))
    assert len({s.provider_ref for s in started}) == 8
    assert len(daraja.paths("/oauth/v1/generate")) == 1


async def test_token_refreshed_before_expiry_and_after_revocation(
    daraja: FakeDaraja, http: httpx.AsyncClient
) -> None:
    daraja.knobs.outcome = "timeout"
    daraja.token_lifetime = "0.2"
    provider = make(daraja, http)
    await provider.start_collection(request(ref="a"))
    await asyncio.sleep(0.15)  # past half the lifetime: the adapter refreshes early
    await provider.start_collection(request(ref="b"))
    assert len(daraja.paths("/oauth/v1/generate")) == 2
    daraja.token_lifetime = "3599"
    await asyncio.sleep(0.15)
    await provider.start_collection(request(ref="c"))  # third token, long-lived
    daraja.tokens.clear()  # Safaricom revokes the token
    with pytest.raises(ProviderUnavailable) as info:
        await provider.start_collection(request(ref="d"))
    assert info.value.code == "provider_auth"
    await provider.start_collection(request(ref="e"))  # a new token is fetched
    assert len(daraja.paths("/oauth/v1/generate")) == 4


async def test_declined(daraja: FakeDaraja, http: httpx.AsyncClient) -> None:
    daraja.knobs.outcome = "decline"
    async with Merchant() as merchant:
        merchant.provider = provider = make(daraja, http, merchant.url)
        await provider.start_collection(request())
        await wait_for(lambda: merchant.events)
    [event] = merchant.events
    assert event.status is PaymentStatus.FAILED and event.provider_txn_id is None and event.amount is None


async def test_forged_success_callback_is_overruled_by_query(
    daraja: FakeDaraja, http: httpx.AsyncClient
) -> None:
    daraja.knobs.outcome = "decline"
    daraja.knobs.bad_signature = True  # the callback claims success; Daraja's record says cancelled
    async with Merchant() as merchant:
        merchant.provider = provider = make(daraja, http, merchant.url)
        await provider.start_collection(request())
        await wait_for(lambda: merchant.events)
    [event] = merchant.events
    assert event.status is PaymentStatus.FAILED
    assert event.provider_txn_id is None and event.amount is None


async def test_wrong_amount_is_reported_as_paid(daraja: FakeDaraja, http: httpx.AsyncClient) -> None:
    daraja.knobs.outcome = "wrong_amount"
    async with Merchant() as merchant:
        merchant.provider = provider = make(daraja, http, merchant.url)
        await provider.start_collection(request("500"))
        await wait_for(lambda: merchant.events)
    assert merchant.events[0].status is PaymentStatus.SUCCEEDED and merchant.events[0].amount == Decimal(499)


async def test_duplicate_callbacks_carry_the_same_receipt(
    daraja: FakeDaraja, http: httpx.AsyncClient
) -> None:
    daraja.knobs.duplicate_callbacks = 4
    async with Merchant() as merchant:
        merchant.provider = provider = make(daraja, http, merchant.url)
        await provider.start_collection(request())
        await wait_for(lambda: len(merchant.events) == 4)
    assert len({e.provider_txn_id for e in merchant.events}) == 1
    assert all(e.status is PaymentStatus.SUCCEEDED for e in merchant.events)


async def test_timeout_then_query_says_pending(daraja: FakeDaraja, http: httpx.AsyncClient) -> None:
    daraja.knobs.outcome = "timeout"
    provider = make(daraja, http)
    started = await provider.start_collection(request())
    event = await provider.query_status("pay-1", started.provider_ref)
    assert event.status is PaymentStatus.PENDING and event.reference == "pay-1"
    assert (await provider.query_status("pay-1", None)).status is PaymentStatus.UNKNOWN


async def test_5xx_and_slow_answers_are_provider_unavailable(
    daraja: FakeDaraja, http: httpx.AsyncClient
) -> None:
    provider = make(daraja, http)
    daraja.knobs.fail_next = 1
    with pytest.raises(ProviderUnavailable):
        await provider.start_collection(request())
    daraja.knobs.delay_s = 1.5  # the adapter's timeout is 1 s
    with pytest.raises(ProviderUnavailable) as info:
        await provider.start_collection(request())
    assert info.value.code == "provider_timeout"


async def test_refusals(daraja: FakeDaraja, http: httpx.AsyncClient) -> None:
    provider = make(daraja, http)
    with pytest.raises(PaymentRejected):
        await provider.start_collection(request(amount="10.50"))
    with pytest.raises(PaymentRejected):
        await provider.start_collection(request(account="1234567890123"))
    with pytest.raises(PaymentRejected):
        await provider.start_collection(
            CollectionRequest("r", "+254708374149", Decimal(5), "CDF", "58000000001", "x")
        )
    assert not daraja.paths("/mpesa/stkpush/v1/processrequest")


async def test_bad_credentials_are_unavailable_not_rejected(
    daraja: FakeDaraja, http: httpx.AsyncClient
) -> None:
    daraja.consumer_secret = "rotated"
    with pytest.raises(ProviderUnavailable) as info:
        await make(daraja, http).start_collection(request())
    assert info.value.code == "provider_auth"


async def test_password_uses_nairobi_time(daraja: FakeDaraja, http: httpx.AsyncClient) -> None:
    provider = make(daraja, http)
    provider._clock = lambda: datetime(2026, 11, 28, 21, 30, 5, tzinfo=UTC)
    await provider.start_collection(request())
    push = json.loads(daraja.paths("/mpesa/stkpush/v1/processrequest")[0].body)
    assert push["Timestamp"] == "20261129003005"


async def pay_bill(daraja: FakeDaraja, http: httpx.AsyncClient, account: str) -> None:
    """A customer pays the paybill from the M-Pesa menu (Daraja's C2B simulation call)."""
    await http.post(
        daraja.url + "/mpesa/c2b/v1/simulate",
        headers={"Authorization": "Bearer " + next(iter(daraja.tokens))},
        json={
            "ShortCode": "174379",
            "CommandID": "CustomerPayBillOnline",
            "Amount": 750,
            "Msisdn": "254708374149",
            "BillRefNumber": account,
        },
    )


async def test_c2b_known_meter_is_validated_then_confirmed(
    daraja: FakeDaraja, http: httpx.AsyncClient
) -> None:
    async with Merchant(known_accounts={"58000000001"}) as merchant:
        merchant.provider = provider = make(daraja, http, merchant.url)
        await provider.register_c2b_urls()
        assert daraja.c2b_urls["validation"] == merchant.url + "/c2b/validation"
        await pay_bill(daraja, http, "58000000001")
        await wait_for(lambda: merchant.events)
    [event] = merchant.events
    assert merchant.validations == ["58000000001"]
    assert event.status is PaymentStatus.SUCCEEDED and event.account == "58000000001"
    assert event.amount == Decimal(750) and event.currency == "KES"
    assert event.reference is None and event.provider_ref is None and event.provider_txn_id
    assert event.verification is Verification.CHANNEL


async def test_c2b_unknown_meter_is_refused_at_validation(
    daraja: FakeDaraja, http: httpx.AsyncClient
) -> None:
    async with Merchant(known_accounts={"58000000001"}) as merchant:
        merchant.provider = provider = make(daraja, http, merchant.url)
        await provider.register_c2b_urls()
        await pay_bill(daraja, http, "99999999999")
        await wait_for(lambda: daraja.callbacks)
    assert json.loads(daraja.callbacks[0].reply)["ResultCode"] == "C2B00012"
    assert len(daraja.callbacks) == 1 and not merchant.events


async def test_malformed_callbacks_are_refused(daraja: FakeDaraja, http: httpx.AsyncClient) -> None:
    provider = make(daraja, http)
    for body in (
        b"not json",
        b"[]",
        b'{"Body":{}}',
        b'{"Body":{"stkCallback":{"CheckoutRequestID":"x","ResultCode":0}}}',
    ):
        with pytest.raises(PaymentCallbackError):
            await provider.handle_callback({}, body)
    assert not daraja.requests
