"""Each real provider adapter inside the running service, against its fake, over loopback HTTP.

The service is served by uvicorn (its workers running); a USSD purchase queues a payment, the payment
worker starts the collection at the provider's fake, the fake calls the service's callback route, and
the adapter's verified event must end in exactly one payment, vended, with one token.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from api.actors import Actor
from api.app import create_app
from api.db import reading, transaction
from api.keystore import Kek
from api.models import Payment, PaymentStatus, Token
from api.registry import MeterSpec, add_subscriber, add_vending_key, register_meter, set_tariff
from api.service import Service
from api.settings import Settings
from tests.fakes.airtel import FakeAirtel
from tests.fakes.base import FakeProvider
from tests.fakes.mpesa import FakeDaraja
from tests.fakes.orange import FakeOrange
from tests.fakes.server import ThreadedServer, free_port

DRN = "01234567897"
PHONE = "+243990000001"


@dataclass
class Case:
    fake: FakeProvider
    env: Callable[[str], dict[str, str]]  # fake's URL -> provider settings


def _cases() -> dict[str, Case]:
    return {
        "airtel": Case(
            FakeAirtel(client_id="id", client_secret="sec"),
            lambda url: {
                "NGUVU_AIRTEL_BASE_URL": url,
                "NGUVU_AIRTEL_CLIENT_ID": "id",
                "NGUVU_AIRTEL_CLIENT_SECRET": "sec",
            },
        ),
        "airtel-signed": Case(
            FakeAirtel(client_id="id", client_secret="sec", callback_secret="hash-key"),
            lambda url: {
                "NGUVU_AIRTEL_BASE_URL": url,
                "NGUVU_AIRTEL_CLIENT_ID": "id",
                "NGUVU_AIRTEL_CLIENT_SECRET": "sec",
                "NGUVU_AIRTEL_CALLBACK_SECRET": "hash-key",
            },
        ),
        "orange": Case(
            FakeOrange(partner_id="P1", merchant_msisdn="243890000000"),
            lambda url: {
                "NGUVU_ORANGE_URL": url + "/apigw/soap",
                "NGUVU_ORANGE_PARTNER_ID": "P1",
                "NGUVU_ORANGE_MERCHANT_MSISDN": "243890000000",
            },
        ),
        "mpesa": Case(
            FakeDaraja(consumer_key="ck", consumer_secret="cs", passkey="pk"),
            lambda url: {
                "NGUVU_MPESA_BASE_URL": url,
                "NGUVU_MPESA_CONSUMER_KEY": "ck",
                "NGUVU_MPESA_CONSUMER_SECRET": "cs",
                "NGUVU_MPESA_SHORTCODE": "174379",
                "NGUVU_MPESA_PASSKEY": "pk",
                "NGUVU_MPESA_CURRENCY": "CDF",
            },
        ),  # the seeded tariff is in CDF; the fake does not mind
    }


def _seed(service: Service) -> None:
    with transaction(service.engine) as s:
        add_vending_key(s, service.keyring, "vk1", "0123456789abcdef", actor=Actor.cli())
        set_tariff(
            s,
            actor=Actor.cli(),
            name="residential",
            currency="CDF",
            price_per_kwh=Decimal("400"),
            vat_rate=Decimal("0.16"),
            min_amount=Decimal("1000"),
            max_amount=Decimal("500000"),
        )
        add_subscriber(s, actor=Actor.cli(), customer_code="ENK-0001", name="Kahindo", phone=PHONE)
        register_meter(
            s,
            MeterSpec(number=DRN, sgc=123457, ti=1, krn=1, vending_key="vk1", customer_code="ENK-0001"),
            actor=Actor.cli(),
        )


def _wait(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
    return value


@pytest.fixture
def running(
    request: pytest.FixtureRequest, engine: Engine, tmp_path: Path
) -> Iterator[tuple[str, Case, Service]]:
    name: str = request.param
    case = _cases()[name]
    with case.fake:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        if isinstance(case.fake, FakeAirtel):
            case.fake.callback_url = url + "/callbacks/payments/airtel"  # set in Airtel's portal
        kek, _ = Kek.generate()
        settings = Settings(
            kek=kek,
            data_dir=tmp_path,
            payment_provider=name.split("-")[0],
            public_base_url=url,
            migrate_on_start=False,
            worker_poll_seconds=0.02,
            backoff_base_seconds=0.01,
            backoff_max_seconds=0.05,
            payment_query_after_seconds=60,  # only the callback can vend within the test
            payment_timeout_seconds=10,
            provider_env={"NGUVU_PUBLIC_URL": url, **case.env(case.fake.url)},
        )
        sms: list[str] = []
        service = Service(settings, engine=engine, sms_write=sms.append)
        _seed(service)
        with ThreadedServer(create_app(settings, service=service), port=port, lifespan="on"):
            yield url, case, service


def _buy(url: str) -> None:
    form = {
        "sessionId": "S1",
        "serviceCode": "*384*1234#",
        "phoneNumber": PHONE,
        "networkCode": "63002",
        "text": f"1*1*1*{DRN}*5000*1",
    }
    reply = httpx.post(url + "/ussd", data=form, timeout=5)
    assert reply.status_code == 200 and reply.text.startswith("END "), reply.text


def _rows(service: Service, model: type) -> list[Any]:
    with reading(service.engine) as s:
        return list(s.scalars(select(model)).all())


@pytest.mark.parametrize("running", ["airtel", "airtel-signed", "orange", "mpesa"], indirect=True)
def test_purchase_is_paid_and_vended_once(running: tuple[str, Case, Service]) -> None:
    url, case, service = running
    _buy(url)
    _wait(lambda: case.fake.callbacks)
    _wait(lambda: any(p.status == PaymentStatus.VENDED for p in _rows(service, Payment)))
    time.sleep(0.3)  # room for a stray second payment or token to appear
    payments = _rows(service, Payment)
    assert [(p.channel, p.status) for p in payments] == [("ussd", PaymentStatus.VENDED)]
    [token] = _rows(service, Token)
    assert token.payment_id == payments[0].id
    assert case.fake.callbacks[0].status_code == 200


@pytest.mark.parametrize("running", ["airtel-signed", "orange", "mpesa"], indirect=True)
def test_forged_success_callback_vends_nothing(running: tuple[str, Case, Service]) -> None:
    """The payer declines, but the callback claims success (a wrong hash where Airtel signs; a lie
    the status query exposes for Orange and M-Pesa)."""
    url, case, service = running
    case.fake.knobs.outcome = "decline"
    case.fake.knobs.bad_signature = True
    _buy(url)
    _wait(lambda: case.fake.callbacks)
    time.sleep(0.3)
    assert _rows(service, Token) == []
    [payment] = _rows(service, Payment)
    assert payment.status != PaymentStatus.VENDED
    signed = isinstance(case.fake, FakeAirtel)
    assert case.fake.callbacks[0].status_code == (401 if signed else 200)
    if not signed:  # answered; the status query's verdict (declined) is what the service applied
        _wait(lambda: _rows(service, Payment)[0].status == PaymentStatus.FAILED)
