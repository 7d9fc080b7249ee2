"""The set-up commands go through the use-cases as actor `cli`: tariffs are scheduled, field errors
name the field, and the audit log says who acted."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from api.db import make_engine, reading
from api.models import AuditLog
from api.queries.tariffs import TariffState, listing

KEK_HEX = "22" * 32


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NGUVU_DATA_DIR": str(tmp_path), "NGUVU_KEK": KEK_HEX}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_tariffs_are_set_and_scheduled_from_the_cli(tmp_path: Path) -> None:
    assert _cli(tmp_path, "tariff", "set", "--currency", "CDF", "--price", "400").returncode == 0
    later = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    r = _cli(tmp_path, "tariff", "set", "--currency", "CDF", "--price", "450", "--from", later)
    assert r.returncode == 0 and f"from {later}" in r.stdout, r.stderr
    bad = _cli(tmp_path, "tariff", "set", "--currency", "CDF", "--price", "450", "--from", "2001-01-01")
    assert bad.returncode == 2 and "effective_from: must not be in the past" in bad.stderr
    bad = _cli(tmp_path, "tariff", "set", "--currency", "EUR", "--price", "NaN", "--vat", "16")
    assert bad.returncode == 2
    assert (
        "currency: is not one of" in bad.stderr and "price_per_kwh" in bad.stderr and "vat_rate" in bad.stderr
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'nguvu.db'}")
    with reading(engine) as s:
        states = [(str(v.price_per_kwh), v.state) for v in listing(s, datetime.now(UTC))]
        assert states == [("450.0000", TariffState.SCHEDULED), ("400.0000", TariffState.IN_FORCE)]
        entries = [(a.actor, a.action) for a in s.scalars(select(AuditLog).order_by(AuditLog.id))]
        assert entries == [("cli", "tariff_created"), ("cli", "tariff_scheduled")]
    engine.dispose()


def test_subscriber_errors_name_the_field(tmp_path: Path) -> None:
    r = _cli(tmp_path, "subscriber", "add", "--code", "ENK-1", "--name", "K", "--phone", "12")
    assert r.returncode == 2 and "phone: must be a phone number" in r.stderr
    ok = _cli(tmp_path, "subscriber", "add", "--code", "ENK-1", "--name", "K", "--phone", "0991234567")
    assert ok.returncode == 0, ok.stderr
