"""Fixtures of the back office's page tests (Starlette test client): the service world of tests/api
(SQLite and PostgreSQL, the seeded subscriber and meters) plus one account per role.

The `engine` and `world` fixtures are the ones of tests/api/conftest.py, loaded under another module name
(that conftest is not importable as a package module), so both suites run on the same two databases.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_API_TESTS = Path(__file__).resolve().parent.parent / "api"
sys.path.insert(0, str(_API_TESTS))  # apitest, imported by that conftest
_spec = importlib.util.spec_from_file_location("api_tests_conftest", _API_TESTS / "conftest.py")
assert _spec is not None and _spec.loader is not None
api_conftest = importlib.util.module_from_spec(_spec)
sys.modules["api_tests_conftest"] = api_conftest
_spec.loader.exec_module(api_conftest)

from admintest import ACCOUNTS, AdminClient, make_accounts  # noqa: E402
from apitest import TestClient  # noqa: E402

from api.app import create_app  # noqa: E402

engine = api_conftest.engine
world = api_conftest.world
World = api_conftest.World


@pytest.fixture
def accounts(world: World) -> dict[str, int]:
    """One active account per role (see admintest.ACCOUNTS): role -> administrator id."""
    return make_accounts(world.service.engine)


@pytest.fixture
def web(world: World, accounts: dict[str, int]) -> Iterator[AdminClient]:
    """A test client of the whole app (REST, USSD and /admin) with helpers to log in as a role."""
    app = create_app(world.settings, service=world.service)
    with TestClient(app) as client:
        yield AdminClient(client, accounts)


__all__ = ["ACCOUNTS", "engine", "world"]
