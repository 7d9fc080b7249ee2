"""Tariffs: every row with its state (in force, scheduled, superseded, withdrawn), new terms in force
now or scheduled from a local date and time, and withdrawing a scheduled row (api.usecases.tariffs).
Counter sales, the USSD menu and the vend all price with the row in force (queries.tariffs.in_force)."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.admin import i18n
from api.admin.render import render
from api.admin.routing import EVERYONE, MANAGERS, AdminRoute
from api.db import reading, transaction
from api.errors import Conflict, FieldErrors
from api.pricing import CURRENCIES
from api.queries import tariffs as tariff_queries
from api.service import Service
from api.usecases import tariffs

FIELDS = (
    "name",
    "currency",
    "price_per_kwh",
    "vat_rate",
    "fee_rate",
    "min_amount",
    "max_amount",
    "effective_from",
)
DEFAULTS = {"name": "residential", "currency": "CDF", "vat_rate": "0.16", "fee_rate": "0"}


def _page(
    request: Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    problem: str = "",
) -> Response:
    service: Service = request.app.state.service
    with reading(service.engine) as s:
        rows = tariff_queries.listing(s, service.clock())
    lang = request.state.lang
    return render(
        request,
        "tariffs/index.html",
        status_code=status_code,
        rows=rows,
        values=values or dict(DEFAULTS),
        errors=errors or {},
        problem=problem,
        currency_options=[(c, c) for c in CURRENCIES],
        state_text={s.value: i18n.text(lang, f"tariffs.state_{s.value}") for s in tariff_queries.TariffState},
        can_edit=request.state.admin.role in MANAGERS,
    )


def index(request: Request) -> Response:
    return _page(request)


def _local_moment(text: str, service: Service) -> datetime:
    """A `datetime-local` field (YYYY-MM-DDTHH:MM) read in NGUVU_TIMEZONE. Raises ValueError."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None or len(text) > 19:
        raise ValueError("a local date and time")
    return moment.replace(tzinfo=service.settings.zone)


def create(request: Request) -> Response:
    """New terms: in force now when `effective_from` is empty, else scheduled from that local moment."""
    service: Service = request.app.state.service
    form = request.state.form
    values = {name: str(form.get(name) or "").strip()[:200] for name in FIELDS}
    spec = tariffs.TariffInput(**{k: v for k, v in values.items() if k != "effective_from"})
    try:
        start = _local_moment(values["effective_from"], service) if values["effective_from"] else None
    except ValueError:
        return _page(request, values=values, errors={"effective_from": "invalid_date"}, status_code=422)
    try:
        with transaction(service.engine) as s:
            if start is None:
                tariffs.create(s, request.state.actor, spec, service.clock())
            else:
                tariffs.schedule(s, request.state.actor, spec, start, service.clock())
    except FieldErrors as exc:
        return _page(request, values=values, errors=exc.errors, status_code=422)
    done = "tariff_created" if start is None else "tariff_scheduled"
    return RedirectResponse(f"/admin/tariffs?done={done}", status_code=303)


def withdraw(request: Request) -> Response:
    service: Service = request.app.state.service
    try:
        with transaction(service.engine) as s:
            tariffs.withdraw(s, request.state.actor, request.path_params["id"], service.clock())
    except Conflict as exc:
        return _page(request, status_code=409, problem=str(exc))
    return RedirectResponse("/admin/tariffs?done=tariff_withdrawn", status_code=303)


ROUTES = [
    AdminRoute("/tariffs", index, roles=EVERYONE, name="tariffs", menu="nav.tariffs", order=50),
    AdminRoute("/tariffs", create, methods=("POST",), roles=MANAGERS),
    AdminRoute("/tariffs/{id:int}/withdraw", withdraw, methods=("POST",), roles=MANAGERS),
]
