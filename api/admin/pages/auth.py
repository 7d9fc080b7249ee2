"""Log in, log out, change one's own password."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.admin import auth, sessions
from api.admin.render import nav_for, render
from api.admin.routing import EVERYONE, AdminRoute
from api.db import transaction
from api.errors import FieldErrors
from api.usecases import accounts


def _form_text(request: Request, name: str) -> str:
    value = request.state.form.get(name) if request.state.form is not None else None
    return value if isinstance(value, str) else ""


def _safe_next(value: str | None) -> str | None:
    # Only a path inside the back office: never an absolute URL an attacker put in the link.
    if value and value.startswith("/admin/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


def home_for(request: Request) -> str:
    """Where an account lands: the first menu entry its role may open."""
    entries = nav_for(request)
    return entries[0][0] if entries else "/admin/password"


def login_page(request: Request) -> Response:
    if request.state.admin is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")) or home_for(request), 303)
    return render(request, "auth/login.html", email="", next=request.query_params.get("next", ""))


def login_submit(request: Request) -> Response:
    email = _form_text(request, "email")
    target = _safe_next(_form_text(request, "next"))
    address = request.client.host if request.client else "unknown"
    service = request.app.state.service
    try:
        result = auth.login(service, email, _form_text(request, "password"), address)
    except auth.LoginRefused as refused:
        key = "auth.locked" if refused.until else "auth.refused"
        return render(
            request,
            "auth/login.html",
            status_code=401,
            email=email,
            next=target or "",
            refused=key,
            until=refused.until,
        )
    request.state.session_started = result.secret
    return RedirectResponse(target or "/admin/", status_code=303)


def logout(request: Request) -> Response:
    secret = request.state.session_secret
    if secret is not None:
        auth.logout(request.app.state.service, request.state.admin, secret)
    request.state.session_ended = True
    return RedirectResponse("/admin/login?done=logged_out", status_code=303)


def password_page(request: Request) -> Response:
    return render(request, "auth/password.html", errors={})


def password_submit(request: Request) -> Response:
    try:
        with transaction(request.app.state.service.engine) as s:
            accounts.change_password(
                s,
                request.state.actor,
                int(request.state.admin.id),
                current=_form_text(request, "current"),
                new=_form_text(request, "new"),
                repeat=_form_text(request, "repeat"),
                keep_session=sessions.hash_id(request.state.session_secret),
            )
    except FieldErrors as exc:
        return render(request, "auth/password.html", status_code=422, errors=exc.errors)
    return RedirectResponse("/admin/password?done=password_changed", status_code=303)


ROUTES = [
    AdminRoute("/login", login_page, public=True, name="admin-login"),
    AdminRoute("/login", login_submit, methods=("POST",), public=True),
    AdminRoute("/logout", logout, methods=("POST",), roles=EVERYONE),
    AdminRoute("/password", password_page, roles=EVERYONE),
    AdminRoute("/password", password_submit, methods=("POST",), roles=EVERYONE),
]
