"""Settings, the sealed vending keys, pricing, SMS texts, migrations and the service CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import VENDING_KEY, World
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlmodel import SQLModel

from api import migrate
from api.db import reading, transaction
from api.errors import AmountOutOfLimits, InvalidInput
from api.keystore import Kek, KeystoreError
from api.messages import failed_sms, group4, held_sms, is_gsm7, no_token_sms, resend_sms, token_sms
from api.models import Tariff, VendingKeyRecord
from api.pricing import parse_amount, quote
from api.settings import Settings, SettingsError

KEK_HEX = "11" * 32


def test_settings_read_once_from_a_mapping_and_fail_fast() -> None:
    s = Settings.from_env({"NGUVU_KEK": KEK_HEX, "NGUVU_DATA_DIR": "/tmp/x", "NGUVU_LANGUAGE": "sw"})
    assert s.default_language == "sw" and s.resolved_database_url == "sqlite:////tmp/x/nguvu.db"
    assert KEK_HEX not in repr(s) and "11111111" not in repr(s.kek)
    pg = Settings.from_env({"NGUVU_KEK": KEK_HEX, "DATABASE_URL": "postgresql://u:secret@h/db"})
    assert pg.resolved_database_url.startswith("postgresql+psycopg://") and "secret" not in repr(pg)
    for env, name in (
        ({}, "NGUVU_KEK"),
        ({"NGUVU_KEK": "abc"}, "NGUVU_KEK"),
        ({"NGUVU_KEK": KEK_HEX, "NGUVU_SMS_MAX_ATTEMPTS": "x"}, "NGUVU_SMS_MAX_ATTEMPTS"),
        ({"NGUVU_KEK": KEK_HEX, "NGUVU_LANGUAGE": "de"}, "NGUVU_LANGUAGE"),
        ({"NGUVU_KEK": KEK_HEX, "NGUVU_RUN_WORKERS": "maybe"}, "NGUVU_RUN_WORKERS"),
    ):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env(env)


def test_importing_the_service_reads_no_environment() -> None:
    code = "import os; os.environ.clear(); import api.app, api.settings, cli.service_cmds; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_vending_keys_are_sealed_and_bound_to_their_label() -> None:
    kek = Kek.from_hex(KEK_HEX)
    sealed = kek.seal("vk1", bytes.fromhex(VENDING_KEY))
    assert bytes.fromhex(VENDING_KEY) not in sealed
    assert kek.open("vk1", sealed) == bytes.fromhex(VENDING_KEY)
    with pytest.raises(KeystoreError):
        kek.open("vk2", sealed)
    with pytest.raises(KeystoreError):
        Kek.from_hex("22" * 32).open("vk1", sealed)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(KeystoreError):
        kek.open("vk1", tampered)


def test_the_database_holds_no_vending_key_in_clear(world: World) -> None:
    with reading(world.service.engine) as s:
        record = s.scalars(select(VendingKeyRecord)).one()
    assert bytes.fromhex(VENDING_KEY) not in record.sealed and VENDING_KEY not in repr(record)


def _tariff(vat: str = "0.16", fee: str = "0") -> Tariff:
    return Tariff(
        name="t",
        currency="CDF",
        price_per_kwh=Decimal(400),
        vat_rate=Decimal(vat),
        fee_rate=Decimal(fee),
        min_amount=Decimal(1000),
        max_amount=Decimal(500000),
    )


def test_quote_deducts_fee_then_vat_then_prices_rounding_units_down() -> None:
    q = quote(_tariff(), Decimal(5000))
    assert (q.vat, q.energy_money, q.units) == (Decimal("689.66"), Decimal("4310.34"), Decimal("10.7"))
    q = quote(_tariff(fee="0.02"), Decimal(5000))
    assert q.fee == Decimal("100.00") and q.units == Decimal("10.5")
    with pytest.raises(AmountOutOfLimits):
        quote(_tariff(), Decimal(999))
    with pytest.raises(InvalidInput):
        parse_amount("1e5", "CDF")
    with pytest.raises(InvalidInput):
        parse_amount("5", "EUR")


@settings(max_examples=200, deadline=None)
@given(st.integers(1000, 500000), st.sampled_from(["0", "0.16", "0.2"]))
def test_units_never_exceed_what_was_paid(amount: int, vat: str) -> None:
    q = quote(_tariff(vat), Decimal(amount))
    assert q.units * 400 <= q.energy_money < (q.units + Decimal("0.1")) * 400
    assert q.fee + q.vat + q.energy_money == Decimal(amount)


def test_sms_texts_are_gsm7_with_the_token_in_groups_of_four() -> None:
    token = "12345678901234567890"
    assert group4(token) == "1234 5678 9012 3456 7890"
    for lang in ("fr", "en", "sw"):
        texts = [
            token_sms(
                lang,
                token=token,
                units=Decimal("1820162.4"),
                meter="0000123456789",
                amount=Decimal("999999999"),
                currency="CDF",
            ),
            resend_sms(
                lang, token=token, units=Decimal("12.5"), meter="0000123456789", date="2026-11-28 12:00"
            ),
            no_token_sms(lang, meter="0000123456789"),
            failed_sms(lang, amount=Decimal(5000), currency="USD", meter="0000123456789"),
            held_sms(lang, reference="u" * 24),
        ]
        for text in texts:
            assert is_gsm7(text) and len(text) <= 160, (lang, len(text), text)
        assert "1234 5678 9012 3456 7890" in texts[0]
    assert not is_gsm7("reçu")


def test_migrations_match_the_models_and_run_twice(engine: Engine) -> None:
    migrate.upgrade(engine)  # already at head: a no-op
    # The newest migration file (each helper adds its own number; they chain linearly).
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert head is not None and head >= "0005" and migrate.current(engine) == head
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def _cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "NGUVU_DATA_DIR": str(tmp_path), "NGUVU_KEK": KEK_HEX, **env}
    full.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, env=full, timeout=120
    )


def test_the_service_can_be_set_up_from_the_cli(tmp_path: Path) -> None:
    assert _cli(tmp_path, "db", "upgrade").returncode == 0
    assert _cli(tmp_path, "vending-key", "add", "vk1", NGUVU_VENDING_KEY=VENDING_KEY).returncode == 0
    assert _cli(tmp_path, "tariff", "set", "--currency", "CDF", "--price", "400").returncode == 0
    r = _cli(
        tmp_path,
        "admin",
        "create-superuser",
        "--email",
        "admin@enk.cd",
        "--name",
        "Admin",
        NGUVU_ADMIN_PASSWORD="a long password",
    )
    assert r.returncode == 0, r.stderr
    assert (
        _cli(
            tmp_path, "subscriber", "add", "--code", "ENK-1", "--name", "K", "--phone", "+243990000001"
        ).returncode
        == 0
    )
    r = _cli(
        tmp_path,
        "meter",
        "register",
        "01234567897",
        "--sgc",
        "123457",
        "--vending-key",
        "vk1",
        "--customer-code",
        "ENK-1",
    )
    assert r.returncode == 0 and "600727012345678977" in r.stdout
    r = _cli(tmp_path, "apikey", "create", "--name", "shop", "--scope", "vend")
    assert r.returncode == 0 and r.stdout.startswith("ngv_")
    # Refusals: bad input exits 2, a rule (duplicate) exits 1; secrets never echoed.
    bad = _cli(tmp_path, "meter", "register", "01234567890", "--sgc", "1", "--vending-key", "vk1")
    assert bad.returncode == 2 and "Luhn" in bad.stderr
    dup = _cli(tmp_path, "subscriber", "add", "--code", "ENK-1", "--name", "K", "--phone", "+243990000001")
    assert dup.returncode == 1
    nokek = _cli(tmp_path, "serve", NGUVU_KEK="")
    assert nokek.returncode == 2 and "NGUVU_KEK" in nokek.stderr
    loud = _cli(tmp_path, "serve", "--log-level", "loud")
    assert loud.returncode == 2 and "--log-level must be one of" in loud.stderr
    with transaction(
        __import__("api.db", fromlist=["make_engine"]).make_engine(f"sqlite:///{tmp_path / 'nguvu.db'}")
    ) as s:
        assert VENDING_KEY not in repr(s.scalars(select(VendingKeyRecord)).all())


def test_serve_logs_the_service_loggers_at_the_chosen_level() -> None:
    """`nguvu serve`'s logging set-up: the service's loggers (nguvu.*, api.*) reach stderr with time,
    level and name at the chosen level (before, only uvicorn's own loggers had a handler)."""
    program = (
        "import logging, logging.config\n"
        "from cli.service_cmds import log_config\n"
        "logging.config.dictConfig(log_config('info'))\n"
        "logging.getLogger('nguvu.vend').info('payment r1 vended')\n"
        "logging.getLogger('api.payments.sandbox').warning('callback refused')\n"
        "logging.getLogger('nguvu.vend').debug('hidden detail')\n"
    )
    r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^\d{4}-\d\d-\d\d .* INFO nguvu\.vend: payment r1 vended$", r.stderr, re.M), r.stderr
    assert "WARNING api.payments.sandbox: callback refused" in r.stderr
    assert "hidden detail" not in r.stderr
