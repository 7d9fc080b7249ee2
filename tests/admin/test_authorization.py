"""The authorization matrix: every route under /admin, read from the app itself, against every role and
against no session. A route whose endpoint was not built by the guard (no rule) fails here, as does one
that lets a role in that its rule does not name, or keeps one out that it does."""

from __future__ import annotations

import re

import pytest
from admintest import AdminClient
from starlette.routing import Mount, Route

from api.admin import sessions
from api.admin.routing import REFUSED_HEADER, AdminRoute, Role
from api.app import create_app

NO_SUCH_ID = "999999"  # path parameters: nothing is found, so an allowed request changes nothing


def admin_routes(app: object) -> list[tuple[Route, AdminRoute]]:
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/admin")  # type: ignore[attr-defined]
    found = []
    for route in mount.routes:
        if isinstance(route, Mount) and route.path == "/static":
            continue  # CSS, htmx and licences: public by design
        assert isinstance(route, Route), f"/admin holds an unexpected {type(route).__name__} at {route}"
        rule = getattr(route.endpoint, "admin_route", None)
        assert isinstance(rule, AdminRoute), f"/admin{route.path} has no role rule"
        found.append((route, rule))
    return found


def concrete(path: str) -> str:
    return "/admin" + re.sub(r"{[^}]+}", NO_SUCH_ID, path)


def test_a_route_needs_a_rule() -> None:
    with pytest.raises(ValueError, match="role rule"):
        AdminRoute("/x", lambda r: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="role rule"):
        AdminRoute("/x", lambda r: None, roles=frozenset({Role.ADMIN}), public=True)  # type: ignore[arg-type,return-value]


def test_every_route_against_every_role(web: AdminClient, world) -> None:
    app = web.client.app
    routes = admin_routes(app)
    assert len(routes) >= 10
    service = world.service
    for route, rule in routes:
        for method in route.methods or ():
            if method == "HEAD":
                continue
            for role in [None, *Role]:
                answer = _ask(web, service, method, concrete(route.path), role)
                refused = answer.headers.get(REFUSED_HEADER)
                where = f"{method} /admin{route.path} as {role or 'nobody'}"
                if rule.public:
                    assert refused is None, where
                elif role is None:
                    assert refused == "login", where
                elif role in rule.roles:
                    assert refused is None and answer.status_code < 500, f"{where}: {answer.status_code}"
                else:
                    assert refused == "role" and answer.status_code == 403, where


def _ask(web: AdminClient, service: object, method: str, path: str, role: Role | None):  # type: ignore[no-untyped-def]
    client = type(web.client)(web.client.app)
    if role is not None:
        # A session made directly (no argon2 per request); a fresh one each time, so a request that ends
        # its own session (logout) cannot change the next answer.
        secret = sessions.start(service, web.ids[role.value], "matrix")  # type: ignore[arg-type]
        client.cookies.set(sessions.COOKIE, sessions.cookie_value(service, secret), path="/admin")  # type: ignore[arg-type]
    headers = {}
    if method != "GET":
        page = client.get("/admin/login")
        token = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
        assert token
        headers["X-CSRF-Token"] = token.group(1)
    return client.request(method, path, headers=headers, follow_redirects=False)


def test_the_admin_can_be_switched_off(world) -> None:
    object.__setattr__(world.settings, "admin_enabled", False)
    app = create_app(world.settings, service=world.service)
    assert not any(isinstance(r, Mount) and r.path == "/admin" for r in app.routes)
