"""Subscribers: search-as-you-type, the new subscriber + meter form (with inline validation), the
detail page (meters with their parameters, never keys; payments; tokens with reprint and resend SMS),
edit, add a meter, delete (soft). Each handler parses the form, calls one use-case or query, renders."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.admin.forms import SUBSCRIBER_FIELDS, dry_run, meter_input, subscriber_input, texts
from api.admin.render import render
from api.admin.routing import EVERYONE, MANAGERS, AdminRoute
from api.db import reading, transaction
from api.errors import Conflict, FieldErrors, InvalidInput
from api.queries import subscribers as subscriber_queries
from api.usecases import sales
from api.usecases import subscribers as subscriber_cases

PAGE_SIZE = 25
SORTS = [
    (s.value, "subscribers.sort_" + s.value.lstrip("-") + ("_desc" if s.value.startswith("-") else ""))
    for s in subscriber_queries.SubscriberSort
]


def index(request: Request) -> Response:
    q = request.query_params
    text, sort, cursor = q.get("q", "")[:80], q.get("sort", "name"), q.get("cursor") or None
    sort = sort if sort in dict(SORTS) else "name"
    deleted = q.get("deleted") == "1"  # deleted subscribers too: their history stays readable
    try:
        with reading(request.app.state.service.engine) as s:
            page = subscriber_queries.search(s, text, sort, cursor, PAGE_SIZE, deleted=deleted)
    except InvalidInput:
        with reading(request.app.state.service.engine) as s:  # a stale page link: start again
            page = subscriber_queries.search(s, text, sort, None, PAGE_SIZE, deleted=deleted)
    template = "subscribers/_results.html" if request.headers.get("HX-Request") else "subscribers/index.html"
    return render(request, template, page=page, q=text, sort=sort, sorts=SORTS, deleted=deleted)


def _form(request: Request, template: str, *, status_code: int = 200, **ctx: Any) -> Response:
    ctx.setdefault("errors", {})
    ctx.setdefault("values", {})
    return render(request, template, status_code=status_code, **ctx)


NEW_DEFAULTS = {
    "language": "fr",
    "meters.0.ti": "1",
    "meters.0.krn": "1",
    "meters.0.kt": "2",
    "meters.0.ken": "255",
    "meters.0.base_date": "2014",
    "meters.0.dkga": "2",
    "meters.0.ea": "7",
    "meters.0.phases": "1",
    "meters.0.tariff_name": "residential",
}


def new_form(request: Request) -> Response:
    return _form(request, "subscribers/new.html", values=dict(NEW_DEFAULTS))


def new_submit(request: Request) -> Response:
    values = texts(request.state.form)
    try:
        with transaction(request.app.state.service.engine) as s:
            sub = subscriber_cases.register(
                s, request.state.actor, subscriber_input(values), [meter_input(values, "meters.0.")]
            )
            sub_id = sub.id
    except FieldErrors as exc:
        return _form(request, "subscribers/new.html", status_code=422, values=values, errors=exc.errors)
    return RedirectResponse(f"/admin/subscribers/{sub_id}?done=subscriber_registered", status_code=303)


def validate(request: Request) -> Response:
    """htmx, on each change of the new-subscriber form: the error (or none) of the field that changed,
    from the same use-case run in a transaction that is always rolled back."""
    values = texts(request.state.form)
    field = request.headers.get("HX-Trigger-Name", "")
    errors = dry_run(
        request.app.state.service.engine,
        lambda s: subscriber_cases.register(
            s, request.state.actor, subscriber_input(values), [meter_input(values, "meters.0.")]
        ),
    )
    return render(request, "subscribers/_field_error.html", name=field, errors=errors)


def detail(request: Request) -> Response:
    with reading(request.app.state.service.engine) as s:
        found = subscriber_queries.detail(s, request.path_params["id"])
    return render(request, "subscribers/detail.html", d=found, sub=found.subscriber)


def edit_form(request: Request) -> Response:
    with reading(request.app.state.service.engine) as s:
        sub = subscriber_queries.get(s, request.path_params["id"])
        values = {k: str(getattr(sub, k)) for k in SUBSCRIBER_FIELDS}
    return _form(request, "subscribers/edit.html", values=values, sub_id=request.path_params["id"])


def edit_submit(request: Request) -> Response:
    sub_id: int = request.path_params["id"]
    values = texts(request.state.form)
    try:
        with transaction(request.app.state.service.engine) as s:
            subscriber_cases.edit(s, request.state.actor, sub_id, subscriber_input(values))
    except FieldErrors as exc:
        return _form(
            request, "subscribers/edit.html", status_code=422, values=values, errors=exc.errors, sub_id=sub_id
        )
    return RedirectResponse(f"/admin/subscribers/{sub_id}?done=subscriber_edited", status_code=303)


def meter_form(request: Request) -> Response:
    values = {k.replace("meters.0.", ""): v for k, v in NEW_DEFAULTS.items() if k.startswith("meters.0.")}
    return _form(request, "subscribers/meter_new.html", values=values, sub_id=request.path_params["id"])


def meter_submit(request: Request) -> Response:
    sub_id: int = request.path_params["id"]
    values = texts(request.state.form)
    try:
        with transaction(request.app.state.service.engine) as s:
            subscriber_cases.add_meter(s, request.state.actor, sub_id, meter_input(values, ""))
    except FieldErrors as exc:
        return _form(
            request,
            "subscribers/meter_new.html",
            status_code=422,
            values=values,
            errors=exc.errors,
            sub_id=sub_id,
        )
    return RedirectResponse(f"/admin/subscribers/{sub_id}?done=meter_added", status_code=303)


def delete(request: Request) -> Response:
    sub_id: int = request.path_params["id"]
    if texts(request.state.form).get("confirm") != "1":
        return RedirectResponse(f"/admin/subscribers/{sub_id}?done=delete_unconfirmed", status_code=303)
    try:
        with transaction(request.app.state.service.engine) as s:
            subscriber_cases.delete(s, request.state.actor, sub_id)
    except Conflict:
        return RedirectResponse(f"/admin/subscribers/{sub_id}?done=payment_in_flight", status_code=303)
    return RedirectResponse(f"/admin/subscribers/{sub_id}?done=subscriber_deleted", status_code=303)


def reprint(request: Request) -> Response:
    with transaction(request.app.state.service.engine) as s:
        token = sales.reprint(s, request.state.actor, request.path_params["token"])
    return render(request, "subscribers/reprint.html", token=token, sub_id=request.path_params["id"])


def resend(request: Request) -> Response:
    sub_id: int = request.path_params["id"]
    try:
        sales.resend_sms(request.app.state.service, request.state.actor, request.path_params["token"])
    except Conflict:
        return RedirectResponse(f"/admin/subscribers/{sub_id}?done=sms_not_sent", status_code=303)
    return RedirectResponse(f"/admin/subscribers/{sub_id}?done=sms_queued", status_code=303)


ROUTES = [
    AdminRoute("/subscribers", index, roles=EVERYONE, menu="nav.subscribers", order=20),
    AdminRoute("/subscribers/new", new_form, roles=MANAGERS),
    AdminRoute("/subscribers/new", new_submit, methods=("POST",), roles=MANAGERS),
    AdminRoute("/subscribers/validate", validate, methods=("POST",), roles=MANAGERS),
    AdminRoute("/subscribers/{id:int}", detail, roles=EVERYONE),
    AdminRoute("/subscribers/{id:int}/edit", edit_form, roles=MANAGERS),
    AdminRoute("/subscribers/{id:int}/edit", edit_submit, methods=("POST",), roles=MANAGERS),
    AdminRoute("/subscribers/{id:int}/meters/new", meter_form, roles=MANAGERS),
    AdminRoute("/subscribers/{id:int}/meters/new", meter_submit, methods=("POST",), roles=MANAGERS),
    AdminRoute("/subscribers/{id:int}/delete", delete, methods=("POST",), roles=MANAGERS),
    AdminRoute(
        "/subscribers/{id:int}/tokens/{token:int}/reprint", reprint, methods=("POST",), roles=EVERYONE
    ),
    AdminRoute("/subscribers/{id:int}/tokens/{token:int}/resend", resend, methods=("POST",), roles=EVERYONE),
]
