"""The typed queries (SQLite and PostgreSQL): subscriber search by fragments with keyset pages in every
sort order, subscriber detail, payment and token listings with their filters."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from conftest import World, queue_payment
from sqlalchemy import select

from api.actors import Actor
from api.db import reading, transaction
from api.errors import InvalidInput, NotFound
from api.models import Payment, PaymentStatus
from api.queries import payments as payment_queries
from api.queries import subscribers as subscriber_queries
from api.queries import tokens as token_queries
from api.queries.payments import PaymentFilter
from api.queries.subscribers import SubscriberSort
from api.queries.tokens import TokenFilter
from api.usecases import sales, subscribers
from api.usecases.meters import MeterInput
from api.usecases.subscribers import SubscriberInput
from tokencore import pan_from_drn

ACTOR = Actor.cli()
PEOPLE = [
    ("Kavira", "Mumbere", "+243991110001", "01234567913"),
    ("Kahambu", "Masika", "+243971110002", "01234567921"),
    ("Muhindo", "Kavira", "+243811110003", "01234567939"),
    ("Paluku", "Kambale", "+243991234500", "01234567947"),
    ("100%_Sure", "Test", "+243990000099", "01234567954"),
]


def _register(world: World) -> dict[str, int]:
    ids = {}
    with transaction(world.service.engine) as s:
        for name, post, phone, drn in PEOPLE:
            sub = subscribers.register(
                s, ACTOR, SubscriberInput(name, phone, post), [MeterInput(drn, "vk1", sgc=123457)]
            )
            assert sub.id is not None
            ids[name] = sub.id
    return ids


def _names(world: World, text: str, **kw: object) -> list[str]:
    with reading(world.service.engine) as s:
        return [r.name for r in subscriber_queries.search(s, text, **kw).items]  # type: ignore[arg-type]


def test_search_matches_fragments_of_every_field(world: World) -> None:
    _register(world)
    assert _names(world, "kavira") == ["Kavira", "Muhindo"]  # name or post-name, any case
    assert _names(world, "kav mumb") == ["Kavira"]  # every word must match
    assert _names(world, "1110") == ["Kahambu", "Kavira", "Muhindo"]  # a phone fragment
    assert _names(world, "0971") == ["Kahambu"]  # national form of +24397...
    assert _names(world, "+243 811") == ["Muhindo"]  # two words, both fragments of its phone
    assert _names(world, "567947") == ["Paluku"]  # a meter number fragment
    assert _names(world, pan_from_drn("01234567913").pan) == ["Kavira"]  # a whole MeterPAN
    assert set(_names(world, "enk-0000")) == {n for n, *_ in PEOPLE}  # the codes given: ENK-000002...
    assert _names(world, "%") == ["100%_Sure"] and _names(world, "_") == ["100%_Sure"]
    assert _names(world, "ENK-0001") == ["Kahindo"]  # the seeded subscriber, by customer code
    with pytest.raises(InvalidInput):
        _names(world, "x" * 81)
    with pytest.raises(InvalidInput):
        _names(world, "", sort="salary")


@pytest.mark.parametrize("sort", list(SubscriberSort))
def test_keyset_pages_walk_every_subscriber_once_in_order(world: World, sort: SubscriberSort) -> None:
    _register(world)
    with reading(world.service.engine) as s:
        every = [r.id for r in subscriber_queries.search(s, "", sort, limit=100).items]
        seen, cursor = [], None
        while True:
            page = subscriber_queries.search(s, "", sort, cursor, 2)
            seen += [r.id for r in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert seen == every and len(every) == 6 and len(set(every)) == 6


def test_bad_cursors_are_refused(world: World) -> None:
    with reading(world.service.engine) as s:
        for bad in ("nonsense", "W10", "WyJhIl0", "x" * 500):
            with pytest.raises(InvalidInput) as info:
                subscriber_queries.search(s, "", SubscriberSort.NAME, bad)
            assert info.value.code == "invalid_cursor"
        with pytest.raises(InvalidInput):
            payment_queries.listing(s, cursor="WyJ4Il0")
        with pytest.raises(InvalidInput):
            payment_queries.listing(s, limit=0)


def test_deleted_subscribers_leave_the_search_but_keep_their_detail(world: World) -> None:
    ids = _register(world)
    with transaction(world.service.engine) as s:
        subscribers.delete(s, ACTOR, ids["Paluku"])
    assert "Paluku" not in _names(world, "")
    assert _names(world, "paluku", deleted=True) == ["Paluku"]
    with reading(world.service.engine) as s:
        found = subscriber_queries.detail(s, ids["Paluku"])
        assert found.subscriber.deleted_at is not None and found.meters[0].deleted_at is not None
        with pytest.raises(NotFound):
            subscriber_queries.get(s, ids["Paluku"])
        with pytest.raises(NotFound):
            subscriber_queries.detail(s, 999_999)


def test_detail_lists_meters_payments_and_tokens_with_sms_status(world: World) -> None:
    sale = asyncio.run(sales.counter_sale(world.service, ACTOR, world.meter_drn, "5000", "CDF", "q-1"))
    queue_payment(world.service.engine, "ussd-1", world.meter_drn)
    with reading(world.service.engine) as s:
        sub = subscriber_queries.by_code(s, "enk-0001")
        assert sub is not None and sub.id is not None
        found = subscriber_queries.detail(s, sub.id)
    assert [m.drn for m in found.meters] == [world.meter_drn] and found.meters[0].vending_key == "vk1"
    assert [p.reference for p in found.payments.items] == ["ussd-1", sale.reference]
    token = found.tokens.items[0]
    assert (
        token.token == sale.token
        and token.sms_status == "queued"
        and token.payment_reference == sale.reference
    )
    assert not hasattr(found.meters[0], "sealed") and found.subscriber.meters == (world.meter_drn,)


def test_payment_filters(world: World) -> None:
    for i, (status, phone) in enumerate(
        [
            (PaymentStatus.PENDING, "+243990000001"),
            (PaymentStatus.HELD, "+243970000002"),
            (PaymentStatus.FAILED, "+243990000001"),
        ]
    ):
        queue_payment(
            world.service.engine, f"p-{i}", world.meter_drn, status=status, msisdn=phone, currency="CDF"
        )
    queue_payment(world.service.engine, "p-usd", world.other_drn, currency="USD", amount="5")
    with transaction(world.service.engine) as s:
        old = s.scalars(select(Payment).where(Payment.reference == "p-0")).one()
        old.created_at = old.created_at - timedelta(days=40)
    now = world.clock()

    def refs(f: PaymentFilter) -> list[str]:
        with reading(world.service.engine) as s:
            return [p.reference for p in payment_queries.listing(s, f).items]

    assert refs(PaymentFilter(status="held")) == ["p-1"]
    assert refs(PaymentFilter(currency="USD")) == ["p-usd"]
    assert refs(PaymentFilter(phone="+243990000001")) == ["p-usd", "p-2", "p-0"]
    assert refs(PaymentFilter(phone="0000002")) == ["p-1"]
    assert refs(PaymentFilter(provider="sandbox", since=now - timedelta(days=30))) == ["p-usd", "p-2", "p-1"]
    assert refs(PaymentFilter(until=now - timedelta(days=30))) == ["p-0"]
    with reading(world.service.engine) as s:
        assert [p.reference for p in payment_queries.held(s).items] == ["p-1"]
        assert payment_queries.get(s, payment_queries.held(s).items[0].id).meter_drn == world.meter_drn
    for bad in (
        PaymentFilter(status="lost"),
        PaymentFilter(currency="EUR"),
        PaymentFilter(since=now, until=now),
    ):
        with pytest.raises(InvalidInput), reading(world.service.engine) as s:
            payment_queries.listing(s, bad)


def test_token_listing_pages_and_filters(world: World) -> None:
    for i in range(3):
        asyncio.run(sales.counter_sale(world.service, ACTOR, world.meter_drn, "2000", "CDF", f"t-{i}"))
    with reading(world.service.engine) as s:
        first = token_queries.listing(s, TokenFilter(kind="credit"), limit=2)
        rest = token_queries.listing(s, TokenFilter(kind="credit"), first.next_cursor, 2)
        assert len(first.items) == 2 and len(rest.items) == 1 and rest.next_cursor is None
        assert first.items[0].id > first.items[1].id > rest.items[0].id
        assert token_queries.listing(s, TokenFilter(kind="set_mpl")).items == ()
        with pytest.raises(InvalidInput):
            token_queries.listing(s, TokenFilter(kind="magic"))
        with pytest.raises(NotFound):
            token_queries.get(s, 999_999)
