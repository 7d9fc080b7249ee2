"""Helpers of the back office's page tests (a unique module name: tests/ directories have no __init__)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
from apitest import TestClient
from sqlalchemy import Engine

from api.actors import Actor
from api.db import transaction
from api.usecases import accounts as account_cases

PASSWORD = "correct horse battery"
# role -> (email, name): the names carry characters a template must escape.
ACCOUNTS = {
    "superadmin": ("super@enk.cd", "Jeanne <b>Kahindo</b>"),
    "admin": ("admin@enk.cd", "Patrick Mumbere"),
    "cashier": ("cashier@enk.cd", "Esther Kavira"),
}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def make_accounts(engine: Engine) -> dict[str, int]:
    ids: dict[str, int] = {}
    with transaction(engine) as s:
        for role, (email, name) in ACCOUNTS.items():
            row = account_cases.create(
                s,
                Actor.cli(),
                account_cases.AccountInput(email=email, name=name, role=role, password=PASSWORD),
            )
            ids[role] = int(row.id or 0)
    return ids


def csrf_of(response: httpx.Response) -> str:
    """The CSRF token a page put in its forms (and in hx-headers)."""
    found = _CSRF.search(response.text) or re.search(r'"X-CSRF-Token": "([^"]+)"', response.text)
    assert found, f"no CSRF token on {response.url}"
    return found.group(1)


@dataclass
class AdminClient:
    client: TestClient
    ids: dict[str, int]

    def login(self, role: str, password: str = PASSWORD) -> httpx.Response:
        return self.login_as(ACCOUNTS[role][0], password)

    def login_as(self, email: str, password: str) -> httpx.Response:
        page = self.client.get("/admin/login")
        return self.client.post(
            "/admin/login",
            data={"email": email, "password": password, "csrf": csrf_of(page)},
            follow_redirects=False,
        )

    def csrf(self, path: str = "/admin/password") -> str:
        return csrf_of(self.client.get(path))

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, **kw)

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kw: Any
    ) -> httpx.Response:
        """POST a form with the page's CSRF token (unless csrf=False), without following redirects."""
        form = dict(data or {})
        if csrf:
            form["csrf"] = self.csrf()
        kw.setdefault("follow_redirects", False)
        return self.client.post(path, data=form, **kw)

    def logout(self) -> httpx.Response:
        return self.post("/admin/logout")
