"""A meter's own pages: edit its non-key fields (key parameters change only by key-change tokens, on
the meter engineering page) and delete it (soft; refused while a payment for it is in flight)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.admin.forms import texts
from api.admin.render import render
from api.admin.routing import MANAGERS, AdminRoute
from api.db import reading, transaction
from api.errors import Conflict, FieldErrors
from api.queries import meters as meter_queries
from api.usecases import meters as meter_cases

EDITABLE = (
    "serial_number",
    "phases",
    "latitude",
    "longitude",
    "connection_date",
    "tariff_name",
    "serial_url",
)


def _back(subscriber_id: int | None, done: str) -> str:
    return (
        f"/admin/subscribers/{subscriber_id}?done={done}"
        if subscriber_id
        else f"/admin/subscribers?done={done}"
    )


def edit_form(request: Request) -> Response:
    with reading(request.app.state.service.engine) as s:
        meter = meter_queries.get_live(s, request.path_params["id"])
        values = {k: "" if getattr(meter, k) is None else str(getattr(meter, k)) for k in EDITABLE}
        values["connected"] = "1" if meter.connected else ""
        drn, holder = meter.drn, meter.subscriber_id
    return render(request, "subscribers/meter_edit.html", values=values, errors={}, drn=drn, holder=holder)


def _changes(values: dict[str, str]) -> meter_cases.MeterEdit:
    lat, lon = values.get("latitude", ""), values.get("longitude", "")
    return meter_cases.MeterEdit(
        serial_number=values.get("serial_number", ""),
        phases=values.get("phases", "1"),
        latitude=lat or None,
        longitude=lon or None,
        connection_date=values.get("connection_date") or None,
        tariff_name=values.get("tariff_name", ""),
        connected=values.get("connected") == "1",
        serial_url=values.get("serial_url", ""),
        clear_position=not lat and not lon,  # both emptied: the position is removed
    )


def edit_submit(request: Request) -> Response:
    meter_id: int = request.path_params["id"]
    values = texts(request.state.form)
    try:
        with transaction(request.app.state.service.engine) as s:
            meter = meter_cases.edit(s, request.state.actor, meter_id, _changes(values))
            holder = meter.subscriber_id
    except FieldErrors as exc:
        with reading(request.app.state.service.engine) as s:
            meter = meter_queries.get_live(s, meter_id)
            drn, holder = meter.drn, meter.subscriber_id
        return render(
            request,
            "subscribers/meter_edit.html",
            status_code=422,
            values=values,
            errors=exc.errors,
            drn=drn,
            holder=holder,
        )
    return RedirectResponse(_back(holder, "meter_edited"), status_code=303)


def delete(request: Request) -> Response:
    meter_id: int = request.path_params["id"]
    with reading(request.app.state.service.engine) as s:
        holder = meter_queries.get_live(s, meter_id).subscriber_id
    if texts(request.state.form).get("confirm") != "1":
        return RedirectResponse(_back(holder, "delete_unconfirmed"), status_code=303)
    try:
        with transaction(request.app.state.service.engine) as s:
            meter_cases.delete(s, request.state.actor, meter_id)
    except Conflict:
        return RedirectResponse(_back(holder, "payment_in_flight"), status_code=303)
    return RedirectResponse(_back(holder, "meter_deleted"), status_code=303)


ROUTES = [
    AdminRoute("/meters/{id:int}/edit", edit_form, roles=MANAGERS),
    AdminRoute("/meters/{id:int}/edit", edit_submit, methods=("POST",), roles=MANAGERS),
    AdminRoute("/meters/{id:int}/delete", delete, methods=("POST",), roles=MANAGERS),
]
