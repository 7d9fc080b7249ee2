"""The vendor REST API: API keys and scopes, tokens, look-ups, lists, batch registration, OpenAPI."""

from __future__ import annotations

from typing import Any

import pytest
from apitest import TestClient
from conftest import VENDING_KEY, World
from sqlalchemy import select

from api.actors import Actor
from api.db import reading, transaction
from api.keyring import profile_of
from api.models import Meter, Payment, Token
from api.registry import create_api_key, revoke_api_key
from tokencore import VendingKey, decode_token, derive_decoder_key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def post(client: TestClient, key: str, path: str, body: Any) -> Any:
    return client.post(f"/api/v1{path}", json=body, headers=auth(key))


def test_requests_without_a_valid_key_are_refused(client: TestClient, world: World, api_key: str) -> None:
    r = client.get(f"/api/v1/meters/{world.meter_drn}")
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
    r = client.get(f"/api/v1/meters/{world.meter_drn}", headers=auth(api_key[:-2] + "xx"))
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    with transaction(world.service.engine) as s:
        revoke_api_key(s, api_key.split("_")[1], actor=Actor.cli())
    assert client.get(f"/api/v1/meters/{world.meter_drn}", headers=auth(api_key)).status_code == 401


def test_a_key_without_the_scope_is_forbidden(client: TestClient, world: World) -> None:
    with transaction(world.service.engine) as s:
        reader = create_api_key(s, actor=Actor.cli(), name="reader", scopes=["read"])
    r = post(client, reader, f"/meters/{world.meter_drn}/tokens/credit", {"units": "5"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "missing_scope"
    assert client.get(f"/api/v1/meters/{world.meter_drn}", headers={"X-API-Key": reader}).status_code == 200


def test_meter_lookup_never_returns_key_material(client: TestClient, world: World, api_key: str) -> None:
    r = client.get(f"/api/v1/meters/{world.customer_code}", headers=auth(api_key))
    assert r.status_code == 200
    doc = r.json()
    assert doc["drn"] == world.meter_drn and doc["holder"] == "Kahindo Masika" and doc["sgc"] == 123457
    assert VENDING_KEY not in r.text and "sealed" not in r.text and "key_id" not in r.text
    assert client.get("/api/v1/meters/99999999999", headers=auth(api_key)).status_code == 404


def _decode(world: World, token: str) -> Any:
    with reading(world.service.engine) as s:
        meter = s.scalars(select(Meter).where(Meter.drn == world.meter_drn)).one()
    profile = profile_of(meter)
    return decode_token(token, derive_decoder_key(VendingKey.from_hex(VENDING_KEY), profile))


def test_credit_by_units_is_a_real_token_for_the_meter(
    client: TestClient, world: World, api_key: str
) -> None:
    r = post(client, api_key, f"/meters/{world.meter_drn}/tokens/credit", {"units": "12.5"})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["units"] == "12.5" and len(doc["token"]) == 20 and doc["grouped"].count(" ") == 4
    decoded = _decode(world, doc["token"])
    assert decoded.crc_ok


def test_credit_by_amount_uses_the_tariff_and_is_idempotent_per_reference(
    client: TestClient, world: World, api_key: str
) -> None:
    body = {"amount": "5000", "currency": "CDF", "reference": "shop-42"}
    r = post(client, api_key, f"/meters/{world.meter_drn}/tokens/credit", body)
    assert r.status_code == 201 and r.json()["units"] == "10.7"
    again = post(client, api_key, f"/meters/{world.meter_drn}/tokens/credit", body)
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate_reference"
    with reading(world.service.engine) as s:
        assert len(s.scalars(select(Token)).all()) == 1
        assert s.scalars(select(Payment)).one().channel == "api"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_body"),
        ({"units": "5", "amount": "100", "currency": "CDF"}, "invalid_body"),
        ({"amount": "100"}, "invalid_body"),
        ({"amount": "10", "currency": "CDF"}, "amount_out_of_limits"),
        ({"units": "-1"}, "invalid_body"),
        ({"units": "0.05"}, "invalid_body"),
        ({"units": "5", "extra": 1}, "invalid_body"),
        ({"amount": "5000", "currency": "EUR"}, "invalid_body"),
    ],
)
def test_bad_credit_requests_are_refused_and_write_nothing(
    client: TestClient, world: World, api_key: str, body: dict[str, Any], code: str
) -> None:
    r = post(client, api_key, f"/meters/{world.meter_drn}/tokens/credit", body)
    assert r.status_code == 422 and r.json()["error"]["code"] == code
    with reading(world.service.engine) as s:
        assert s.scalars(select(Token)).all() == [] and s.scalars(select(Payment)).all() == []


def test_management_tokens_and_reprint(client: TestClient, world: World, api_key: str) -> None:
    tids = []
    for body in ({"kind": "clear_credit"}, {"kind": "clear_tamper"}, {"kind": "set_mpl", "mpl_watts": 2000}):
        r = post(client, api_key, f"/meters/{world.meter_drn}/tokens/management", body)
        assert r.status_code == 201, r.text
        tids.append(r.json()["tid"])
        assert _decode(world, r.json()["token"]).crc_ok
    assert tids == sorted(tids) and len(set(tids)) == 3
    last = client.get(f"/api/v1/meters/{world.meter_drn}/tokens/last", headers=auth(api_key)).json()
    assert last["kind"] == "set_mpl" and last["tid"] == tids[-1]
    r = post(client, api_key, f"/meters/{world.meter_drn}/tokens/management", {"kind": "set_mpl"})
    assert r.status_code == 422


def test_key_change_moves_the_meter_to_the_new_keys(client: TestClient, world: World, api_key: str) -> None:
    from api.registry import add_vending_key

    with transaction(world.service.engine) as s:
        add_vending_key(s, world.service.keyring, "vk2", "fedcba9876543210", actor=Actor.cli())
    body = {"sgc": 123457, "ti": 2, "krn": 2, "vending_key": "vk2"}
    r = post(client, api_key, f"/meters/{world.meter_drn}/tokens/key-change", body)
    assert r.status_code == 201, r.text
    assert len(r.json()["token"].split()) == 2 and r.json()["kind"] == "key_change"
    doc = client.get(f"/api/v1/meters/{world.meter_drn}", headers=auth(api_key)).json()
    assert (doc["ti"], doc["krn"]) == (2, 2)
    bad = post(
        client, api_key, f"/meters/{world.meter_drn}/tokens/key-change", {**body, "vending_key": "nope"}
    )
    assert bad.status_code == 404


def test_lists_of_payments_and_tokens(client: TestClient, world: World, api_key: str) -> None:
    for _ in range(3):
        post(
            client, api_key, f"/meters/{world.meter_drn}/tokens/credit", {"amount": "2000", "currency": "CDF"}
        )
    post(client, api_key, f"/meters/{world.other_drn}/tokens/credit", {"units": "1"})
    r = client.get("/api/v1/tokens", params={"meter": world.meter_drn, "limit": 2}, headers=auth(api_key))
    assert r.status_code == 200 and len(r.json()["items"]) == 2
    assert all(t["meter"] == world.meter_drn for t in r.json()["items"])
    r = client.get("/api/v1/payments", params={"status": "vended"}, headers=auth(api_key))
    assert len(r.json()["items"]) == 3
    assert client.get("/api/v1/payments", params={"status": "x"}, headers=auth(api_key)).status_code == 422
    assert client.get("/api/v1/tokens", params={"limit": 0}, headers=auth(api_key)).status_code == 422


def test_batch_registration_is_all_or_nothing(client: TestClient, world: World, api_key: str) -> None:
    good = {"number": "01234567913", "sgc": 123457, "ti": 1, "krn": 1, "vending_key": "vk1"}
    bad = {**good, "number": "01234567914"}  # wrong check digit
    r = post(client, api_key, "/meters/batch", {"meters": [good, bad]})
    assert r.status_code == 422 and "meters.1" in r.json()["error"]["message"]
    with reading(world.service.engine) as s:
        assert len(s.scalars(select(Meter)).all()) == 2
    r = post(client, api_key, "/meters/batch", {"meters": [good]})
    assert r.status_code == 201 and r.json()["registered"][0]["drn"] == "01234567913"
    assert post(client, api_key, "/meters/batch", {"meters": [good]}).status_code == 409


def test_openapi_health_and_metrics(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.1") and "/api/v1/meters/{number}/tokens/credit" in doc["paths"]
    assert "CreditIn" in doc["components"]["schemas"]
    health = client.get("/health").json()
    assert health["status"] == "ok"
    metrics = client.get("/metrics").text
    assert "nguvu_sms_outbox_depth" in metrics and "nguvu_vend_seconds" in metrics
    assert client.get("/nope").json()["error"]["code"] == "not_found"


def test_lists_are_paged_with_cursors(client: TestClient, world: World, api_key: str) -> None:
    for _ in range(3):
        post(client, api_key, f"/meters/{world.meter_drn}/tokens/credit", {"units": "1"})
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        doc = client.get("/api/v1/tokens", params=params, headers=auth(api_key)).json()
        seen += [t["id"] for t in doc["items"]]
        cursor = doc["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 3 and seen == sorted(seen, reverse=True)
    bad = client.get("/api/v1/tokens", params={"cursor": "junk"}, headers=auth(api_key))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"amount": "NaN", "currency": "CDF"}',
        b'{"amount": "Infinity", "currency": "CDF"}',
        b'{"units": "1e400"}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"amount": "\xd9\xa5000", "currency": "CDF"}',
    ],
)
def test_hostile_credit_bodies_are_refused(
    client: TestClient, world: World, api_key: str, raw: bytes
) -> None:
    r = client.post(
        f"/api/v1/meters/{world.meter_drn}/tokens/credit",
        content=raw,
        headers={**auth(api_key), "content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    with reading(world.service.engine) as s:
        assert s.scalars(select(Token)).all() == [] and s.scalars(select(Payment)).all() == []
