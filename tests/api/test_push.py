"""Automatic recharge: the serial push to a connected meter, against the meter emulator on a real pty."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from apitest import TestClient
from conftest import METER_DRN, VENDING_KEY, make_settings, seed
from sqlalchemy import Engine, select
from test_workers import wait_until

from api.app import create_app
from api.db import reading, transaction
from api.meterlink import MeterLinkError, parse_reply, push_token
from api.models import Meter, MeterPush, Payment, PaymentStatus, Token
from api.service import Service
from meter_emulator.clock import SystemClock
from meter_emulator.hub import Hub
from meter_emulator.links import PtyLink
from meter_emulator.meter import Meter as EmulatedMeter
from meter_emulator.meter import MeterSettings
from meter_emulator.provision import Identity, create_meter, decoder_key_for
from meter_emulator.store import MemoryStore
from tokencore import KeyParams, VendingKey, pan_from_drn


class ServedMeter:
    """The emulated meter of METER_DRN (same key parameters as the service's row) on a pty."""

    def __init__(self) -> None:
        identity = Identity(pan_from_drn(METER_DRN), KeyParams(sgc=123457, ti=1, krn=1))
        clock = SystemClock()
        key = decoder_key_for(identity, VendingKey.from_hex(VENDING_KEY))
        self.meter: EmulatedMeter = create_meter(
            MemoryStore(), identity, key, MeterSettings(), clock.now_ms()
        )
        self.link = PtyLink()
        self.hub = Hub(clock, tick_ms=50)
        self.hub.add(self.meter, self.link)
        self._stop = False
        self._thread = threading.Thread(target=self.hub.run, args=(lambda: self._stop,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return self.link.name

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)
        self.hub.close()


@pytest.fixture
def served() -> Iterator[ServedMeter]:
    meter = ServedMeter()
    yield meter
    meter.close()


def test_parse_reply_reads_results_and_errors() -> None:
    r = parse_reply("RESULT accept amount=12.5 credit=37.5")
    assert (r.outcome, r.fields["amount"], r.fields["credit"]) == ("accept", "12.5", "37.5")
    assert parse_reply("ERROR bad_argument").outcome == "error"
    with pytest.raises(MeterLinkError):
        parse_reply("STATUS credit=1.0")


def test_an_unopenable_port_is_a_link_error() -> None:
    with pytest.raises(MeterLinkError):
        push_token("/dev/does-not-exist", "1" * 20, timeout=0.5)


def test_a_vend_for_a_connected_meter_is_accepted_over_serial(
    engine: Engine, tmp_path: Path, served: ServedMeter
) -> None:
    settings = make_settings(tmp_path, run_workers=True)
    service = Service(settings, engine=engine, sms_write=lambda _line: None)
    seed(service, connected_url=served.url)
    with TestClient(create_app(settings, service=service)):
        with transaction(engine) as s:
            meter = s.scalars(select(Meter).where(Meter.drn == METER_DRN)).one()
            s.add(
                Payment(
                    reference="r1",
                    provider="sandbox",
                    status=PaymentStatus.PENDING,
                    msisdn="+243990000001",
                    meter_id=meter.id,
                    account=meter.drn,
                    amount=Decimal(5000),
                    currency="CDF",
                )
            )
        from api.payments.base import PaymentEvent
        from api.payments.base import PaymentStatus as S

        service.vendor.apply_event(
            PaymentEvent("sandbox", "TX1", "r1", S.SUCCEEDED, Decimal(5000), "CDF", None)
        )
        service.wake_push()
        push = wait_until(lambda: [p for p in _rows(engine, MeterPush) if p.status == "done"])[0]
    assert push.result == "accept" and "amount=10.7" in push.detail
    assert served.meter.credit_wh == 10_700
    assert served.meter.relay_closed
    # The same token again is refused by the meter as used: pushes are safe to repeat.
    [token] = _rows(engine, Token)
    assert push_token(served.url, token.token).outcome == "used"


def _rows(engine: Engine, model: type) -> list:
    with reading(engine) as s:
        return list(s.scalars(select(model)).all())
