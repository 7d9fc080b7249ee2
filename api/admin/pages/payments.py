"""Payments: the filtered list (status, provider, currency, local date range, phone; keyset pages), one
payment, and the review of a held payment (vend it, or mark it for refund), audited by the use-case."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.admin import i18n
from api.admin.render import render
from api.admin.routing import EVERYONE, MANAGERS, AdminRoute
from api.db import reading
from api.errors import Conflict, FieldErrors, InvalidInput, VendRefused
from api.models import PaymentStatus, Token
from api.pricing import CURRENCIES
from api.queries import payments as payment_queries
from api.queries import tokens as token_queries
from api.queries.dashboard import day_bounds
from api.service import Service
from api.usecases import payments as payment_cases

PAGE_SIZE = 50
PROVIDER = re.compile(r"[a-z0-9_-]{1,16}")
FILTERS = ("status", "provider", "currency", "from", "to", "phone")
RESOLUTIONS = tuple(r.value for r in payment_cases.Resolution)
STATUS_CLASS = {
    PaymentStatus.VENDED: "ok",
    PaymentStatus.FAILED: "error",
    PaymentStatus.EXPIRED: "error",
    PaymentStatus.HELD: "warn",
    PaymentStatus.REFUND: "warn",
    PaymentStatus.QUEUED: "",
    PaymentStatus.PENDING: "",
}


def _options(request: Request) -> dict[str, Any]:
    """The selects of the filter form, in the page's language; and the badge colour of each status."""
    lang = request.state.lang
    statuses = [(s.value, i18n.text(lang, f"payment_status.{s.value}")) for s in PaymentStatus]
    return {
        "status_options": [("", i18n.text(lang, "payments.any")), *statuses],
        "currency_options": [("", i18n.text(lang, "payments.any")), *((c, c) for c in CURRENCIES)],
        "status_class": {str(k): v for k, v in STATUS_CLASS.items()},
    }


@dataclass(frozen=True)
class Query:
    values: dict[str, str]  # what the form shows back
    errors: dict[str, str]
    filters: payment_queries.PaymentFilter
    cursor: str | None


def _local_day(text: str) -> date:
    return date.fromisoformat(text)  # ValueError for anything but YYYY-MM-DD


def parse_filters(params: QueryParams, service: Service) -> Query:
    """The list's filters from the query string; each bad one becomes a field error (and no rows)."""
    values = {name: (params.get(name) or "").strip()[:200] for name in FILTERS}
    errors: dict[str, str] = {}
    if values["status"] and values["status"] not in {s.value for s in PaymentStatus}:
        errors["status"] = "invalid_choice"
    if values["currency"] and values["currency"] not in CURRENCIES:
        errors["currency"] = "invalid_choice"
    if values["provider"] and not PROVIDER.fullmatch(values["provider"]):
        errors["provider"] = "invalid"
    if len(values["phone"]) > payment_queries.MAX_FILTER:
        errors["phone"] = "too_long"
    elif values["phone"] and not any(c.isdigit() for c in values["phone"]):
        errors["phone"] = "invalid_phone"
    zone = service.settings.zone
    since = until = None
    for name in ("from", "to"):
        if not values[name]:
            continue
        try:
            day = _local_day(values[name])
        except ValueError:
            errors[name] = "invalid_date"
            continue
        start, end = day_bounds(day, zone)
        since, until = (start, until) if name == "from" else (since, end)
    if since and until and since >= until:
        errors["to"] = "before_start"
    filters = payment_queries.PaymentFilter(
        status=values["status"] or None,
        provider=values["provider"] or None,
        currency=values["currency"] or None,
        since=since,
        until=until,
        phone=values["phone"] or None,
    )
    return Query(values, errors, filters, params.get("cursor") or None)


def _next_link(query: Query, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    kept = [(k, v) for k, v in query.values.items() if v]
    return "?" + str(QueryParams([*kept, ("cursor", cursor)]))


def index(request: Request) -> Response:
    service: Service = request.app.state.service
    query = parse_filters(request.query_params, service)
    page: Any = None
    errors = dict(query.errors)
    if not errors:
        try:
            with reading(service.engine) as s:
                page = payment_queries.listing(s, query.filters, query.cursor, PAGE_SIZE)
        except InvalidInput as exc:
            errors["cursor" if exc.code == "invalid_cursor" else "status"] = exc.code
    return render(
        request,
        "payments/index.html",
        status_code=422 if errors else 200,
        values=query.values,
        errors=errors,
        page=page,
        next_link=_next_link(query, page.next_cursor if page else None),
        first_query=str(QueryParams([(k, v) for k, v in query.values.items() if v])),
        **_options(request),
    )


def _payment_id(request: Request) -> int:
    value: int = request.path_params["id"]
    return value


def _detail(request: Request, *, status_code: int = 200, **extra: Any) -> Response:
    service: Service = request.app.state.service
    with reading(service.engine) as s:
        payment = payment_queries.get(s, _payment_id(request))  # NotFound -> the 404 page
        token = _token_of(s, payment.id)
    extra.setdefault("errors", {})
    extra.setdefault("values", {})
    return render(
        request,
        "payments/detail.html",
        status_code=status_code,
        payment=payment,
        token=token,
        can_resolve=payment.status == PaymentStatus.HELD and request.state.admin.role in MANAGERS,
        resolutions=RESOLUTIONS,
        reason=_reason_text(request.state.lang, payment.reason),
        **_options(request),
        **extra,
    )


def _token_of(session: Session, payment_id: int) -> token_queries.TokenView | None:
    token_id = session.scalars(select(col(Token.id)).where(col(Token.payment_id) == payment_id)).first()
    return token_queries.get(session, token_id) if token_id is not None else None


def _reason_text(lang: str, reason: str) -> str:
    """Why a payment was held or failed, in words when the catalogue knows the code."""
    key = f"held_reason.{reason}"
    return i18n.text(lang, key) if reason and i18n.has(key) else reason


def detail(request: Request) -> Response:
    return _detail(request)


def resolve(request: Request) -> Response:
    """Resolve a held payment: `action` vend (issue its token now; `meter` when the payment named none)
    or refund; a note is required. The use-case validates, writes and audits."""
    service: Service = request.app.state.service
    form = request.state.form
    values = {name: str(form.get(name) or "").strip() for name in ("action", "note", "meter")}
    try:
        payment_cases.resolve_held(
            service,
            request.state.actor,
            _payment_id(request),
            values["action"],
            values["note"],
            meter_number=values["meter"] or None,
        )
    except FieldErrors as exc:
        return _detail(request, status_code=422, errors=exc.errors, values=values)
    except (Conflict, VendRefused) as exc:
        return _detail(request, status_code=exc.http_status, errors={}, values=values, problem=str(exc))
    done = "payment_vended" if values["action"] == "vend" else "payment_refund"
    return RedirectResponse(f"/admin/payments/{_payment_id(request)}?done={done}", status_code=303)


ROUTES = [
    AdminRoute("/payments", index, ("GET",), EVERYONE, name="payments", menu="nav.payments", order=40),
    AdminRoute("/payments/{id:int}", detail, ("GET",), EVERYONE, name="payment"),
    AdminRoute("/payments/{id:int}/resolve", resolve, ("POST",), MANAGERS, name="payment-resolve"),
]
