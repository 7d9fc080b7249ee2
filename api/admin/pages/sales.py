"""Counter sale (cash): find the meter, amount and currency -> units preview from the tariff in force ->
confirm -> the token, a printable receipt (A4 or 80 mm thermal) and the SMS; reprint and resend.

The confirm form carries an idempotency key made when the preview is shown, so a double click or a
resubmitted form finds the first sale (one payment, one token). Everything goes through
api.usecases.sales: the sale is a manual payment vended by the providers' vend path.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.admin.render import render
from api.admin.routing import EVERYONE, AdminRoute
from api.db import reading, transaction
from api.errors import Conflict, FieldErrors, InvalidInput
from api.models import Meter, PaymentStatus
from api.pricing import CURRENCIES
from api.queries import meters as meter_queries
from api.queries import payments as payment_queries
from api.queries import subscribers as subscriber_queries
from api.queries import tokens as token_queries
from api.service import Service
from api.usecases import sales

FIELDS = ("meter", "amount", "currency")
SEARCH_RESULTS = 8
LAYOUTS = ("a4", "thermal")


def _values(source: Any) -> dict[str, str]:
    return {name: str(source.get(name) or "").strip()[:200] for name in FIELDS}


def _form(
    request: Request, values: dict[str, str], errors: dict[str, str], status_code: int = 200
) -> Response:
    return render(
        request,
        "sales/new.html",
        status_code=status_code,
        values=values,
        errors=errors,
        currency_options=[(c, c) for c in CURRENCIES],
    )


def new(request: Request) -> Response:
    """The sale form; `?meter=` fills the meter (a search result, the subscriber page's link)."""
    values = _values(request.query_params)
    values["currency"] = values["currency"] or CURRENCIES[0]
    return _form(request, values, {})


def find(request: Request) -> Response:
    """htmx: subscribers and their meters matching what was typed (name, code, phone, meter number)."""
    text = (request.query_params.get("q") or "").strip()
    rows: tuple[subscriber_queries.SubscriberRow, ...] = ()
    if len(text) >= 2:
        try:
            with reading(request.app.state.service.engine) as s:
                rows = subscriber_queries.search(s, text, limit=SEARCH_RESULTS).items
        except InvalidInput:
            rows = ()
    return render(request, "sales/_results.html", rows=rows, q=text)


def preview(request: Request) -> Response:
    """Units from the tariff in force for this meter; the confirm form with a fresh idempotency key."""
    service: Service = request.app.state.service
    values = _values(request.state.form)
    try:
        with reading(service.engine) as s:
            quote = sales.preview(s, values["meter"], values["amount"], values["currency"], service.clock())
            meter = meter_queries.find(s, values["meter"])
            assert meter is not None
            holder = meter_queries.holder(s, meter)
    except FieldErrors as exc:
        return _form(request, values, exc.errors, status_code=422)
    return render(
        request,
        "sales/confirm.html",
        values=values,
        quote=quote,
        meter=meter,
        holder=holder,
        key=secrets.token_urlsafe(24),
    )


async def confirm(request: Request) -> Response:
    """Make the sale (once per key) and show its receipt; a held sale goes to its payment."""
    service: Service = request.app.state.service
    form = request.state.form
    values = _values(form)
    key = str(form.get("key") or "")
    try:
        result = await sales.counter_sale(
            service, request.state.actor, values["meter"], values["amount"], values["currency"], key
        )
    except FieldErrors as exc:
        return _form(request, values, exc.errors, status_code=422)
    except Conflict as exc:
        return _form(request, values, {"meter": exc.code}, status_code=409)
    if result.token_id is not None:
        return RedirectResponse(f"/admin/sales/{result.token_id}?done=sale_made", status_code=303)
    if result.status is PaymentStatus.HELD:
        return RedirectResponse(f"/admin/payments/{result.payment_id}?done=sale_held", status_code=303)
    # Another request with the same key is still vending it: its payment page shows the token soon.
    return RedirectResponse(f"/admin/payments/{result.payment_id}?done=sale_pending", status_code=303)


def _receipt(request: Request, token: token_queries.TokenView, **extra: Any) -> Response:
    service: Service = request.app.state.service
    with reading(service.engine) as s:
        meter = s.get(Meter, token.meter_id)  # deleted or not: its old receipts still print
        holder = meter_queries.holder(s, meter) if meter else None
        payment = payment_queries.get(s, token.payment_id) if token.payment_id else None
    layout = request.query_params.get("layout")
    return render(
        request,
        "sales/receipt.html",
        token=token,
        meter=meter,
        holder=holder,
        payment=payment,
        cashier=_cashier(payment, token),
        layout=layout if layout in LAYOUTS else "a4",
        layouts=LAYOUTS,
        **extra,
    )


def _cashier(payment: payment_queries.PaymentView | None, token: token_queries.TokenView) -> str:
    """Who took the money: the payment's recorder (the cashier's actor label without its id)."""
    label = (payment.created_by if payment else "") or token.issued_by
    kind, _, rest = label.partition(":")
    return rest.partition(" ")[2] or label if kind == "admin" else label


def receipt(request: Request) -> Response:
    with reading(request.app.state.service.engine) as s:
        token = token_queries.get(s, request.path_params["token"])  # NotFound -> 404 page
    return _receipt(request, token)


def reprint(request: Request) -> Response:
    """The receipt again, the reprint audited."""
    with transaction(request.app.state.service.engine) as s:
        token = sales.reprint(s, request.state.actor, request.path_params["token"])
    return _receipt(request, token, reprinted=True)


def resend(request: Request) -> Response:
    token_id: int = request.path_params["token"]
    try:
        sales.resend_sms(request.app.state.service, request.state.actor, token_id)
    except Conflict:
        return RedirectResponse(f"/admin/sales/{token_id}?done=sms_not_sent", status_code=303)
    return RedirectResponse(f"/admin/sales/{token_id}?done=sms_queued", status_code=303)


ROUTES = [
    AdminRoute("/sales", new, roles=EVERYONE, name="sales", menu="nav.sales", order=30),
    AdminRoute("/sales/find", find, roles=EVERYONE),
    AdminRoute("/sales/preview", preview, methods=("POST",), roles=EVERYONE),
    AdminRoute("/sales/confirm", confirm, methods=("POST",), roles=EVERYONE),
    AdminRoute("/sales/{token:int}", receipt, roles=EVERYONE),
    AdminRoute("/sales/{token:int}/reprint", reprint, methods=("POST",), roles=EVERYONE),
    AdminRoute("/sales/{token:int}/resend", resend, methods=("POST",), roles=EVERYONE),
]
