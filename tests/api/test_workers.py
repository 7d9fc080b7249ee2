"""The service with its workers running: USSD purchase -> sandbox wallet -> token -> SMS (-> meter).

The sandbox wallet picks its outcome from the payer's number (...991 decline, ...992 no answer,
...993 wrong amount, ...994 callback delivered three times); SMS go through the console provider or the
Africa's Talking fake on loopback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from apitest import TestClient
from conftest import make_settings, seed
from sqlalchemy import Engine, select

from api.app import create_app
from api.db import reading, transaction
from api.models import Meter, MeterPush, Payment, PaymentStatus, SmsOutbox, Subscriber, Token
from api.service import Service
from tests.fakes.africastalking import FakeAfricasTalking


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class Live:
    def __init__(self, service: Service, client: TestClient, sms: list[str], drn: str) -> None:
        self.service, self.client, self.sms, self.drn = service, client, sms, drn

    def buy(self, phone: str, amount: str = "5000", session: str = "S1") -> str:
        text = f"1*1*1*{self.drn}*{amount}*1"
        r = self.client.post(
            "/ussd",
            data={
                "sessionId": session,
                "serviceCode": "*384*1234#",
                "phoneNumber": phone,
                "networkCode": "63002",
                "text": text,
            },
        )
        assert r.status_code == 200 and r.text.startswith("END "), r.text
        return session

    def payment(self) -> Payment:
        with reading(self.service.engine) as s:
            return s.scalars(select(Payment)).one()

    def rows(self, model: type) -> list[Any]:
        with reading(self.service.engine) as s:
            return list(s.scalars(select(model)).all())

    def set_phone(self, phone: str) -> None:
        with transaction(self.service.engine) as s:
            for sub in s.scalars(select(Subscriber)):
                sub.phone = phone


def _live(
    engine: Engine, tmp_path: Path, env: dict[str, str] | None = None, **settings: Any
) -> Iterator[Live]:
    base = make_settings(tmp_path, run_workers=True, payment_timeout_seconds=2, **settings)
    provider_env = {**base.provider_env, **(env or {})}
    cfg = make_settings(
        tmp_path,
        run_workers=True,
        payment_timeout_seconds=2,
        provider_env=provider_env,
        kek=base.kek,
        **settings,
    )
    sms: list[str] = []
    service = Service(cfg, engine=engine, sms_write=sms.append)
    drn, _ = seed(service)
    with TestClient(create_app(cfg, service=service)) as client:
        yield Live(service, client, sms, drn)


@pytest.fixture
def live(engine: Engine, tmp_path: Path) -> Iterator[Live]:
    yield from _live(engine, tmp_path)


def test_a_purchase_ends_with_a_token_sms(live: Live) -> None:
    live.buy("+243990000001")
    wait_until(lambda: live.payment().status == PaymentStatus.VENDED)
    [token] = live.rows(Token)
    sms = wait_until(lambda: [line for line in live.sms if "Jeton" in line])
    grouped = " ".join(token.token[i : i + 4] for i in range(0, 20, 4))
    assert grouped in sms[0] and "10.7 kWh" in sms[0] and live.drn in sms[0]
    wait_until(lambda: all(r.status == "sent" for r in live.rows(SmsOutbox)))


def test_a_declined_payment_fails_and_the_payer_is_told(live: Live) -> None:
    live.buy("+243990000991")
    wait_until(lambda: live.payment().status == PaymentStatus.FAILED)
    assert live.rows(Token) == []
    wait_until(lambda: any("n'a pas abouti" in line for line in live.sms))


def test_an_unanswered_prompt_times_out_without_a_token(live: Live) -> None:
    live.buy("+243990000992")
    wait_until(lambda: live.payment().status in (PaymentStatus.FAILED, PaymentStatus.EXPIRED), timeout=15)
    assert live.rows(Token) == []


def test_a_wrong_amount_is_held(live: Live) -> None:
    live.buy("+243990000993")
    payment = wait_until(lambda: (p := live.payment()).status == PaymentStatus.HELD and p)
    assert payment.reason == "amount_mismatch" and live.rows(Token) == []


def test_a_callback_delivered_three_times_gives_one_token(live: Live) -> None:
    live.buy("+243990000994")
    wait_until(lambda: live.payment().status == PaymentStatus.VENDED)
    time.sleep(0.5)  # let the two redeliveries land
    assert len(live.rows(Token)) == 1
    assert len([r for r in live.rows(SmsOutbox) if r.kind == "token"]) == 1


@pytest.fixture
def at() -> Iterator[FakeAfricasTalking]:
    with FakeAfricasTalking(username="nguvu", api_key="key-at") as fake:
        yield fake


@pytest.fixture
def live_at(engine: Engine, tmp_path: Path, at: FakeAfricasTalking) -> Iterator[Live]:
    env = {
        "NGUVU_AT_USERNAME": "nguvu",
        "NGUVU_AT_API_KEY": "key-at",
        "NGUVU_AT_BASE_URL": at.url,
        "NGUVU_AT_TIMEOUT_S": "2",
    }
    yield from _live(engine, tmp_path, env, sms_provider="africastalking")


def test_sms_is_retried_with_backoff_until_the_gateway_answers(live_at: Live, at: FakeAfricasTalking) -> None:
    at.knobs.fail_next = 2
    live_at.buy("+243990000001")
    row = wait_until(lambda: [r for r in live_at.rows(SmsOutbox) if r.status == "sent"])[0]
    assert row.attempts == 3 and row.provider_message_id
    assert len(at.sent) == 1


def test_a_permanent_sms_failure_is_not_retried(live_at: Live, at: FakeAfricasTalking) -> None:
    at.status_for["+243990000001"] = 406  # UserInBlacklist
    live_at.buy("+243990000001")
    row = wait_until(lambda: [r for r in live_at.rows(SmsOutbox) if r.status == "failed"])[0]
    assert row.attempts == 1


def test_delivery_reports_mark_the_sms_delivered(live_at: Live, at: FakeAfricasTalking) -> None:
    live_at.buy("+243990000001")
    row = wait_until(lambda: [r for r in live_at.rows(SmsOutbox) if r.status == "sent"])[0]
    r = live_at.client.post(
        "/callbacks/sms/africastalking/delivery",
        data={
            "id": row.provider_message_id,
            "status": "Success",
            "phoneNumber": "+243990000001",
            "networkCode": "63002",
        },
    )
    assert r.status_code == 200
    assert live_at.rows(SmsOutbox)[0].status == "delivered"
    bad = live_at.client.post("/callbacks/sms/africastalking/delivery", content=b"\xff\xfe")
    assert bad.status_code in (400, 422)


def test_an_unreachable_meter_is_retried_then_given_up_while_the_sms_still_goes(live: Live) -> None:
    with transaction(live.service.engine) as s:
        m = s.scalars(select(Meter).where(Meter.drn == live.drn)).one()
        m.connected, m.serial_url = True, "socket://127.0.0.1:9"  # nothing listens on the discard port
    live.buy("+243990000001")
    push = wait_until(lambda: [p for p in live.rows(MeterPush) if p.status == "failed"], timeout=20)[0]
    assert push.attempts == live.service.settings.push_max_attempts and push.result == "unreachable"
    wait_until(lambda: any("Jeton" in line for line in live.sms))
