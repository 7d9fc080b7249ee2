"""The USSD endpoint in Africa's Talking's format (form fields in, `CON `/`END ` text/plain out).

The request never calls a provider: confirming a purchase only inserts a QUEUED payment (the payment
worker starts the collection), and "resend my last token" only queues an SMS to the holder's phone.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from api.actors import Actor
from api.bodies import USSD_MAX_BYTES, BodyTooLarge, parse_form, read_body
from api.db import reading, transaction
from api.errors import NoTariff
from api.models import Meter, SmsOutbox, Subscriber
from api.phone import is_msisdn
from api.pricing import Quote, quote
from api.queries.meters import find as find_meter
from api.queries.tariffs import all_in_force, in_force
from api.ratelimit import Limit, hit
from api.resend import last_credit_token, resend_body, serialised_may_reply
from api.service import Service
from api.usecases import purchases
from api.ussd import menu
from api.ussd.texts import text

MAX_INPUTS = 40

log = logging.getLogger("nguvu.ussd")


class DbCatalog:
    """Menu lookups backed by one read session (one request)."""

    def __init__(self, session: Session, at: datetime) -> None:
        self.session = session
        self.at = at  # the moment whose tariff applies

    def account(self, number: str) -> menu.Account | None:
        meter = find_meter(self.session, number)
        if meter is None or meter.id is None:
            return None
        holder = "-"
        if meter.subscriber_id is not None:
            sub = self.session.get(Subscriber, meter.subscriber_id)
            if sub is not None:
                holder = menu.mask_name(sub.name, sub.post_name)
        tariffs = all_in_force(self.session, meter.tariff_name, self.at)
        limits = {t.currency: (t.min_amount, t.max_amount) for t in tariffs}
        return menu.Account(meter.id, meter.drn, holder, limits)

    def quote(self, meter_id: int, currency: str, amount: Decimal) -> Quote:
        meter = self.session.get(Meter, meter_id)
        assert meter is not None
        tariff = in_force(self.session, meter.tariff_name, currency, self.at)
        if tariff is None:
            raise NoTariff("no tariff")
        return quote(tariff, amount)


async def ussd_endpoint(request: Request) -> Response:
    service: Service = request.app.state.service
    started = time.perf_counter()
    lang = service.settings.default_language
    try:
        body = await read_body(request, USSD_MAX_BYTES)
    except BodyTooLarge:
        return _reply("END " + text("bad_request", lang), 413)
    try:
        form = parse_form(body, 20)
    except (UnicodeDecodeError, ValueError):
        return _reply("END " + text("bad_request", lang), 400)
    session_id = form.get("sessionId", "")
    phone = form.get("phoneNumber", "").strip()
    raw_text = form.get("text")
    if not session_id or len(session_id) > 100 or raw_text is None or not is_msisdn(phone):
        return _reply("END " + text("bad_request", lang), 400)
    inputs = menu.split_text(raw_text)[:MAX_INPUTS]
    reply = await run_in_threadpool(_answer, service, form.get("serviceCode", ""), session_id, phone, inputs)
    service.metrics.ussd_latency.observe(time.perf_counter() - started)
    return _reply(reply, 200)


def _reply(body: str, status: int) -> Response:
    return PlainTextResponse(body, status_code=status)


def _answer(service: Service, service_code: str, session_id: str, phone: str, inputs: list[str]) -> str:
    if _limited(service, service_code, session_id, phone):
        lang = menu.LANG_CHOICES.get(inputs[0], service.settings.default_language) if inputs else None
        service.metrics.http_errors.labels("rate_limited").inc()
        return "END " + text("rate_limited", lang or service.settings.default_language)
    with reading(service.engine) as session:
        state = menu.run(inputs, DbCatalog(session, service.clock()), service.settings.default_language)
    log.debug("USSD step with %d inputs: screen %s", len(inputs), state.screen)  # no input values
    if state.screen == "queued":
        _queue_payment(service, service_code, session_id, phone, state)
    elif state.screen == "resent" and not _queue_resend(service, phone, state):
        state = replace(state, screen="resend_limited")
    return menu.render(state)


def _limited(service: Service, service_code: str, session_id: str, phone: str) -> bool:
    """Count this request against the calling phone's and the session's limits (docs/service.md): a
    phone cannot drive the menu, and the database behind it, faster than a person types."""
    s, now = service.settings, service.clock()
    with transaction(service.engine) as session:
        by_phone = hit(session, Limit("ussd-phone", s.ussd_phone_per_minute, 60), phone, now)
        by_session = hit(
            session, Limit("ussd-session", s.ussd_session_requests, 3600), f"{service_code}|{session_id}", now
        )
    return bool(by_phone or by_session)


def payment_reference(service_code: str, session_id: str) -> str:
    """One purchase per USSD session: a gateway retrying the final request finds the same payment."""
    return "u" + hashlib.sha256(f"{service_code}|{session_id}".encode()).hexdigest()[:23]


def _queue_payment(
    service: Service, service_code: str, session_id: str, phone: str, state: menu.State
) -> None:
    assert state.account is not None and state.quote is not None
    purchase = purchases.Collection(
        reference=payment_reference(service_code, session_id),
        msisdn=phone,
        meter_id=state.account.meter_id,
        amount=state.quote.amount,
        currency=state.currency,
        language=state.lang,
    )
    purchases.queue_collection(service, Actor.ussd(), purchase)


def _queue_resend(service: Service, phone: str, state: menu.State) -> bool:
    """Queue the resend SMS; False (nothing queued) when its recipient had this hour's replies: anyone
    can type a meter number, and each SMS lands on the holder's phone and costs the utility."""
    assert state.account is not None
    with transaction(service.engine) as session:
        meter = session.get(Meter, state.account.meter_id)
        assert meter is not None
        sub = session.get(Subscriber, meter.subscriber_id) if meter.subscriber_id else None
        if sub is not None:  # the holder's phone gets the meter's last token, whoever dials
            to, token = sub.phone, last_credit_token(session, [state.account.meter_id])
        else:  # a meter nobody holds: only a token this phone paid for (the SMS keyword's rule)
            to, token = phone, last_credit_token(session, [], paid_by=phone, meter_id=state.account.meter_id)
        if not serialised_may_reply(session, to, service.clock(), service.settings):
            return False
        body = resend_body(state.lang, meter.drn, token, service.settings.zone)
        now = service.clock()
        session.add(SmsOutbox(to=to, text=body, kind="resend", created_at=now, next_attempt_at=now))
    service.wake_sms()
    return True
