"""Property: whatever a provider answers (status and body), an adapter call either succeeds or raises
its package's operational error (PaymentError / SmsError) - never KeyError, TypeError or ValueError,
which the core's workers would mistake for a bug or a permanent refusal.

The fakes answer the generated (status, body) on every API route but OAuth, over loopback HTTP.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.payments.airtel import AirtelConfig, AirtelMoney
from api.payments.base import CollectionRequest, PaymentError
from api.payments.mpesa import MpesaConfig, MpesaDaraja
from api.payments.orange import OrangeConfig, OrangeMoney
from api.sms.africastalking import AfricasTalkingConfig, AfricasTalkingSms
from api.sms.base import SmsError, SmsMessage
from tests.fakes.africastalking import FakeAfricasTalking
from tests.fakes.airtel import FakeAirtel
from tests.fakes.base import FakeProvider
from tests.fakes.mpesa import FakeDaraja
from tests.fakes.orange import FakeOrange

pytestmark = pytest.mark.anyio

KEYS = [
    "ResponseCode",
    "CheckoutRequestID",
    "CustomerMessage",
    "errorCode",
    "errorMessage",
    "ResultCode",
    "ResultDesc",
    "ResponseDescription",
    "status",
    "data",
    "transaction",
    "result_code",
    "response_code",
    "success",
    "message",
    "id",
    "airtel_money_id",
    "SMSMessageData",
    "Recipients",
    "statusCode",
    "messageId",
    "cost",
    "Message",
    "access_token",
    "expires_in",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 1000)
    | st.sampled_from(["0", "200", "TS", "TIP", "ESB000010", "ESB000045", "500.001.1001"])
    | st.text(max_size=10)
    | st.floats(allow_nan=True)
)
shaped = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5),
    max_leaves=12,
)
soap = st.builds(
    lambda op, fields: (
        f'<?xml version="1.0"?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/">'
        f"<S:Body><{op}><return>"
        + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
        + f"</return></{op}></S:Body></S:Envelope>"
    ).encode(),
    st.sampled_from(["doS2MResponse", "doCheckTransResponse", "other"]),
    st.dictionaries(
        st.sampled_from(
            ["resultCode", "resultDesc", "systemId", "amount", "status", "currency", "subsmsisdn"]
        ),
        st.text(alphabet="0123456789 .,enEcoursSUC", max_size=10),
        max_size=5,
    ),
)
answers = st.tuples(
    st.sampled_from([200, 201, 400, 401, 404, 409, 500, 502, 503]),
    st.binary(max_size=80) | shaped.map(lambda v: json.dumps(v).encode()) | soap,
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeProvider]]:
    made: dict[str, FakeProvider] = {
        "airtel": FakeAirtel(client_id="i", client_secret="s"),
        "mpesa": FakeDaraja(consumer_key="k", consumer_secret="s", passkey="p"),
        "orange": FakeOrange(partner_id="P1", merchant_msisdn="243890000000"),
        "at": FakeAfricasTalking(username="u", api_key="k"),
    }
    for fake in made.values():
        fake.start()
    yield made
    for fake in made.values():
        fake.stop()


def request(currency: str = "CDF") -> CollectionRequest:
    return CollectionRequest("pay-1", "+243970000001", Decimal(1000), currency, "01234567890", "Electricite")


@FUZZ
@given(answer=answers)
@example(answer=(200, b'{"data":null}'))  # found by this test once
async def test_airtel_answers(
    fakes: dict[str, FakeProvider], http: httpx.AsyncClient, answer: tuple[int, bytes]
) -> None:
    fakes["airtel"].knobs.garbage = answer
    provider = AirtelMoney(
        AirtelConfig.from_env(
            {
                "NGUVU_AIRTEL_BASE_URL": fakes["airtel"].url,
                "NGUVU_AIRTEL_CLIENT_ID": "i",
                "NGUVU_AIRTEL_CLIENT_SECRET": "s",
            }
        ),
        http,
    )
    for call in (provider.start_collection(request()), provider.query_status("pay-1", None)):
        with contextlib.suppress(PaymentError):
            await call


@FUZZ
@given(answer=answers)
@example(answer=(200, b'{"ResponseCode":"0"}'))  # accepted, but no CheckoutRequestID
async def test_mpesa_answers(
    fakes: dict[str, FakeProvider], http: httpx.AsyncClient, answer: tuple[int, bytes]
) -> None:
    fakes["mpesa"].knobs.garbage = answer
    env = {
        "NGUVU_MPESA_BASE_URL": fakes["mpesa"].url,
        "NGUVU_MPESA_CONSUMER_KEY": "k",
        "NGUVU_MPESA_CONSUMER_SECRET": "s",
        "NGUVU_MPESA_SHORTCODE": "174379",
        "NGUVU_MPESA_PASSKEY": "p",
        "NGUVU_MPESA_CURRENCY": "CDF",
    }
    provider = MpesaDaraja(MpesaConfig.from_env(env), http)
    calls = (
        provider.start_collection(request()),
        provider.query_status("pay-1", "ws_CO_1"),
        provider.register_c2b_urls(),
    )
    for call in calls:
        with contextlib.suppress(PaymentError):
            await call


@FUZZ
@given(answer=answers)
async def test_orange_answers(
    fakes: dict[str, FakeProvider], http: httpx.AsyncClient, answer: tuple[int, bytes]
) -> None:
    fakes["orange"].knobs.garbage = answer
    env = {
        "NGUVU_ORANGE_URL": fakes["orange"].url + "/apigw/soap",
        "NGUVU_ORANGE_PARTNER_ID": "P1",
        "NGUVU_ORANGE_MERCHANT_MSISDN": "243890000000",
    }
    provider = OrangeMoney(OrangeConfig.from_env(env), http)
    for call in (provider.start_collection(request()), provider.query_status("pay-1", None)):
        with contextlib.suppress(PaymentError):
            await call


@FUZZ
@given(answer=answers)
async def test_africastalking_answers(
    fakes: dict[str, FakeProvider], http: httpx.AsyncClient, answer: tuple[int, bytes]
) -> None:
    fakes["at"].knobs.garbage = answer
    env = {"NGUVU_AT_USERNAME": "u", "NGUVU_AT_API_KEY": "k", "NGUVU_AT_BASE_URL": fakes["at"].url}
    provider = AfricasTalkingSms(AfricasTalkingConfig.from_env(env), http)
    with contextlib.suppress(SmsError):
        await provider.send(SmsMessage("+243970000001", "Jeton: 1234", "o1"))
