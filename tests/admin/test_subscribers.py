"""Subscriber pages through the test client: search-as-you-type, the new subscriber + meter form (every
validation rule, nothing saved on any error, inline validation), detail (never a key), edit (audited),
delete (soft), reprint and resend."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from admintest import AdminClient
from api_tests_conftest import VENDING_KEY, queue_payment
from sqlalchemy import func, select

from api.actors import Actor
from api.db import reading, transaction
from api.models import AuditLog, Meter, SmsOutbox, Subscriber
from api.registry import add_subscriber
from api.usecases import sales

NEW_DRN = "01234567913"  # 11 digits, valid check digit, not seeded
GOOD = {
    "name": "Kavira",
    "post_name": "Mbusa",
    "phone": "0991234567",
    "quarter": "Mabakanga",
    "cell": "Butanuka",
    "avenue": "Av. de la Paix",
    "language": "sw",
    "customer_code": "",
    "meters.0.number": NEW_DRN,
    "meters.0.vending_key": "vk1",
    "meters.0.sgc": "123457",
    "meters.0.ti": "1",
    "meters.0.krn": "1",
    "meters.0.kt": "2",
    "meters.0.ken": "255",
    "meters.0.ea": "7",
    "meters.0.dkga": "2",
    "meters.0.base_date": "2014",
    "meters.0.phases": "3",
    "meters.0.latitude": "0.4917",
    "meters.0.longitude": "29.4731",
    "meters.0.connection_date": "2026-11-02",
    "meters.0.tariff_name": "residential",
}


def counts(world) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    with reading(world.service.engine) as s:
        return (
            s.scalar(select(func.count()).select_from(Subscriber)) or 0,
            s.scalar(select(func.count()).select_from(Meter)) or 0,
            s.scalar(select(func.count()).select_from(AuditLog)) or 0,
        )


def test_register_a_subscriber_with_a_meter(web: AdminClient, world) -> None:
    web.login("admin")
    answer = web.post("/admin/subscribers/new", GOOD)
    assert answer.status_code == 303, answer.text
    page = web.get(answer.headers["location"]).text
    assert "Kavira Mbusa" in page and "+243991234567" in page and NEW_DRN in page
    assert 'id="done"' in page and "0.491700, 29.473100" in page and "geo:0.4917,29.4731" in page
    assert "SGC 123457" in page and "EA 07" in page and "vk1" in page
    assert VENDING_KEY not in page and "sealed" not in page
    with reading(world.service.engine) as s:
        actions = s.scalars(select(AuditLog.action).where(AuditLog.actor.like("admin:%"))).all()
    assert "subscriber_registered" in actions and "meter_registered" in actions


SELECTS = ("language", "meters.0.ea", "meters.0.base_date")  # a refused choice is not an option to show
BAD = [
    ("name", "", "required"),
    ("phone", "12ab", "invalid_phone"),
    ("customer_code", "ENK-0001", "customer_code_taken"),
    ("customer_code", "12", "invalid_customer_code"),
    ("language", "de", "invalid_choice"),
    ("meters.0.number", "01234567890", "invalid_meter_number"),
    ("meters.0.number", "01234567897", "meter_exists"),
    ("meters.0.vending_key", "nope", "unknown_vending_key"),
    ("meters.0.sgc", "1234567", "out_of_range"),
    ("meters.0.sgc", "abc", "invalid_number"),
    ("meters.0.krn", "0", "out_of_range"),
    ("meters.0.ea", "9", "invalid_choice"),
    ("meters.0.base_date", "2000", "invalid_choice"),
    ("meters.0.latitude", "north", "invalid_number"),
    ("meters.0.latitude", "95", "out_of_range"),
    ("meters.0.connection_date", "02/11/2026", "invalid_date"),
    ("meters.0.serial_url", "", "serial_url_required"),
]


@pytest.mark.parametrize(("field", "value", "key"), BAD, ids=[f"{f}-{k}" for f, _, k in BAD])
def test_each_validation_rule_shows_its_error_and_saves_nothing(
    web: AdminClient, world, field: str, value: str, key: str
) -> None:
    web.login("admin")
    before = counts(world)
    form = {**GOOD, field: value}
    if key == "serial_url_required":
        form["meters.0.connected"] = "1"
    answer = web.post("/admin/subscribers/new", form)
    assert answer.status_code == 422
    fid = "f-" + field.replace(".", "-")
    assert f'id="{fid}-error"' in answer.text, key
    assert f'aria-describedby="{fid}-error"' in answer.text
    if field not in SELECTS and value:
        assert f'value="{value}"' in answer.text  # the typed value is kept
    assert counts(world) == before


def test_inline_validation_answers_for_the_changed_field_and_writes_nothing(web: AdminClient, world) -> None:
    web.login("admin")
    before = counts(world)
    token = web.csrf("/admin/subscribers/new")
    headers = {"HX-Request": "true", "HX-Trigger-Name": "phone", "X-CSRF-Token": token}
    bad = web.client.post("/admin/subscribers/validate", data={**GOOD, "phone": "12"}, headers=headers)
    assert bad.status_code == 200 and 'hx-swap-oob="true"' in bad.text
    assert 'id="f-phone-error"' in bad.text and "<html" not in bad.text
    good = web.client.post("/admin/subscribers/validate", data=GOOD, headers=headers)
    assert 'id="f-phone-msg"' in good.text and "field-error" not in good.text
    assert counts(world) == before


def test_search_by_fragments_htmx_partial_and_pages(web: AdminClient, world) -> None:
    with transaction(world.service.engine) as s:
        for n in range(30):
            add_subscriber(
                s,
                actor=Actor.cli(),
                customer_code=f"BNI-{n:04d}",
                name=f"Muhindo{n:02d}",
                phone=f"+24381555{n:04d}",
            )
    web.login("cashier")
    assert "ENK-0001" in web.get("/admin/subscribers?q=kahin").text  # name fragment, any case
    assert "ENK-0001" in web.get("/admin/subscribers?q=masi").text  # post-name
    assert "ENK-0001" in web.get("/admin/subscribers?q=90000").text  # phone fragment
    assert "ENK-0001" in web.get("/admin/subscribers?q=4567897").text  # meter number fragment
    assert "ENK-0001" not in web.get("/admin/subscribers?q=muhindo").text
    partial = web.get("/admin/subscribers?q=muhindo", headers={"HX-Request": "true"}).text
    assert "<html" not in partial and 'id="subscriber-list"' in partial and 'id="page-next"' in partial
    first = web.get("/admin/subscribers?q=muhindo&sort=-name").text
    assert first.index("Muhindo29") < first.index("Muhindo28")
    link = first.split('id="page-next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    second = web.get(link).text
    assert "Muhindo04" in second and "Muhindo29" not in second
    assert web.get("/admin/subscribers?q=x&cursor=garbage").status_code == 200  # a stale link starts over
    assert 'id="new-subscriber"' not in first  # a cashier reads, does not register


def test_escaping(web: AdminClient, world) -> None:
    with transaction(world.service.engine) as s:
        sub = add_subscriber(
            s,
            actor=Actor.cli(),
            customer_code="XSS-1",
            name="<script>alert(1)</script>",
            phone="+243990000099",
        )
        sub_id = sub.id
    web.login("cashier")
    for path in (f"/admin/subscribers/{sub_id}", "/admin/subscribers?q=XSS"):
        text = web.get(path).text
        assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def _sub_id(world) -> int:  # type: ignore[no-untyped-def]
    with reading(world.service.engine) as s:
        return int(s.scalars(select(Subscriber.id).where(Subscriber.customer_code == "ENK-0001")).one())


def test_edit_is_audited_and_checked(web: AdminClient, world) -> None:
    sub_id = _sub_id(world)
    web.login("admin")
    form = web.get(f"/admin/subscribers/{sub_id}/edit").text
    assert 'value="Kahindo"' in form
    fields = {"customer_code": "ENK-0001", "name": "Kahindo", "post_name": "Masika", "language": "fr"}
    bad = web.post(f"/admin/subscribers/{sub_id}/edit", {**fields, "phone": "nope"})
    assert bad.status_code == 422 and 'id="f-phone-error"' in bad.text
    ok = web.post(
        f"/admin/subscribers/{sub_id}/edit", {**fields, "phone": "+243990000777", "avenue": "Av. Nyamwisi"}
    )
    assert ok.status_code == 303
    with reading(world.service.engine) as s:
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "subscriber_edited")).one()
    assert "+243990000001" in entry.detail and "+243990000777" in entry.detail
    audit = web.get("/admin/audit?action=subscriber_edited").text
    assert "+243990000777" in audit and "Patrick Mumbere" in audit


def test_delete_is_soft_and_refused_while_a_payment_is_in_flight(web: AdminClient, world) -> None:
    sub_id = _sub_id(world)
    web.login("admin")
    pid = queue_payment(world.service.engine, "ref-flight", world.meter_drn)
    refused = web.post(f"/admin/subscribers/{sub_id}/delete", {"confirm": "1"})
    assert "payment_in_flight" in refused.headers["location"]
    with transaction(world.service.engine) as s:
        from api.models import Payment, PaymentStatus

        row = s.get(Payment, pid)
        assert row is not None
        row.status = PaymentStatus.FAILED
    assert "delete_unconfirmed" in web.post(f"/admin/subscribers/{sub_id}/delete", {}).headers["location"]
    assert web.post(f"/admin/subscribers/{sub_id}/delete", {"confirm": "1"}).status_code == 303
    page = web.get(f"/admin/subscribers/{sub_id}").text
    assert 'id="deleted-notice"' in page and "ref-flight" in page  # the history stays
    assert "ENK-0001" not in web.get("/admin/subscribers?q=kahindo").text
    with_deleted = web.get("/admin/subscribers?q=kahindo&deleted=1").text  # the box "include deleted"
    assert f'href="/admin/subscribers/{sub_id}"' in with_deleted and "Supprimé</span>" in with_deleted


def test_reprint_and_resend(web: AdminClient, world) -> None:
    sale = asyncio.run(
        sales.counter_sale(
            world.service, Actor.cli(), world.meter_drn, Decimal("5000"), "CDF", "test-reprint"
        )
    )
    token_id = sale.token_id
    assert token_id is not None and sale.token is not None
    sub_id = _sub_id(world)
    web.login("cashier")
    page = web.get(f"/admin/subscribers/{sub_id}").text
    assert f'id="reprint-{token_id}"' in page and f'id="resend-{token_id}"' in page
    printed = web.post(f"/admin/subscribers/{sub_id}/tokens/{token_id}/reprint")
    assert printed.status_code == 200 and 'id="reprint-token-1"' in printed.text
    grouped = " ".join(sale.token[i : i + 4] for i in range(0, 20, 4))
    assert grouped in printed.text and grouped in page
    with reading(world.service.engine) as s:
        sms_before = s.scalar(select(func.count()).select_from(SmsOutbox))
    assert (
        "sms_queued" in web.post(f"/admin/subscribers/{sub_id}/tokens/{token_id}/resend").headers["location"]
    )
    with reading(world.service.engine) as s:
        assert s.scalar(select(func.count()).select_from(SmsOutbox)) == (sms_before or 0) + 1
        actions = set(s.scalars(select(AuditLog.action)).all())
    assert "token_reprinted" in actions


def _meter_id(world, drn: str) -> int:  # type: ignore[no-untyped-def]
    with reading(world.service.engine) as s:
        return int(s.scalars(select(Meter.id).where(Meter.drn == drn)).one())


def test_meter_edit_is_checked_and_audited(web: AdminClient, world) -> None:
    meter_id = _meter_id(world, world.meter_drn)
    web.login("admin")
    assert 'name="latitude"' in web.get(f"/admin/meters/{meter_id}/edit").text
    form = {"phases": "1", "tariff_name": "residential", "latitude": "0.5", "longitude": ""}
    bad = web.post(f"/admin/meters/{meter_id}/edit", form)
    assert bad.status_code == 422 and 'id="f-longitude-error"' in bad.text
    ok = web.post(f"/admin/meters/{meter_id}/edit", {**form, "longitude": "29.47", "serial_number": "SN-77"})
    assert ok.status_code == 303
    page = web.get(ok.headers["location"]).text
    assert "SN-77" in page and "0.500000, 29.470000" in page
    with reading(world.service.engine) as s:
        assert s.scalar(select(func.count()).where(AuditLog.action == "meter_edited")) == 1


def test_meter_delete_is_soft_and_refused_while_a_payment_is_in_flight(web: AdminClient, world) -> None:
    meter_id = _meter_id(world, world.meter_drn)
    web.login("admin")
    queue_payment(world.service.engine, "ref-meter-flight", world.meter_drn)
    refused = web.post(f"/admin/meters/{meter_id}/delete", {"confirm": "1"})
    assert "payment_in_flight" in refused.headers["location"]
    with reading(world.service.engine) as s:
        assert s.get(Meter, meter_id).deleted_at is None  # type: ignore[union-attr]
    other = _meter_id(world, world.other_drn)
    assert web.post(f"/admin/meters/{other}/delete", {"confirm": "1"}).status_code == 303
    with reading(world.service.engine) as s:
        assert s.get(Meter, other).deleted_at is not None  # type: ignore[union-attr]
    cashier = AdminClient(type(web.client)(web.client.app), web.ids)
    cashier.login("cashier")
    assert 'id="edit-meter-' not in cashier.get(f"/admin/subscribers/{_sub_id(world)}").text
