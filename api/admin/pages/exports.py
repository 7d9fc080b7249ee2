"""CSV exports of payments and tokens for a range of local days, streamed.

The response is written while it is read: batches of BATCH rows, each read in its own short session by
the same keyset listing the pages use (queries.payments / queries.tokens), so a month of a large
utility never sits in memory and no transaction stays open during a slow download. Columns hold what the
pages show: never a key (the listings carry no key column at all).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from api.admin.render import render
from api.admin.routing import MANAGERS, AdminRoute
from api.db import reading
from api.pricing import plain
from api.queries import payments as payment_queries
from api.queries import tokens as token_queries
from api.queries.dashboard import day_bounds
from api.service import Service

BATCH = 500
MAX_DAYS = 366
KINDS = ("payments", "tokens")
PAYMENT_COLUMNS = (
    "id", "created_at", "reference", "channel", "provider", "provider_txn_id", "status", "reason",
    "msisdn", "meter", "customer_code", "amount", "currency", "paid_amount", "created_by",
)  # fmt: skip
TOKEN_COLUMNS = (
    "id", "created_at", "meter", "kind", "token", "tid", "units", "amount", "currency", "vat",
    "issued_by", "payment_reference", "sms_status", "push_status", "push_result",
)  # fmt: skip
# A cell a spreadsheet would run as a formula starts with one of these (a phone's "+243..." is digits).
FORMULA_START = ("=", "@", "\t", "\r")


def _cell(value: object, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat(timespec="seconds")
    if hasattr(value, "is_finite"):  # Decimal
        return plain(value)  # type: ignore[arg-type]
    text = str(value)
    risky = text.startswith(FORMULA_START) or (text[:1] in "+-" and not text[1:2].isdigit())
    return "'" + text if risky and text else text


def parse_range(params: Any) -> tuple[dict[str, str], dict[str, str], tuple[date, date] | None]:
    """(values, errors, (first day, last day)) from the query string; both days required, inclusive."""
    values = {name: str(params.get(name) or "").strip()[:10] for name in ("kind", "from", "to")}
    errors: dict[str, str] = {}
    days: dict[str, date] = {}
    if values["kind"] and values["kind"] not in KINDS:
        errors["kind"] = "invalid_choice"
    for name in ("from", "to"):
        if not values[name]:
            errors[name] = "required"
            continue
        try:
            days[name] = date.fromisoformat(values[name])
        except ValueError:
            errors[name] = "invalid_date"
    if not errors and days["to"] < days["from"]:
        errors["to"] = "before_start"
    elif not errors and (days["to"] - days["from"]).days >= MAX_DAYS:
        errors["to"] = "range_too_long"
    return values, errors, (days["from"], days["to"]) if not errors else None


def _rows(
    service: Service,
    read: Callable[[Any, str | None], Any],
    columns: Sequence[str],
    row_of: Callable[[Any], Sequence[object]],
) -> Iterator[str]:
    """The CSV text, a header then one chunk per batch; each batch in its own short read."""
    zone = service.settings.zone
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    cursor: str | None = None
    while True:
        with reading(service.engine) as session:
            page = read(session, cursor)
        for item in page.items:
            writer.writerow([_cell(v, zone) for v in row_of(item)])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        cursor = page.next_cursor
        if cursor is None:
            return


def _payment_row(p: payment_queries.PaymentView) -> Sequence[object]:
    return (
        p.id, p.created_at, p.reference, p.channel, p.provider, p.provider_txn_id, p.status.value, p.reason,
        p.msisdn, p.meter_drn, p.customer_code, p.amount, p.currency, p.paid_amount, p.created_by,
    )  # fmt: skip


def _token_row(t: token_queries.TokenView) -> Sequence[object]:
    return (
        t.id, t.created_at, t.meter_drn, t.kind, t.token, t.tid, t.units, t.amount, t.currency, t.vat,
        t.issued_by, t.payment_reference, t.sms_status, t.push_status, t.push_result,
    )  # fmt: skip


def form(request: Request) -> Response:
    service: Service = request.app.state.service
    today = service.clock().astimezone(service.settings.zone).date()
    values = {"kind": "payments", "from": (today - timedelta(days=30)).isoformat(), "to": today.isoformat()}
    return _form(request, values, {})


def _form(request: Request, values: dict[str, str], errors: dict[str, str]) -> Response:
    status = 422 if errors else 200
    return render(request, "payments/exports.html", status_code=status, values=values, errors=errors)


def download(request: Request) -> Response:
    service: Service = request.app.state.service
    kind = request.path_params["kind"]
    values, errors, days = parse_range(request.query_params)
    if kind not in KINDS:
        errors["kind"] = "invalid_choice"
    if errors or days is None:
        return _form(request, {**values, "kind": kind if kind in KINDS else ""}, errors)
    since = day_bounds(days[0], service.settings.zone)[0]
    until = day_bounds(days[1], service.settings.zone)[1]
    if kind == "payments":
        filters = payment_queries.PaymentFilter(since=since, until=until)
        body = _rows(
            service,
            lambda s, c: payment_queries.listing(s, filters, c, BATCH),
            PAYMENT_COLUMNS,
            _payment_row,
        )
    else:
        token_filters = token_queries.TokenFilter(since=since, until=until)
        body = _rows(
            service,
            lambda s, c: token_queries.listing(s, token_filters, c, BATCH),
            TOKEN_COLUMNS,
            _token_row,
        )
    name = f"nguvu-{kind}-{days[0].isoformat()}-{days[1].isoformat()}.csv"
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


ROUTES = [
    AdminRoute("/exports", form, roles=MANAGERS, name="exports"),
    AdminRoute("/exports/{kind}.csv", download, roles=MANAGERS, name="export"),
]
