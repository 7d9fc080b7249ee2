"""Meter engineering (administrators): management tokens (maximum power limit, clear credit, clear
tamper), key change (2 or 4 tokens) and test tokens, each through api.usecases.engineering (recorded
and audited there). Every action goes form -> review (what it does to the meter, a box to tick) ->
issue -> a printable sheet for the technician."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.admin.render import render
from api.admin.routing import MANAGERS, AdminRoute
from api.db import reading, transaction
from api.errors import FieldErrors, NotFound, VendRefused
from api.models import Token
from api.queries import meters as meter_queries
from api.queries import tokens as token_queries
from api.service import Service
from api.usecases import engineering, sales

ACTIONS = ("set_mpl", "clear_credit", "clear_tamper", "key_change", "test")
FIELDS = ("meter", "action", "mpl_watts", "sgc", "ti", "krn", "kt", "ken", "vending_key", "control")
RECENT = 20


def _values(source: Any) -> dict[str, str]:
    return {name: str(source.get(name) or "").strip()[:200] for name in FIELDS}


def _meter_page(
    request: Request,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    problem: str = "",
    status_code: int = 200,
) -> Response:
    """The meter's public parameters (never keys), its recent engineering tokens and the action forms."""
    service: Service = request.app.state.service
    meter = view = None
    recent: tuple[token_queries.TokenView, ...] = ()
    errors = dict(errors or {})
    with reading(service.engine) as s:
        if values["meter"]:
            meter = meter_queries.find(s, values["meter"])
            if meter is None:
                errors.setdefault("meter", "meter_not_found")
            else:
                view = meter_queries.view(s, meter)
                recent = token_queries.listing(
                    s, token_queries.TokenFilter(meter_ids=(view.id,)), limit=RECENT
                ).items
    if view is not None:
        values = {**_defaults(view), **{k: v for k, v in values.items() if v}}
    return render(
        request,
        "engineering/index.html",
        status_code=422 if errors and status_code == 200 else status_code,
        meter=view,
        recent=[t for t in recent if t.kind != "credit"],
        values=values,
        errors=errors,
        problem=problem,
        actions=ACTIONS,
    )


def _defaults(view: meter_queries.MeterView) -> dict[str, str]:
    """A key change starts from the meter's current parameters (the technician changes what moves)."""
    return {
        "sgc": str(view.sgc),
        "ti": str(view.ti),
        "krn": str(view.krn),
        "kt": str(view.kt),
        "ken": str(view.ken),
        "vending_key": view.vending_key,
        "control": "1",
        "mpl_watts": "",
    }


def index(request: Request) -> Response:
    return _meter_page(request, _values(request.query_params))


def review(request: Request) -> Response:
    """What the chosen action will do to the meter, with the values it will use; nothing is issued."""
    values = _values(request.state.form)
    if values["action"] not in ACTIONS:
        return _meter_page(request, values, errors={"action": "invalid_choice"})
    with reading(request.app.state.service.engine) as s:
        meter = meter_queries.find(s, values["meter"]) if values["meter"] else None
        view = meter_queries.view(s, meter) if meter else None
    if view is None:
        return _meter_page(request, values, errors={"meter": "meter_not_found"})
    return render(request, "engineering/review.html", meter=view, values=values, errors={})


def issue(request: Request) -> Response:
    """Issue the reviewed action (the box ticked); then the technician's sheet."""
    service: Service = request.app.state.service
    form = request.state.form
    values = _values(form)
    if form.get("confirm") != "1":
        with reading(service.engine) as s:
            meter = meter_queries.find_or_404(s, values["meter"])
            view = meter_queries.view(s, meter)
        errors = {"confirm": "required"}
        return render(
            request, "engineering/review.html", status_code=422, meter=view, values=values, errors=errors
        )
    try:
        with transaction(service.engine) as s:
            token = _issue(service, s, request.state.actor, values)
            token_id = token.id
    except FieldErrors as exc:
        return _meter_page(request, values, errors=exc.errors)
    except NotFound:
        return _meter_page(request, values, errors={"meter": "meter_not_found"})
    except VendRefused as exc:
        return _meter_page(request, values, problem=str(exc), status_code=422)
    return RedirectResponse(f"/admin/engineering/tokens/{token_id}?done=engineering_issued", status_code=303)


def _issue(service: Service, session: Any, actor: Any, v: dict[str, str]) -> Token:
    action, meter = v["action"], v["meter"]
    if action == "key_change":
        new = engineering.KeyChangeInput(
            sgc=v["sgc"], ti=v["ti"], krn=v["krn"], vending_key=v["vending_key"], kt=v["kt"], ken=v["ken"]
        )
        return engineering.key_change(service, session, actor, meter, new)
    if action == "test":
        return engineering.test_token(service, session, actor, meter, v["control"])
    return engineering.management_token(service, session, actor, meter, action, v["mpl_watts"] or None)


def sheet(request: Request, *, reprinted: bool = False) -> Response:
    """The technician's sheet: the token(s) in order, in groups of four, with what they do."""
    with reading(request.app.state.service.engine) as s:
        token = token_queries.get(s, request.path_params["token"])
    return render(
        request, "engineering/sheet.html", token=token, parts=token.token.split(), reprinted=reprinted
    )


def reprint(request: Request) -> Response:
    with transaction(request.app.state.service.engine) as s:
        sales.reprint(s, request.state.actor, request.path_params["token"])
    return sheet(request, reprinted=True)


def show_sheet(request: Request) -> Response:
    return sheet(request)


ROUTES = [
    AdminRoute("/engineering", index, roles=MANAGERS, name="engineering", menu="nav.engineering", order=60),
    AdminRoute("/engineering/review", review, methods=("POST",), roles=MANAGERS),
    AdminRoute("/engineering/issue", issue, methods=("POST",), roles=MANAGERS),
    AdminRoute("/engineering/tokens/{token:int}", show_sheet, roles=MANAGERS),
    AdminRoute("/engineering/tokens/{token:int}/reprint", reprint, methods=("POST",), roles=MANAGERS),
]
