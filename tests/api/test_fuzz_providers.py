"""Each payment provider's callback routes, in the service with its database: whatever body arrives,
never a 500 (503 only when verifying needs the provider, which then delivers again), and a refused
callback (4xx) leaves every table's rows unchanged. The adapters alone are fuzzed in
providers/test_callback_fuzz.py; here the events they accept also go through the vend transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apitest import TestClient, table_digests
from conftest import METER_DRN, OTHER_DRN, make_settings, queue_payment, seed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from api.app import create_app
from api.payments.base import C2B_CONFIRMATION_PATH, C2B_VALIDATION_PATH, PAYMENT_CALLBACK_PATH
from api.service import Service

UNREACHABLE = "http://127.0.0.1:9"
PROVIDERS: dict[str, tuple[dict[str, str], list[str]]] = {
    "airtel": (
        {
            "NGUVU_AIRTEL_CLIENT_ID": "i",
            "NGUVU_AIRTEL_CLIENT_SECRET": "s",
            "NGUVU_AIRTEL_BASE_URL": UNREACHABLE,
            "NGUVU_AIRTEL_TIMEOUT_S": "0.2",
        },
        [PAYMENT_CALLBACK_PATH.format(provider="airtel")],
    ),
    "mpesa": (
        {
            "NGUVU_MPESA_CONSUMER_KEY": "k",
            "NGUVU_MPESA_CONSUMER_SECRET": "s",
            "NGUVU_MPESA_SHORTCODE": "174379",
            "NGUVU_MPESA_PASSKEY": "p",
            "NGUVU_MPESA_BASE_URL": UNREACHABLE,
            "NGUVU_MPESA_TIMEOUT_S": "0.2",
        },
        [C2B_CONFIRMATION_PATH, C2B_VALIDATION_PATH],
    ),
    "orange": (
        {
            "NGUVU_ORANGE_URL": UNREACHABLE + "/soap",
            "NGUVU_ORANGE_PARTNER_ID": "P1",
            "NGUVU_ORANGE_MERCHANT_MSISDN": "243890000000",
            "NGUVU_ORANGE_TIMEOUT_S": "0.2",
        },
        [PAYMENT_CALLBACK_PATH.format(provider="orange")],
    ),
}

values = st.one_of(
    st.sampled_from(
        [METER_DRN, OTHER_DRN, "ref-1", "5000", "5000.00", "1e20", "NaN", "-1", "0", "243990000001"]
    ),
    st.sampled_from(["TS", "TF", "TIP", "SUCCESS", "FAILED", "CDF", "Pay Bill", "", "x" * 90]),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
    st.text(max_size=20),
)
keys = st.sampled_from(
    [
        "Body", "stkCallback", "CheckoutRequestID", "MerchantRequestID", "ResultCode", "ResultDesc",
        "CallbackMetadata", "Item", "Name", "Value", "TransactionType", "TransID", "TransTime",
        "TransAmount", "BusinessShortCode", "BillRefNumber", "MSISDN", "FirstName", "transaction", "id",
        "status_code", "airtel_money_id", "message", "hash", "status", "amount", "reference", "currency",
    ]
)  # fmt: skip
shaped = st.recursive(
    values,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=8),
    max_leaves=20,
)
xml = st.builds(
    lambda op, fields: (
        f"<Envelope><Body><{op}>"
        + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
        + f"</{op}></Body></Envelope>"
    ).encode(),
    st.sampled_from(["doCallback", "doS2MResponse", "x"]),
    st.dictionaries(
        st.sampled_from(["transid", "PartnId", "mermsisdn", "amount", "ResultCode", "orderid", "status"]),
        st.one_of(
            st.sampled_from(["ref-1", "5000", "200", "P1", "1e20", "&lt;", "<a>"]), st.text(max_size=12)
        ),
        max_size=6,
    ),
)
bodies = st.one_of(
    shaped.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    xml,
    st.just(b"[" * 3000),
)


@pytest.fixture(params=sorted(PROVIDERS))
def provider_client(
    request: pytest.FixtureRequest, engine: Engine, tmp_path: Path
) -> Iterator[tuple[Any, ...]]:
    name = request.param
    env, routes = PROVIDERS[name]
    settings_ = make_settings(tmp_path, payment_provider=name, provider_env=env)
    service = Service(settings_, engine=engine, sms_write=lambda _l: None)
    seed(service)
    queue_payment(engine, "ref-1", METER_DRN)  # a pending payment for bodies that name it
    with TestClient(create_app(settings_, service=service)) as client:
        yield client, engine, routes


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=bodies, ctype=st.sampled_from(["application/json", "text/xml", "application/x-www-form-urlencoded"])
)
def test_each_providers_callbacks_never_fail_and_refusals_write_nothing(
    provider_client: tuple[Any, ...], body: bytes, ctype: str
) -> None:
    client, engine, routes = provider_client
    for route in routes:
        before = table_digests(engine)
        r = client.post(route, content=body, headers={"content-type": ctype})
        assert r.status_code < 500 or (r.status_code == 503 and "unavailable" in r.text), (
            route,
            body,
            r.text,
        )
        if r.status_code >= 400:
            assert table_digests(engine) == before, (route, body, r.status_code, r.text)
