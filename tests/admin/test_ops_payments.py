"""Payments: the list's filters (status, provider, currency, local dates, phone) with their validation,
keyset pages, and held payments resolved by vending or refund (audited; managers only)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from admintest import AdminClient, csrf_of
from api_tests_conftest import World, queue_payment
from sqlalchemy import select

from api.db import reading, transaction
from api.models import AuditLog, Payment, PaymentStatus, Token


def _ids(text: str) -> set[str]:
    import re

    return set(re.findall(r'<tr id="payment-(\d+)"', text))


def test_filters_narrow_the_list(web: AdminClient, world: World) -> None:
    engine = world.service.engine
    a = queue_payment(engine, "p-a", world.meter_drn, status=PaymentStatus.FAILED, msisdn="+243990000011")
    b = queue_payment(engine, "p-b", world.meter_drn, status=PaymentStatus.HELD, currency="USD", amount="5")
    c = queue_payment(engine, "p-c", world.meter_drn, msisdn="+243970000077")
    with transaction(engine) as s:
        for pid in (a, b):  # rows are stamped by the wall clock; the pages' days by the world's clock
            s.get(Payment, pid).created_at = world.clock.now  # type: ignore[union-attr]
        old = s.get(Payment, c)
        assert old is not None
        old.created_at = world.clock.now - timedelta(days=10)
        old.provider = "airtel"
    web.login("cashier")
    assert _ids(web.get("/admin/payments").text) == {str(a), str(b), str(c)}
    assert _ids(web.get("/admin/payments?status=failed").text) == {str(a)}
    assert _ids(web.get("/admin/payments?currency=USD").text) == {str(b)}
    assert _ids(web.get("/admin/payments?provider=airtel").text) == {str(c)}
    assert _ids(web.get("/admin/payments?phone=0000011").text) == {str(a)}
    assert _ids(web.get("/admin/payments?phone=%2B243970000077").text) == {str(c)}
    day = world.clock.now.astimezone(world.settings.zone).date()
    assert _ids(web.get(f"/admin/payments?from={day}&to={day}").text) == {str(a), str(b)}
    before = day - timedelta(days=5)
    assert _ids(web.get(f"/admin/payments?to={before}").text) == {str(c)}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=paid", "status"),
        ("currency=EUR", "currency"),
        ("provider=M%20Pesa!", "provider"),
        ("from=28/11/2026", "from"),
        ("to=2026-13-01", "to"),
        ("from=2026-11-28&to=2026-11-01", "to"),
        ("phone=abc", "phone"),
        ("phone=" + "1" * 41, "phone"),
    ],
)
def test_bad_filters_are_shown_beside_their_field(web: AdminClient, query: str, field: str) -> None:
    web.login("admin")
    page = web.get(f"/admin/payments?{query}")
    assert page.status_code == 422 and f'id="f-{field}-error"' in page.text
    assert 'id="payments"' not in page.text


def test_keyset_pages(web: AdminClient, world: World) -> None:
    for n in range(55):
        queue_payment(world.service.engine, f"k-{n}", world.meter_drn, status=PaymentStatus.FAILED)
    web.login("cashier")
    first = web.get("/admin/payments?status=failed")
    import html
    import re

    link = re.search(r'href="([^"]+)" id="page-next"', first.text)
    assert link and len(_ids(first.text)) == 50
    second = web.get("/admin/payments" + html.unescape(link.group(1)))
    assert len(_ids(second.text)) == 5 and not (_ids(first.text) & _ids(second.text))
    assert 'id="page-next"' not in second.text
    assert web.get("/admin/payments?cursor=garbage").status_code == 422


def _held(world: World, reference: str = "held-1", amount: str = "5000") -> int:
    return queue_payment(
        world.service.engine, reference, world.meter_drn, status=PaymentStatus.HELD, amount=amount
    )


def test_resolve_by_vending_issues_one_token_and_audits(web: AdminClient, world: World) -> None:
    pid = _held(world)
    web.login("admin")
    page = web.get(f"/admin/payments/{pid}")
    assert 'id="resolve-form"' in page.text
    done = web.client.post(
        f"/admin/payments/{pid}/resolve",
        data={"csrf": csrf_of(page), "action": "vend", "note": "customer showed the SMS"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and "done=payment_vended" in done.headers["location"]
    with reading(world.service.engine) as s:
        assert s.get(Payment, pid).status == "vended"  # type: ignore[union-attr]
        assert len(s.scalars(select(Token).where(Token.payment_id == pid)).all()) == 1
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "payment_vend")).one()
    assert entry.actor.startswith("admin:") and "Patrick Mumbere" in entry.actor
    detail = json.loads(entry.detail)
    assert detail["before"]["status"] == "held" and detail["after"]["status"] == "vended"
    assert detail["note"] == "customer showed the SMS"
    again = web.get(f"/admin/payments/{pid}")
    assert 'id="resolve-form"' not in again.text and 'id="payment-token"' in again.text
    # A second resolution is refused and changes nothing.
    twice = web.client.post(
        f"/admin/payments/{pid}/resolve", data={"csrf": csrf_of(page), "action": "refund", "note": "x"}
    )
    assert twice.status_code == 409
    with reading(world.service.engine) as s:
        assert s.get(Payment, pid).status == "vended"  # type: ignore[union-attr]


def test_resolve_by_refund_audits_and_issues_nothing(web: AdminClient, world: World) -> None:
    pid = _held(world)
    web.login("superadmin")
    page = web.get(f"/admin/payments/{pid}")
    done = web.client.post(
        f"/admin/payments/{pid}/resolve",
        data={"csrf": csrf_of(page), "action": "refund", "note": "wrong meter"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with reading(world.service.engine) as s:
        assert s.get(Payment, pid).status == "refund"  # type: ignore[union-attr]
        assert s.scalars(select(Token).where(Token.payment_id == pid)).first() is None
        assert (
            s.scalars(select(AuditLog).where(AuditLog.action == "payment_refund")).one().subject == "held-1"
        )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"action": "", "note": "x"}, "action"),
        ({"action": "burn", "note": "x"}, "action"),
        ({"action": "vend", "note": ""}, "note"),
        ({"action": "vend", "note": "x" * 201}, "note"),
    ],
)
def test_resolution_rules_change_nothing(
    web: AdminClient, world: World, data: dict[str, str], field: str
) -> None:
    pid = _held(world)
    web.login("admin")
    page = web.get(f"/admin/payments/{pid}")
    answer = web.client.post(f"/admin/payments/{pid}/resolve", data={"csrf": csrf_of(page), **data})
    assert answer.status_code == 422 and f'id="f-{field}-error"' in answer.text
    with reading(world.service.engine) as s:
        assert s.get(Payment, pid).status == "held"  # type: ignore[union-attr]
        assert s.scalars(select(AuditLog).where(AuditLog.action.like("payment_%"))).first() is None


def test_a_cashier_sees_payments_but_cannot_resolve(web: AdminClient, world: World) -> None:
    pid = _held(world)
    web.login("cashier")
    page = web.get(f"/admin/payments/{pid}")
    assert page.status_code == 200 and 'id="resolve-form"' not in page.text
    refused = web.client.post(
        f"/admin/payments/{pid}/resolve", data={"csrf": csrf_of(page), "action": "vend", "note": "x"}
    )
    assert refused.status_code == 403
    with reading(world.service.engine) as s:
        assert s.get(Payment, pid).status == "held"  # type: ignore[union-attr]
    assert web.get("/admin/payments/999999").status_code == 404
