"""docs/admin.md's commands, run as written: the first super administrator and a cashier, who then log
in to the back office with the roles the page says."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from admintest import AdminClient
from apitest import TestClient

from api.app import create_app
from api.keystore import Kek
from api.service import Service
from api.settings import Settings

DOC = Path(__file__).parents[2] / "docs" / "admin.md"
KEK_HEX = "42" * 32
PASSWORD = "a long password"


def test_the_documented_account_commands_make_working_accounts(tmp_path: Path) -> None:
    block = next(
        b for b in re.findall(r"```sh\n(.*?)```", DOC.read_text(), flags=re.S) if "create-superuser" in b
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NGUVU_") and k != "DATABASE_URL"}
    env.update(NGUVU_DATA_DIR=str(tmp_path), NGUVU_KEK=KEK_HEX, NGUVU_ADMIN_PASSWORD=PASSWORD)
    emails = {}
    for line in block.strip().splitlines():
        argv = shlex.split(line)
        assert argv[:2] == ["nguvu", "admin"], line
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", *argv[1:]],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        role = argv[argv.index("--role") + 1] if "--role" in argv else "superadmin"
        emails[role] = argv[argv.index("--email") + 1]
    assert set(emails) == {"superadmin", "cashier"}

    settings = Settings(kek=Kek.from_hex(KEK_HEX), data_dir=tmp_path, run_workers=False)
    with TestClient(create_app(settings, service=Service(settings))) as client:
        web = AdminClient(client, {})
        assert web.login_as(emails["cashier"], PASSWORD).status_code == 303
        assert web.get("/admin/accounts").status_code == 403  # only the super administrator's page
        assert web.get("/admin/sales").status_code == 200
        web.logout()
        assert web.login_as(emails["superadmin"], PASSWORD).status_code == 303
        accounts = web.get("/admin/accounts")
        assert accounts.status_code == 200 and emails["cashier"] in accounts.text


def test_every_vendored_asset_has_its_version_source_and_licence_recorded() -> None:
    static = Path(__file__).parents[2] / "api" / "admin" / "static"
    record = (static / "VENDORED.md").read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([^`]+)` \|.*$", record, flags=re.M)}
    for path in static.iterdir():
        if path.name == "VENDORED.md" or path.name.endswith(".LICENSE.txt"):
            continue
        assert path.name in rows, f"{path.name} is not recorded in VENDORED.md"
    htmx = (static / "htmx.min.js").read_bytes()
    version = re.search(rb'version:"([0-9.]+)"', htmx)
    assert version and f"| {version.group(1).decode()} |" in rows["htmx.min.js"]
    assert hashlib.sha256(htmx).hexdigest() in rows["htmx.min.js"]
    assert (static / "htmx.LICENSE.txt").read_text().strip()
