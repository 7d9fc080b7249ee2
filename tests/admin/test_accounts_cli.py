"""`nguvu admin create` makes an account of any role through the same use-case as the Administrators
page (one rule for emails, roles and passwords)."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from api.db import make_engine, reading
from api.models import Administrator
from api.passwords import verify
from cli.main import app


def test_create_a_cashier_from_the_cli(tmp_path: Path) -> None:
    env = {
        "NGUVU_KEK": secrets.token_hex(32),
        "NGUVU_DATA_DIR": str(tmp_path),
        "NGUVU_ADMIN_PASSWORD": "a long password",
        "DATABASE_URL": "",
    }
    runner = CliRunner()
    args = ["admin", "create", "--email", "Caisse@ENK.cd", "--name", "Esther", "--role", "cashier"]
    done = runner.invoke(app, args, env=env)
    assert done.exit_code == 0, done.output
    again = runner.invoke(app, [*args[:-1], "king"], env=env)
    assert again.exit_code != 0 and "role" in again.output and "already used" in again.output
    engine = make_engine(f"sqlite:///{tmp_path / 'nguvu.db'}")
    with reading(engine) as s:
        row = s.scalars(select(Administrator)).one()
    engine.dispose()
    assert (row.email, row.role) == ("caisse@enk.cd", "cashier")
    assert row.password_hash.startswith("$argon2id$") and verify(row.password_hash, "a long password")
