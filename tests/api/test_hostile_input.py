"""The defects a hostile tester found (issue 11, "Found by a hostile tester"), one test each: money
fields from providers are finite amounts in a documented range, callback identifiers fit their columns,
deep JSON is a 400, other scripts' digits are not digits, the provider's amount is stored exactly, a
second charge for one reference is held for refund, and malformed callbacks answer what docs/service.md
says (400 malformed, 401 forged, 413 too large). Each refusal is checked to write nothing."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import conftest
import pytest
from apitest import TestClient
from conftest import Clock, World, make_settings
from sqlalchemy import select

from api.app import create_app
from api.db import reading
from api.models import Payment, PaymentStatus, SmsOutbox, Token
from api.models.audit import AuditLog
from api.payments.base import PaymentStatus as S
from api.payments.fields import parse_amount
from api.payments.sandbox import SIGNATURE_HEADER, sign, signed_callback
from api.service import Service
from tokencore.amount import units_to_tenths
from tokencore.errors import AmountRangeError

SANDBOX = "/callbacks/payments/sandbox"
C2B = "/callbacks/payments/c2b/confirmation"


def snapshot(world: World) -> dict[str, Any]:
    """Every row a callback could write, as comparable tuples."""
    with reading(world.service.engine) as s:
        return {
            "payments": [
                (p.id, p.status, p.provider_txn_id, p.paid_amount, p.reason)
                for p in s.scalars(select(Payment).order_by(Payment.id))
            ],
            "tokens": [t.id for t in s.scalars(select(Token))],
            "sms": [m.id for m in s.scalars(select(SmsOutbox))],
            "audit": [a.id for a in s.scalars(select(AuditLog))],
        }


def sandbox_post(client: TestClient, world: World, doc: dict[str, Any] | bytes) -> Any:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    secret = world.service.payment_provider._config.secret  # type: ignore[attr-defined]
    headers = {"content-type": "application/json", SIGNATURE_HEADER: sign(secret, body)}
    return client.post(SANDBOX, content=body, headers=headers)


def success(reference: str, amount: object, txn: str = "SBX1") -> dict[str, Any]:
    return {
        "id": txn,
        "reference": reference,
        "status": "succeeded",
        "amount": amount,
        "currency": "CDF",
        "msisdn": "+243990000001",
        "account": "01234567897",
    }


BAD_AMOUNTS: list[object] = [
    "NaN", "Infinity", "-Infinity", "1e999999", "sNaN", "-5000", "0", "５０００", "٥٠٠٠", "5 000", "1e3",
    "5000.000000001", "1000000000000", 1e20, True, [5000],
]  # fmt: skip


def test_a_signed_sandbox_callback_with_a_bad_amount_is_a_400_and_writes_nothing(
    client: TestClient, world: World
) -> None:
    conftest.queue_payment(world.service.engine, "r1", world.meter_drn)
    before = snapshot(world)
    for amount in BAD_AMOUNTS:
        r = sandbox_post(client, world, success("r1", amount))
        assert r.status_code == 400, (amount, r.text)
        assert r.json()["error"]["code"] in ("malformed_callback", "invalid_amount")
    # JSON's own non-finite literals (Python's json module reads them) are refused the same way.
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e999999"):
        body = json.dumps(success("r1", 0)).encode().replace(b'"amount": 0', b'"amount": ' + literal)
        assert literal in body
        assert sandbox_post(client, world, body).status_code == 400
    assert snapshot(world) == before
    # The payment is still pending: the provider's next, correct callback vends it.
    assert sandbox_post(client, world, success("r1", "5000")).status_code == 200
    with reading(world.service.engine) as s:
        assert s.scalars(select(Payment)).one().status == PaymentStatus.VENDED


def test_deeply_nested_callback_json_is_a_400(client: TestClient, world: World) -> None:
    before = snapshot(world)
    r = sandbox_post(client, world, b"[" * 30_000 + b"]" * 30_000)  # under the 64 KiB limit
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_callback"
    assert snapshot(world) == before


def test_the_provider_amount_is_stored_exactly(client: TestClient, world: World, api_key: str) -> None:
    conftest.queue_payment(world.service.engine, "r1", world.meter_drn, amount="3000")
    r = sandbox_post(client, world, success("r1", "3000.00001"))
    assert r.status_code == 200
    with reading(world.service.engine) as s:
        p = s.scalars(select(Payment)).one()
    assert (p.status, p.reason) == (PaymentStatus.HELD, "amount_mismatch")
    assert p.paid_amount == Decimal("3000.00001") and p.paid_amount != p.amount
    listed = client.get("/api/v1/payments", headers={"authorization": f"Bearer {api_key}"})
    assert listed.status_code == 200
    assert Decimal(listed.json()["items"][0]["paid_amount"]) == Decimal("3000.00001")


def test_twenty_charges_for_one_reference_give_one_token_and_nineteen_held_refunds(
    client: TestClient, world: World
) -> None:
    conftest.queue_payment(world.service.engine, "r1", world.meter_drn)
    for i in range(20):
        assert sandbox_post(client, world, success("r1", "5000", txn=f"SBX{i:02d}")).status_code == 200
    # Each provider transaction redelivered: nothing more.
    for i in range(20):
        assert sandbox_post(client, world, success("r1", "5000", txn=f"SBX{i:02d}")).status_code == 200
    with reading(world.service.engine) as s:
        payments = s.scalars(select(Payment).order_by(Payment.id)).all()
        tokens = s.scalars(select(Token)).all()
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "payment_held")).all()
    assert len(tokens) == 1
    first, *others = payments
    assert first.status == PaymentStatus.VENDED and first.provider_txn_id == "SBX00"
    assert len(others) == 19
    assert {p.status for p in others} == {PaymentStatus.HELD}
    assert {p.reason for p in others} == {"second_payment"}
    assert sorted(p.provider_txn_id or "" for p in others) == [f"SBX{i:02d}" for i in range(1, 20)]
    assert all(p.meter_id == first.meter_id and p.paid_amount == Decimal(5000) for p in others)
    assert len(audit) == 19 and all("r1" in a.detail for a in audit)
    metrics = client.get("/metrics").text
    assert 'nguvu_vend_outcomes_total{outcome="held",reason="second_payment"} 19.0' in metrics


def test_a_success_after_a_decline_is_held_not_dropped(world: World) -> None:
    conftest.queue_payment(world.service.engine, "r1", world.meter_drn)
    vendor = world.service.vendor
    declined = conftest_event("r1", None, S.FAILED)
    assert vendor.apply_event(declined).outcome == "failed"
    result = vendor.apply_event(conftest_event("r1", "SBX9", S.SUCCEEDED))
    assert (result.outcome, result.reason) == ("held", "paid_after_failure")
    with reading(world.service.engine) as s:
        assert s.scalars(select(Token)).all() == []
        statuses = sorted(p.status for p in s.scalars(select(Payment)))
    assert statuses == [PaymentStatus.FAILED, PaymentStatus.HELD]


def conftest_event(reference: str, txn: str | None, status: S) -> Any:
    from api.payments.base import PaymentEvent

    amount = Decimal(5000) if status is S.SUCCEEDED else None
    return PaymentEvent("sandbox", txn, reference, status, amount, "CDF" if amount else None, None)


def test_a_status_query_success_without_txn_id_is_no_second_charge(world: World) -> None:
    """Daraja's query omits the receipt: a callback with it after a query-made vend is the same money."""
    conftest.queue_payment(world.service.engine, "r1", world.meter_drn)
    vendor = world.service.vendor
    assert vendor.apply_event(conftest_event("r1", None, S.SUCCEEDED)).outcome == "vended"
    assert vendor.apply_event(conftest_event("r1", "RCPT1", S.SUCCEEDED)).outcome == "duplicate"


# M-Pesa C2B confirmations (no signature: trusted on the channel) -------------------------------------
@pytest.fixture
def mpesa_client(world: World, tmp_path: Path) -> Any:
    env = {
        "NGUVU_MPESA_BASE_URL": "http://127.0.0.1:9",
        "NGUVU_MPESA_CONSUMER_KEY": "ck",
        "NGUVU_MPESA_CONSUMER_SECRET": "cs",
        "NGUVU_MPESA_SHORTCODE": "174379",
        "NGUVU_MPESA_PASSKEY": "pk",
        "NGUVU_MPESA_CURRENCY": "CDF",
    }
    settings = make_settings(tmp_path, kek=world.settings.kek, payment_provider="mpesa", provider_env=env)
    service = Service(settings, engine=world.service.engine, clock=Clock())
    with TestClient(create_app(settings, service=service)) as client:
        yield client


def c2b(**changes: object) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "TransactionType": "Pay Bill",
        "TransID": "RKTQDM7W6S",
        "TransTime": "20261204120000",
        "TransAmount": "5000.00",
        "BusinessShortCode": "174379",
        "BillRefNumber": "01234567897",
        "MSISDN": "243990000001",
        "FirstName": "KAHINDO",
    }
    doc.update(changes)
    return doc


BAD_C2B: list[dict[str, object]] = [
    {"TransAmount": "1e20"},
    {"TransAmount": 1e20},
    {"TransAmount": "NaN"},
    {"TransAmount": "100000000000000000000"},
    {"TransAmount": "５０００"},
    {"TransID": "R" * 81},
    {"TransID": "RKTQ\u00e9M7W6S"},
]


def test_c2b_confirmation_out_of_range_is_refused_before_insert(
    mpesa_client: TestClient, world: World
) -> None:
    before = snapshot(world)
    for changes in BAD_C2B:
        r = mpesa_client.post(C2B, json=c2b(**changes))
        assert r.status_code == 400, (changes, r.text)
    assert snapshot(world) == before


def test_c2b_confirmation_with_an_unreadable_phone_is_recorded_without_it(
    mpesa_client: TestClient, world: World
) -> None:
    """Money already moved: a phone we cannot read (over 16 characters, or Daraja's hashed MSISDN) is
    dropped, the payment is not."""
    r = mpesa_client.post(C2B, json=c2b(MSISDN="2" * 40))
    assert r.status_code == 200, r.text
    with reading(world.service.engine) as s:
        p = s.scalars(select(Payment)).one()
    assert p.msisdn == "" and p.provider_txn_id == "RKTQDM7W6S" and p.status == PaymentStatus.VENDED


def test_c2b_validation_of_an_absurd_amount_is_rejected_in_darajas_terms(mpesa_client: TestClient) -> None:
    r = mpesa_client.post("/callbacks/payments/c2b/validation", json=c2b(TransAmount="1e20"))
    assert r.status_code == 200 and r.json()["ResultCode"] == "C2B00013"


# What docs/service.md says callbacks answer -----------------------------------------------------------
def test_callback_answers_match_the_docs(client: TestClient, world: World) -> None:
    conftest.queue_payment(world.service.engine, "r1", world.meter_drn)
    before = snapshot(world)
    body, headers = signed_callback(
        world.service.payment_provider._config.secret,  # type: ignore[attr-defined]
        txn_id="SBX1",
        reference="r1",
        status=S.SUCCEEDED,
        amount=Decimal(5000),
        currency="CDF",
        msisdn="+243990000001",
        account=world.meter_drn,
    )
    forged = client.post(SANDBOX, content=body, headers={**headers, SIGNATURE_HEADER: "0" * 64})
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "bad_signature"
    big = client.post(SANDBOX, content=b"{" + b" " * (64 * 1024) + b"}", headers=headers)
    assert big.status_code == 413 and big.json()["error"]["code"] == "body_too_large"
    report = client.post("/callbacks/sms/console/delivery", content=b"\xff\xfe")
    assert report.status_code == 400 and report.json()["error"]["code"] == "malformed_report"
    assert client.post("/callbacks/sms/console/delivery", data={"x": "1"}).status_code == 400
    assert snapshot(world) == before
    docs = (Path(__file__).parents[2] / "docs" / "service.md").read_text()
    assert "413 `body_too_large`" in docs and "401 `bad_signature`" in docs


def test_parse_amount_reads_what_providers_write_and_nothing_else() -> None:
    assert parse_amount(750) == Decimal(750) and parse_amount("750.00") == Decimal("750.00")
    assert parse_amount("5000,5") == Decimal("5000.5") and parse_amount(750.5) == Decimal("750.5")
    assert parse_amount(None) is None and parse_amount(" ") is None
    for bad in (True, "abc", "NaN", "Infinity", "1e3", "５", "-1", "0", "1000000000000", "1.123456789"):
        with pytest.raises(ValueError):
            parse_amount(bad)


# Digits of other scripts are not digits (USSD, REST, the token engine behind the CSV batch) ----------
def test_full_width_and_arabic_indic_digits_buy_nothing(
    client: TestClient, world: World, api_key: str
) -> None:
    before = snapshot(world)
    form = {"sessionId": "S1", "serviceCode": "*384*1234#", "phoneNumber": "+243990000001"}
    for amount in ("５０００", "٥٠٠٠"):
        r = client.post("/ussd", data={**form, "text": f"1*1*1*{world.meter_drn}*{amount}"})
        assert r.status_code == 200 and r.text.startswith("CON Montant invalide"), r.text
        confirm = client.post("/ussd", data={**form, "text": f"1*1*1*{world.meter_drn}*{amount}*1"})
        assert confirm.text.startswith("CON ")  # still asking for an amount: nothing to confirm
    headers = {"authorization": f"Bearer {api_key}"}
    url = f"/api/v1/meters/{world.meter_drn}/tokens/credit"
    for body in ({"units": "５"}, {"units": "١٠"}, {"amount": "５０００", "currency": "CDF"}):
        r = client.post(url, json=body, headers=headers)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_body", (body, r.text)
    assert snapshot(world) == before
    with pytest.raises(AmountRangeError):
        units_to_tenths("５")  # what `nguvu token batch` (CSV) and `token credit --units` go through


def test_a_meter_buying_many_times_a_minute_gets_tids_ahead_of_the_clock(world: World) -> None:
    """61 tokens in 5 minutes: each TID must exceed the meter's last (the STS rule, docs/reliability.md),
    so the last one stands for a minute 55 minutes ahead of the clock; the next purchase after that long
    a pause is back on the clock."""
    from datetime import timedelta

    from tokencore import BaseDate
    from tokencore.tid import tid_at

    start = world.clock.now
    for i in range(61):
        conftest.queue_payment(world.service.engine, f"r{i}", world.meter_drn)
        world.clock.now = start + timedelta(seconds=5 * i)
        assert (
            world.service.vendor.apply_event(conftest_event(f"r{i}", f"T{i}", S.SUCCEEDED)).outcome
            == "vended"
        )
    with reading(world.service.engine) as s:
        tids = [t.tid for t in s.scalars(select(Token).order_by(Token.id))]
    assert tids == list(range(tids[0], tids[0] + 61))  # one minute per token, whatever the clock says
    clock_tid = tid_at(world.clock.now, BaseDate.Y2014)
    assert tids[-1] - clock_tid == 55
    world.clock.now += timedelta(minutes=56)  # a pause as long as the lead: the clock catches up
    conftest.queue_payment(world.service.engine, "later", world.meter_drn)
    assert world.service.vendor.apply_event(conftest_event("later", "TL", S.SUCCEEDED)).outcome == "vended"
    with reading(world.service.engine) as s:
        last = s.scalars(select(Token).order_by(Token.id.desc())).first()  # type: ignore[union-attr]
    assert last is not None and last.tid == tid_at(world.clock.now, BaseDate.Y2014)
