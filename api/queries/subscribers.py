"""Subscribers: the search box (partial matches over name, post-name, customer code, meter number and
phone, keyset-paginated and sortable) and one subscriber with its meters, payments and tokens.

Fragments match with (I)LIKE '%fragment%' on subscribers.name, post_name, customer_code, phone and on
meters.drn, meters.pan: on PostgreSQL trigram indexes make that fast (migration 0007)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, union
from sqlalchemy.orm import Session
from sqlmodel import col

from api.errors import InvalidInput, NotFound
from api.models import Meter, Subscriber
from api.phone import COUNTRY_CODE, digits_fragment
from api.queries import Page, check_limit, decode_cursor, like_pattern, page_of
from api.queries.meters import MeterView, of_subscriber
from api.queries.payments import PaymentFilter, PaymentView
from api.queries.payments import listing as payment_listing
from api.queries.tokens import TokenFilter, TokenView
from api.queries.tokens import listing as token_listing

MAX_TEXT = 80
MAX_WORDS = 5


class SubscriberSort(StrEnum):
    NAME = "name"  # name, then post-name
    NAME_DESC = "-name"
    CODE = "code"
    CODE_DESC = "-code"
    NEWEST = "-created"
    OLDEST = "created"


@dataclass(frozen=True)
class SubscriberRow:
    """One line of the subscriber list."""

    id: int
    customer_code: str
    name: str
    post_name: str
    phone: str
    quarter: str
    cell: str
    avenue: str
    language: str
    created_at: datetime
    deleted_at: datetime | None
    meters: tuple[str, ...]  # the DRNs of its live meters


def _sort_columns(sort: SubscriberSort) -> tuple[list[Any], bool]:
    """The columns a sort orders by (the id last, to make the order total) and whether it descends."""
    if sort in (SubscriberSort.NAME, SubscriberSort.NAME_DESC):
        cols = [col(Subscriber.name), col(Subscriber.post_name)]
    elif sort in (SubscriberSort.CODE, SubscriberSort.CODE_DESC):
        cols = [col(Subscriber.customer_code)]
    else:
        cols = [Subscriber.__table__.c.created_at]  # type: ignore[attr-defined]
    return [*cols, col(Subscriber.id)], sort.value.startswith("-")


def _cursor_values(row: Subscriber, sort: SubscriberSort) -> list[object]:
    if sort in (SubscriberSort.NAME, SubscriberSort.NAME_DESC):
        return [row.name, row.post_name, row.id]
    if sort in (SubscriberSort.CODE, SubscriberSort.CODE_DESC):
        return [row.customer_code, row.id]
    return [row.created_at.isoformat(), row.id]


def _after(cols: list[Any], values: list[object], descending: bool) -> ColumnElement[bool]:
    """Rows strictly after `values` in the (lexicographic) order of `cols`."""
    clauses = []
    for i, column in enumerate(cols):
        equal = [cols[j] == values[j] for j in range(i)]
        step = column < values[i] if descending else column > values[i]
        clauses.append(and_(*equal, step))
    return or_(*clauses)


def _word_matches(word: str) -> ColumnElement[bool]:
    pattern = like_pattern(word)
    fields = [Subscriber.name, Subscriber.post_name, Subscriber.customer_code]
    options: list[ColumnElement[bool]] = [col(f).ilike(pattern, escape="\\") for f in fields]
    digits = digits_fragment(word)
    if not (digits and len(digits) == len(word.lstrip("+"))):
        return or_(*options)
    digit_pattern = like_pattern(digits)
    options.append(col(Subscriber.phone).like(digit_pattern, escape="\\"))
    if digits.startswith("0") and len(digits) > 1:  # typed nationally: 099... is +24399...
        options.append(col(Subscriber.phone).startswith(f"+{COUNTRY_CODE}{digits[1:]}"))
    by_meter = select(col(Meter.subscriber_id)).where(
        col(Meter.deleted_at).is_(None),
        or_(col(Meter.drn).like(digit_pattern, escape="\\"), col(Meter.pan).like(digit_pattern, escape="\\")),
    )
    # One set of ids, not an EXISTS inside the OR: PostgreSQL cannot answer `... OR EXISTS (...)` from
    # the trigram indexes and scanned every subscriber (~280 ms at 100,000; benchmarks/admin_pages.py);
    # each side of the UNION uses its own table's trigram index (~7 ms).
    return col(Subscriber.id).in_(union(select(col(Subscriber.id)).where(or_(*options)), by_meter))


def search(
    session: Session,
    text: str = "",
    sort: SubscriberSort | str = SubscriberSort.NAME,
    cursor: str | None = None,
    limit: int = 50,
    *,
    deleted: bool = False,
) -> Page[SubscriberRow]:
    """Subscribers matching every word of `text` (each word a fragment of the name, post-name, customer
    code, phone or one of its meters' DRN/PAN; empty: all), in `sort` order, `limit` per page, after
    `cursor` (a page's `next_cursor`). Live subscribers only unless `deleted`. Raises InvalidInput
    (codes `invalid_query`, `invalid_cursor`)."""
    try:
        order = SubscriberSort(sort)
    except ValueError:
        raise InvalidInput("unknown sort order", code="invalid_query") from None
    limit = check_limit(limit)
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise InvalidInput(f"search text: at most {MAX_TEXT} characters", code="invalid_query")
    words = text.split()[:MAX_WORDS]
    cols, descending = _sort_columns(order)
    stmt = select(Subscriber).where(*[_word_matches(w) for w in words])
    if not deleted:
        stmt = stmt.where(col(Subscriber.deleted_at).is_(None))
    if cursor:
        kinds: Sequence[type] = [str, str, int] if len(cols) == 3 else [str, int]
        values = decode_cursor(cursor, kinds)
        if order in (SubscriberSort.NEWEST, SubscriberSort.OLDEST):
            values[0] = _parse_time(values[0])
        stmt = stmt.where(_after(cols, values, descending))
    stmt = stmt.order_by(*[c.desc() if descending else c.asc() for c in cols]).limit(limit + 1)
    subs = list(session.scalars(stmt))
    meters = _meter_numbers(session, [s.id for s in subs[:limit] if s.id is not None])
    page = page_of(subs, limit, lambda s: _cursor_values(s, order))
    return Page(tuple(_row(s, meters.get(s.id or 0, ())) for s in page.items), page.next_cursor)


def _parse_time(value: object) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput("this page link is not valid any more", code="invalid_cursor") from None


def _meter_numbers(session: Session, ids: list[int]) -> dict[int, tuple[str, ...]]:
    if not ids:
        return {}
    stmt = (
        select(col(Meter.subscriber_id), col(Meter.drn))
        .where(col(Meter.subscriber_id).in_(ids), col(Meter.deleted_at).is_(None))
        .order_by(col(Meter.id))
    )
    out: dict[int, list[str]] = {}
    for sid, drn in session.execute(stmt):
        out.setdefault(sid or 0, []).append(drn)
    return {k: tuple(v) for k, v in out.items()}


def _row(s: Subscriber, meters: tuple[str, ...]) -> SubscriberRow:
    assert s.id is not None
    return SubscriberRow(
        s.id,
        s.customer_code,
        s.name,
        s.post_name,
        s.phone,
        s.quarter,
        s.cell,
        s.avenue,
        s.language,
        s.created_at,
        s.deleted_at,
        meters,
    )


def get(session: Session, subscriber_id: int, *, deleted: bool = False) -> Subscriber:
    """The subscriber row (live unless `deleted`). Raises NotFound (code `subscriber_not_found`)."""
    sub = session.get(Subscriber, subscriber_id)
    if sub is None or (sub.deleted_at is not None and not deleted):
        raise NotFound("no such subscriber", code="subscriber_not_found")
    return sub


def by_code(session: Session, customer_code: str) -> Subscriber | None:
    """The live subscriber with this customer code (any case), or None."""
    stmt = select(Subscriber).where(
        col(Subscriber.customer_code) == customer_code.strip().upper(), col(Subscriber.deleted_at).is_(None)
    )
    return session.scalars(stmt).first()


@dataclass(frozen=True)
class SubscriberDetail:
    subscriber: SubscriberRow
    meters: tuple[MeterView, ...]  # live and deleted (a deleted meter keeps its history)
    payments: Page[PaymentView]  # newest first; more with payments.listing(subscriber_id=...)
    tokens: Page[TokenView]  # newest first, with SMS and push status


def detail(session: Session, subscriber_id: int, *, limit: int = 50) -> SubscriberDetail:
    """A subscriber (deleted ones too: the history stays readable) with its meters, its newest
    payments and tokens. Raises NotFound (code `subscriber_not_found`)."""
    sub = get(session, subscriber_id, deleted=True)
    meters = tuple(of_subscriber(session, subscriber_id, deleted=True))
    live = tuple(m.drn for m in meters if m.deleted_at is None)
    payments = payment_listing(session, PaymentFilter(subscriber_id=subscriber_id), limit=limit)
    meter_ids = tuple(m.id for m in meters)
    tokens = (
        token_listing(session, TokenFilter(meter_ids=meter_ids), limit=limit) if meter_ids else Page((), None)
    )
    return SubscriberDetail(_row(sub, live), meters, payments, tokens)
