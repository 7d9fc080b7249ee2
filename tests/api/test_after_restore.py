"""Restoring yesterday's backup: tokens issued since are gone from the database, but the meter accepted
them. Without `nguvu db after-restore` the next token repeats or undercuts their TIDs and the meter
refuses it; after it, new tokens are accepted and TIDs keep increasing. The backup is a real one: the
SQLite online backup API, and pg_dump/psql into a fresh schema for PostgreSQL."""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import subprocess
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import METER_DRN, VENDING_KEY, Clock, World, queue_payment
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from api.db import make_engine, reading
from api.models import Meter, Token
from api.payments.base import PaymentEvent, Verification
from api.payments.base import PaymentStatus as S
from api.service import Service
from cli.main import app
from cli.service_cmds import after_restore
from meter_emulator import protocol
from meter_emulator.meter import MeterSettings
from meter_emulator.provision import Identity, create_meter, decoder_key_for
from meter_emulator.store import MemoryStore
from tokencore import KeyParams, VendingKey, pan_from_drn


def _meter():  # type: ignore[no-untyped-def]
    identity = Identity(pan_from_drn(METER_DRN), KeyParams(sgc=123457, ti=1, krn=1))
    key = decoder_key_for(identity, VendingKey.from_hex(VENDING_KEY))
    return create_meter(MemoryStore(), identity, key, MeterSettings(), 0)


def _vend(service: Service, ref: str) -> str:
    queue_payment(service.engine, ref, METER_DRN)
    event = PaymentEvent(
        provider="sandbox",
        provider_txn_id="T" + ref,
        reference=ref,
        status=S.SUCCEEDED,
        amount=Decimal(5000),
        currency="CDF",
        msisdn="+243990000001",
        verification=Verification.SIGNATURE,
    )
    (result,) = service.vendor.apply_events([event])
    assert result.outcome == "vended", result
    with reading(service.engine) as s:
        return s.scalars(select(Token.token).order_by(Token.id.desc())).first()  # type: ignore[union-attr,return-value]


def _backup(engine: Engine, tmp_path: Path) -> tuple[Engine, object]:
    """Take a backup of `engine`'s database; returns a function that restores it into a new database."""
    if engine.dialect.name == "sqlite":
        src = sqlite3.connect(str(engine.url.database))
        copy = tmp_path / "backup.db"
        dst = sqlite3.connect(copy)
        src.backup(dst)
        src.close()
        dst.close()

        def restore() -> Engine:
            target = tmp_path / "restored.db"
            shutil.copy(copy, target)
            return make_engine(f"sqlite:///{target}")

        return engine, restore
    if shutil.which("pg_dump") is None:
        pytest.fail("pg_dump is needed for the PostgreSQL backup test (postgresql-client)")
    url = engine.url
    schema = url.query["options"].split("=", 1)[1]  # type: ignore[union-attr]
    dsn = ["-h", str(url.host), "-p", str(url.port), "-U", str(url.username), str(url.database)]
    dump = subprocess.run(
        ["pg_dump", "--schema", schema, "--no-owner", *dsn], check=True, capture_output=True
    )

    def restore_pg() -> Engine:
        fresh = "r_" + secrets.token_hex(6)
        sql = (
            dump.stdout.decode()
            .replace(f"{schema}.", f"{fresh}.")
            .replace(f"SCHEMA {schema}", f"SCHEMA {fresh}")
        )
        sql = sql.replace(f"'{schema}'", f"'{fresh}'")
        subprocess.run(
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", *dsn], input=sql.encode(), check=True, capture_output=True
        )
        restored_schemas.append((dsn, fresh))
        return make_engine(
            str(url.set(query={"options": f"-csearch_path={fresh}"}).render_as_string(hide_password=False))
        )

    return engine, restore_pg


restored_schemas: list[tuple[list[str], str]] = []


@pytest.fixture(autouse=True)
def _drop_restored() -> object:
    yield
    while restored_schemas:
        dsn, schema = restored_schemas.pop()
        subprocess.run(
            ["psql", "-q", *dsn, "-c", f'DROP SCHEMA "{schema}" CASCADE'], check=False, capture_output=True
        )


def test_after_a_restore_new_tokens_are_still_accepted(world: World, tmp_path: Path) -> None:
    meter = _meter()
    assert protocol.handle(meter, f"TOKEN {_vend(world.service, 'before')}", 0).startswith("RESULT accept")
    _engine, restore = _backup(world.service.engine, tmp_path)
    # After the backup: five tokens in one minute (TIDs run five minutes ahead), all accepted.
    world.clock.now += timedelta(hours=3)
    for n in range(5):
        token = _vend(world.service, f"lost-{n}")
        assert protocol.handle(meter, f"TOKEN {token}", 0).startswith("RESULT accept")
    with reading(world.service.engine) as s:
        lost_tid = s.scalars(select(Meter.last_tid).where(Meter.drn == METER_DRN)).one()
    # The database is lost and yesterday's backup restored; a minute later a subscriber buys.
    restored = restore()  # type: ignore[operator]
    clock = Clock(world.clock.now + timedelta(minutes=1))
    service = Service(world.settings, engine=restored, clock=clock, sms_write=lambda _l: None)
    twin = Service(world.settings, engine=restored, clock=clock, sms_write=lambda _l: None)
    refused = protocol.handle(meter, f"TOKEN {_vend(twin, 'unsafe')}", 0)
    assert refused in ("RESULT used", "RESULT old"), refused  # what happens without after-restore
    moved, total = after_restore(restored, clock.now, 1440)
    assert (moved, total) == (2, 2)
    token = _vend(service, "after")
    assert protocol.handle(meter, f"TOKEN {token}", 0).startswith("RESULT accept")
    with reading(restored) as s:
        new_tid = s.scalars(select(Token.tid).order_by(Token.id.desc())).first()
    assert new_tid is not None and lost_tid is not None and new_tid > lost_tid
    assert after_restore(restored, clock.now, 1440) == (0, 2)  # a second run moves nothing
    restored.dispose()


def test_the_command_refuses_a_silly_margin_and_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NGUVU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NGUVU_KEK", "11" * 32)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    runner = CliRunner()
    bad = runner.invoke(app, ["db", "after-restore", "--ahead-minutes", "0"])
    assert bad.exit_code == 2 and "ahead-minutes" in bad.output
    ok = runner.invoke(app, ["db", "after-restore"], env={**os.environ})
    assert ok.exit_code == 0 and "on 0 of 0 meters" in ok.output
