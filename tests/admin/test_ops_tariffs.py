"""Tariffs: the list with each row's state, new terms in force now or scheduled (every validation rule
beside its field, nothing saved), withdrawing a scheduled change, and the counter sale priced by the
tariff in force at the moment of the sale."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from admintest import AdminClient, csrf_of
from api_tests_conftest import World
from sqlalchemy import func, select

from api.db import reading
from api.models import AuditLog, Tariff

GOOD = {
    "name": "residential",
    "currency": "CDF",
    "price_per_kwh": "500",
    "vat_rate": "0.16",
    "fee_rate": "0",
    "min_amount": "1000",
    "max_amount": "500000",
    "effective_from": "",
}


def _count(world: World) -> int:
    with reading(world.service.engine) as s:
        return s.scalar(select(func.count()).select_from(Tariff)) or 0


def _post(web: AdminClient, page_text: str, **changes: str):  # type: ignore[no-untyped-def]
    return web.client.post(
        "/admin/tariffs", data={**GOOD, **changes, "csrf": csrf_of_text(page_text)}, follow_redirects=False
    )


def csrf_of_text(text: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', text)
    assert found
    return found.group(1)


def _preview_units(web: AdminClient, world: World) -> Decimal:
    page = web.post("/admin/sales/preview", {"meter": world.meter_drn, "amount": "5800", "currency": "CDF"})
    found = re.search(r'id="preview-units">([0-9.]+)', page.text)
    assert found, page.text
    return Decimal(found.group(1))


def test_schedule_a_price_change_and_sales_follow_the_tariff_in_force(web: AdminClient, world: World) -> None:
    web.login("admin")
    page = web.get("/admin/tariffs")
    assert page.status_code == 200 and 'id="tariff-form"' in page.text
    assert _preview_units(web, world) == Decimal("12.5")  # 5800 FC incl. 16 % VAT = 5000 net, 400 FC/kWh
    start = (world.clock.now + timedelta(days=1)).astimezone(world.settings.zone)
    done = _post(web, page.text, effective_from=start.strftime("%Y-%m-%dT%H:%M"))
    assert done.status_code == 303 and "tariff_scheduled" in done.headers["location"]
    listing = web.get("/admin/tariffs")
    assert listing.text.count("badge warn") == 1  # the scheduled row
    assert _preview_units(web, world) == Decimal("12.5")  # not yet
    world.clock.now += timedelta(days=1, minutes=1)
    web.login("admin")  # a day later the idle session has ended
    assert _preview_units(web, world) == Decimal("10")  # 5000 net at 500 FC/kWh
    with reading(world.service.engine) as s:
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "tariff_scheduled")).one()
    assert entry.actor.startswith("admin:") and "500" in entry.detail


def test_new_terms_in_force_at_once(web: AdminClient, world: World) -> None:
    web.login("superadmin")
    page = web.get("/admin/tariffs")
    assert _post(web, page.text, currency="USD", price_per_kwh="0.20").status_code == 303
    listing = web.get("/admin/tariffs")
    assert listing.text.count("tariffs.state") == 0 and "Remplacé" in listing.text


def test_withdraw_a_scheduled_change(web: AdminClient, world: World) -> None:
    web.login("admin")
    page = web.get("/admin/tariffs")
    start = (world.clock.now + timedelta(days=2)).astimezone(world.settings.zone)
    _post(web, page.text, effective_from=start.strftime("%Y-%m-%dT%H:%M"))
    listing = web.get("/admin/tariffs")
    tariff_id = re.search(r'id="withdraw-(\d+)"', listing.text)
    assert tariff_id
    done = web.client.post(f"/admin/tariffs/{tariff_id.group(1)}/withdraw", data={"csrf": csrf_of(listing)})
    assert done.status_code == 200 and "Annulé" in done.text
    with reading(world.service.engine) as s:
        row = s.get(Tariff, int(tariff_id.group(1)))
        assert row is not None and not row.active
        in_force = s.scalars(select(Tariff).where(Tariff.currency == "CDF", Tariff.active)).all()
    assert len(in_force) == 1
    # A tariff that already applied cannot be withdrawn.
    refused = web.client.post(f"/admin/tariffs/{in_force[0].id}/withdraw", data={"csrf": csrf_of(listing)})
    assert refused.status_code == 409


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 41}, "name"),
        ({"currency": "EUR"}, "currency"),
        ({"price_per_kwh": "abc"}, "price_per_kwh"),
        ({"price_per_kwh": "0"}, "price_per_kwh"),
        ({"vat_rate": "16"}, "vat_rate"),
        ({"fee_rate": "-0.1"}, "fee_rate"),
        ({"min_amount": ""}, "min_amount"),
        ({"min_amount": "9000", "max_amount": "100"}, "min_amount"),
        ({"effective_from": "demain"}, "effective_from"),
        ({"effective_from": "2020-01-01T10:00"}, "effective_from"),
    ],
)
def test_every_rule_beside_its_field_saves_nothing(
    web: AdminClient, world: World, changes: dict[str, str], field: str
) -> None:
    web.login("admin")
    before = _count(world)
    page = web.get("/admin/tariffs")
    answer = _post(web, page.text, **changes)
    assert answer.status_code == 422 and f'id="f-{field}-error"' in answer.text
    assert _count(world) == before


def test_a_cashier_reads_tariffs_but_cannot_change_them(web: AdminClient, world: World) -> None:
    web.login("cashier")
    page = web.get("/admin/tariffs")
    assert page.status_code == 200 and 'id="tariff-form"' not in page.text and 'id="tariffs"' in page.text
    refused = web.client.post("/admin/tariffs", data={**GOOD, "csrf": csrf_of(page)})
    assert refused.status_code == 403 and _count(world) == 2
