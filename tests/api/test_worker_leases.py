"""Worker leases across service instances, and the operational defects of issue 11 that belong with them.

Two `Service` objects on one database stand for two instances (separate machines). A claim that is never
finished (its instance was killed with SIGKILL) is retaken by the other instance once the lease
(NGUVU_WORKER_LEASE_SECONDS) has passed, and not before. Also: engines hide SQL parameters, a 500 is
counted in /metrics, `--log-level debug` adds lines, and metric directories of killed instances are
removed at the next start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from apitest import TestClient
from conftest import Clock, World, queue_payment
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import DBAPIError

from api.app import create_app
from api.db import make_engine, reading, transaction
from api.models import Meter, MeterPush, Payment, PaymentStatus, SmsOutbox
from api.payments.base import PaymentEvent, Verification
from api.payments.base import PaymentStatus as S
from api.service import Service
from api.settings import Settings, SettingsError
from api.workers import payments, push, sms
from cli.service_cmds import METRICS_PREFIX, remove_orphan_metrics_dirs

LEASE = 60


def _twin(world: World, clock: Clock) -> Service:
    """A second instance on the same database, with its own clock."""
    return Service(world.settings, engine=world.service.engine, clock=clock, sms_write=lambda _l: None)


def _queue_sms(world: World, n: int) -> list[int]:
    with transaction(world.service.engine) as s:
        rows = [
            SmsOutbox(to="+243990000001", text=f"message {i}", kind="token", next_attempt_at=world.clock.now)
            for i in range(n)
        ]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows if r.id is not None]


def _vend(world: World, refs: list[str]) -> None:
    for ref in refs:
        queue_payment(world.service.engine, ref, world.meter_drn)
    events = [
        PaymentEvent(
            provider="sandbox",
            provider_txn_id="T" + ref,
            reference=ref,
            status=S.SUCCEEDED,
            amount=Decimal(5000),
            currency="CDF",
            msisdn="+243990000001",
            verification=Verification.SIGNATURE,
        )
        for ref in refs
    ]
    world.service.vendor.apply_events(events)


def _connect(world: World, drn: str, url: str) -> None:
    with transaction(world.service.engine) as s:
        s.execute(update(Meter).where(Meter.drn == drn).values(connected=True, serial_url=url))


def test_an_sms_claimed_by_a_killed_instance_is_retaken_after_the_lease_only(world: World) -> None:
    ids = _queue_sms(world, 3)
    claimed = sms.claim(world.service)  # instance A claims, then dies before sending
    assert sorted(r.id for r in claimed) == ids
    other_clock = Clock(world.clock.now)
    b = _twin(world, other_clock)
    assert sms.claim(b) == []  # the lease holds
    other_clock.now += timedelta(seconds=LEASE - 1)
    assert sms.claim(b) == []
    other_clock.now += timedelta(seconds=2)
    assert sorted(r.id for r in sms.claim(b)) == ids  # A's lease ran out: B takes over
    assert sms.claim(world.service) == []  # and now B holds them


def test_a_payment_claimed_by_a_killed_instance_is_retaken_after_the_lease(world: World) -> None:
    pid = queue_payment(world.service.engine, "lease-1", world.meter_drn, status=PaymentStatus.QUEUED)
    assert [p.id for p in payments._due(world.service, PaymentStatus.QUEUED)] == [pid]
    later = Clock(world.clock.now + timedelta(seconds=LEASE - 1))
    assert payments._due(_twin(world, later), PaymentStatus.QUEUED) == []
    later.now += timedelta(seconds=2)
    assert [p.id for p in payments._due(_twin(world, later), PaymentStatus.QUEUED)] == [pid]


def test_the_lease_comes_from_the_settings(world: World) -> None:
    short = replace(world.settings, worker_lease_seconds=10)
    a = Service(short, engine=world.service.engine, clock=world.clock, sms_write=lambda _l: None)
    _queue_sms(world, 1)
    assert len(sms.claim(a)) == 1
    later = Clock(world.clock.now + timedelta(seconds=11))
    assert len(sms.claim(_twin(world, later))) == 1
    env = {"NGUVU_KEK": "00" * 32, "NGUVU_WORKER_LEASE_SECONDS": "90"}
    assert Settings.from_env(env).worker_lease_seconds == 90
    with pytest.raises(SettingsError, match="NGUVU_WORKER_LEASE_SECONDS"):
        Settings.from_env({**env, "NGUVU_WORKER_LEASE_SECONDS": "2"})
    with pytest.raises(SettingsError, match="NGUVU_SERIAL_TIMEOUT_SECONDS"):
        Settings.from_env({**env, "NGUVU_SERIAL_TIMEOUT_SECONDS": "88"})


def test_pushes_are_claimed_one_per_meter_in_issue_order(world: World) -> None:
    _connect(world, world.meter_drn, "socket://127.0.0.1:9")
    _vend(world, ["p1", "p2", "p3"])
    with reading(world.service.engine) as s:
        ids = list(s.scalars(select(MeterPush.id).order_by(MeterPush.id)))
    assert len(ids) == 3
    first = push.claim(world.service)
    assert [p.id for p, _t, _u in first] == [ids[0]]  # the later two wait for the first
    later = Clock(world.clock.now + timedelta(seconds=LEASE + 1))
    b = _twin(world, later)
    retaken = push.claim(b)
    assert [p.id for p, _t, _u in retaken] == [ids[0]]  # retaken after the lease, still first
    assert retaken[0][0].attempts == 2  # the attempt that died with its instance counts
    push._record(b, ids[0], status="done", result="accept")
    assert [p.id for p, _t, _u in push.claim(b)] == [ids[1]]


@pytest.mark.postgres
def test_two_instances_claiming_at_once_never_share_a_row(world: World) -> None:
    if world.service.engine.dialect.name != "postgresql":
        pytest.skip("row locks between instances: PostgreSQL")
    ids = _queue_sms(world, 200)
    services = [world.service, *(_twin(world, world.clock) for _ in range(3))]
    got: list[list[int]] = [[] for _ in services]

    def drain(i: int) -> None:
        while rows := sms.claim(services[i]):
            got[i].extend(r.id for r in rows if r.id is not None)

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(services))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    every = [i for part in got for i in part]
    assert sorted(every) == ids  # each row claimed exactly once


def test_engines_hide_sql_parameters_in_errors(engine: Engine, tmp_path: Path) -> None:
    assert engine.hide_parameters
    secret_digits = "12345678901234567890"
    with pytest.raises(DBAPIError) as caught, engine.connect() as conn:
        conn.execute(text("SELECT * FROM no_such_table WHERE x = :x"), {"x": secret_digits})
    assert secret_digits not in str(caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)
    assert make_engine(f"sqlite:///{tmp_path / 'other.db'}").hide_parameters


def test_a_500_is_counted_in_metrics(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("boom")

    app = create_app(world.settings, service=world.service)
    monkeypatch.setattr("api.ussd.handler._answer", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        form = {"sessionId": "s", "serviceCode": "*1#", "phoneNumber": "+243990000001", "text": ""}
        assert client.post("/ussd", data=form).status_code == 500
        body = client.get("/metrics").text
    assert 'nguvu_http_errors_total{code="internal_error"} 1.0' in body


def test_debug_logging_adds_lines(world: World, caplog: pytest.LogCaptureFixture) -> None:
    queue_payment(world.service.engine, "dbg-1", world.meter_drn)
    event = PaymentEvent(
        provider="sandbox",
        provider_txn_id="Tdbg",
        reference="dbg-1",
        status=S.SUCCEEDED,
        amount=Decimal(5000),
        currency="CDF",
        msisdn="+243990000001",
        verification=Verification.SIGNATURE,
    )
    with caplog.at_level(logging.INFO, logger="nguvu"):
        asyncio.run(world.service.apply_events([event]))
        asyncio.run(sms.one_pass(world.service))
    assert not [r for r in caplog.records if r.levelno == logging.DEBUG]
    caplog.clear()
    queue_payment(world.service.engine, "dbg-2", world.meter_drn)
    with caplog.at_level(logging.DEBUG, logger="nguvu"):
        asyncio.run(world.service.apply_events([replace(event, provider_txn_id="Tdbg2", reference="dbg-2")]))
        asyncio.run(sms.one_pass(world.service))
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any(m.startswith("vend transaction for 1 events") for m in debug), debug
    assert any(m.startswith("claimed 1 SMS") for m in debug), debug
    with reading(world.service.engine) as s:
        token = s.scalars(select(Payment).where(Payment.reference == "dbg-2")).one()
    assert token.status == PaymentStatus.VENDED


def test_metrics_directories_of_killed_instances_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead_pid = int(dead.stdout)
    orphan = tmp_path / f"{METRICS_PREFIX}{dead_pid}-abc"
    live = tmp_path / f"{METRICS_PREFIX}{os.getpid()}-def"
    legacy = tmp_path / f"{METRICS_PREFIX}xyz"
    for d in (orphan, live, legacy):
        d.mkdir()
        (d / "counter_1.db").write_bytes(b"x")
    assert remove_orphan_metrics_dirs(tmp_path) == 1
    assert not orphan.exists() and live.exists() and legacy.exists()


def test_an_outcome_is_recorded_again_after_a_cut_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    from api.workers import loop

    monkeypatch.setattr(loop.time, "sleep", lambda _s: None)
    calls: list[int] = []

    def flaky(fails: int) -> None:
        calls.append(1)
        if len(calls) <= fails:
            raise OperationalError("UPDATE sms_outbox ...", {}, Exception("server closed the connection"))

    loop.recorded(flaky)(2)
    assert len(calls) == 3  # two cuts, then recorded
    calls.clear()
    with pytest.raises(OperationalError):
        loop.recorded(flaky)(10)
    assert len(calls) == loop.RECORD_TRIES
