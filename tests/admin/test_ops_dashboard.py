"""The dashboard: sales per local day (today / 7 / 30 days by currency, kWh, vends), failed and held
payments, the SMS outbox, connected meters whose last push failed, and the 30-day SVG chart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from admintest import AdminClient
from api_tests_conftest import World, queue_payment
from sqlalchemy import select, update

from api.actors import Actor
from api.admin.chart import sales_chart
from api.db import reading, transaction
from api.models import Meter, MeterPush, Payment, PaymentStatus, SmsOutbox, Token
from api.queries.dashboard import DaySales, dashboard, day_bounds
from api.usecases import sales


def _sell(world: World, amount: str, currency: str = "CDF", key: str = "k") -> sales.SaleResult:
    return asyncio.run(
        sales.counter_sale(world.service, Actor.cli(), world.meter_drn, Decimal(amount), currency, key)
    )


def test_sales_are_summed_per_local_day_and_period(world: World) -> None:
    zone = world.settings.zone
    first = _sell(world, "5000", key="a")
    _sell(world, "2", "USD", key="b")
    with transaction(world.service.engine) as s:  # move the first sale 3 days back: in 7 and 30, not today
        s.execute(
            update(Token)
            .where(Token.id == first.token_id)
            .values(created_at=world.clock.now - timedelta(days=3))
        )
    with reading(world.service.engine) as s:
        d = dashboard(s, now=world.clock.now, zone=zone)
    today, week, month = d.periods
    assert today.amounts == {"USD": Decimal("2")} and today.vends == 1
    assert week.amounts == {"CDF": Decimal("5000"), "USD": Decimal("2")} and week.vends == 2
    assert month.vends == 2 and month.units == week.units == sum(x.units for x in d.series)
    assert len(d.series) == 30 and d.series[-1].day == world.clock.now.astimezone(zone).date()
    assert d.series[-4].vends == 1 and d.series[-4].amounts == {"CDF": Decimal("5000")}


def test_closed_days_are_cached_and_today_is_live(world: World) -> None:
    zone = world.settings.zone
    with reading(world.service.engine) as s:
        assert dashboard(s, now=world.clock.now, zone=zone).periods[2].vends == 0
    _sell(world, "5000", key="today")
    with reading(world.service.engine) as s:
        d = dashboard(s, now=world.clock.now, zone=zone)
    assert d.periods[0].vends == 1 and d.periods[2].vends == 1


def test_local_day_bounds_follow_the_time_zone(world: World) -> None:
    start, end = day_bounds(datetime(2026, 11, 28).date(), world.settings.zone)  # Africa/Lubumbashi: UTC+2
    assert start == datetime(2026, 11, 27, 22, 0, tzinfo=UTC) and end - start == timedelta(days=1)


def test_failed_held_sms_and_push_figures(world: World) -> None:
    engine = world.service.engine
    queue_payment(engine, "f1", world.meter_drn, status=PaymentStatus.FAILED)
    queue_payment(engine, "h1", world.meter_drn, status=PaymentStatus.HELD)
    queue_payment(engine, "h2", world.meter_drn, status=PaymentStatus.HELD)
    sale = _sell(world, "5000", key="push")
    with transaction(engine) as s:
        meter = s.scalars(select(Meter).where(Meter.drn == world.meter_drn)).one()
        meter.connected, meter.serial_url = True, "loop://"
        s.add(MeterPush(token_id=sale.token_id, meter_id=meter.id, status="failed"))
        s.add(SmsOutbox(to="+243990000001", text="x", status="failed"))
        old = s.scalars(select(Payment).where(Payment.reference == "f1")).one()
        old.created_at = world.clock.now  # the clock of the world, not the wall clock
    with reading(engine) as s:
        d = dashboard(s, now=world.clock.now, zone=world.settings.zone)
    assert [p.failed for p in d.periods] == [1, 1, 1]
    assert d.held == 2 and d.sms_failed == 1 and d.sms_queued >= 1
    assert d.push_failed == 1 and d.push_failed_meters == (world.meter_drn,)


def test_chart_bars_scale_to_the_best_day() -> None:
    day = datetime(2026, 11, 1).date()
    series = [DaySales(day + timedelta(days=i), {}, Decimal(i), i) for i in range(30)]
    chart = sales_chart(series, lambda d: f"<{d.vends}>")
    assert len(chart.bars) == 30 and chart.bars[0].height == 0
    tallest = max(chart.bars, key=lambda b: b.height)
    assert tallest is chart.bars[-1] and tallest.y >= 0 and chart.ticks[-1].label == "50"


def test_dashboard_page_for_every_role(web: AdminClient, world: World) -> None:
    _sell(world, "5000", key="page")
    for role in ("cashier", "admin", "superadmin"):
        web.login(role)
        page = web.get("/admin/")
        assert page.status_code == 200
        assert "<svg" in page.text and page.text.count('class="bar"') == 30
        assert "5\u00a0000\u00a0FC" in page.text
        assert 'href="/admin/payments?status=held"' in page.text
        web.logout()
    assert web.get("/admin/", follow_redirects=False).status_code == 303
