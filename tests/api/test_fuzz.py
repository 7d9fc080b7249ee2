"""Property-based fuzzing of every public endpoint: never a 500, and a refused request writes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from apitest import TestClient
from conftest import World
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import SQLModel

from api.db import reading

FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)
credit_like = st.fixed_dictionaries(
    {},
    optional={
        "units": st.one_of(
            st.text(max_size=12), st.integers(-5, 10**7), st.floats(allow_nan=False), st.none()
        ),
        "amount": st.one_of(st.text(max_size=12), st.integers(-5, 10**13), st.none()),
        "currency": st.sampled_from(["CDF", "USD", "EUR", "", None, 5]),
        "reference": st.text(max_size=50),
        "kind": st.sampled_from(["clear_credit", "clear_tamper", "set_mpl", "credit", ""]),
        "mpl_watts": st.integers(-10, 10**6),
        "sgc": st.integers(-10, 10**7),
        "ti": st.integers(-1, 120),
        "krn": st.integers(-1, 12),
        "vending_key": st.text(max_size=70),
        "meters": st.lists(json_values, max_size=3),
    },
)
ussd_text = st.lists(
    st.one_of(
        st.sampled_from(["1", "2", "3", "0", "00", "9", "", "01234567897", "ENK-0001", "5000", "999"]),
        st.text(max_size=15),
    ),
    max_size=8,
).map("*".join)


def snapshot(world: World) -> dict[str, Any]:
    with reading(world.service.engine) as s:
        counts: dict[str, Any] = {
            name: s.scalar(select(func.count()).select_from(table))
            for name, table in SQLModel.metadata.tables.items()
            if name != "rate_counts"  # the rate limits count every request, refused or not
        }
    return counts


def check(world: World, before: dict[str, Any], status: int) -> None:
    assert status < 500
    if status >= 400:
        assert snapshot(world) == before


@FUZZ
@given(
    text=ussd_text,
    phone=st.one_of(st.just("+243990000001"), st.text(max_size=20)),
    session=st.text(max_size=120),
)
def test_ussd_never_fails_and_bad_requests_write_nothing(
    client: TestClient, world: World, text: str, phone: str, session: str
) -> None:
    before = snapshot(world)
    r = client.post(
        "/ussd", data={"sessionId": session, "serviceCode": "*384*1234#", "phoneNumber": phone, "text": text}
    )
    check(world, before, r.status_code)
    assert r.text.startswith(("CON ", "END "))
    body = r.text[4:]
    if r.status_code == 200 and r.text.startswith("CON "):
        assert len(body) <= 160


@FUZZ
@given(raw=st.binary(max_size=300))
def test_ussd_raw_bodies(client: TestClient, world: World, raw: bytes) -> None:
    before = snapshot(world)
    r = client.post("/ussd", content=raw, headers={"content-type": "application/x-www-form-urlencoded"})
    check(world, before, r.status_code)


ENDPOINTS = [
    ("POST", "/api/v1/meters/{m}/tokens/credit"),
    ("POST", "/api/v1/meters/{m}/tokens/management"),
    ("POST", "/api/v1/meters/{m}/tokens/key-change"),
    ("POST", "/api/v1/meters/batch"),
    ("GET", "/api/v1/meters/{m}"),
    ("GET", "/api/v1/meters/{m}/tokens/last"),
    ("GET", "/api/v1/payments"),
    ("GET", "/api/v1/tokens"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@FUZZ
@given(
    body=st.one_of(credit_like, json_values),
    meter=st.one_of(
        st.just("01234567897"),
        st.text(
            alphabet=st.characters(
                min_codepoint=33,
                max_codepoint=0x2FF,
                blacklist_characters="/?#%\x7f",
                blacklist_categories=["Cc", "Cs"],
            ),
            min_size=1,
            max_size=25,
        ),
    ),
    query=st.dictionaries(
        st.sampled_from(["limit", "offset", "status", "meter", "msisdn"]), st.text(max_size=12), max_size=3
    ),
)
def test_rest_endpoints_never_fail(
    client: TestClient,
    world: World,
    api_key: str,
    method: str,
    path: str,
    body: Any,
    meter: str,
    query: dict[str, str],
) -> None:
    before = snapshot(world)
    url = path.format(m=meter)
    headers = {"Authorization": f"Bearer {api_key}"}
    if method == "GET":
        r = client.get(url, params=query, headers=headers)
    else:
        r = client.post(url, content=json.dumps(body).encode(), headers=headers)
    check(world, before, r.status_code)
    assert "error" in r.json() if r.status_code >= 400 else True


@FUZZ
@given(
    raw=st.binary(max_size=200),
    headers=st.dictionaries(
        st.sampled_from(["x-sandbox-signature", "content-type", "authorization"]),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=70),
        max_size=3,
    ),
)
def test_callbacks_never_fail_and_forged_ones_write_nothing(
    client: TestClient, world: World, raw: bytes, headers: dict[str, str]
) -> None:
    for url in (
        "/callbacks/payments/sandbox",
        "/callbacks/payments/airtel",
        "/callbacks/payments/mpesa/c2b/validation",
        "/callbacks/payments/mpesa/c2b/confirmation",
        "/callbacks/sms/console/delivery",
        "/callbacks/sms/africastalking/delivery",
        "/callbacks/sms/console/inbound",
        "/callbacks/sms/africastalking/inbound",
    ):
        before = snapshot(world)
        r = client.post(url, content=raw, headers=headers)
        check(world, before, r.status_code)


inbound_form = st.fixed_dictionaries(
    {},
    optional={
        "from": st.one_of(
            st.sampled_from(["+243990000001", "+243970000009", "SAFARICOM", ""]), st.text(max_size=20)
        ),
        "to": st.text(max_size=8),
        "text": st.one_of(
            st.sampled_from(["JETON", "token 01234567897", "TENA ENK-0001", "Resend 01234567905", "", "hi"]),
            st.text(max_size=40),
        ),
        "id": st.one_of(st.sampled_from(["ATXid_1", "ATXid_2", ""]), st.text(max_size=90)),
        "date": st.text(max_size=20),
        "linkId": st.text(max_size=10),
        "networkCode": st.text(max_size=8),
    },
)


@FUZZ
@given(form=inbound_form)
def test_incoming_sms_never_fails_and_queues_at_most_one_reply(
    client: TestClient, world: World, form: dict[str, str]
) -> None:
    before = snapshot(world)
    r = client.post("/callbacks/sms/console/inbound", data=form)
    check(world, before, r.status_code)
    after = snapshot(world)
    assert after["sms_outbox"] - before["sms_outbox"] <= 1
    assert {k: v for k, v in after.items() if k != "sms_outbox"} == {
        k: v for k, v in before.items() if k != "sms_outbox"
    }


def test_read_only_endpoints_answer(client: TestClient) -> None:
    for url in ("/health", "/metrics", "/openapi.json", "/api/v1/openapi.json"):
        assert client.get(url).status_code == 200
