"""The audit log (super administrator and administrators): who did what to which row, before → after,
filtered by person, action, subject and local dates, newest first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from api.admin import i18n
from api.admin.render import render
from api.admin.routing import MANAGERS, AdminRoute
from api.db import reading
from api.errors import InvalidInput
from api.queries import audit as audit_queries

PAGE_SIZE = 50


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


def _local_day(value: str, zone: ZoneInfo, *, end: bool) -> datetime | None:
    """The start of a local day (or of the next one, for an inclusive `until`), as an aware datetime."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("dates are written YYYY-MM-DD", code="invalid_query") from None
    return datetime.combine(day + timedelta(days=1) if end else day, time(), tzinfo=zone)


def _changes(detail: str) -> tuple[list[Change], str]:
    """The fields an entry changed (before → after) and its note."""
    if not detail:
        return [], ""
    data: dict[str, Any] = json.loads(detail)
    before, after = data.get("before") or {}, data.get("after") or {}
    fields = sorted(set(before) | set(after))
    shown = [Change(k, _plain(before.get(k)), _plain(after.get(k))) for k in fields]
    return shown, str(data.get("note", ""))


def _plain(value: object) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def index(request: Request) -> Response:
    q = request.query_params
    values = {k: q.get(k, "").strip() for k in ("actor", "action", "subject", "since", "until")}
    zone = request.app.state.service.settings.zone
    errors: dict[str, str] = {}
    bounds: dict[str, datetime | None] = {}
    for name in ("since", "until"):
        try:
            bounds[name] = _local_day(values[name], zone, end=name == "until")
        except InvalidInput:
            errors[name] = "invalid_date"
            bounds[name] = None
    f = audit_queries.AuditFilter(
        values["actor"][:80], values["action"][:40], values["subject"][:80], **bounds
    )
    with reading(request.app.state.service.engine) as s:
        page = audit_queries.listing(s, f, q.get("cursor") or None, PAGE_SIZE)
        actions = audit_queries.actions(s)
    entries = [(e, *_changes(e.detail)) for e in page.items]
    return render(
        request,
        "audit/index.html",
        entries=entries,
        next_cursor=page.next_cursor,
        values=values,
        errors=errors,
        action_options=[("", i18n.text(request.state.lang, "audit.any_action"))] + [(a, a) for a in actions],
        query_without_cursor=urlencode({k: v for k, v in values.items() if v}),
    )


ROUTES = [AdminRoute("/audit", index, roles=MANAGERS, menu="nav.audit", order=95)]
