"""Resending the last token: the query shared by the USSD option and the SMS keyword, and the rules of
the keyword (who gets which token, how often, once per incoming message).

An incoming SMS is a hint (Africa's Talking signs nothing), so its sender is used only as the address of
the reply, and a token goes only where it already belongs: to the holder's phone (the subscriber whose
phone it is, any token of their meters) or to the phone that paid for it (only the tokens it paid for).
Naming a meter never widens that. Replies cost the utility money and land on a real phone, so each
phone gets at most ``sms_resend_per_hour`` of them per rolling hour, counted from the outbox.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from api.db import is_postgres, reading, transaction
from api.messages import help_sms, no_meter_sms, no_token_sms, not_linked_sms, resend_sms
from api.models import Meter, Payment, PaymentStatus, SmsOutbox, Subscriber, Token
from api.phone import is_msisdn
from api.queries.meters import find as find_meter
from api.service import Service
from api.settings import LANGUAGES, Settings
from api.sms.base import InboundSms

__all__ = [
    "REPLY_KINDS",
    "InboundOutcome",
    "ResendRequest",
    "answer_inbound",
    "last_credit_token",
    "may_reply",
    "parse_request",
    "resend_body",
    "serialised_may_reply",
]

REPLY_KINDS = ("resend", "help")  # outbox kinds counted by the rate limit (the USSD resend included)
RATE_WINDOW = timedelta(hours=1)
# A DRN, a MeterPAN or a customer code ("ENK-0001"): all carry digits, which "TOKEN PLEASE" does not.
_ACCOUNT = re.compile(r"^(?=.*[0-9])[A-Z0-9-]{1,20}$")
_SEPARATORS = re.compile(r"[\s.,;:*#!?]+")  # people type "TOKEN, 0123...", "token*0123..." too
_PREFERRED = {"fr": "JETON", "en": "TOKEN", "sw": "TOKENI"}  # the word each language's token SMS uses
_LOCK_NAMESPACE = 0x4E475655  # "NGVU": first key of the PostgreSQL advisory lock on a phone
_NO_TOKEN_METERS = 3  # at most this many meter numbers in a "no token" reply


def last_credit_token(
    session: Session, held: Collection[int], *, paid_by: str | None = None, meter_id: int | None = None
) -> Token | None:
    """The newest credit token of a live meter that is in ``held`` (whoever paid) or that ``paid_by``
    paid for (a vended payment from that phone), on ``meter_id`` only if given; None if there is none."""
    allowed: list[ColumnElement[bool]] = []
    stmt = select(Token).join(Meter, col(Meter.id) == col(Token.meter_id))
    if held:
        allowed.append(col(Token.meter_id).in_(list(held)))
    if paid_by:
        stmt = stmt.outerjoin(Payment, col(Payment.id) == col(Token.payment_id))
        allowed.append(and_(col(Payment.msisdn) == paid_by, col(Payment.status) == PaymentStatus.VENDED))
    if not allowed:
        return None
    stmt = stmt.where(col(Token.kind) == "credit", col(Meter.deleted_at).is_(None), or_(*allowed))
    if meter_id is not None:
        stmt = stmt.where(col(Token.meter_id) == meter_id)
    return session.scalars(stmt.order_by(col(Token.id).desc()).limit(1)).first()


def resend_body(language: str, meter_drn: str, token: Token | None, zone: tzinfo) -> str:
    """The SMS text: the token with its units and local date, or "no token found for meter ..."."""
    if token is None:
        return no_token_sms(language, meter=meter_drn)
    return resend_sms(
        language,
        token=token.token,
        units=token.units,
        meter=meter_drn,
        date=token.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
    )


@dataclass(frozen=True)
class ResendRequest:
    account: str | None  # the meter number or customer code after the keyword, upper-cased


def parse_request(sms_text: str, keywords: Collection[str]) -> ResendRequest | None:
    """``KEYWORD [meter number or customer code]`` (case and surrounding spaces ignored; digits may be
    grouped with spaces); None when the text is anything else."""
    words = [w for w in _SEPARATORS.split(sms_text.strip()) if w]
    if not words or words[0].upper() not in keywords:
        return None
    account = "".join(words[1:]).upper()
    if not account:
        return ResendRequest(None)
    return ResendRequest(account) if _ACCOUNT.match(account) else None


class InboundOutcome(StrEnum):
    QUEUED = "queued"  # one reply is in the outbox
    DUPLICATE = "duplicate"  # this message id was answered already
    RATE_LIMITED = "rate_limited"  # the phone had its replies for this hour
    IGNORED = "ignored"  # the sender is not an E.164 number: there is nobody to reply to


def answer_inbound(service: Service, message: InboundSms) -> InboundOutcome:
    """Queue at most one reply to ``message`` (a token, "no token", or help), or nothing (see the
    outcomes). Runs in one transaction; blocking (call it from a thread)."""
    if not is_msisdn(message.sender):
        return InboundOutcome.IGNORED
    settings = service.settings
    request = parse_request(message.text, settings.sms_resend_keywords)
    now = service.clock()
    try:
        with transaction(service.engine) as session:
            _serialise(session, message.sender)
            if _answered(session, message.provider_message_id):
                return InboundOutcome.DUPLICATE
            if not may_reply(session, message.sender, now, settings):
                return InboundOutcome.RATE_LIMITED
            kind, body = _reply(session, message.sender, request, settings)
            session.add(
                SmsOutbox(
                    to=message.sender,
                    text=body,
                    kind=kind,
                    inbound_message_id=message.provider_message_id,
                    created_at=now,
                    next_attempt_at=now,
                )
            )
    except IntegrityError:
        # A redelivery of the same message committed its reply first (unique inbound_message_id).
        with reading(service.engine) as session:
            if _answered(session, message.provider_message_id):
                return InboundOutcome.DUPLICATE
        raise
    return InboundOutcome.QUEUED


def may_reply(session: Session, phone: str, now: datetime, settings: Settings) -> bool:
    """Whether ``phone`` may get one more resend or help reply this hour (the SMS keyword and the USSD
    option share the count). Call it in the transaction that queues the reply, after `_serialise`."""
    return _recent_replies(session, phone, now) < settings.sms_resend_per_hour


def serialised_may_reply(session: Session, phone: str, now: datetime, settings: Settings) -> bool:
    """`may_reply`, with concurrent requests for ``phone`` taking turns until this transaction ends."""
    _serialise(session, phone)
    return may_reply(session, phone, now, settings)


def _serialise(session: Session, phone: str) -> None:
    """Requests from one phone take turns, so two at once cannot both pass the rate limit. SQLite
    transactions already do (BEGIN IMMEDIATE); PostgreSQL takes a lock on the phone until commit."""
    if is_postgres(session.get_bind().engine):
        session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, hashtext(:phone))"),
            {"ns": _LOCK_NAMESPACE, "phone": phone},
        )


def _answered(session: Session, message_id: str) -> bool:
    found = session.scalar(select(col(SmsOutbox.id)).where(col(SmsOutbox.inbound_message_id) == message_id))
    return found is not None


def _recent_replies(session: Session, phone: str, now: datetime) -> int:
    count = session.scalar(
        select(func.count()).where(
            col(SmsOutbox.to) == phone,
            col(SmsOutbox.kind).in_(REPLY_KINDS),
            col(SmsOutbox.created_at) > now - RATE_WINDOW,
        )
    )
    return int(count or 0)


def _reply(
    session: Session, phone: str, request: ResendRequest | None, settings: Settings
) -> tuple[str, str]:
    """(outbox kind, text) of the one reply to ``phone``."""
    lang = _language(session, phone, settings.default_language)
    if request is None:
        return "help", help_sms(lang, keyword=_keyword_for(lang, settings.sms_resend_keywords))
    held = _held_meters(session, phone)
    if request.account is None:
        token = last_credit_token(session, [m.id for m in held if m.id is not None], paid_by=phone)
        if token is not None:
            meter = session.get(Meter, token.meter_id)
            assert meter is not None  # the query joined it
            return "resend", resend_body(lang, meter.drn, token, settings.zone)
        if held:
            return "resend", no_token_sms(lang, meter="/".join(m.drn for m in held[:_NO_TOKEN_METERS]))
        return "resend", no_meter_sms(lang)
    meter = find_meter(session, request.account)
    if meter is not None and meter.id is not None:
        if any(m.id == meter.id for m in held):
            return "resend", resend_body(
                lang, meter.drn, last_credit_token(session, [meter.id]), settings.zone
            )
        token = last_credit_token(session, (), paid_by=phone, meter_id=meter.id)
        if token is not None:
            return "resend", resend_body(lang, meter.drn, token, settings.zone)
    # Echo what was typed, never the meter found: it may be someone else's.
    return "resend", not_linked_sms(lang, meter=request.account)


def _held_meters(session: Session, phone: str) -> Sequence[Meter]:
    return session.scalars(
        select(Meter)
        .join(Subscriber, col(Subscriber.id) == col(Meter.subscriber_id))
        .where(
            col(Subscriber.phone) == phone,
            col(Subscriber.deleted_at).is_(None),
            col(Meter.deleted_at).is_(None),
        )
        .order_by(col(Meter.id))
    ).all()


def _language(session: Session, phone: str, default: str) -> str:
    """The subscriber's language, else the one this phone last chose in the USSD menu, else the default."""
    lang = session.scalars(
        select(col(Subscriber.language))
        .where(col(Subscriber.phone) == phone, col(Subscriber.deleted_at).is_(None))
        .order_by(col(Subscriber.id))
    ).first()
    if lang is None:
        lang = session.scalars(
            select(col(Payment.language)).where(col(Payment.msisdn) == phone).order_by(col(Payment.id).desc())
        ).first()
    return lang if lang in LANGUAGES else default


def _keyword_for(lang: str, keywords: Sequence[str]) -> str:
    preferred = _PREFERRED.get(lang, "")
    return preferred if preferred in keywords else keywords[0]
