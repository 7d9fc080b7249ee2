"""The USSD menu over HTTP, in Africa's Talking's format: every path, bad input, navigation, limits."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from apitest import TestClient
from conftest import World, queue_payment
from sqlalchemy import func, select

from api.db import reading
from api.models import Payment, PaymentStatus, SmsOutbox
from api.ussd.texts import TEXTS

PHONE = "+243990000001"


def dial(client: TestClient, text: str, session: str = "ATUid_1", phone: str = PHONE) -> tuple[int, str]:
    r = client.post(
        "/ussd",
        data={
            "sessionId": session,
            "serviceCode": "*384*1234#",
            "phoneNumber": phone,
            "networkCode": "63002",
            "text": text,
        },
    )
    assert r.headers["content-type"].startswith("text/plain")
    return r.status_code, r.text


def count(world: World, model: type) -> int:
    with reading(world.service.engine) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_first_screen_offers_the_three_languages(client: TestClient) -> None:
    status, body = dial(client, "")
    assert status == 200
    assert body.startswith("CON ")
    assert "Francais" in body and "English" in body and "Kiswahili" in body


def test_french_purchase_queues_one_payment_and_ends(client: TestClient, world: World) -> None:
    assert dial(client, "1")[1].startswith("CON Nguvu\n1. Acheter")
    assert "Devise" in dial(client, "1*1")[1]
    assert "code client" in dial(client, "1*1*1")[1]
    body = dial(client, f"1*1*1*{world.meter_drn}")[1]
    assert f"Compteur {world.meter_drn}" in body and "K****** M*****" in body and "1000 a 500000" in body
    body = dial(client, f"1*1*1*{world.meter_drn}*5000")[1]
    # 5000 CDF incl. 16 % VAT -> 4310.34 CDF of energy at 400 CDF/kWh = 10.7 kWh (rounded down to 0.1)
    assert "Payer 5000 CDF pour 10.7 kWh" in body
    status, body = dial(client, f"1*1*1*{world.meter_drn}*5000*1")
    assert status == 200 and body.startswith("END Merci")
    with reading(world.service.engine) as s:
        payments = s.scalars(select(Payment)).all()
    assert len(payments) == 1
    p = payments[0]
    assert (p.status, p.amount, p.currency, p.msisdn, p.language) == (
        PaymentStatus.QUEUED,
        Decimal(5000),
        "CDF",
        PHONE,
        "fr",
    )


def test_the_gateway_retrying_the_final_request_does_not_queue_twice(
    client: TestClient, world: World
) -> None:
    path = f"1*1*1*{world.meter_drn}*5000*1"
    assert dial(client, path)[1].startswith("END")
    assert dial(client, path)[1].startswith("END")
    assert count(world, Payment) == 1
    assert dial(client, path, session="ATUid_2")[1].startswith("END")
    assert count(world, Payment) == 2


def test_customer_code_is_accepted_and_english_and_swahili_work(client: TestClient, world: World) -> None:
    body = dial(client, "2*1*2*enk-0001")[1]
    assert "Amount in USD (1 to 200)" in body
    assert "Pay 10 USD for 57.4 kWh" in dial(client, "2*1*2*ENK-0001*10")[1]
    assert dial(client, "3*1*1")[1].startswith("CON Sarafu") is False  # currency chosen: account screen
    assert "nambari ya mteja" in dial(client, "3*1*1")[1]


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("9", "Choix invalide"),
        ("1*7", "Choix invalide"),
        ("1*1*3", "Choix invalide"),
        ("1*1*1*99999999999", "Numero inconnu"),
        ("1*1*1*ABC", "Numero inconnu"),
        ("1*1*1*01234567897*abc", "Montant invalide"),
        ("1*1*1*01234567897*10.5", "Montant invalide"),
        ("1*1*1*01234567897*999", "hors limites"),
        ("1*1*1*01234567897*9999999", "hors limites"),
        ("1*1*1*01234567897*5000*3", "Choix invalide"),
        ("1**", "Choix invalide"),
    ],
)
def test_bad_input_reprompts_politely_and_writes_nothing(
    client: TestClient, world: World, path: str, error: str
) -> None:
    status, body = dial(client, path)
    assert status == 200 and body.startswith("CON ") and error in body
    assert count(world, Payment) == 0 and count(world, SmsOutbox) == 0


def test_bad_input_then_good_input_continues_from_the_same_screen(client: TestClient) -> None:
    assert "Devise" in dial(client, "1*9*1")[1]
    assert "code client" in dial(client, "1*9*1*1")[1]


def test_zero_goes_back_and_double_zero_returns_to_the_main_menu(client: TestClient, world: World) -> None:
    assert "Devise" in dial(client, "1*1*1*0")[1]
    assert dial(client, "1*1*0")[1].startswith("CON Nguvu\n1. Acheter")
    assert dial(client, f"1*1*1*{world.meter_drn}*00")[1].startswith("CON Nguvu\n1. Acheter")
    assert "Payer 5000" in dial(client, f"1*1*1*{world.meter_drn}*00*1*1*{world.meter_drn}*5000")[1]
    # English stays English after 00
    assert dial(client, "2*1*00")[1].startswith("CON Nguvu\n1. Buy")


def test_cancel_ends_without_writing(client: TestClient, world: World) -> None:
    assert dial(client, f"1*1*1*{world.meter_drn}*5000*2")[1].startswith("END Achat annule")
    assert count(world, Payment) == 0


def test_help_ends_the_session(client: TestClient) -> None:
    assert dial(client, "2*3")[1].startswith("END Nguvu: buy electricity")


def test_resend_queues_the_sms_to_the_holder_phone_not_the_caller(client: TestClient, world: World) -> None:
    body = dial(client, f"1*2*{world.meter_drn}", phone="+243970000009")[1]
    assert body.startswith("END") and world.meter_drn in body
    with reading(world.service.engine) as s:
        rows = s.scalars(select(SmsOutbox)).all()
    assert [r.to for r in rows] == ["+243990000001"]
    assert "aucun jeton" in rows[0].text


def test_resend_for_a_meter_nobody_holds_gives_only_a_token_the_caller_paid_for(
    client: TestClient, world: World
) -> None:
    """The second meter has no subscriber: a stranger typing its number gets "no token", while the
    phone that bought its last token gets that token."""
    from api.payments.base import PaymentEvent
    from api.payments.base import PaymentStatus as S

    buyer, stranger = "+243970000001", "+243970000002"
    queue_payment(world.service.engine, "bought", world.other_drn, msisdn=buyer)
    event = PaymentEvent("sandbox", "TXB", "bought", S.SUCCEEDED, Decimal(5000), "CDF", buyer)
    vended = world.service.vendor.apply_event(event)
    assert vended.outcome == "vended" and vended.token is not None
    dial(client, f"1*2*{world.other_drn}", phone=stranger)
    dial(client, f"1*2*{world.other_drn}", phone=buyer)
    with reading(world.service.engine) as s:
        texts = {r.to: r.text for r in s.scalars(select(SmsOutbox).where(SmsOutbox.kind == "resend"))}
    assert "aucun jeton" in texts[stranger] and vended.token[:4] not in texts[stranger]
    assert vended.token[:4] + " " + vended.token[4:8] in texts[buyer]


def test_resend_stops_at_the_hourly_limit_of_the_holder_phone(client: TestClient, world: World) -> None:
    """Anyone can type a meter number: the holder's phone gets at most NGUVU_SMS_RESEND_PER_HOUR (3)
    resend SMS per hour, and the caller is told when the limit is reached."""
    screens = [dial(client, f"1*2*{world.meter_drn}", phone=f"+24397000001{i}")[1] for i in range(5)]
    assert all(s.startswith("END Le dernier jeton") for s in screens[:3])
    assert all(s.startswith("END Le jeton du compteur") and "plus tard" in s for s in screens[3:])
    with reading(world.service.engine) as s:
        rows = s.scalars(select(SmsOutbox).where(SmsOutbox.kind == "resend")).all()
    assert [r.to for r in rows] == ["+243990000001"] * 3
    world.clock.now += timedelta(hours=1, seconds=1)  # an hour later the holder may ask again
    assert dial(client, f"1*2*{world.meter_drn}")[1].startswith("END Le dernier jeton")


def test_unknown_currency_tariff_is_refused(client: TestClient, world: World) -> None:
    # The second meter uses the same tariff name; remove USD to check the guard.
    from api.db import transaction
    from api.models import Tariff

    with transaction(world.service.engine) as s:
        for t in s.scalars(select(Tariff).where(Tariff.currency == "USD")):
            t.active = False
    assert "Devise non disponible" in dial(client, f"1*1*2*{world.meter_drn}")[1]


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"sessionId": "x", "phoneNumber": PHONE},  # no text field at all
        {"sessionId": "", "phoneNumber": PHONE, "text": ""},
        {"sessionId": "x", "phoneNumber": "0990000001", "text": ""},
        {"sessionId": "x", "phoneNumber": "+2439900000011111", "text": ""},
    ],
)
def test_malformed_requests_end_the_session_with_400(
    client: TestClient, world: World, form: dict[str, str]
) -> None:
    r = client.post("/ussd", data=form)
    assert r.status_code == 400 and r.text.startswith("END ")
    assert count(world, Payment) == 0


def test_every_screen_fits_160_characters_with_the_longest_values() -> None:
    from api.ussd import menu
    from api.ussd.texts import text

    acct = menu.Account(
        1, "0" * 13, "W******** W********", {"CDF": (Decimal("999999999"), Decimal("999999999"))}
    )
    from api.pricing import Quote

    q = Quote(Decimal("999999999"), "CDF", Decimal(0), Decimal(0), Decimal(0), Decimal("9999999.9"))
    for lang in ("fr", "en", "sw"):
        for screen in ("lang", "main", "currency", "account", "amount", "confirm", "resend"):
            for error in ("", *[k for k in TEXTS if k.startswith("err_")]):
                state = menu.State(screen, lang, "CDF", acct, q, error)
                body = menu.render(state)
                assert len(body) - 4 <= 160, (lang, screen, error, len(body))
                assert body.isascii()
        for final in ("queued", "cancelled", "help", "resent", "resend_limited"):
            body = menu.render(menu.State(final, lang, "CDF", acct, q))
            assert body.startswith("END ") and len(body) - 4 <= 160 and body.isascii(), (lang, final)
        assert len(text("unavailable", lang)) <= 160
