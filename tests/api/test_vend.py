"""The vend transaction: exactly one token per payment, distinct increasing TIDs, holds and refusals."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import conftest
from conftest import World
from sqlalchemy import func, select

from api.db import reading, transaction
from api.models import Meter, MeterPush, Payment, PaymentStatus, SmsOutbox, Token
from api.payments.base import PaymentEvent
from api.payments.base import PaymentStatus as S
from api.vend import VendResult


def queue_payment(world: World, reference: str, amount: str = "5000", currency: str = "CDF") -> int:
    return conftest.queue_payment(
        world.service.engine, reference, world.meter_drn, amount=amount, currency=currency
    )


def paid(
    reference: str | None,
    txn: str,
    amount: str | None = "5000",
    currency: str | None = "CDF",
    account: str | None = None,
    status: S = S.SUCCEEDED,
) -> PaymentEvent:
    return PaymentEvent(
        "sandbox",
        txn if status is S.SUCCEEDED else None,
        reference,
        status,
        Decimal(amount) if amount else None,
        currency,
        "+243990000001",
        account=account,
    )


def rows(world: World, model: type) -> list:
    with reading(world.service.engine) as s:
        return list(s.scalars(select(model)).all())


def test_a_paid_payment_becomes_one_token_and_one_sms(world: World) -> None:
    queue_payment(world, "r1")
    result = world.service.vendor.apply_event(paid("r1", "TX1"))
    assert result.outcome == "vended" and result.units == Decimal("10.7")
    [token] = rows(world, Token)
    assert token.units == Decimal("10.7") and len(token.token) == 20 and token.amount == Decimal(5000)
    [payment] = rows(world, Payment)
    assert payment.status == PaymentStatus.VENDED and payment.provider_txn_id == "TX1"
    [sms] = rows(world, SmsOutbox)
    assert sms.to == "+243990000001" and token.token[:4] in sms.text and "10.7 kWh" in sms.text
    [meter] = [m for m in rows(world, Meter) if m.drn == world.meter_drn]
    assert meter.last_tid == token.tid


def test_the_same_callback_ten_times_at_once_gives_exactly_one_token(world: World) -> None:
    queue_payment(world, "r1")
    event = paid("r1", "TX1")
    barrier = threading.Barrier(10)

    def go() -> VendResult:
        barrier.wait()
        return world.service.vendor.apply_event(event)

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: go(), range(10)))
    assert sorted(r.outcome for r in results) == ["duplicate"] * 9 + ["vended"]
    assert len(rows(world, Token)) == 1 and len(rows(world, SmsOutbox)) == 1


def test_a_replayed_transaction_id_on_another_reference_is_not_vended_twice(world: World) -> None:
    queue_payment(world, "r1")
    queue_payment(world, "r2")
    assert world.service.vendor.apply_event(paid("r1", "TX1")).outcome == "vended"
    assert world.service.vendor.apply_event(paid("r2", "TX1")).outcome == "duplicate"
    assert len(rows(world, Token)) == 1


def test_payments_for_one_meter_in_the_same_minute_get_distinct_increasing_tids(world: World) -> None:
    refs = [f"r{i}" for i in range(8)]
    for r in refs:
        queue_payment(world, r)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda r: world.service.vendor.apply_event(paid(r, "TX" + r)), refs))
    assert all(r.outcome == "vended" for r in results)
    tokens = sorted(rows(world, Token), key=lambda t: t.id)
    tids = [t.tid for t in tokens]
    assert len(set(tids)) == 8 and tids == sorted(tids)
    [meter] = [m for m in rows(world, Meter) if m.drn == world.meter_drn]
    assert meter.last_tid == max(tids)


def test_an_amount_mismatch_is_held_for_review_without_a_token(world: World) -> None:
    queue_payment(world, "r1")
    result = world.service.vendor.apply_event(paid("r1", "TX1", amount="2500"))
    assert (result.outcome, result.reason) == ("held", "amount_mismatch")
    assert rows(world, Token) == []
    [payment] = rows(world, Payment)
    assert payment.status == PaymentStatus.HELD and payment.paid_amount == Decimal(2500)
    [sms] = rows(world, SmsOutbox)
    assert "verification" in sms.text
    # The same callback again changes nothing.
    assert world.service.vendor.apply_event(paid("r1", "TX1", amount="2500")).outcome == "duplicate"


def test_a_currency_mismatch_is_held(world: World) -> None:
    queue_payment(world, "r1")
    assert world.service.vendor.apply_event(paid("r1", "TX1", currency="USD")).reason == "currency_mismatch"


def test_an_unknown_reference_changes_nothing(world: World) -> None:
    assert world.service.vendor.apply_event(paid("nope", "TX1")).outcome == "unknown_payment"
    assert rows(world, Payment) == [] and rows(world, Token) == []


def test_a_declined_payment_fails_and_tells_the_payer(world: World) -> None:
    queue_payment(world, "r1")
    assert world.service.vendor.apply_event(paid("r1", "", status=S.FAILED)).outcome == "failed"
    [payment] = rows(world, Payment)
    assert payment.status == PaymentStatus.FAILED
    assert "n'a pas abouti" in rows(world, SmsOutbox)[0].text
    # A success arriving after a failure is not silently vended: the payment is final, and the money
    # that moved anyway is recorded as a payment of its own, held for refund (test_hostile_input.py).
    assert world.service.vendor.apply_event(paid("r1", "TX1")).outcome == "held"
    assert rows(world, Token) == []


def test_a_late_success_after_expiry_still_vends(world: World) -> None:
    pid = queue_payment(world, "r1")
    with transaction(world.service.engine) as s:
        p = s.get(Payment, pid)
        assert p is not None
        p.status = PaymentStatus.EXPIRED
    assert world.service.vendor.apply_event(paid("r1", "TX1")).outcome == "vended"


def test_c2b_payment_with_the_meter_number_as_account_vends(world: World) -> None:
    result = world.service.vendor.apply_event(paid(None, "MPESA1", account=world.meter_drn))
    assert result.outcome == "vended"
    [payment] = rows(world, Payment)
    assert payment.channel == "c2b" and payment.status == PaymentStatus.VENDED
    assert (
        world.service.vendor.apply_event(paid(None, "MPESA1", account=world.meter_drn)).outcome == "duplicate"
    )
    assert len(rows(world, Token)) == 1


def test_c2b_payment_for_an_unknown_meter_is_held(world: World) -> None:
    result = world.service.vendor.apply_event(paid(None, "MPESA2", account="99999999999"))
    assert (result.outcome, result.reason) == ("held", "unknown_meter")
    assert rows(world, Token) == []


def test_c2b_same_confirmation_concurrently_records_one_payment(world: World) -> None:
    event = paid(None, "MPESA3", account=world.meter_drn)
    barrier = threading.Barrier(6)

    def go() -> str:
        barrier.wait()
        return world.service.vendor.apply_event(event).outcome

    with ThreadPoolExecutor(6) as pool:
        outcomes = sorted(pool.map(lambda _: go(), range(6)))
    assert outcomes == ["duplicate"] * 5 + ["vended"]
    assert len(rows(world, Payment)) == 1 and len(rows(world, Token)) == 1


def test_a_connected_meter_gets_a_push_job(world: World) -> None:
    with transaction(world.service.engine) as s:
        m = s.scalars(select(Meter).where(Meter.drn == world.meter_drn)).one()
        m.connected, m.serial_url = True, "loop://"
    queue_payment(world, "r1")
    world.service.vendor.apply_event(paid("r1", "TX1"))
    [push] = rows(world, MeterPush)
    assert push.status == "queued"


def test_vend_metrics_count_outcomes(world: World) -> None:
    queue_payment(world, "r1")
    world.service.vendor.apply_event(paid("r1", "TX1"))
    world.service.vendor.apply_event(paid("r1", "TX1"))
    reg = world.service.metrics.registry
    assert reg.get_sample_value("nguvu_vend_outcomes_total", {"outcome": "vended", "reason": "-"}) == 1
    with reading(world.service.engine) as s:
        assert s.scalar(select(func.count()).select_from(Token)) == 1


def test_an_event_naming_the_payment_by_provider_request_id_vends(world: World) -> None:
    pid = queue_payment(world, "r1")
    with transaction(world.service.engine) as s:
        p = s.get(Payment, pid)
        assert p is not None
        p.provider_ref = "ws_CO_123"
    event = PaymentEvent(
        "sandbox", "RCPT1", None, S.SUCCEEDED, Decimal(5000), "CDF", None, provider_ref="ws_CO_123"
    )
    assert world.service.vendor.apply_event(event).outcome == "vended"
    assert world.service.vendor.apply_event(event).outcome == "duplicate"
    unknown = PaymentEvent(
        "sandbox", "RCPT2", None, S.SUCCEEDED, Decimal(5000), "CDF", None, provider_ref="ws_X"
    )
    assert world.service.vendor.apply_event(unknown).outcome == "unknown_payment"
    assert len(rows(world, Token)) == 1
