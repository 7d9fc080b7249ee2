"""Property: whatever bytes reach a callback endpoint, an adapter either returns events or refuses with
PaymentCallbackError (400/401) or ProviderUnavailable (503, when verification needs an unreachable
provider) - never any other exception, which would become a 500."""

from __future__ import annotations

import contextlib
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.payments.base import C2BValidator, PaymentCallbackError, PaymentProvider, ProviderUnavailable
from api.payments.factory import build_payment_provider

pytestmark = pytest.mark.anyio

UNREACHABLE = "http://127.0.0.1:9"
ENVS: dict[str, dict[str, str]] = {
    "sandbox": {},
    "airtel": {
        "NGUVU_PAYMENT_PROVIDER": "airtel",
        "NGUVU_AIRTEL_CLIENT_ID": "i",
        "NGUVU_AIRTEL_CLIENT_SECRET": "s",
        "NGUVU_AIRTEL_BASE_URL": UNREACHABLE,
        "NGUVU_AIRTEL_TIMEOUT_S": "0.2",
    },
    "mpesa": {
        "NGUVU_PAYMENT_PROVIDER": "mpesa",
        "NGUVU_MPESA_CONSUMER_KEY": "k",
        "NGUVU_MPESA_CONSUMER_SECRET": "s",
        "NGUVU_MPESA_SHORTCODE": "174379",
        "NGUVU_MPESA_PASSKEY": "p",
        "NGUVU_MPESA_BASE_URL": UNREACHABLE,
        "NGUVU_MPESA_TIMEOUT_S": "0.2",
    },
    "orange": {
        "NGUVU_PAYMENT_PROVIDER": "orange",
        "NGUVU_ORANGE_URL": UNREACHABLE + "/soap",
        "NGUVU_ORANGE_PARTNER_ID": "P1",
        "NGUVU_ORANGE_MERCHANT_MSISDN": "243890000000",
        "NGUVU_ORANGE_TIMEOUT_S": "0.2",
    },
}

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)
# Shapes close to the real ones, so fuzzing reaches past the first structural check.
keys = st.sampled_from(
    [
        "Body",
        "stkCallback",
        "CheckoutRequestID",
        "ResultCode",
        "CallbackMetadata",
        "Item",
        "Name",
        "Value",
        "TransID",
        "TransAmount",
        "BillRefNumber",
        "MSISDN",
        "transaction",
        "id",
        "status_code",
        "airtel_money_id",
        "hash",
        "status",
        "amount",
        "reference",
    ]
)
shaped = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=15,
)
xml_bodies = st.builds(
    lambda op, fields: (
        f"<Envelope><Body><{op}>"
        + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
        + f"</{op}></Body></Envelope>"
    ).encode(),
    st.sampled_from(["doCallback", "doS2MResponse", "x"]),
    st.dictionaries(
        st.sampled_from(["transid", "PartnId", "mermsisdn", "amount", "ResultCode"]),
        st.text(alphabet="0123456789abcP", max_size=12),
        max_size=5,
    ),
)
bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | shaped.map(lambda v: json.dumps(v).encode())
    | xml_bodies
)


async def _exercise(provider: PaymentProvider, body: bytes) -> None:
    with contextlib.suppress(PaymentCallbackError, ProviderUnavailable):
        await provider.handle_callback({"content-type": "application/json"}, body)
    if isinstance(provider, C2BValidator):

        async def lookup(account: str) -> bool:
            return account == "58000000001"

        try:
            reply = await provider.validate_c2b({}, body, lookup)
            assert reply.status_code == 200
        except PaymentCallbackError:
            pass


@pytest.mark.parametrize("name", sorted(ENVS))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
async def test_callbacks_never_crash(http: httpx.AsyncClient, name: str, body: bytes) -> None:
    provider = build_payment_provider(ENVS[name], http)
    await _exercise(provider, body)
    await provider.aclose()
