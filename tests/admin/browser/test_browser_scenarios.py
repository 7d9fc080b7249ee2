"""The back office in a real browser (Chromium through Playwright) against a real `nguvu serve`: the
scenarios of issue 9, with a screenshot of every page on a phone and a desktop viewport."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from browserkit import KRN, METER_DRN, SGC, SUPER_EMAIL, SUPER_PASSWORD, TI, VENDING_KEY, Served, shoot
from playwright.sync_api import Page, expect

from tokencore import KeyParams, MeterPan, MeterProfile, VendingKey, decode_token, derive_decoder_key
from tokencore.identity import pan_from_drn

pytestmark = pytest.mark.browser

NEW_PHONE = "+243812345670"
NEW_DRN = "01234567905"


def login(page: Page, served: Served, email: str = SUPER_EMAIL, password: str = SUPER_PASSWORD) -> None:
    page.goto(served.admin("/login"))
    page.fill("#f-email", email)
    page.fill("#f-password", password)
    page.click("#login-submit")
    expect(page).not_to_have_url(re.compile(r"/admin/login"))


def test_login_refuses_a_wrong_password_then_lets_the_right_one_in(page: Page, served: Served) -> None:
    page.goto(served.admin("/"))
    expect(page).to_have_url(re.compile(r"/admin/login"))  # no session: sent to the login page
    shoot(page, "login")
    page.fill("#f-email", SUPER_EMAIL)
    page.fill("#f-password", "not the password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_be_visible()
    shoot(page, "login-refused")
    login(page, served)
    expect(page.locator("body")).to_contain_text("Kasereka")


def test_every_page_renders_on_a_phone_and_a_desktop(page: Page, served: Served) -> None:
    login(page, served)
    pages = {
        "dashboard": "/",
        "subscribers": "/subscribers",
        "subscriber-new": "/subscribers/new",
        "subscriber-detail": "/subscribers/1",
        "sale": "/sales",
        "payments": "/payments",
        "tariffs": "/tariffs",
        "engineering": "/engineering",
        "accounts": "/accounts",
        "audit": "/audit",
        "exports": "/exports",
        "password": "/password",
    }
    for name, path in pages.items():
        answer = page.goto(served.admin(path))
        assert answer is not None and answer.status == 200, (path, answer and answer.status)
        expect(page.locator("h1").first).to_be_visible()
        shoot(page, name)


def _fill_subscriber(page: Page, phone: str, drn: str) -> None:
    values = {
        "#f-name": "Kavira",
        "#f-post_name": "Mbusa",
        "#f-phone": phone,
        "#f-quarter": "Ngongolio",
        "#f-cell": "Rwangoma",
        "#f-avenue": "Butembo",
        "#f-meters-0-number": drn,
        "#f-meters-0-vending_key": "vk1",
        "#f-meters-0-sgc": str(SGC),
        "#f-meters-0-ti": str(TI),
        "#f-meters-0-krn": str(KRN),
        "#f-meters-0-latitude": "0.4921",
        "#f-meters-0-longitude": "29.4702",
    }
    for selector, value in values.items():
        page.fill(selector, value)


def test_a_form_with_errors_saves_nothing_then_the_subscriber_is_found_by_a_phone_fragment(
    page: Page, served: Served
) -> None:
    login(page, served)
    page.goto(served.admin("/subscribers/new"))
    _fill_subscriber(page, "+243 81 abc", "01234567890")  # letters in the phone, a wrong check digit
    page.click("#subscriber-submit")
    expect(page.locator("#form-errors")).to_be_visible()
    expect(page.locator("#f-phone-error")).to_be_visible()
    expect(page.locator("#f-meters-0-number-error")).to_be_visible()
    shoot(page, "subscriber-new-errors")
    page.goto(served.admin("/subscribers?q=Kavira"))
    expect(page.locator("main")).not_to_contain_text("Mbusa")  # nothing was saved

    page.goto(served.admin("/subscribers/new"))
    _fill_subscriber(page, NEW_PHONE, NEW_DRN)
    page.click("#subscriber-submit")
    expect(page).to_have_url(re.compile(r"/admin/subscribers/\d+"))
    expect(page.locator("main")).to_contain_text(NEW_DRN)
    expect(page.locator("main")).not_to_contain_text(VENDING_KEY)

    page.goto(served.admin("/subscribers"))
    page.fill("input[name=q]", "1234567")  # a fragment of +243812345670, typed: htmx searches as you type
    expect(page.locator("main")).to_contain_text("Kavira", timeout=10_000)
    shoot(page, "subscribers-search")


def _decode_units(drn: str, token: str) -> Decimal:
    profile = MeterProfile(MeterPan(str(pan_from_drn(drn))), KeyParams(sgc=SGC, ti=TI, krn=KRN))
    decoded = decode_token(token, derive_decoder_key(VendingKey.from_hex(VENDING_KEY), profile))
    assert decoded.crc_ok
    return Decimal(decoded.units)


def test_counter_sale_token_decodes_to_the_preview_and_a_double_submit_gives_one_token(
    page: Page, served: Served
) -> None:
    login(page, served)
    page.goto(served.admin("/sales"))
    page.fill("#f-meter", METER_DRN)
    page.fill("#f-amount", "5000")
    page.select_option("#f-currency", "CDF")
    page.click("#sale-preview")
    previewed = Decimal(page.inner_text("#preview-units").split()[0].replace(",", "."))
    shoot(page, "sale-confirm")
    # Two clicks on confirm as a hurried cashier does; the second posts the same idempotency key.
    form = page.locator("#confirm-form")
    data = {
        n: form.locator(f"input[name={n}]").input_value()
        for n in ("csrf", "key", "meter", "amount", "currency")
    }
    page.click("#sale-confirm")
    expect(page.locator("#r-token")).to_be_visible()
    first = page.inner_text("#r-token")
    again = page.request.post(served.admin("/sales/confirm"), form=data)
    assert again.ok and first in again.text()
    digits = first.replace(" ", "")
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4} \d{4}", first)
    assert _decode_units(METER_DRN, digits) == previewed
    shoot(page, "sale-receipt")
    page.emulate_media(media="print")
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")
    page.emulate_media(media="screen")

    page.click("#reprint")
    expect(page.locator("#reprinted")).to_be_visible()
    assert page.inner_text("#r-token") == first  # a reprint shows the same token, never a new one
    page.goto(served.admin("/subscribers/1"))
    assert page.locator("main").inner_text().count(first) == 1  # one token in the history
    shoot(page, "subscriber-detail-after-sale")


def test_a_post_without_its_csrf_token_is_refused(page: Page, served: Served) -> None:
    login(page, served)
    answer = page.request.post(served.admin("/sales/preview"), form={"meter": METER_DRN, "amount": "5000"})
    assert answer.status == 403


def test_logout_ends_the_session(page: Page, served: Served) -> None:
    login(page, served)
    page.locator("form[action='/admin/logout'] button, #logout").first.click()
    expect(page).to_have_url(re.compile(r"/admin/login"))
    page.goto(served.admin("/"))
    expect(page).to_have_url(re.compile(r"/admin/login"))
