"""Routes of the back office and the rule that guards each one.

Every page module exposes `ROUTES: list[AdminRoute]`. An `AdminRoute` names the roles that may open it
(or says it is public, which only the login page is); a route with neither cannot be built, so a page
cannot be added without deciding who may see it. `guard()` wraps each endpoint: it resolves the session,
refuses a visitor without one (to the login page) or with the wrong role (403), checks the CSRF token of
every state-changing request, and hands the endpoint `request.state.admin`, `.actor`, `.csrf`, `.lang`
and, for a POST, `.form`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from api.actors import Actor
from api.admin import csrf, i18n, sessions
from api.errors import NotFound, ServiceError

SAFE_METHODS = frozenset({"GET", "HEAD"})
# Set on every refusal by the guard (login, role, csrf), so tests tell it from a page's own answer.
REFUSED_HEADER = "X-Admin-Refused"


class Role(StrEnum):
    SUPERADMIN = "superadmin"
    ADMIN = "admin"
    CASHIER = "cashier"


EVERYONE = frozenset(Role)
MANAGERS = frozenset({Role.SUPERADMIN, Role.ADMIN})
SUPERADMIN = frozenset({Role.SUPERADMIN})

Endpoint = Callable[[Request], Awaitable[Response]] | Callable[[Request], Response]


@dataclass(frozen=True)
class AdminRoute:
    """`path` under /admin; `roles` who may open it; `public` only for pages a visitor needs to log in.
    The menu shows an entry (`menu`, a text key) to the accounts whose role may open the route."""

    path: str
    endpoint: Endpoint
    methods: tuple[str, ...] = ("GET",)
    roles: frozenset[Role] = frozenset()
    public: bool = False
    name: str | None = None
    menu: str = ""  # text key of its entry in the left menu ("" = not in the menu)
    order: int = 100  # position in the menu

    def __post_init__(self) -> None:
        if self.public == bool(self.roles):
            raise ValueError(f"admin route {self.path} needs a role rule (roles, or public for login only)")
        if not all(isinstance(r, Role) for r in self.roles):
            raise TypeError(f"admin route {self.path}: roles must be Role members")
        if not self.path.startswith("/"):
            raise ValueError(f"admin route {self.path} must start with /")


def starlette_route(route: AdminRoute) -> Route:
    return Route(route.path, guard(route), methods=list(route.methods), name=route.name)


def guard(route: AdminRoute) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint wrapped by its rule (see the module docstring)."""
    is_async = inspect.iscoroutinefunction(route.endpoint)

    async def guarded(request: Request) -> Response:
        service = request.app.state.service
        visitor = await run_in_threadpool(
            sessions.resolve,
            service,
            request.cookies.get(sessions.COOKIE),
            request.cookies.get(sessions.ANON_COOKIE),
        )
        lang = i18n.pick(request, service.settings.default_language)
        _set_state(request, visitor, lang)
        refusal = _refusal(route, request, visitor)
        if refusal is None and request.method not in SAFE_METHODS:
            form = await request.form()
            request.state.form = form
            supplied = request.headers.get(csrf.HEADER) or _text(form.get(csrf.FIELD))
            if not csrf.check(sessions.csrf_key(service), visitor.seed, supplied):
                refusal = _page_error(request, 403, "error.csrf", refused="csrf")
        response = refusal or await _call(route.endpoint, request, is_async)
        sessions.remember(response, request, visitor, service)
        i18n.remember(response, request)
        return response

    guarded.__name__ = getattr(route.endpoint, "__name__", "admin_endpoint")
    guarded.admin_route = route  # type: ignore[attr-defined]  # what the authorization test reads
    return guarded


def _set_state(request: Request, visitor: sessions.Visitor, lang: str) -> None:
    request.state.admin = visitor.admin
    request.state.actor = Actor.admin(visitor.admin) if visitor.admin is not None else None
    request.state.csrf = csrf.token(sessions.csrf_key(request.app.state.service), visitor.seed)
    request.state.lang = lang
    request.state.form = None
    request.state.session_secret = visitor.seed if visitor.admin is not None else None


def _refusal(route: AdminRoute, request: Request, visitor: sessions.Visitor) -> Response | None:
    if route.public:
        return None
    if visitor.admin is None:
        return _to_login(request)
    if visitor.admin.role not in route.roles:
        return _page_error(request, 403, "error.forbidden", refused="role")
    return None


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = "/admin/login?next=" + quote(target, safe="")
    if request.headers.get("HX-Request"):
        # htmx follows HX-Redirect with a full page load (a 303 would be swapped into the fragment).
        return Response(status_code=401, headers={"HX-Redirect": url, REFUSED_HEADER: "login"})
    if request.method in SAFE_METHODS:
        return RedirectResponse(url, status_code=303, headers={REFUSED_HEADER: "login"})
    return _page_error(request, 401, "error.login_needed", refused="login")


def _page_error(request: Request, status: int, key: str, refused: str = "") -> Response:
    from api.admin.render import render  # deferred: render's menu reads the routes built here

    headers = {REFUSED_HEADER: refused} if refused else None
    return render(request, "error.html", status_code=status, headers=headers, message_key=key)


async def _call(endpoint: Endpoint, request: Request, is_async: bool) -> Response:
    try:
        if is_async:
            result: Any = await endpoint(request)  # type: ignore[misc]
        else:
            result = await run_in_threadpool(endpoint, request)
    except NotFound:
        return _page_error(request, 404, "error.not_found")
    except ServiceError as exc:
        # Pages handle the refusals they expect (FieldErrors beside fields); anything else is shown whole.
        from api.admin.render import render

        return render(request, "error.html", status_code=exc.http_status, message=str(exc))
    assert isinstance(result, Response)
    return result


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
