"""Administrators (super administrator only): create accounts, change role, reset a password,
deactivate or reactivate, and lift login locks (of an account or of a client address)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.admin import i18n, throttle
from api.admin.render import render
from api.admin.routing import SUPERADMIN, AdminRoute
from api.db import reading, transaction
from api.errors import Conflict, FieldErrors
from api.queries import accounts as account_queries
from api.usecases import accounts

FIELDS = ("email", "name", "post_name", "position", "role")


def _text(request: Request, name: str) -> str:
    value = request.state.form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _page(
    request: Request, *, status_code: int = 200, values: dict[str, str] | None = None, **extra: Any
) -> Response:
    service = request.app.state.service
    now = service.clock()
    with reading(service.engine) as s:
        rows = account_queries.listing(s, now)
        locks = [lock for lock in throttle.locks(s, now) if lock.key.startswith("address:")]
    extra.setdefault("errors", {})
    return render(
        request,
        "accounts/index.html",
        status_code=status_code,
        accounts=rows,
        address_locks=locks,
        roles=accounts.ROLES,
        role_options=[(r, i18n.text(request.state.lang, f"role.{r}")) for r in accounts.ROLES],
        values=values or {"role": "cashier"},
        **extra,
    )


def index(request: Request) -> Response:
    return _page(request)


def create(request: Request) -> Response:
    values = {name: _text(request, name) for name in FIELDS}
    data = accounts.AccountInput(password=_text(request, "password"), **values)
    try:
        with transaction(request.app.state.service.engine) as s:
            accounts.create(s, request.state.actor, data)
    except FieldErrors as exc:
        return _page(request, status_code=422, values=values, errors=exc.errors)
    return RedirectResponse("/admin/accounts?done=account_created", status_code=303)


def _change(request: Request, done: str, action: Callable[[Session], object]) -> Response:
    try:
        with transaction(request.app.state.service.engine) as s:
            action(s)
    except FieldErrors as exc:
        return _page(request, status_code=422, row_errors={request.path_params.get("id"): exc.errors})
    except Conflict as exc:
        return _page(request, status_code=409, problem=str(exc))
    return RedirectResponse(f"/admin/accounts?done={done}", status_code=303)


def set_role(request: Request) -> Response:
    admin_id: int = request.path_params["id"]
    role = _text(request, "role")
    return _change(
        request, "role_changed", lambda s: accounts.set_role(s, request.state.actor, admin_id, role)
    )


def set_active(request: Request) -> Response:
    admin_id: int = request.path_params["id"]
    active = _text(request, "active") == "1"
    done = "account_reactivated" if active else "account_deactivated"
    return _change(request, done, lambda s: accounts.set_active(s, request.state.actor, admin_id, active))


def reset_password(request: Request) -> Response:
    admin_id: int = request.path_params["id"]
    new = _text(request, "password")
    return _change(
        request, "password_reset", lambda s: accounts.reset_password(s, request.state.actor, admin_id, new)
    )


def unlock(request: Request) -> Response:
    key = _text(request, "key")
    return _change(request, "unlocked", lambda s: accounts.unlock(s, request.state.actor, key))


ROUTES = [
    AdminRoute("/accounts", index, roles=SUPERADMIN, menu="nav.accounts", order=90),
    AdminRoute("/accounts", create, methods=("POST",), roles=SUPERADMIN),
    AdminRoute("/accounts/{id:int}/role", set_role, methods=("POST",), roles=SUPERADMIN),
    AdminRoute("/accounts/{id:int}/active", set_active, methods=("POST",), roles=SUPERADMIN),
    AdminRoute("/accounts/{id:int}/password", reset_password, methods=("POST",), roles=SUPERADMIN),
    AdminRoute("/accounts/unlock", unlock, methods=("POST",), roles=SUPERADMIN),
]
