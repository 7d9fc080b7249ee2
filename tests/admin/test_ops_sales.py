"""The counter sale: every validation rule of the form (each beside its field, nothing saved), the
units preview from the tariff in force, one payment and one token for a double submit, the token that
decodes for that meter to the previewed kWh, the receipt (A4 and thermal), reprint and resend."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from admintest import AdminClient, csrf_of
from api_tests_conftest import VENDING_KEY, World
from sqlalchemy import func, select

from api.db import reading
from api.keyring import profile_of
from api.models import AuditLog, Meter, Payment, SmsOutbox, Token
from tokencore import VendingKey, decode_token, derive_decoder_key


def _counts(world: World) -> tuple[int, int]:
    with reading(world.service.engine) as s:
        return (
            s.scalar(select(func.count()).select_from(Payment)) or 0,
            s.scalar(select(func.count()).select_from(Token)) or 0,
        )


def _preview(web: AdminClient, **values: str) -> Any:
    form = {"meter": "", "amount": "", "currency": "CDF", **values}
    return web.post("/admin/sales/preview", form)


def _confirm_form(page_text: str) -> dict[str, str]:
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page_text))
    assert {"key", "meter", "amount", "currency", "csrf"} <= fields.keys()
    return fields


@pytest.mark.parametrize(
    ("values", "field", "code"),
    [
        ({"amount": "5000"}, "meter", "field.required"),
        ({"meter": "99999999999", "amount": "5000"}, "meter", "field.meter_not_found"),
        ({"meter": "METER", "amount": "abc"}, "amount", "field.invalid_amount"),
        ({"meter": "METER", "amount": "-5"}, "amount", "field.invalid_amount"),
        ({"meter": "METER", "amount": "10.123"}, "amount", "field.invalid_amount"),
        ({"meter": "METER", "amount": ""}, "amount", "field.required"),
        ({"meter": "METER", "amount": "500"}, "amount", "field.amount_out_of_limits"),
        ({"meter": "METER", "amount": "900000"}, "amount", "field.amount_out_of_limits"),
        ({"meter": "METER", "amount": "5000", "currency": "EUR"}, "currency", "field.invalid_choice"),
    ],
)
def test_every_rule_is_shown_beside_its_field_and_saves_nothing(
    web: AdminClient, world: World, values: dict[str, str], field: str, code: str
) -> None:
    from api.admin import i18n

    web.login("cashier")
    values = {k: (world.meter_drn if v == "METER" else v) for k, v in values.items()}
    before = _counts(world)
    page = _preview(web, **values)
    assert page.status_code == 422, page.text
    assert f'id="f-{field}-error"' in page.text
    expected = i18n.text("fr", code)
    assert expected.replace("'", "&#39;") in page.text or expected in page.text
    assert _counts(world) == before


def test_no_tariff_in_that_currency(web: AdminClient, world: World) -> None:
    from sqlalchemy import update

    from api.db import transaction
    from api.models import Tariff

    with transaction(world.service.engine) as s:
        s.execute(update(Tariff).where(Tariff.currency == "USD").values(active=False))
    web.login("cashier")
    page = _preview(web, meter=world.meter_drn, amount="5", currency="USD")
    assert page.status_code == 422 and 'id="f-currency-error"' in page.text


def _decode(world: World, token: str) -> Any:
    with reading(world.service.engine) as s:
        meter = s.scalars(select(Meter).where(Meter.drn == world.meter_drn)).one()
    return decode_token(token, derive_decoder_key(VendingKey.from_hex(VENDING_KEY), profile_of(meter)))


def test_sale_preview_confirm_receipt_and_the_token_decodes(web: AdminClient, world: World) -> None:
    web.login("cashier")
    preview = _preview(web, meter=world.meter_drn, amount="5000", currency="CDF")
    assert preview.status_code == 200, preview.text
    shown = re.search(r'id="preview-units">([0-9.]+)', preview.text)
    assert shown
    previewed = Decimal(shown.group(1))
    assert previewed == Decimal("10.7")  # 5000 FC, 16 % VAT inside, 400 FC/kWh, rounded down
    assert "Kahindo Masika" in preview.text or "Kahindo" in preview.text
    done = web.client.post("/admin/sales/confirm", data=_confirm_form(preview.text), follow_redirects=False)
    assert done.status_code == 303
    receipt = web.get(done.headers["location"])
    assert receipt.status_code == 200
    token = re.search(r'id="r-token">([0-9 ]+)<', receipt.text)
    assert token
    digits = token.group(1).replace(" ", "")
    assert len(digits) == 20 and token.group(1).count(" ") == 4
    decoded = _decode(world, digits)
    assert decoded.crc_ok and decoded.units == previewed
    for fact in ("r-holder", "r-meter", "r-amount", "r-vat", "r-units", "r-tid", "r-date", "r-cashier"):
        assert f'id="{fact}"' in receipt.text
    assert "Esther Kavira" in receipt.text and "5\u00a0000\u00a0FC" in receipt.text
    with reading(world.service.engine) as s:
        payment = s.scalars(select(Payment)).one()
        assert payment.channel == "cash" and payment.status == "vended"
        assert payment.created_by.startswith("admin:") and "Esther Kavira" in payment.created_by
        assert s.scalars(select(SmsOutbox).where(SmsOutbox.payment_id == payment.id)).first() is not None
    thermal = web.get(done.headers["location"].split("?")[0] + "?layout=thermal")
    assert 'class="receipt thermal"' in thermal.text and "size: 80mm auto" in thermal.text
    assert 'class="receipt a4"' in receipt.text and "size: A4" in receipt.text
    # The subscriber's history shows the payment and its token in the page's language, not state codes.
    history = web.get(f"/admin/subscribers/{payment.subscriber_id}").text
    assert "Jeton émis" in history and ">vended<" not in history
    assert "<td>En file</td>" in history  # the token SMS, queued (no worker runs in this test)


def test_double_submit_gives_one_payment_and_one_token(web: AdminClient, world: World) -> None:
    web.login("cashier")
    preview = _preview(web, meter=world.meter_drn, amount="5000", currency="CDF")
    form = _confirm_form(preview.text)
    first = web.client.post("/admin/sales/confirm", data=form, follow_redirects=False)
    second = web.client.post("/admin/sales/confirm", data=form, follow_redirects=False)
    assert first.headers["location"] == second.headers["location"]
    assert _counts(world) == (1, 1)
    # The same key for another amount is refused, and changes nothing.
    other = web.client.post("/admin/sales/confirm", data={**form, "amount": "6000"}, follow_redirects=False)
    assert other.status_code == 409 and _counts(world) == (1, 1)
    # A new preview gives a new key: a second sale.
    again = _confirm_form(_preview(web, meter=world.meter_drn, amount="5000", currency="CDF").text)
    assert again["key"] != form["key"]
    web.client.post("/admin/sales/confirm", data=again, follow_redirects=False)
    assert _counts(world) == (2, 2)


def test_confirm_without_a_key_or_csrf_is_refused(web: AdminClient, world: World) -> None:
    web.login("cashier")
    form = _confirm_form(_preview(web, meter=world.meter_drn, amount="5000", currency="CDF").text)
    assert web.client.post("/admin/sales/confirm", data={**form, "key": ""}).status_code == 422
    no_csrf = {k: v for k, v in form.items() if k != "csrf"}
    assert web.client.post("/admin/sales/confirm", data=no_csrf).status_code == 403
    assert _counts(world) == (0, 0)


def test_search_finds_meters_by_phone_fragment(web: AdminClient, world: World) -> None:
    web.login("cashier")
    found = web.get("/admin/sales/find?q=0000001", headers={"HX-Request": "true"})
    assert found.status_code == 200 and f"/admin/sales?meter={world.meter_drn}" in found.text
    assert "<html" not in found.text  # a fragment for htmx
    assert "sale-no-result" in web.get("/admin/sales/find?q=zzzzzz").text
    form = web.get(f"/admin/sales?meter={world.meter_drn}")
    assert f'value="{world.meter_drn}"' in form.text


def test_reprint_is_audited_and_resend_queues_an_sms(web: AdminClient, world: World) -> None:
    web.login("cashier")
    preview = _preview(web, meter=world.meter_drn, amount="5000", currency="CDF")
    done = web.client.post("/admin/sales/confirm", data=_confirm_form(preview.text), follow_redirects=False)
    path = done.headers["location"].split("?")[0]
    page = web.get(path)
    reprint = web.client.post(path + "/reprint", data={"csrf": csrf_of(page)})
    assert reprint.status_code == 200 and 'id="reprinted"' in reprint.text
    # Rendered at the POST address: its links must still name the receipt (a GET there answers 405).
    assert f'href="{path}?layout=thermal"' in reprint.text and f'href="{path}?lang=en"' in reprint.text
    with reading(world.service.engine) as s:
        assert (
            s.scalars(select(AuditLog).where(AuditLog.action == "token_reprinted"))
            .one()
            .actor.startswith("admin:")
        )
        sms_before = s.scalar(select(func.count()).select_from(SmsOutbox)) or 0
    resend = web.client.post(path + "/resend", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert resend.status_code == 303 and "done=sms_queued" in resend.headers["location"]
    with reading(world.service.engine) as s:
        assert (s.scalar(select(func.count()).select_from(SmsOutbox)) or 0) == sms_before + 1
    assert web.get("/admin/sales/999999").status_code == 404
