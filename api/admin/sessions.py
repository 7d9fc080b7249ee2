"""Server-side sessions of the back office.

The cookie carries a random id from `secrets` and its HMAC (so a forged or altered cookie is dropped
before any database look-up); the database keeps only the id's SHA-256. A session ends at logout, after
`admin_idle_minutes` without a request, `admin_session_hours` after login, or at once when its account is
deactivated (the account is checked on every request). A visitor without a session gets an anonymous
id in another cookie, which seeds the CSRF token of the login form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import Response

from api.db import reading, transaction
from api.models import Administrator, AdminSession

if TYPE_CHECKING:
    from api.service import Service

COOKIE = "nguvu_admin"
ANON_COOKIE = "nguvu_anon"
COOKIE_PATH = "/admin"
TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often (one write per minute)


@dataclass(frozen=True)
class Visitor:
    """Who is asking: the account (a detached Administrator row) or None, and the CSRF seed."""

    admin: Administrator | None
    seed: str
    new_anon: bool = False  # the anonymous id was made for this request: set its cookie
    stale: bool = False  # the request carried a session cookie that is no longer valid: clear it


def _key(service: Service, purpose: str) -> bytes:
    return service.settings.kek.derive(f"admin-{purpose}")


def csrf_key(service: Service) -> bytes:
    return _key(service, "csrf")


def cookie_value(service: Service, secret: str) -> str:
    """The session cookie for a session id (`start()` returns the id)."""
    return _sign(service, secret)


def _sign(service: Service, value: str) -> str:
    mac = hmac.new(_key(service, "cookie"), value.encode(), hashlib.sha256).digest()
    return value + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _unsign(service: Service, raw: str | None) -> str | None:
    if not raw or "." not in raw:
        return None
    value = raw.rsplit(".", 1)[0]
    return value if hmac.compare_digest(_sign(service, value), raw) else None


def hash_id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def resolve(service: Service, raw_cookie: str | None, raw_anon: str | None = None) -> Visitor:
    """The visitor of a request, ending its session here if it has expired or its account is inactive."""
    secret = _unsign(service, raw_cookie)
    if secret is not None:
        admin = _live_admin(service, secret)
        if admin is not None:
            return Visitor(admin, seed=secret)
    anon = _unsign(service, raw_anon)
    stale = raw_cookie is not None
    if anon is None:
        return Visitor(None, seed=secrets.token_urlsafe(32), new_anon=True, stale=stale)
    return Visitor(None, seed=anon, stale=stale)


def _live_admin(service: Service, secret: str) -> Administrator | None:
    now = service.clock()
    idle = timedelta(minutes=service.settings.admin_idle_minutes)
    with reading(service.engine) as s:
        row = s.scalars(select(AdminSession).where(col(AdminSession.id_hash) == hash_id(secret))).first()
        if row is None:
            return None
        admin = s.get(Administrator, row.administrator_id)
        alive = admin is not None and admin.active and now < row.expires_at and now < row.last_seen_at + idle
        touch = alive and now - row.last_seen_at >= TOUCH_EVERY
        session_id = row.id
        if admin is not None:
            s.expunge(admin)
    if not alive:
        with transaction(service.engine) as s:
            s.execute(delete(AdminSession).where(col(AdminSession.id) == session_id))
        return None
    if touch:
        with transaction(service.engine) as s:
            live = s.get(AdminSession, session_id)
            if live is not None:
                live.last_seen_at = now
    return admin


def start(service: Service, admin_id: int, address: str) -> str:
    """A new session for the account (a new id at every login); returns the id for the cookie."""
    secret = secrets.token_urlsafe(32)
    now = service.clock()
    idle = timedelta(minutes=service.settings.admin_idle_minutes)
    with transaction(service.engine) as s:
        # Sessions never seen again (a closed browser) are dropped here, at the next login of anyone.
        s.execute(
            delete(AdminSession).where(
                (col(AdminSession.expires_at) <= now) | (col(AdminSession.last_seen_at) <= now - idle)
            )
        )
        s.add(
            AdminSession(
                id_hash=hash_id(secret),
                administrator_id=admin_id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(hours=service.settings.admin_session_hours),
                address=address[:64],
            )
        )
    return secret


def end(service: Service, secret: str) -> None:
    with transaction(service.engine) as s:
        s.execute(delete(AdminSession).where(col(AdminSession.id_hash) == hash_id(secret)))


def remember(response: Response, request: Request, visitor: Visitor, service: Service) -> None:
    """Write the cookies the request's outcome calls for (login, logout, a new anonymous id)."""
    secure = service.settings.public_base_url.startswith("https://")
    opts = dict(path=COOKIE_PATH, httponly=True, samesite="lax", secure=secure)
    started: str | None = getattr(request.state, "session_started", None)
    if started is not None:
        hours = service.settings.admin_session_hours
        response.set_cookie(COOKIE, _sign(service, started), max_age=hours * 3600, **opts)  # type: ignore[arg-type]
    elif getattr(request.state, "session_ended", False) or visitor.stale:
        response.delete_cookie(COOKIE, **opts)  # type: ignore[arg-type]
    if visitor.new_anon:
        response.set_cookie(ANON_COOKIE, _sign(service, visitor.seed), **opts)  # type: ignore[arg-type]
