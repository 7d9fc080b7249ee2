"""The vendor REST API under /api/v1 (JSON; API keys with scopes; errors via the app's table)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.db import reading, transaction
from api.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from api.messages import group4
from api.models import ApiKey, Meter, Payment, PaymentStatus, Subscriber, Token
from api.pricing import quote
from api.registry import MeterSpec, check_api_key, register_meter
from api.rest import schemas
from api.rest.tokens import issue_key_change, issue_management
from api.service import Service
from api.vend import find_meter, find_tariff, lock_meter

M = TypeVar("M", bound=BaseModel)
MAX_JSON = 1024 * 1024
MAX_LIMIT = 500


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _presented_key(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key", "").strip()


async def authorize(request: Request, scope: str) -> ApiKey:
    presented = _presented_key(request)
    if not presented:
        raise Unauthorized("an API key is required (Authorization: Bearer ngv_...)", code="missing_api_key")
    service = _service(request)

    def check() -> ApiKey:
        with reading(service.engine) as session:
            return check_api_key(session, presented[:200])

    key = await run_in_threadpool(check)
    if scope not in key.scopes.split():
        raise Forbidden(f"this API key lacks the {scope!r} scope", code="missing_scope")
    return key


async def _body(request: Request, model: type[M]) -> M:
    raw = await request.body()
    if len(raw) > MAX_JSON:
        raise InvalidInput("request body too large", code="body_too_large")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("request body must be JSON", code="invalid_json") from None
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise InvalidInput(f"{where}: {first.get('msg', 'invalid')}", code="invalid_body") from None


def _meter_or_404(session: Session, number: str, *, lock: bool = False) -> Meter:
    meter = find_meter(session, number)
    if meter is None or meter.id is None:
        raise NotFound("no such meter", code="meter_not_found")
    return lock_meter(session, meter.id) if lock else meter


def token_json(token: Token, meter: Meter) -> dict[str, Any]:
    out = schemas.TokenOut(
        id=token.id or 0,
        meter=meter.drn,
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
            meter = _meter_or_404(session, number)
            sub = session.get(Subscriber, meter.subscriber_id) if meter.subscriber_id else None
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
    service = _service(request)
    number = request.path_params["number"]

    def work() -> dict[str, Any]:
        with transaction(service.engine) as session:
            meter = _meter_or_404(session, number, lock=True)
            payment = None
            units = body.units
            vat = None
            if body.amount is not None:
                assert body.currency is not None
                tariff = find_tariff(session, meter, body.currency)
                if tariff is None:
                    raise InvalidInput("this meter has no tariff in that currency", code="no_tariff")
                q = quote(tariff, body.amount)
                units, vat = q.units, q.vat
                reference = f"api-{key.key_id}-{body.reference}" if body.reference else None
                if (
                    reference
                    and session.scalars(select(Payment).where(col(Payment.reference) == reference)).first()
                ):
                    raise Conflict("this reference was already used", code="duplicate_reference")
                payment = Payment(
                    reference=reference or f"api-{key.key_id}-{service.vendor.rnd()}{id(body)}",
                    channel="api",
                    provider="vendor",
                    status=PaymentStatus.VENDED,
                    meter_id=meter.id,
                    subscriber_id=meter.subscriber_id,
                    account=meter.drn,
                    amount=body.amount,
                    currency=body.currency,
                    paid_amount=body.amount,
                )
                session.add(payment)
                session.flush()
            assert units is not None
            issued = service.vendor.issue_credit(
                session,
                meter,
                units,
                issued_by=f"apikey:{key.key_id}",
                payment_id=payment.id if payment else None,
                amount=payment.amount if payment else None,
                currency=payment.currency if payment else "",
                vat=vat,
            )
            token = session.get(Token, issued.token_id)
            assert token is not None
            return token_json(token, meter)

    try:
        doc = await _run(work)
    except IntegrityError:
        raise Conflict("this reference was already used", code="duplicate_reference") from None
    service.metrics.vend_outcomes.labels("vended", "api").inc()
    service.wake_push()
    return JSONResponse(doc, status_code=201)


async def _issue_for_meter(request: Request, scope: str, schema: Any, issue: Callable[..., Any]) -> Response:
    """A management or key change token for the meter in the path, in one transaction with the meter row
    locked (its last TID and key move with the token)."""
    key = await authorize(request, scope)
    body = await _body(request, schema)
    service = _service(request)
    number = request.path_params["number"]

    def work() -> dict[str, Any]:
        with transaction(service.engine) as session:
            meter = _meter_or_404(session, number, lock=True)
            token = issue(service, session, meter, body, issued_by=f"apikey:{key.key_id}")
            return token_json(token, meter)

    return JSONResponse(await _run(work), status_code=201)


async def issue_management_token(request: Request) -> Response:
    return await _issue_for_meter(request, "manage", schemas.ManagementIn, issue_management)


async def issue_key_change_token(request: Request) -> Response:
    return await _issue_for_meter(request, "keychange", schemas.KeyChangeIn, issue_key_change)


async def last_token(request: Request) -> Response:
    await authorize(request, "read")
    service = _service(request)
    number = request.path_params["number"]

    def work() -> dict[str, Any]:
        with reading(service.engine) as session:
            meter = _meter_or_404(session, number)
            token = session.scalars(
                select(Token).where(col(Token.meter_id) == meter.id).order_by(col(Token.id).desc())
            ).first()
            if token is None:
                raise NotFound("this meter has no token yet", code="no_token")
            return token_json(token, meter)

    return JSONResponse(await _run(work))


def _page(request: Request) -> tuple[int, int]:
    try:
        limit = int(request.query_params.get("limit", "50"))
        offset = int(request.query_params.get("offset", "0"))
    except ValueError:
        raise InvalidInput("limit and offset must be integers", code="invalid_query") from None
    if not (1 <= limit <= MAX_LIMIT and 0 <= offset <= 10**9):
        raise InvalidInput(f"limit must be 1-{MAX_LIMIT}, offset >= 0", code="invalid_query")
    return limit, offset


async def list_payments(request: Request) -> Response:
    await authorize(request, "read")
    service = _service(request)
    limit, offset = _page(request)
    q = request.query_params
    status, meter_no, msisdn = q.get("status"), q.get("meter"), q.get("msisdn")
    if status is not None and status not in {s.value for s in PaymentStatus}:
        raise InvalidInput("unknown status", code="invalid_query")

    def work() -> list[dict[str, Any]]:
        with reading(service.engine) as session:
            stmt = select(Payment, col(Meter.drn)).outerjoin(Meter, col(Meter.id) == col(Payment.meter_id))
            if status:
                stmt = stmt.where(col(Payment.status) == status)
            if msisdn:
                stmt = stmt.where(col(Payment.msisdn) == msisdn)
            if meter_no:
                meter = find_meter(session, meter_no)
                stmt = stmt.where(col(Payment.meter_id) == (meter.id if meter else -1))
            rows = session.execute(stmt.order_by(col(Payment.id).desc()).limit(limit).offset(offset)).all()
            return [
                schemas.PaymentOut(
                    reference=p.reference,
                    channel=p.channel,
                    provider=p.provider,
                    provider_txn_id=p.provider_txn_id,
                    status=p.status,
                    reason=p.reason,
                    msisdn=p.msisdn,
                    meter=drn,
                    amount=p.amount,
                    currency=p.currency,
                    paid_amount=p.paid_amount,
                    created_at=p.created_at,
                ).model_dump(mode="json")
                for p, drn in rows
            ]

    return JSONResponse({"items": await _run(work), "limit": limit, "offset": offset})


async def list_tokens(request: Request) -> Response:
    await authorize(request, "read")
    service = _service(request)
    limit, offset = _page(request)
    meter_no = request.query_params.get("meter")

    def work() -> list[dict[str, Any]]:
        with reading(service.engine) as session:
            stmt = select(Token, Meter).join(Meter, col(Meter.id) == col(Token.meter_id))
            if meter_no:
                meter = find_meter(session, meter_no)
                stmt = stmt.where(col(Token.meter_id) == (meter.id if meter else -1))
            rows = session.execute(stmt.order_by(col(Token.id).desc()).limit(limit).offset(offset)).all()
            return [token_json(t, m) for t, m in rows]

    return JSONResponse({"items": await _run(work), "limit": limit, "offset": offset})


async def register_meters(request: Request) -> Response:
    key = await authorize(request, "meters")
    body = await _body(request, schemas.MeterBatchIn)
    service = _service(request)

    def work() -> list[dict[str, str]]:
        # All or nothing: one transaction; the first bad meter aborts the batch with its index.
        with transaction(service.engine) as session:
            out = []
            for index, m in enumerate(body.meters):
                try:
                    meter = register_meter(session, MeterSpec(**m.model_dump()))
                except (InvalidInput, NotFound, Conflict) as exc:
                    exc.args = (f"meters.{index}: {exc}",)
                    raise
                out.append({"drn": meter.drn, "pan": meter.pan})
            from api.models.audit import AuditLog

            session.add(
                AuditLog(actor=f"apikey:{key.key_id}", action="meters_registered", detail=str(len(out)))
            )
            return out

    try:
        items = await _run(work)
    except IntegrityError:
        raise Conflict("a meter in the batch is already registered", code="meter_exists") from None
    return JSONResponse({"registered": items}, status_code=201)


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
