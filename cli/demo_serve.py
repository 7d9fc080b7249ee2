"""`nguvu demo --serve`: after the purchase, the service keeps running on the demo's data, with an
account of the back office made for the demo, until Ctrl-C.

The account is a super administrator (a newcomer sees every page); its password is drawn once per data
directory and kept next to the demo's keys (mode 0600), so a second run on the same data logs in alike.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from sqlalchemy import select
from sqlmodel import col

from api.actors import Actor
from api.db import transaction
from api.models import Administrator
from api.registry import create_admin
from api.service import Service

DEMO_EMAIL = "demo@nguvu.example"


def demo_login(service: Service, data_dir: Path) -> tuple[str, str]:
    """The demo account's email and password, creating the account on the first run."""
    secret_file = data_dir / "demo-admin-password"
    if not secret_file.exists():
        # Created with mode 0600 from the start: the password is never readable by others, even briefly.
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(12))
    password = secret_file.read_text().strip()
    with transaction(service.engine) as s:
        found = s.scalars(select(Administrator).where(col(Administrator.email) == DEMO_EMAIL)).first()
        if found is None:
            create_admin(
                s,
                actor=Actor.cli(),
                email=DEMO_EMAIL,
                password=password,
                name="Démo",
                role="superadmin",
                position="Compte de démonstration",
            )
    return DEMO_EMAIL, password


def keep_serving(service: Service, base_url: str, data_dir: Path) -> None:
    """Print where to look and how to log in, then serve until interrupted (Ctrl-C)."""
    email, password = demo_login(service, data_dir)
    print(
        f"\nThe back office: {base_url}/admin/\n"
        f"  login {email}  password {password}\n"
        "  the dashboard shows today's two sales; Abonnés > ENK-0001 shows the payment and its token.\n"
        "Serving the demo's data until Ctrl-C.",
        flush=True,
    )
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopped", flush=True)
