"""The back office in a real browser (Chromium through Playwright) against a real `nguvu serve`: the
scenarios of issue 9, with a screenshot of every page on a phone and a desktop viewport."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from browserkit import (
    DESKTOP,
    KRN,
    METER_DRN,
    SGC,
    SUPER_EMAIL,
    SUPER_PASSWORD,
    TI,
    VENDING_KEY,
    Served,
    shoot,
)
from playwright.sync_api import Browser, Page, expect

from tokencore import KeyParams, Kind, MeterPan, MeterProfile, VendingKey, decode_token, derive_decoder_key
from tokencore.decode import DecodedToken
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
        "meter-edit": "/meters/1/edit",
        "meter-new": "/subscribers/1/meters/new",
    }
    for name, path in pages.items():
        answer = page.goto(served.admin(path))
        assert answer is not None and answer.status == 200, (path, answer and answer.status)
        expect(page.locator("h1").first).to_be_visible()
        shoot(page, name)


def _fill_subscriber(
    page: Page, phone: str, drn: str, name: str = "Kavira", post_name: str = "Mbusa"
) -> None:
    values = {
        "#f-name": name,
        "#f-post_name": post_name,
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


def _decode(drn: str, token: str) -> DecodedToken:
    profile = MeterProfile(MeterPan(str(pan_from_drn(drn))), KeyParams(sgc=SGC, ti=TI, krn=KRN))
    decoded = decode_token(token, derive_decoder_key(VendingKey.from_hex(VENDING_KEY), profile))
    assert decoded.crc_ok
    return decoded


def _decode_units(drn: str, token: str) -> Decimal:
    return Decimal(_decode(drn, token).units)


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
    page.click("#layout-thermal")
    expect(page.locator("#receipt")).to_have_class(re.compile(r"\bthermal\b"))
    assert page.inner_text("#r-token") == first
    shoot(page, "sale-receipt-thermal")
    page.goto(served.admin("/subscribers/1"))
    assert page.locator("main").inner_text().count(first) == 1  # one token in the history
    shoot(page, "subscriber-detail-after-sale")
    page.goto(served.admin("/"))
    expect(page.locator(".cards").first).to_contain_text(
        re.compile(r"[1-9][\d\u00a0]*\u00a0FC")
    )  # today's sales
    shoot(page, "dashboard-after-sale")
    page.goto(served.admin("/payments"))
    page.locator("#payments a[href^='/admin/payments/']").first.click()
    expect(page.locator("main")).to_contain_text("cash")
    shoot(page, "payment-detail")


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


def _sell(page: Page, served: Served, drn: str, amount: str) -> str:
    """A cash sale at the counter for meter `drn`; the token shown on the receipt."""
    page.goto(served.admin("/sales"))
    page.fill("#f-meter", drn)
    page.fill("#f-amount", amount)
    page.select_option("#f-currency", "CDF")
    page.click("#sale-preview")
    page.click("#sale-confirm")
    expect(page.locator("#r-token")).to_be_visible()
    return page.inner_text("#r-token")


def test_edit_then_delete_keeps_the_history(page: Page, served: Served) -> None:
    login(page, served)
    page.goto(served.admin("/subscribers/new"))
    _fill_subscriber(page, "+243823456781", "01234567913", name="Muhindo", post_name="Kambale")
    page.click("#subscriber-submit")
    expect(page).to_have_url(re.compile(r"/admin/subscribers/\d+"))
    detail = page.url.split("?")[0]
    token = _sell(page, served, "01234567913", "2000")

    page.goto(detail)
    page.click("#edit-subscriber")
    expect(page.locator("#f-post_name")).to_have_value("Kambale")
    shoot(page, "subscriber-edit")
    page.fill("#f-post_name", "Syauswa")
    page.fill("#f-quarter", "Paida")
    page.click("#edit-submit")
    expect(page.locator("#subscriber-name")).to_contain_text("Muhindo Syauswa")
    expect(page.locator("main")).to_contain_text("Paida")

    page.check("#f-confirm")
    page.click("#delete-subscriber")
    expect(page.locator("#deleted-notice")).to_be_visible()
    # The history stays: the payment and its token are still on the (deleted) subscriber's page.
    expect(page.locator("#tokens")).to_contain_text(token)
    expect(page.locator("#payments tbody tr")).to_have_count(1)
    expect(page.locator("#edit-subscriber")).to_have_count(0)
    shoot(page, "subscriber-deleted")
    page.goto(served.admin("/subscribers?q=Muhindo"))
    expect(page.locator("main")).not_to_contain_text("Syauswa")  # gone from the list...
    page.check("#f-deleted")  # ...unless deleted subscribers are asked for (htmx reloads the list)
    expect(page.locator("#subscriber-list")).to_contain_text("Syauswa")
    page.goto(served.admin("/audit"))
    expect(page.locator("main")).to_contain_text("Syauswa")  # the edit's before → after
    shoot(page, "audit-after-edit")


def _create_account(page: Page, served: Served, email: str, role: str, password: str) -> None:
    page.goto(served.admin("/accounts"))
    page.fill("#f-email", email)
    page.select_option("#f-role", role)
    page.fill("#f-name", "Neema")
    page.fill("#f-post_name", "Kasoki")
    page.fill("#f-password", password)
    page.click("#account-submit")
    expect(page).to_have_url(re.compile(r"/admin/accounts\?done=account_created"))
    expect(page.locator("#accounts")).to_contain_text(email)


def test_the_super_admin_creates_a_cashier_who_cannot_open_administrators_or_engineering(
    page: Page, browser: Browser, served: Served
) -> None:
    login(page, served)
    _create_account(page, served, "caissier@enk.example", "cashier", "Caisse-Beni-2026")
    cashier_context = browser.new_context(viewport=DESKTOP, locale="fr-FR", timezone_id="Africa/Lubumbashi")
    try:
        cashier = cashier_context.new_page()
        login(cashier, served, "caissier@enk.example", "Caisse-Beni-2026")
        expect(cashier.locator("#menu-sales")).to_be_visible()
        expect(cashier.locator("#menu-accounts")).to_have_count(0)
        expect(cashier.locator("#menu-engineering")).to_have_count(0)
        for path in ("/accounts", "/engineering"):
            answer = cashier.goto(served.admin(path))
            assert answer is not None and answer.status == 403, path
            expect(cashier.locator("main")).to_contain_text("Votre rôle ne permet pas")
        shoot(cashier, "cashier-refused")
        answer = cashier.goto(served.admin("/sales"))
        assert answer is not None and answer.status == 200
    finally:
        cashier_context.close()


def test_repeated_wrong_passwords_lock_logging_in_until_the_super_admin_unlocks(
    page: Page, browser: Browser, served: Served
) -> None:
    login(page, served)  # the super administrator's session, opened before the lock
    _create_account(page, served, "agent@enk.example", "admin", "Agent-Beni-2026")
    other_context = browser.new_context(viewport=DESKTOP, locale="fr-FR", timezone_id="Africa/Lubumbashi")
    try:
        agent = other_context.new_page()
        agent.goto(served.admin("/login"))
        for _ in range(5):  # the fifth failure in a row locks (the account, or this address first)
            agent.fill("#f-email", "agent@enk.example")
            agent.fill("#f-password", "wrong password")
            agent.click("#login-submit")
            expect(agent.locator("#login-error")).to_be_visible()
            if "bloquée" in agent.inner_text("#login-error"):
                break
        expect(agent.locator("#login-error")).to_contain_text("bloquée")
        agent.fill("#f-email", "agent@enk.example")
        agent.fill("#f-password", "Agent-Beni-2026")
        agent.click("#login-submit")  # the right password, refused while locked
        expect(agent.locator("#login-error")).to_contain_text("bloquée")
        shoot(agent, "login-locked")

        page.goto(served.admin("/accounts"))
        unlock = page.locator("form[action='/admin/accounts/unlock'] button")
        assert unlock.count() >= 1  # the super administrator sees the lock
        shoot(page, "accounts-locked")
        while unlock.count():
            with page.expect_navigation():
                unlock.first.click()
            expect(page).to_have_url(re.compile(r"done=unlocked"))

        login(agent, served, "agent@enk.example", "Agent-Beni-2026")
        expect(agent.locator("#menu-engineering")).to_be_visible()
    finally:
        other_context.close()


def test_a_management_token_shows_its_warning_then_a_sheet_whose_token_the_meter_accepts(
    page: Page, served: Served
) -> None:
    login(page, served)
    page.goto(served.admin(f"/engineering?meter={METER_DRN}"))
    expect(page.locator("#eng-meter")).to_contain_text(METER_DRN)
    page.fill("#f-mpl_watts", "2500")
    page.click("#eng-review-set_mpl")
    expect(page.locator("#eng-warning")).to_be_visible()
    expect(page.locator("#eng-value")).to_contain_text("2500 W")
    page.click("#eng-issue")  # the box is not ticked: nothing is issued
    expect(page.locator("#sheet")).to_have_count(0)
    shoot(page, "engineering-review")
    page.check("#f-confirm")
    page.click("#eng-issue")
    expect(page.locator("#sheet-tokens li")).to_have_count(1)
    decoded = _decode(METER_DRN, page.inner_text("#sheet-tokens li").replace(" ", ""))
    assert decoded.fields.kind is Kind.MPL and decoded.watts == 2500
    shoot(page, "engineering-sheet")
