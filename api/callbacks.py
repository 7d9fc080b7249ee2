"""Provider callbacks: mobile-money results (and M-Pesa C2B validation), SMS delivery reports, and
incoming SMS (the "resend my last token" keyword, answered by api.resend).

The adapter parses and verifies; the core applies the events (deduplicated in the vend transaction) and
answers what the adapter says to answer. Verification failures come back as `PaymentCallbackError` and go
through the app's exception table.
"""

from __future__ import annotations

import logging

from sqlalchemy import update
from sqlmodel import col
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.bodies import CALLBACK_MAX_BYTES, parse_form, read_body
from api.db import reading, transaction
from api.errors import NotFound, ServiceError
from api.models import SmsOutbox
from api.payments.base import C2BValidator
from api.queries.meters import find as find_meter
from api.resend import InboundOutcome, answer_inbound
from api.service import Service
from api.sms.base import DeliveryState

log = logging.getLogger("nguvu.callbacks")
MAX_FORM_FIELDS = 30


async def _body(request: Request) -> bytes:
    return await read_body(request, CALLBACK_MAX_BYTES)


async def payment_callback(request: Request) -> Response:
    service: Service = request.app.state.service
    provider = service.payment_provider
    if request.path_params["provider"] != provider.name:
        raise NotFound("no such payment provider", code="unknown_provider")
    body = await _body(request)
    events, reply = await provider.handle_callback(dict(request.headers), body)
    log.debug("%s callback verified: %d events, answering %d", provider.name, len(events), reply.status_code)
    await service.apply_events(events)
    return Response(reply.body, status_code=reply.status_code, media_type=reply.media_type)


async def c2b_validation(request: Request) -> Response:
    service: Service = request.app.state.service
    provider = service.payment_provider
    if not isinstance(provider, C2BValidator):
        raise NotFound("this provider has no C2B validation", code="unknown_provider")
    body = await _body(request)

    async def lookup(account: str) -> bool:
        return await run_in_threadpool(_known_account, service, account)

    reply = await provider.validate_c2b(dict(request.headers), body, lookup)
    return Response(reply.body, status_code=reply.status_code, media_type=reply.media_type)


def _known_account(service: Service, account: str) -> bool:
    with reading(service.engine) as session:
        return find_meter(session, account) is not None


async def sms_delivery(request: Request) -> Response:
    service: Service = request.app.state.service
    provider = service.sms_provider
    if request.path_params["provider"] != provider.name:
        raise NotFound("no such SMS provider", code="unknown_provider")
    try:
        form = _form(await _body(request))
    except ValueError:
        # A ServiceError is answered 400, as every malformed callback is (docs/service.md).
        raise ServiceError("delivery report must be a form", code="malformed_report") from None
    report = provider.parse_delivery_report(form)
    if report is None:
        raise ServiceError("not a delivery report", code="malformed_report")
    await run_in_threadpool(
        _record_delivery,
        service,
        report.provider_message_id,
        report.state,
        report.failure_reason or report.provider_status,
    )
    return Response(b"", status_code=200)


def _form(body: bytes) -> dict[str, str]:
    """A urlencoded form body; ValueError when it is not one (UnicodeDecodeError is a ValueError)."""
    return parse_form(body, MAX_FORM_FIELDS)


async def sms_inbound(request: Request) -> Response:
    """An SMS sent to our short code. Always 200 once the form is understood (the provider retries
    anything else): whether a reply was queued, deduplicated, rate-limited or not possible."""
    service: Service = request.app.state.service
    provider = service.sms_provider
    if request.path_params["provider"] != provider.name:
        raise NotFound("no such SMS provider", code="unknown_provider")
    try:
        message = provider.parse_inbound(_form(await _body(request)))
    except ValueError:
        message = None
    if message is None:
        # A ServiceError is answered 400: the form itself is wrong, nothing was written.
        raise ServiceError("not an incoming SMS form (id, from, text)", code="malformed_inbound")
    outcome = await run_in_threadpool(answer_inbound, service, message)
    log.info("incoming SMS on %s: %s", provider.name, outcome.value)
    if outcome is InboundOutcome.QUEUED:
        service.wake_sms()
    return Response(b"", status_code=200)


def _record_delivery(service: Service, message_id: str, state: DeliveryState, detail: str) -> None:
    if state is DeliveryState.PENDING:
        return
    values: dict[str, object] = {"status": "delivered" if state is DeliveryState.DELIVERED else "failed"}
    if state is DeliveryState.DELIVERED:
        values["delivered_at"] = service.clock()
    else:
        values["last_error"] = f"delivery: {detail}"[:200]
    with transaction(service.engine) as session:
        session.execute(
            update(SmsOutbox)
            .where(
                col(SmsOutbox.provider_message_id) == message_id,
                col(SmsOutbox.status).in_(["sent", "delivered"]),
            )
            .values(**values)
        )
