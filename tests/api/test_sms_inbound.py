"""The SMS keyword "resend my last token": who gets which token, languages, rate limit, redeliveries,
malformed forms, and the route in Africa's Talking's incoming-message format."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from apitest import TestClient
from conftest import World
from sqlalchemy import select

from api.actors import Actor
from api.app import create_app
from api.db import reading, transaction
from api.messages import group4, help_sms, is_gsm7, no_meter_sms, no_token_sms, not_linked_sms
from api.models import Meter, Payment, PaymentStatus, SmsOutbox, Subscriber, Token
from api.payments.base import PaymentEvent
from api.payments.base import PaymentStatus as S
from api.payments.secret import Secret
from api.registry import add_subscriber
from api.resend import InboundOutcome, ResendRequest, answer_inbound, parse_request
from api.service import Service
from api.settings import DEFAULT_RESEND_KEYWORDS, Settings, SettingsError
from api.sms.africastalking import AfricasTalkingConfig, AfricasTalkingSms, parse_inbound_form
from api.sms.base import InboundSms, SmsProvider
from api.sms.console import ConsoleSms
from api.workers import sms

HOLDER = "+243990000001"  # ENK-0001's phone, holder of world.meter_drn
PAYER = "+243970000002"
STRANGER = "+243970000009"
KEYWORDS = DEFAULT_RESEND_KEYWORDS


def vend(world: World, reference: str, *, drn: str, msisdn: str, language: str = "fr") -> str:
    """A paid USSD purchase from ``msisdn`` for meter ``drn``; returns its token."""
    with transaction(world.service.engine) as s:
        meter = s.scalars(select(Meter).where(Meter.drn == drn)).one()
        s.add(
            Payment(
                reference=reference,
                provider="sandbox",
                status=PaymentStatus.PENDING,
                msisdn=msisdn,
                meter_id=meter.id,
                subscriber_id=meter.subscriber_id,
                account=drn,
                amount=Decimal(5000),
                currency="CDF",
                language=language,
            )
        )
    event = PaymentEvent("sandbox", "TX" + reference, reference, S.SUCCEEDED, Decimal(5000), "CDF", msisdn)
    assert world.service.vendor.apply_event(event).outcome == "vended"
    with reading(world.service.engine) as s:
        token = s.scalars(select(Token).order_by(Token.id.desc())).first()
    assert token is not None
    return token.token


def text_in(world: World, body: str, sender: str = HOLDER, message_id: str = "ATXid_1") -> InboundOutcome:
    return answer_inbound(world.service, InboundSms(message_id, sender, body, shortcode="12345"))


def replies(world: World) -> list[SmsOutbox]:
    with reading(world.service.engine) as s:
        rows = s.scalars(select(SmsOutbox).where(SmsOutbox.kind.in_(["resend", "help"]))).all()
    return list(rows)


def outbox_size(world: World) -> int:
    with reading(world.service.engine) as s:
        return len(s.scalars(select(SmsOutbox)).all())


def set_language(world: World, phone: str, language: str) -> None:
    with transaction(world.service.engine) as s:
        for sub in s.scalars(select(Subscriber).where(Subscriber.phone == phone)):
            sub.language = language


# Parsing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "account"),
    [
        ("TOKEN", None),
        ("  token  ", None),
        ("Jeton", None),
        ("jeton\n", None),
        ("TOKENI", None),
        ("tena", None),
        ("Resend", None),
        ("code", None),
        ("JETON 01234567897", "01234567897"),
        ("token 0123 4567 897", "01234567897"),  # grouped as printed on the meter
        ("Token, 01234567897.", "01234567897"),
        ("tena*01234567897", "01234567897"),
        ("jeton 0000600001234567897", "0000600001234567897"),  # looked up, then refused (no such meter)
        ("jeton enk-0001", "ENK-0001"),
        ("TOKEN 600727000001234567", "600727000001234567"),
    ],
)
def test_keywords_are_recognised_in_any_case_with_an_optional_account(text: str, account: str | None) -> None:
    assert parse_request(text, KEYWORDS) == ResendRequest(account)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello",
        "TOKENS",
        "MY TOKEN",
        "token please",
        "jeton é",
        "JETON 0123456789012345678901",
        "ＴＯＫＥＮ",
    ],
)
def test_anything_else_is_not_a_request(text: str) -> None:
    assert parse_request(text, KEYWORDS) is None


def test_the_at_form_is_parsed_and_malformed_ones_are_refused() -> None:
    form = {
        "from": "+243990000001",
        "to": "12345",
        "text": "TOKEN",
        "date": "2026-11-28 12:00:00",
        "id": "ATXid_abc",
        "linkId": "",
        "networkCode": "63002",
    }
    msg = parse_inbound_form(form)
    assert msg == InboundSms(
        "ATXid_abc", "+243990000001", "TOKEN", "12345", None, "63002", "2026-11-28 12:00:00"
    )
    for bad in (
        {k: v for k, v in form.items() if k != "id"},
        {k: v for k, v in form.items() if k != "from"},
        {k: v for k, v in form.items() if k != "text"},
        {**form, "id": "AT id"},
        {**form, "id": "x" * 81},
        {**form, "id": "ATXid_\x00"},
        {**form, "from": " "},
        {**form, "from": "+243" * 10},
    ):
        assert parse_inbound_form(bad) is None, bad


# Who gets which token --------------------------------------------------------------------------------


def test_the_holder_gets_the_last_token_of_their_meter(world: World) -> None:
    vend(world, "r1", drn=world.meter_drn, msisdn=HOLDER)
    last = vend(world, "r2", drn=world.meter_drn, msisdn=PAYER)  # someone else paid for the holder's meter
    assert text_in(world, " jeton ") is InboundOutcome.QUEUED
    [reply] = replies(world)
    assert reply.to == HOLDER and reply.kind == "resend" and reply.status == "queued"
    assert reply.text.startswith(f"Nguvu: dernier jeton du compteur {world.meter_drn}: {group4(last)}.")
    assert reply.inbound_message_id == "ATXid_1"


@pytest.mark.parametrize("named", ["drn", "pan", "code"])
def test_the_holder_may_name_the_meter_by_number_pan_or_customer_code(world: World, named: str) -> None:
    token = vend(world, "r1", drn=world.meter_drn, msisdn=HOLDER)
    with reading(world.service.engine) as s:
        pan = s.scalars(select(Meter.pan).where(Meter.drn == world.meter_drn)).one()
    account = {"drn": world.meter_drn, "pan": pan, "code": "enk-0001"}[named]
    assert text_in(world, f"TOKEN {account}") is InboundOutcome.QUEUED
    [reply] = replies(world)
    assert group4(token) in reply.text and reply.to == HOLDER


def test_a_meter_that_is_not_the_senders_gets_no_token(world: World) -> None:
    theirs = vend(world, "r1", drn=world.other_drn, msisdn=PAYER)
    assert text_in(world, f"JETON {world.other_drn}", sender=HOLDER) is InboundOutcome.QUEUED
    assert (
        text_in(world, f"JETON {world.meter_drn}", sender=STRANGER, message_id="m2") is InboundOutcome.QUEUED
    )
    assert text_in(world, "JETON ENK-0001", sender=STRANGER, message_id="m3") is InboundOutcome.QUEUED
    texts = {r.to + " " + r.text for r in replies(world)}
    assert texts == {
        f"{HOLDER} {not_linked_sms('fr', meter=world.other_drn)}",
        f"{STRANGER} {not_linked_sms('fr', meter=world.meter_drn)}",
        f"{STRANGER} {not_linked_sms('fr', meter='ENK-0001')}",
    }
    assert not any(group4(theirs) in t for t in texts)


def test_a_payer_gets_only_the_tokens_they_paid_for(world: World) -> None:
    mine = vend(world, "r1", drn=world.other_drn, msisdn=PAYER, language="sw")
    later = vend(world, "r2", drn=world.other_drn, msisdn=STRANGER)  # newer token, other phone
    assert text_in(world, "tokeni", sender=PAYER) is InboundOutcome.QUEUED
    assert text_in(world, f"TOKENI {world.other_drn}", sender=PAYER, message_id="m2") is InboundOutcome.QUEUED
    first, second = replies(world)
    for reply in (first, second):
        assert reply.to == PAYER and group4(mine) in reply.text and group4(later) not in reply.text
        assert reply.text.startswith(
            f"Nguvu: tokeni ya mwisho ya mita {world.other_drn}"
        )  # the USSD language


def test_a_payment_that_was_not_vended_gives_no_right_to_the_meters_token(world: World) -> None:
    token = vend(world, "r1", drn=world.other_drn, msisdn=PAYER)
    with transaction(world.service.engine) as s:  # a USSD purchase started but never paid
        meter = s.scalars(select(Meter).where(Meter.drn == world.other_drn)).one()
        s.add(
            Payment(
                reference="q1",
                provider="sandbox",
                status=PaymentStatus.QUEUED,
                msisdn=STRANGER,
                meter_id=meter.id,
                account=world.other_drn,
                amount=Decimal(5000),
                currency="CDF",
            )
        )
    assert text_in(world, f"TOKEN {world.other_drn}", sender=STRANGER) is InboundOutcome.QUEUED
    [reply] = replies(world)
    assert group4(token) not in reply.text and reply.text == not_linked_sms("fr", meter=world.other_drn)


def test_no_token_yet_and_unknown_sender(world: World) -> None:
    assert text_in(world, "JETON") is InboundOutcome.QUEUED
    assert text_in(world, f"JETON {world.meter_drn}", message_id="m2") is InboundOutcome.QUEUED
    assert text_in(world, "JETON", sender=STRANGER, message_id="m3") is InboundOutcome.QUEUED
    texts = [(r.to, r.text) for r in replies(world)]
    assert texts == [
        (HOLDER, no_token_sms("fr", meter=world.meter_drn)),
        (HOLDER, no_token_sms("fr", meter=world.meter_drn)),
        (STRANGER, no_meter_sms("fr")),
    ]


def test_a_holder_of_several_meters_gets_the_newest_token_of_any(world: World) -> None:
    with transaction(world.service.engine) as s:
        meter = s.scalars(select(Meter).where(Meter.drn == world.other_drn)).one()
        meter.subscriber_id = s.scalars(select(Subscriber.id)).one()
    vend(world, "r1", drn=world.meter_drn, msisdn=HOLDER)
    newest = vend(world, "r2", drn=world.other_drn, msisdn=PAYER)
    assert text_in(world, "token") is InboundOutcome.QUEUED
    [reply] = replies(world)
    assert group4(newest) in reply.text and world.other_drn in reply.text


# Languages and help -----------------------------------------------------------------------------------


def test_unknown_text_gets_help_in_french_by_default(world: World) -> None:
    assert text_in(world, "Bonjour, ma facture?", sender=STRANGER) is InboundOutcome.QUEUED
    [reply] = replies(world)
    assert reply.kind == "help" and reply.text == help_sms("fr", keyword="JETON")
    assert "envoyez JETON" in reply.text


def test_replies_use_the_subscribers_language(world: World) -> None:
    set_language(world, HOLDER, "en")
    assert text_in(world, "what?") is InboundOutcome.QUEUED
    assert text_in(world, "jeton", message_id="m2") is InboundOutcome.QUEUED
    help_reply, resend_reply = replies(world)
    assert (
        help_reply.text
        == "Nguvu: to get your last token again, send TOKEN or TOKEN followed by the meter number."
    )
    assert resend_reply.text == f"Nguvu: no token found for meter {world.meter_drn}."


def test_help_names_a_configured_keyword_and_follows_the_default_language(world: World) -> None:
    world.service.settings = Settings(
        kek=world.settings.kek, default_language="sw", sms_resend_keywords=("umeme", "Courant")
    )
    assert text_in(world, "TOKEN", sender=STRANGER) is InboundOutcome.QUEUED  # not configured any more
    assert text_in(world, "Umeme", sender=STRANGER, message_id="m2") is InboundOutcome.QUEUED
    help_reply, resend_reply = replies(world)
    assert help_reply.text == help_sms("sw", keyword="UMEME") and "tuma UMEME" in help_reply.text
    assert resend_reply.text == no_meter_sms("sw")


def test_new_texts_are_single_gsm7_messages_at_their_longest() -> None:
    for lang in ("fr", "en", "sw"):
        for text in (
            help_sms(lang, keyword="K" * 20),
            not_linked_sms(lang, meter="9" * 20),
            no_meter_sms(lang),
            no_token_sms(lang, meter="/".join(["0" * 13] * 3)),
        ):
            assert is_gsm7(text) and len(text) <= 160, (lang, len(text), text)


# Limits and redeliveries ------------------------------------------------------------------------------


def test_at_most_three_replies_per_phone_per_hour(world: World) -> None:
    vend(world, "r1", drn=world.meter_drn, msisdn=HOLDER)
    outcomes = [text_in(world, "JETON" if i % 2 else "hi", message_id=f"m{i}") for i in range(5)]
    assert outcomes == [InboundOutcome.QUEUED] * 3 + [InboundOutcome.RATE_LIMITED] * 2
    assert len(replies(world)) == 3
    assert text_in(world, "JETON", sender=STRANGER, message_id="s1") is InboundOutcome.QUEUED  # per phone
    world.clock.now += timedelta(minutes=61)
    assert text_in(world, "JETON", message_id="m9") is InboundOutcome.QUEUED
    assert len(replies(world)) == 5


def test_the_limit_is_a_setting_and_zero_turns_replies_off(world: World) -> None:
    world.service.settings = Settings(kek=world.settings.kek, sms_resend_per_hour=0)
    assert text_in(world, "JETON") is InboundOutcome.RATE_LIMITED
    assert replies(world) == []


def test_a_redelivered_message_is_answered_once(world: World) -> None:
    vend(world, "r1", drn=world.meter_drn, msisdn=HOLDER)
    assert text_in(world, "JETON", message_id="ATXid_dup") is InboundOutcome.QUEUED
    assert text_in(world, "JETON", message_id="ATXid_dup") is InboundOutcome.DUPLICATE
    assert len(replies(world)) == 1


def test_concurrent_redeliveries_and_floods_queue_one_and_three(world: World) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        same = list(pool.map(lambda _i: text_in(world, "JETON", message_id="ATXid_same"), range(8)))
    assert same.count(InboundOutcome.QUEUED) == 1 and len(replies(world)) == 1
    with ThreadPoolExecutor(max_workers=8) as pool:
        flood = list(pool.map(lambda i: text_in(world, "JETON", sender=PAYER, message_id=f"f{i}"), range(8)))
    assert flood.count(InboundOutcome.QUEUED) == 3
    assert len([r for r in replies(world) if r.to == PAYER]) == 3


@pytest.mark.parametrize("sender", ["SAFARICOM", "0990000001", "+0990000001", "+2439900000011111", "+24399"])
def test_no_reply_to_a_sender_that_is_not_e164(world: World, sender: str) -> None:
    assert text_in(world, "JETON", sender=sender) is InboundOutcome.IGNORED
    assert outbox_size(world) == 0


def test_settings_read_the_keywords_and_the_limit(world: World) -> None:
    base = {"NGUVU_KEK": "42" * 32}
    s = Settings.from_env(
        {**base, "NGUVU_SMS_RESEND_KEYWORDS": " umeme, Courant ,", "NGUVU_SMS_RESEND_PER_HOUR": "5"}
    )
    assert s.sms_resend_keywords == ("UMEME", "COURANT") and s.sms_resend_per_hour == 5
    assert Settings.from_env(base).sms_resend_keywords == (
        "JETON",
        "TOKEN",
        "TOKENI",
        "CODE",
        "RESEND",
        "TENA",
    )
    for env, name in (
        ({"NGUVU_SMS_RESEND_KEYWORDS": "my token"}, "NGUVU_SMS_RESEND_KEYWORDS"),
        ({"NGUVU_SMS_RESEND_KEYWORDS": "jéton"}, "NGUVU_SMS_RESEND_KEYWORDS"),
        ({"NGUVU_SMS_RESEND_KEYWORDS": ",,"}, "NGUVU_SMS_RESEND_KEYWORDS"),
        ({"NGUVU_SMS_RESEND_PER_HOUR": "-1"}, "NGUVU_SMS_RESEND_PER_HOUR"),
        ({"NGUVU_SMS_RESEND_PER_HOUR": "many"}, "NGUVU_SMS_RESEND_PER_HOUR"),
    ):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({**base, **env})


# Through HTTP --------------------------------------------------------------------------------------------


def at_form(text: str, message_id: str = "ATXid_http", sender: str = HOLDER) -> dict[str, str]:
    return {
        "from": sender,
        "to": "12345",
        "text": text,
        "date": "2026-11-28 12:00:00",
        "id": message_id,
        "networkCode": "63002",
    }


def test_the_route_queues_the_reply_and_the_worker_sends_it(client: TestClient, world: World) -> None:
    token = vend(world, "r1", drn=world.meter_drn, msisdn=HOLDER)
    asyncio.run(sms.one_pass(world.service))  # send the purchase's own token SMS first
    world.sms.clear()
    r = client.post("/callbacks/sms/console/inbound", data=at_form("Jeton"))
    assert r.status_code == 200 and r.content == b""
    r = client.post("/callbacks/sms/console/inbound", data=at_form("Jeton"))  # AT redelivers
    assert r.status_code == 200
    assert asyncio.run(sms.one_pass(world.service)) == 1
    [line] = world.sms
    assert line.startswith(
        f"[SMS to {HOLDER}] Nguvu: dernier jeton du compteur {world.meter_drn}: {group4(token)}. Energie: 10.7 kWh ("
    )


def test_the_route_answers_200_when_it_records_nothing(client: TestClient, world: World) -> None:
    for i in range(4):
        assert client.post("/callbacks/sms/console/inbound", data=at_form("x", f"m{i}")).status_code == 200
    assert (
        client.post("/callbacks/sms/console/inbound", data=at_form("x", "n", "SAFARICOM")).status_code == 200
    )
    assert len(replies(world)) == 3


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"from=%2B243990000001&text=JETON",  # no id
        b"id=ATXid_1&text=JETON",  # no from
        b"id=ATXid_1&from=%2B243990000001",  # no text
        b"id=AT+id&from=%2B243990000001&text=JETON",  # a space in the id
        b"id=ATXid_1&from=%2B243990000001&text=\xff\xfe",  # not UTF-8
        b'{"id": "ATXid_1", "from": "+243990000001", "text": "JETON"}',
        b"&".join([b"a%d=1" % i for i in range(40)]) + b"&id=x&from=%2B243990000001&text=JETON",
    ],
)
def test_malformed_forms_are_refused_with_400_and_write_nothing(
    client: TestClient, world: World, body: bytes
) -> None:
    r = client.post(
        "/callbacks/sms/console/inbound",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_inbound"
    assert outbox_size(world) == 0


def test_another_providers_path_is_404(client: TestClient, world: World) -> None:
    r = client.post("/callbacks/sms/africastalking/inbound", data=at_form("JETON"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_provider"
    assert outbox_size(world) == 0


def test_a_second_subscriber_on_the_same_phone_shares_the_answer(world: World) -> None:
    # Two accounts registered with one phone (a family): both meters are that phone's.
    with transaction(world.service.engine) as s:
        add_subscriber(s, actor=Actor.cli(), customer_code="ENK-0002", name="Paluku", phone=HOLDER)
        meter = s.scalars(select(Meter).where(Meter.drn == world.other_drn)).one()
        meter.subscriber_id = s.scalars(
            select(Subscriber.id).where(Subscriber.customer_code == "ENK-0002")
        ).one()
    token = vend(world, "r1", drn=world.other_drn, msisdn=PAYER)
    assert text_in(world, "JETON ENK-0002") is InboundOutcome.QUEUED
    [reply] = replies(world)
    assert group4(token) in reply.text


def test_both_providers_implement_parse_inbound(world: World) -> None:
    http = httpx.AsyncClient()
    try:
        at = AfricasTalkingSms(AfricasTalkingConfig("u", Secret("k")), http)
        form = at_form("JETON")
        for provider in (at, ConsoleSms(lambda _line: None)):
            assert isinstance(provider, SmsProvider)
            assert provider.parse_inbound(form) == InboundSms(
                "ATXid_http", HOLDER, "JETON", "12345", None, "63002", "2026-11-28 12:00:00"
            )
        # The Africa's Talking route, end to end, with that provider in the service.
        service = Service(world.settings, engine=world.service.engine, clock=world.clock, sms_provider=at)
        with TestClient(create_app(world.settings, service=service)) as client:
            assert client.post("/callbacks/sms/africastalking/inbound", data=form).status_code == 200
            assert client.post("/callbacks/sms/console/inbound", data=form).status_code == 404
    finally:
        asyncio.run(http.aclose())
    [reply] = replies(world)
    assert reply.to == HOLDER and reply.text == no_token_sms("fr", meter=world.meter_drn)


def test_the_resend_shows_the_token_date_in_local_time(world: World) -> None:
    """The world's clock says 12:00 UTC; Beni keeps Central Africa Time (UTC+2): the SMS says 14:00."""
    vend(world, "tz1", drn=world.meter_drn, msisdn=HOLDER)
    text_in(world, "JETON")
    [reply] = replies(world)
    assert "(2026-11-28 14:00)" in reply.text, reply.text


def test_the_time_zone_setting_is_checked() -> None:
    from api.keystore import Kek

    kek, _ = Kek.generate()
    assert Settings(kek=kek, timezone="UTC").zone.key == "UTC"
    assert Settings.from_env({"NGUVU_KEK": "ab" * 32, "NGUVU_TIMEZONE": "Africa/Kinshasa"}).timezone == (
        "Africa/Kinshasa"
    )
    with pytest.raises(SettingsError, match="NGUVU_TIMEZONE"):
        Settings(kek=kek, timezone="Mars/Olympus")
