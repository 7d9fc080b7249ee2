"""Vending keys at rest (issue 11): the raw database holds no key bytes, and `nguvu vending-key rekey`
moves every sealed key to a new KEK in one transaction - interrupted half-way (an exception, or the
process killed with SIGKILL while its writes are not committed), the old KEK still opens every key."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import conftest
import psycopg
import pytest
from conftest import SETUP, World, make_settings, seed
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from sqlmodel import col

from api.actors import Actor
from api.db import reading, transaction
from api.keystore import Kek, KeystoreError
from api.models import Meter, Token, VendingKeyRecord
from api.registry import add_vending_key
from api.rekey import SameKek, rekey
from api.service import Service

ROOT = Path(__file__).parents[2]


def sealed_rows(engine: Engine) -> dict[str, bytes]:
    with reading(engine) as s:
        return {r.label: r.sealed for r in s.scalars(select(VendingKeyRecord))}


def add_keys(world: World, count: int) -> dict[str, bytes]:
    """`count` more random vending keys; their labels and raw bytes."""
    keys = {f"vk-extra-{i}": secrets.token_bytes(8) for i in range(count)}
    with transaction(world.service.engine) as s:
        for label, key in keys.items():
            add_vending_key(s, world.service.keyring, label, key.hex(), actor=SETUP)
    return keys


def opens_all(kek: Kek, engine: Engine) -> bool:
    try:
        for label, sealed in sealed_rows(engine).items():
            kek.open(label, sealed)
    except KeystoreError:
        return False
    return True


def raw_database(engine: Engine) -> bytes:
    """Every byte the database holds: the SQLite files, or every row of every table of the schema as
    PostgreSQL prints it (bytea as hex)."""
    if engine.dialect.name == "sqlite":
        db = Path(engine.url.database or "")
        return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    chunks = []
    with engine.connect() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).scalars()
        for table in list(tables):
            for row in conn.execute(text(f'SELECT t::text FROM "{table}" t')).scalars():
                chunks.append(row.encode())
    return b"\n".join(chunks)


def test_the_raw_database_holds_no_key_bytes(known_kek_world: tuple[Engine, str], tmp_path: Path) -> None:
    engine, kek_hex = known_kek_world
    service = Service(make_settings(tmp_path, kek=Kek.from_hex(kek_hex)), engine=engine)
    keys = {f"vk-raw-{i}": secrets.token_bytes(8) for i in range(3)}
    keys["vk1"] = bytes.fromhex(conftest.VENDING_KEY)
    with transaction(engine) as s:
        for label, key in keys.items():
            if label != "vk1":
                add_vending_key(s, service.keyring, label, key.hex(), actor=SETUP)
    with transaction(engine) as s:  # a vend: the key is unsealed in memory, and stays out of the rows
        service.vendor.issue_credit(s, _locked_meter(s, conftest.METER_DRN), Decimal(5), issued_by="test")
    raw = raw_database(engine)
    assert b"vk-raw-0" in raw and len(raw) > 1000  # the rows are there, their labels in clear
    for secret in [*keys.values(), bytes.fromhex(kek_hex)]:
        for form in (secret, secret.hex().encode(), secret.hex().upper().encode()):
            assert form not in raw


def test_rekey_moves_every_key_and_the_service_vends_with_the_new_kek(world: World, tmp_path: Path) -> None:
    keys = add_keys(world, 2)
    before = sealed_rows(world.service.engine)
    old, new = world.settings.kek, Kek.generate()[0]
    moved: list[str] = []
    with transaction(world.service.engine) as s:
        assert rekey(s, old, new, Actor.cli(), progress=moved.append) == 3
    after = sealed_rows(world.service.engine)
    assert sorted(moved) == sorted(after) and all(after[k] != before[k] for k in after)
    assert opens_all(new, world.service.engine) and not opens_all(old, world.service.engine)
    for label, key in keys.items():
        assert new.open(label, after[label]) == key
    # A service started with the new KEK vends; one with the old KEK cannot unseal.
    service = Service(make_settings(tmp_path / "new", kek=new), engine=world.service.engine)
    with transaction(service.engine) as s:
        credit = service.vendor.issue_credit(
            s, _locked_meter(s, world.meter_drn), Decimal(5), issued_by="test"
        )
    assert len(credit.token) == 20
    with transaction(world.service.engine) as s, pytest.raises(SameKek):
        rekey(s, new, new, Actor.cli())


def _locked_meter(session: Session, drn: str) -> Meter:
    return session.scalars(select(Meter).where(col(Meter.drn) == drn).with_for_update()).one()


def test_rekey_interrupted_half_way_leaves_the_old_kek_working(world: World) -> None:
    add_keys(world, 4)
    before = sealed_rows(world.service.engine)
    old, new = world.settings.kek, Kek.generate()[0]
    written: list[str] = []

    def crash_on_the_third(label: str) -> None:
        written.append(label)
        if len(written) == 3:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError), transaction(world.service.engine) as s:
        rekey(s, old, new, Actor.cli(), progress=crash_on_the_third)
    assert len(written) == 3  # three rows were rewritten inside the transaction, then it rolled back
    assert sealed_rows(world.service.engine) == before
    assert opens_all(old, world.service.engine) and not any(
        _opens(new, label, sealed) for label, sealed in before.items()
    )


def test_rekey_with_the_wrong_old_kek_changes_nothing(world: World) -> None:
    before = sealed_rows(world.service.engine)
    with pytest.raises(KeystoreError), transaction(world.service.engine) as s:
        rekey(s, Kek.generate()[0], Kek.generate()[0], Actor.cli())
    assert sealed_rows(world.service.engine) == before


def _opens(kek: Kek, label: str, sealed: bytes) -> bool:
    try:
        kek.open(label, sealed)
    except KeystoreError:
        return False
    return True


def _cli_env(engine: Engine, old_hex: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NGUVU_", "DATABASE_URL"))}
    url = engine.url.render_as_string(hide_password=False)
    return {**env, "DATABASE_URL": url, "NGUVU_KEK": old_hex, "PYTHONPATH": str(ROOT), **extra}


def _nguvu(*args: str) -> list[str]:
    return [sys.executable, "-c", "from cli.main import main; main()", *args]


@pytest.fixture
def known_kek_world(engine: Engine, tmp_path: Path) -> tuple[Engine, str]:
    """A seeded database whose KEK's hex the test knows (the CLI reads it from the environment)."""
    old_hex = secrets.token_hex(32)
    service = Service(make_settings(tmp_path, kek=Kek.from_hex(old_hex)), engine=engine)
    seed(service)
    with transaction(engine) as s:
        for i in range(5):
            add_vending_key(s, service.keyring, f"vk-cli-{i}", secrets.token_hex(8), actor=SETUP)
    return engine, old_hex


def test_the_cli_takes_the_new_kek_from_a_file_or_the_environment_never_argv(
    known_kek_world: tuple[Engine, str], tmp_path: Path
) -> None:
    engine, old_hex = known_kek_world
    new_hex = secrets.token_hex(32)
    missing = subprocess.run(
        _nguvu("vending-key", "rekey"),
        env=_cli_env(engine, old_hex),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "NGUVU_NEW_KEK" in missing.stderr
    same = subprocess.run(
        _nguvu("vending-key", "rekey"),
        env=_cli_env(engine, old_hex, NGUVU_NEW_KEK=old_hex),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert same.returncode == 2 and "current one" in same.stderr
    key_file = tmp_path / "new-kek.hex"
    key_file.write_text(new_hex + "\n")
    done = subprocess.run(
        _nguvu("vending-key", "rekey", "--new-kek-file", str(key_file)),
        env=_cli_env(engine, old_hex),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "6 sealed keys moved" in done.stdout
    assert new_hex not in done.stdout + done.stderr and old_hex not in done.stdout + done.stderr
    assert opens_all(Kek.from_hex(new_hex), engine)


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_rekey_killed_before_its_commit_leaves_the_old_kek_working(
    known_kek_world: tuple[Engine, str],
) -> None:
    """The CLI rewrites every row, then waits on the audit table (locked by this test) just before its
    commit; killed there with SIGKILL, PostgreSQL rolls its transaction back."""
    engine, old_hex = known_kek_world
    before = sealed_rows(engine)
    url = engine.url
    schema = str(url.query["options"]).split("=", 1)[1]
    dsn = dict(host=url.host, port=url.port, dbname=url.database, user=url.username)
    with psycopg.connect(**dsn, autocommit=False) as blocker:  # type: ignore[arg-type]
        blocker.execute(f'LOCK TABLE "{schema}".audit_log IN ACCESS EXCLUSIVE MODE')
        proc = subprocess.Popen(
            _nguvu("vending-key", "rekey"),
            env=_cli_env(engine, old_hex, NGUVU_NEW_KEK=secrets.token_hex(32)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            with psycopg.connect(**dsn, autocommit=True) as watch:  # type: ignore[arg-type]
                while time.monotonic() < deadline:
                    waiting = watch.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query ILIKE 'INSERT INTO audit_log%%'"
                    ).fetchone()
                    if waiting and waiting[0] == 1:
                        break
                    assert proc.poll() is None, proc.communicate()
                    time.sleep(0.05)
                else:
                    pytest.fail("the rekey never reached its audit line")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=30)  # reaps it and closes its pipes
        blocker.rollback()
    # It got there after flushing every row's new ciphertext (api.rekey writes the audit line last).
    # Nothing moved: every row holds its old ciphertext and opens under the old KEK.
    deadline = time.monotonic() + 30
    while sealed_rows(engine) != before and time.monotonic() < deadline:
        time.sleep(0.1)  # the killed backend's transaction is rolled back when PostgreSQL notices
    assert sealed_rows(engine) == before
    assert opens_all(Kek.from_hex(old_hex), engine)
    with reading(engine) as s:
        assert s.scalars(select(Token)).all() == []
