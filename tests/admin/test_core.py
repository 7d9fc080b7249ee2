"""The back office's core: login and logout, sessions (new id at login, idle and absolute expiry,
deactivation), CSRF, login throttling and unlock, cookies, the catalogue, the filters, escaping."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from admintest import ACCOUNTS, PASSWORD, AdminClient
from sqlalchemy import func, select

from api.admin import i18n, render, sessions, throttle
from api.admin.routing import REFUSED_HEADER
from api.db import reading
from api.errors import FIELD_MESSAGES
from api.models import AdminSession, AuditLog, LoginThrottle

TEMPLATES = Path(render.__file__).parent / "templates"


def test_login_opens_a_session_and_logout_ends_it(web: AdminClient, world) -> None:
    assert web.get("/admin/accounts", follow_redirects=False).headers[REFUSED_HEADER] == "login"
    answer = web.login("superadmin")
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # NGUVU_PUBLIC_URL is http in the tests
    assert web.get("/admin/accounts").status_code == 200
    assert web.logout().status_code == 303
    assert web.get("/admin/accounts", follow_redirects=False).status_code == 303
    with reading(world.service.engine) as s:
        assert s.scalar(select(func.count()).select_from(AdminSession)) == 0
        actions = s.scalars(select(AuditLog.action)).all()
    assert "login" in actions and "logout" in actions


def test_cookie_is_secure_when_the_public_url_is_https(web: AdminClient, world) -> None:
    object.__setattr__(world.settings, "public_base_url", "https://enk.example")
    assert "Secure" in web.login("admin").headers["set-cookie"]


def test_a_new_session_id_at_every_login(web: AdminClient) -> None:
    first = web.login("admin").cookies[sessions.COOKIE]
    second = web.login("admin").cookies[sessions.COOKIE]
    assert first != second


def test_the_stored_session_is_a_hash_of_the_cookie(web: AdminClient, world) -> None:
    value = web.login("admin").cookies[sessions.COOKIE]
    secret = value.rsplit(".", 1)[0]
    with reading(world.service.engine) as s:
        hashes = s.scalars(select(AdminSession.id_hash)).all()
    assert secret not in hashes and sessions.hash_id(secret) in hashes


def test_a_forged_cookie_is_ignored(web: AdminClient) -> None:
    web.login("admin")
    value = web.client.cookies[sessions.COOKIE]
    web.client.cookies.set(sessions.COOKIE, value[:-2] + "xx", path="/admin")
    assert web.get("/admin/password", follow_redirects=False).headers[REFUSED_HEADER] == "login"


def test_wrong_password_and_unknown_account_are_refused_alike(web: AdminClient, world) -> None:
    wrong = web.login_as(ACCOUNTS["admin"][0], "not the password")
    unknown = web.login_as("nobody@enk.cd", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert 'id="login-error"' in wrong.text and sessions.COOKIE not in wrong.cookies
    message = re.search(r'id="login-error">([^<]*)<', wrong.text)
    assert message and message.group(1) in unknown.text
    with reading(world.service.engine) as s:
        subjects = s.scalars(select(AuditLog.subject).where(AuditLog.action == "login_failed")).all()
    assert sorted(subjects) == sorted([f"administrator:{web.ids['admin']}", "unknown account"])


def test_idle_expiry(web: AdminClient, world) -> None:
    web.login("admin")
    world.clock.now += timedelta(minutes=29)
    assert web.get("/admin/password").status_code == 200  # a request resets the idle time
    world.clock.now += timedelta(minutes=29)
    assert web.get("/admin/password").status_code == 200
    world.clock.now += timedelta(minutes=31)
    assert web.get("/admin/password", follow_redirects=False).headers[REFUSED_HEADER] == "login"


def test_absolute_expiry(web: AdminClient, world) -> None:
    web.login("admin")
    for _ in range(12 * 3):  # busy all day: a request every 20 minutes
        world.clock.now += timedelta(minutes=20)
        if web.get("/admin/password", follow_redirects=False).status_code != 200:
            break
    assert world.clock.now - datetime(2026, 11, 28, 12, tzinfo=UTC) == timedelta(hours=12)


def test_deactivation_ends_the_accounts_sessions_at_once(web: AdminClient, world) -> None:
    other = AdminClient(type(web.client)(web.client.app), web.ids)
    other.login("cashier")
    assert other.get("/admin/password").status_code == 200
    web.login("superadmin")
    done = web.post(f"/admin/accounts/{web.ids['cashier']}/active", {"active": "0"})
    assert done.status_code == 303
    assert other.get("/admin/password", follow_redirects=False).headers[REFUSED_HEADER] == "login"
    assert other.login("cashier").status_code == 401  # and it cannot log in again


def test_csrf_is_required_on_every_state_change(web: AdminClient) -> None:
    web.login("superadmin")
    data = {"email": "new@enk.cd", "name": "Nouveau", "role": "cashier", "password": PASSWORD}
    bare = web.post("/admin/accounts", data, csrf=False)
    assert bare.status_code == 403 and bare.headers[REFUSED_HEADER] == "csrf"
    forged = web.post("/admin/accounts", {**data, "csrf": "A" * 43}, csrf=False)
    assert forged.headers[REFUSED_HEADER] == "csrf"
    other = AdminClient(type(web.client)(web.client.app), web.ids)
    foreign = web.post("/admin/accounts", {**data, "csrf": other.csrf("/admin/login")}, csrf=False)
    assert foreign.headers[REFUSED_HEADER] == "csrf"
    # htmx sends it as a header (hx-headers on <body>): accepted that way too.
    token = web.csrf()
    by_header = web.client.post(
        "/admin/accounts", data=data, headers={"X-CSRF-Token": token, "HX-Request": "true"}
    )
    assert by_header.status_code in (200, 303)
    assert "new@enk.cd" in web.get("/admin/accounts").text


def test_the_login_form_needs_its_csrf_token_too(web: AdminClient) -> None:
    email, _ = ACCOUNTS["admin"]
    refused = web.client.post(
        "/admin/login", data={"email": email, "password": PASSWORD}, follow_redirects=False
    )
    assert refused.headers[REFUSED_HEADER] == "csrf"


def test_five_failures_lock_the_account_with_growing_delays(web: AdminClient, world) -> None:
    email = ACCOUNTS["admin"][0]
    for _ in range(throttle.LIMIT):
        assert web.login_as(email, "wrong password!").status_code == 401
    locked = web.login_as(email, PASSWORD)  # even the right password is refused while locked
    assert locked.status_code == 401 and 'id="login-error"' in locked.text
    assert "03/12" not in locked.text and "28/11/2026 14:00" in locked.text  # local time, 30 s lock
    world.clock.now += timedelta(seconds=31)
    assert web.login_as(email, "wrong password!").status_code == 401  # sixth failure: 60 s
    world.clock.now += timedelta(seconds=31)
    assert web.login_as(email, PASSWORD).status_code == 401
    world.clock.now += timedelta(seconds=30)
    assert web.login_as(email, PASSWORD).status_code == 303
    assert throttle.lock_length(5) == timedelta(seconds=30)
    assert throttle.lock_length(7) == timedelta(minutes=2)
    assert throttle.lock_length(40) == timedelta(hours=1)


def test_an_address_guessing_many_accounts_is_locked(web: AdminClient) -> None:
    for n in range(throttle.LIMIT):
        web.login_as(f"guess{n}@enk.cd", "wrong password!")
    assert web.login_as(ACCOUNTS["cashier"][0], PASSWORD).status_code == 401


def test_the_superadmin_sees_the_lock_and_lifts_it(web: AdminClient, world) -> None:
    email = ACCOUNTS["cashier"][0]
    web.login("superadmin")  # before the failures: they lock the test client's address too
    cashier = AdminClient(type(web.client)(web.client.app), web.ids)
    for _ in range(throttle.LIMIT):
        cashier.login_as(email, "wrong password!")
    page = web.get("/admin/accounts").text
    assert f'id="locked-{web.ids["cashier"]}"' in page and 'id="address-locks"' in page
    assert web.post("/admin/accounts/unlock", {"key": f"account:{email}"}).status_code == 303
    assert web.post("/admin/accounts/unlock", {"key": "address:testclient"}).status_code == 303
    assert f'id="locked-{web.ids["cashier"]}"' not in web.get("/admin/accounts").text
    assert cashier.login("cashier").status_code == 303
    with reading(world.service.engine) as s:
        assert s.scalar(select(func.count()).select_from(LoginThrottle)) == 0
        assert s.scalar(select(func.count()).where(AuditLog.action == "login_unlocked")) == 2


def test_password_change(web: AdminClient, world) -> None:
    web.login("admin")
    bad = web.post("/admin/password", {"current": "wrong", "new": "short", "repeat": "other"})
    assert bad.status_code == 422
    for field in ("current", "new", "repeat"):
        assert f'id="f-{field}-error"' in bad.text
    new = "a brand new passphrase"
    ok = web.post("/admin/password", {"current": PASSWORD, "new": new, "repeat": new})
    assert ok.status_code == 303
    assert web.get("/admin/password").status_code == 200  # this session goes on
    web.logout()
    assert web.login("admin").status_code == 401
    assert web.login("admin", new).status_code == 303


def test_reset_password_and_role_change_by_the_superadmin(web: AdminClient) -> None:
    web.login("superadmin")
    cashier = web.ids["cashier"]
    short = web.post(f"/admin/accounts/{cashier}/password", {"password": "short"})
    assert short.status_code == 422
    assert (
        web.post(f"/admin/accounts/{cashier}/password", {"password": "handed over in person"}).status_code
        == 303
    )
    assert web.post(f"/admin/accounts/{cashier}/role", {"role": "admin"}).status_code == 303
    assert web.post(f"/admin/accounts/{cashier}/role", {"role": "king"}).status_code == 422
    last = web.post(f"/admin/accounts/{web.ids['superadmin']}/active", {"active": "0"})
    assert last.status_code == 409  # the last super administrator stays
    other = AdminClient(type(web.client)(web.client.app), web.ids)
    assert other.login_as(ACCOUNTS["cashier"][0], "handed over in person").status_code == 303
    assert 'id="who-role">Administrateur<' in other.get("/admin/password").text


def test_account_form_errors_save_nothing(web: AdminClient, world) -> None:
    web.login("superadmin")
    answer = web.post(
        "/admin/accounts", {"email": ACCOUNTS["admin"][0], "name": "", "role": "boss", "password": "x"}
    )
    assert answer.status_code == 422
    for field in ("email", "name", "role", "password"):
        assert f'id="f-{field}-error"' in answer.text
    with reading(world.service.engine) as s:
        assert s.scalar(select(func.count()).where(AuditLog.action == "account_created")) == 3


def test_names_are_escaped(web: AdminClient) -> None:
    web.login("superadmin")
    page = web.get("/admin/accounts").text
    assert "<b>Kahindo</b>" not in page and "&lt;b&gt;Kahindo&lt;/b&gt;" in page


def test_no_password_hash_on_any_page(web: AdminClient) -> None:
    web.login("superadmin")
    for path in ("/admin/accounts", "/admin/password"):
        assert "$argon2" not in web.get(path).text


def test_language_switch(web: AdminClient) -> None:
    assert "Log in" in web.get("/admin/login?lang=en").text
    assert "Ingia" in web.get("/admin/login?lang=sw").text
    assert "Ingia" in web.get("/admin/login").text  # remembered by a cookie
    assert "Connexion" in web.get("/admin/login?lang=fr").text


def test_language_links_keep_a_list_filters_and_never_lead_to_a_post_only_address(web: AdminClient) -> None:
    web.login("admin")
    listing = web.get("/admin/payments?status=held&currency=CDF&done=unlocked").text
    assert 'href="/admin/payments?status=held&amp;currency=CDF&amp;lang=en"' in listing
    # A page a POST rendered (here the sale's preview with errors) switches language on its GET page.
    preview = web.post("/admin/sales/preview", {"meter": "", "amount": "", "currency": "CDF"})
    assert preview.status_code == 422 and 'href="/admin/sales?lang=sw"' in preview.text
    assert web.get("/admin/sales?lang=sw").status_code == 200


def test_catalogue_is_complete() -> None:
    for key, texts in i18n.CATALOGUE.items():
        assert set(texts) == set(i18n.LANGS), key
        fields = [set(re.findall(r"{(\w+)}", texts[lang])) for lang in i18n.LANGS]
        assert fields[0] == fields[1] == fields[2], key
    for key in FIELD_MESSAGES:
        assert i18n.has(f"field.{key}"), key


def test_every_key_a_template_uses_exists() -> None:
    # Literal keys only (`t("audit.title")`); a key built from a value (`t("role." ~ r)`) is not checked.
    used: set[str] = set()
    for path in TEMPLATES.rglob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']\s*[,)]""", path.read_text()))
    missing = sorted(k for k in used if not i18n.has(k))
    assert not missing, missing


def test_money_units_dates_and_tokens() -> None:
    nb = "\u00a0"
    assert render.money(Decimal("12500"), "CDF") == f"12{nb}500{nb}FC"
    assert render.money(Decimal("1234567.5"), "CDF") == f"1{nb}234{nb}567,50{nb}FC"
    assert render.money(Decimal("12.5"), "USD") == f"USD{nb}12.50"
    assert render.money(Decimal("1250"), "usd") == f"USD{nb}1{nb}250.00"
    assert render.money(Decimal("-500"), "CDF") == f"-500{nb}FC"
    assert render.money(None) == ""
    assert render.units(Decimal("12.46")) == f"12.5{nb}kWh"
    assert render.group4("12345678901234567890") == "1234 5678 9012 3456 7890"
    zone = ZoneInfo("Africa/Lubumbashi")
    assert render.local_time(datetime(2026, 12, 3, 22, 30, tzinfo=UTC), zone) == "04/12/2026 00:30"
    assert render.local_date(datetime(2026, 12, 3, 22, 30, tzinfo=UTC), zone) == "04/12/2026"


def test_sessions_left_behind_are_purged_at_the_next_login(web: AdminClient, world) -> None:
    web.login("admin")
    world.clock.now += timedelta(hours=1)  # that browser was closed: the session is idle
    other = AdminClient(type(web.client)(web.client.app), web.ids)
    other.login("cashier")
    with reading(world.service.engine) as s:
        assert s.scalar(select(func.count()).select_from(AdminSession)) == 1


def test_audit_log_filters(web: AdminClient, world) -> None:
    web.login("superadmin")
    web.post(f"/admin/accounts/{web.ids['cashier']}/role", {"role": "admin"})
    page = web.get("/admin/audit?action=account_role").text
    assert (
        'id="audit-entries"' in page
        and "cashier" in page
        and "login" not in page.split('id="audit-entries"')[1]
    )
    assert "account_role" not in web.get("/admin/audit?action=login").text.split('id="audit-entries"')[1]
    assert 'id="audit-entries"' in web.get("/admin/audit?actor=kahindo").text
    assert 'id="audit-entries"' not in web.get("/admin/audit?actor=nobody-at-all").text
    # Audit entries carry the real time (the test clock drives sessions only): today has them, a past day not.
    today = datetime.now(ZoneInfo("Africa/Lubumbashi")).date().isoformat()
    assert 'id="audit-entries"' in web.get(f"/admin/audit?since={today}&until={today}").text
    assert 'id="audit-entries"' not in web.get("/admin/audit?since=2026-11-01&until=2026-11-02").text
    bad = web.get("/admin/audit?since=28/11/2026")
    assert bad.status_code == 200 and 'id="f-since-error"' in bad.text
    assert web.get("/admin/audit", follow_redirects=False).status_code == 200
    cashier = AdminClient(type(web.client)(web.client.app), web.ids)
    cashier.login("admin")
    assert cashier.get("/admin/audit").status_code == 200
