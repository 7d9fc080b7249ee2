"""CSV exports: payments and tokens of a range of local days, streamed in keyset batches, no key in
them, formula-like cells neutralised, bad ranges refused beside their field, managers only."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from admintest import AdminClient
from api_tests_conftest import VENDING_KEY, World, queue_payment
from sqlalchemy import update

from api.actors import Actor
from api.admin.pages import exports
from api.db import transaction
from api.models import Payment, PaymentStatus, Token
from api.usecases import sales


def _sell(world: World, key: str) -> sales.SaleResult:
    return asyncio.run(
        sales.counter_sale(world.service, Actor.cli(), world.meter_drn, Decimal(5000), "CDF", key)
    )


def _day(world: World, days_back: int = 0) -> str:
    return (world.clock.now.astimezone(world.settings.zone).date() - timedelta(days=days_back)).isoformat()


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_payments_and_tokens_of_the_range(web: AdminClient, world: World) -> None:
    sold = [_sell(world, f"k{n}") for n in range(3)]
    with transaction(world.service.engine) as s:
        old = s.get(Payment, sold[0].payment_id)
        assert old is not None
        old.created_at = world.clock.now - timedelta(days=40)
        s.execute(update(Token).where(Token.id == sold[0].token_id).values(created_at=old.created_at))
        for result in sold[1:]:  # payments are stamped by the wall clock; the range by the world's
            s.get(Payment, result.payment_id).created_at = world.clock.now  # type: ignore[union-attr]
    web.login("admin")
    day = _day(world)
    payments = web.get(f"/admin/exports/payments.csv?from={_day(world, 7)}&to={day}")
    assert payments.status_code == 200 and payments.headers["content-type"].startswith("text/csv")
    assert "attachment" in payments.headers["content-disposition"]
    rows = _csv(payments.text)
    assert list(rows[0].keys()) == list(exports.PAYMENT_COLUMNS)
    assert {r["reference"] for r in rows} == {sold[1].reference, sold[2].reference}
    assert all(r["status"] == "vended" and r["amount"] == "5000" and r["channel"] == "cash" for r in rows)
    tokens = _csv(web.get(f"/admin/exports/tokens.csv?from={day}&to={day}").text)
    assert list(tokens[0].keys()) == list(exports.TOKEN_COLUMNS)
    assert {r["token"] for r in tokens} == {sold[1].token, sold[2].token}
    assert {r["units"] for r in tokens} == {"10.7"}
    everything = _csv(web.get(f"/admin/exports/tokens.csv?from={_day(world, 60)}&to={day}").text)
    assert len(everything) == 3
    for text in (payments.text, web.get(f"/admin/exports/tokens.csv?from={day}&to={day}").text):
        assert VENDING_KEY not in text and "sealed" not in text


def test_the_export_is_written_in_batches(
    web: AdminClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        pid = queue_payment(world.service.engine, f"b-{n}", world.meter_drn, status=PaymentStatus.FAILED)
        with transaction(world.service.engine) as s:
            s.get(Payment, pid).created_at = world.clock.now  # type: ignore[union-attr]
    reads: list[int] = []
    real = exports.payment_queries.listing

    def counting(*args, **kw):  # type: ignore[no-untyped-def]
        page = real(*args, **kw)
        reads.append(len(page.items))
        return page

    monkeypatch.setattr(exports, "BATCH", 2)
    monkeypatch.setattr(exports.payment_queries, "listing", counting)
    web.login("admin")
    answer = web.get(f"/admin/exports/payments.csv?from={_day(world)}&to={_day(world)}")
    assert len(_csv(answer.text)) == 5 and reads == [2, 2, 1]
    chunks = list(
        exports._rows(
            world.service,
            lambda s, c: counting(s, exports.payment_queries.PaymentFilter(), c, 2),
            ["id"],
            lambda p: [p.id],
        )
    )
    assert len(chunks) == 3  # one chunk per batch, the header with the first


def test_formula_like_cells_are_neutralised() -> None:
    zone = None
    assert exports._cell("=HYPERLINK(1)", zone) == "'=HYPERLINK(1)"  # type: ignore[arg-type]
    assert exports._cell("@SUM(A1)", zone) == "'@SUM(A1)"  # type: ignore[arg-type]
    assert exports._cell("+243990000001", zone) == "+243990000001"  # type: ignore[arg-type]
    assert exports._cell("-cmd", zone) == "'-cmd"  # type: ignore[arg-type]
    assert exports._cell(Decimal("5000.0000"), zone) == "5000"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("to=2026-11-28", "from"),
        ("from=2026-11-28", "to"),
        ("from=yesterday&to=2026-11-28", "from"),
        ("from=2026-11-28&to=2026-11-01", "to"),
        ("from=2025-01-01&to=2026-11-28", "to"),
    ],
)
def test_bad_ranges_are_refused_beside_their_field(web: AdminClient, query: str, field: str) -> None:
    web.login("admin")
    answer = web.get(f"/admin/exports/payments.csv?{query}")
    assert answer.status_code == 422 and f'id="f-{field}-error"' in answer.text
    assert answer.headers["content-type"].startswith("text/html")


def test_unknown_kind_and_roles(web: AdminClient) -> None:
    web.login("admin")
    assert web.get("/admin/exports").status_code == 200
    assert web.get("/admin/exports/keys.csv?from=2026-11-01&to=2026-11-02").status_code == 422
    web.logout()
    web.login("cashier")
    assert web.get("/admin/exports").status_code == 403
    assert web.get("/admin/exports/payments.csv?from=2026-11-01&to=2026-11-02").status_code == 403
