"""The vendor REST API under /api/v1 (JSON; API keys with scopes; errors via the app's table).

Each handler authorizes, parses, calls one use-case or query (api.usecases, api.queries) and renders:
no row is built here."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.actors import Actor
from api.audit import record
from api.bodies import REST_MAX_BYTES, read_body
from api.db import reading, transaction
from api.errors import Conflict, FieldErrors, Forbidden, InvalidInput, NotFound, Unauthorized, VendRefused
from api.messages import group4
from api.models import ApiKey, PaymentStatus
from api.queries import check_limit
from api.queries import meters as meter_queries
from api.queries import payments as payment_queries
from api.queries import subscribers as subscriber_queries
from api.queries import tokens as token_queries
from api.ratelimit import Limit, RateLimited, hit
from api.registry import check_api_key
from api.rest import schemas
from api.service import Service
from api.usecases import engineering, purchases, sales, subscribers
from api.usecases.meters import MeterInput

M = TypeVar("M", bound=BaseModel)


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _presented_key(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key", "").strip()


async def authorize(request: Request, scope: str) -> ApiKey:
    """Every REST handler starts here: the key, its scope, and no NUL in the path or query (PostgreSQL
    refuses NUL in text, which would surface as a 500 from the first look-up)."""
    if any("\x00" in v for v in (*request.path_params.values(), *request.query_params.values())):
        raise InvalidInput("the path and query must not contain NUL characters", code="invalid_query")
    presented = _presented_key(request)
    if not presented:
        raise Unauthorized("an API key is required (Authorization: Bearer ngv_...)", code="missing_api_key")
    service = _service(request)

    def check() -> ApiKey:
        with reading(service.engine) as session:
            return check_api_key(session, presented[:200])

    key = await run_in_threadpool(check)
    wait = await run_in_threadpool(_count_request, service, key)
    if wait:
        raise RateLimited(
            f"this API key made more than {service.settings.api_key_per_minute} requests this minute",
            retry_after=wait,
        )
    if scope not in key.scopes.split():
        raise Forbidden(f"this API key lacks the {scope!r} scope", code="missing_scope")
    return key


def _count_request(service: Service, key: ApiKey) -> int:
    """Count a request of an authenticated key (a forged key costs no one's budget); 0 if within."""
    limit = Limit("api-key", service.settings.api_key_per_minute, 60)
    with transaction(service.engine) as session:
        return hit(session, limit, f"{key.id}", service.clock())


async def _body(request: Request, model: type[M]) -> M:
    raw = await read_body(request, REST_MAX_BYTES)
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidInput("request body must be JSON", code="invalid_json") from None
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise InvalidInput(f"{where}: {first.get('msg', 'invalid')}", code="invalid_body") from None


def token_json(token: token_queries.TokenView) -> dict[str, Any]:
    out = schemas.TokenOut(
        id=token.id,
        meter=token.meter_drn,
        kind=token.kind,
        token=token.token,
        grouped=" / ".join(group4(t) for t in token.token.split()),
        tid=token.tid,
        units=token.units,
        amount=token.amount,
        currency=token.currency,
        created_at=token.created_at,
    )
    return out.model_dump(mode="json")


async def _run(fn: Callable[[], Any]) -> Any:
    return await run_in_threadpool(fn)


async def get_meter(request: Request) -> Response:
    await authorize(request, "read")
    service = _service(request)
    number = request.path_params["number"]

    def work() -> dict[str, Any]:
        with reading(service.engine) as session:
            meter = meter_queries.find_or_404(session, number)
            sub = meter_queries.holder(session, meter)
            return schemas.MeterOut(
                drn=meter.drn,
                pan=meter.pan,
                serial_number=meter.serial_number,
                phases=meter.phases,
                sgc=meter.sgc,
                ti=meter.ti,
                krn=meter.krn,
                kt=meter.kt,
                ken=meter.ken,
                base_date=meter.base_date,
                dkga=meter.dkga,
                ea=meter.ea,
                customer_code=sub.customer_code if sub else None,
                holder=f"{sub.name} {sub.post_name}".strip() if sub else None,
                tariff_name=meter.tariff_name,
                connected=meter.connected,
                last_tid=meter.last_tid,
            ).model_dump(mode="json")

    return JSONResponse(await _run(work))


async def issue_credit(request: Request) -> Response:
    key = await authorize(request, "vend")
    body = await _body(request, schemas.CreditIn)
    if (body.units is None) == (body.amount is None):
        raise InvalidInput("give either units, or amount and currency", code="invalid_body")
    if body.amount is not None and body.currency is None:
        raise InvalidInput("currency is required with amount", code="invalid_body")
    service, actor = _service(request), Actor.apikey(key)
    number = request.path_params["number"]
    if body.amount is None:

        def by_units() -> int:
            with transaction(service.engine) as session:
                return purchases.credit_units(service, session, actor, number, body.units)

        token_id = await _run(by_units)
        service.wake_push()
    else:
        with _meter_field_as_404():
            sale = await sales.sell(
                service, actor, number, body.amount, body.currency, body.reference, sales.Channel.API
            )
        if sale.replayed:
            raise Conflict("this reference was already used", code="duplicate_reference")
        if sale.status is not PaymentStatus.VENDED or sale.token_id is None:
            raise VendRefused(f"the sale is held for review ({sale.reason})", code="payment_held")
        token_id = sale.token_id
    return JSONResponse(await _run(lambda: _token_doc(service, token_id)), status_code=201)


@contextmanager
def _meter_field_as_404() -> Iterator[None]:
    """An unknown meter in the path is a 404 here (the counter form shows it beside its field)."""
    try:
        yield
    except FieldErrors as exc:
        if exc.errors.get("meter") == "meter_not_found":
            raise NotFound("no such meter", code="meter_not_found") from None
        raise


def _token_doc(service: Service, token_id: int) -> dict[str, Any]:
    with reading(service.engine) as session:
        return token_json(token_queries.get(session, token_id))


async def _issue_for_meter(request: Request, scope: str, schema: Any, issue: Callable[..., Any]) -> Response:
    """A management or key change token for the meter in the path (one transaction, meter row locked)."""
    key = await authorize(request, scope)
    body = await _body(request, schema)
    service, actor = _service(request), Actor.apikey(key)
    number = request.path_params["number"]

    def work() -> int:
        with transaction(service.engine) as session:
            token = issue(service, session, actor, number, body)
            assert token.id is not None
            return int(token.id)

    token_id = await _run(work)
    return JSONResponse(await _run(lambda: _token_doc(service, token_id)), status_code=201)


def _management(service: Service, session: Session, actor: Actor, number: str, body: Any) -> Any:
    if body.kind == "set_mpl" and body.mpl_watts is None:
        raise InvalidInput("mpl_watts is required for set_mpl", code="invalid_body")
    return engineering.management_token(service, session, actor, number, body.kind, body.mpl_watts)


def _key_change(service: Service, session: Session, actor: Actor, number: str, body: Any) -> Any:
    try:
        return engineering.key_change(
            service, session, actor, number, engineering.KeyChangeInput(**body.model_dump())
        )
    except FieldErrors as exc:
        if exc.errors.get("vending_key") == "unknown_vending_key":
            raise NotFound(
                f"no vending key labelled {body.vending_key!r}", code="vending_key_not_found"
            ) from None
        raise


async def issue_management_token(request: Request) -> Response:
    return await _issue_for_meter(request, "manage", schemas.ManagementIn, _management)


async def issue_key_change_token(request: Request) -> Response:
    return await _issue_for_meter(request, "keychange", schemas.KeyChangeIn, _key_change)


async def last_token(request: Request) -> Response:
    await authorize(request, "read")
    service = _service(request)
    number = request.path_params["number"]

    def work() -> dict[str, Any]:
        with reading(service.engine) as session:
            meter = meter_queries.find_or_404(session, number)
            assert meter.id is not None
            token = token_queries.last_of_meter(session, meter.id)
            if token is None:
                raise NotFound("this meter has no token yet", code="no_token")
            return token_json(token)

    return JSONResponse(await _run(work))


def _page(request: Request) -> tuple[int, str | None]:
    text = request.query_params.get("limit", "50")
    if not text.isascii() or not text.isdigit() or len(text) > 4:
        raise InvalidInput("limit must be an integer", code="invalid_query")
    return check_limit(int(text)), request.query_params.get("cursor") or None


def _meter_id(session: Session, number: str | None) -> int | None:
    """The id of the meter a filter names (-1: none matches, so nothing is listed)."""
    if not number:
        return None
    meter = meter_queries.find(session, number)
    return meter.id if meter and meter.id is not None else -1


async def list_payments(request: Request) -> Response:
    await authorize(request, "read")
    service = _service(request)
    limit, cursor = _page(request)
    q = request.query_params

    def work() -> dict[str, Any]:
        with reading(service.engine) as session:
            filters = payment_queries.PaymentFilter(
                status=q.get("status") or None,
                provider=q.get("provider") or None,
                currency=q.get("currency") or None,
                phone=q.get("msisdn") or None,
                meter_id=_meter_id(session, q.get("meter")),
            )
            page = payment_queries.listing(session, filters, cursor, limit)
            items = [
                schemas.PaymentOut(
                    reference=p.reference,
                    channel=p.channel,
                    provider=p.provider,
                    provider_txn_id=p.provider_txn_id,
                    status=p.status,
                    reason=p.reason,
                    msisdn=p.msisdn,
                    meter=p.meter_drn,
                    amount=p.amount,
                    currency=p.currency,
                    paid_amount=p.paid_amount,
                    created_at=p.created_at,
                ).model_dump(mode="json")
                for p in page.items
            ]
            return {"items": items, "limit": limit, "next_cursor": page.next_cursor}

    return JSONResponse(await _run(work))


async def list_tokens(request: Request) -> Response:
    await authorize(request, "read")
    service = _service(request)
    limit, cursor = _page(request)
    meter_no = request.query_params.get("meter")

    def work() -> dict[str, Any]:
        with reading(service.engine) as session:
            meter_id = _meter_id(session, meter_no)
            filters = token_queries.TokenFilter(meter_ids=() if meter_id is None else (meter_id,))
            page = token_queries.listing(session, filters, cursor, limit)
            return {
                "items": [token_json(t) for t in page.items],
                "limit": limit,
                "next_cursor": page.next_cursor,
            }

    return JSONResponse(await _run(work))


async def register_meters(request: Request) -> Response:
    key = await authorize(request, "meters")
    body = await _body(request, schemas.MeterBatchIn)
    service, actor = _service(request), Actor.apikey(key)

    def work() -> list[dict[str, str]]:
        # All or nothing: one transaction; the first bad meter aborts the batch with its index.
        with transaction(service.engine) as session:
            out = []
            for index, m in enumerate(body.meters):
                fields = m.model_dump()
                code = fields.pop("customer_code")
                try:
                    owner = _owner(session, code)
                    meter = subscribers.add_meter(session, actor, owner, MeterInput(**fields))
                except FieldErrors as exc:
                    raise exc.prefixed(f"meters.{index}") from None
                except NotFound as exc:
                    raise NotFound(f"meters.{index}: {exc}", code=exc.code) from None
                out.append({"drn": meter.drn, "pan": meter.pan})
            record(session, actor, "meters_registered", "", note=f"{len(out)} meters")
            return out

    try:
        items = await _run(work)
    except IntegrityError:
        raise Conflict("a meter in the batch is already registered", code="meter_exists") from None
    return JSONResponse({"registered": items}, status_code=201)


def _owner(session: Session, customer_code: str | None) -> int | None:
    if not customer_code:
        return None
    sub = subscriber_queries.by_code(session, customer_code)
    if sub is None or sub.id is None:
        raise NotFound(f"no subscriber {customer_code!r}", code="subscriber_not_found")
    return sub.id


routes = [
    Route("/meters/batch", register_meters, methods=["POST"]),
    Route("/meters/{number}", get_meter, methods=["GET"]),
    Route("/meters/{number}/tokens/credit", issue_credit, methods=["POST"]),
    Route("/meters/{number}/tokens/management", issue_management_token, methods=["POST"]),
    Route("/meters/{number}/tokens/key-change", issue_key_change_token, methods=["POST"]),
    Route("/meters/{number}/tokens/last", last_token, methods=["GET"]),
    Route("/payments", list_payments, methods=["GET"]),
    Route("/tokens", list_tokens, methods=["GET"]),
]
