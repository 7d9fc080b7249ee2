"""Tokens: the keyset-paginated list (newest first) with each token's SMS and meter-push status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from api.errors import InvalidInput, NotFound
from api.models import Meter, MeterPush, Payment, SmsOutbox, Token
from api.queries import Page, check_limit, decode_cursor, page_of

KINDS = ("credit", "clear_credit", "clear_tamper", "set_mpl", "key_change", "test")


@dataclass(frozen=True)
class TokenFilter:
    """None/empty: no condition. `since` inclusive, `until` exclusive."""

    meter_ids: tuple[int, ...] = ()
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class TokenView:
    id: int
    meter_id: int
    meter_drn: str
    kind: str
    token: str  # 20 digits; a key change is 2 or 4 tokens joined by spaces
    tid: int | None
    units: Decimal | None
    amount: Decimal | None
    currency: str
    vat: Decimal | None
    issued_by: str
    payment_id: int | None
    payment_reference: str | None
    created_at: datetime
    sms_status: str | None  # the newest SMS carrying it: queued|sent|delivered|failed; None: no SMS
    push_status: str | None  # connected meters: queued|done|failed
    push_result: str  # the meter's answer (accept, used, ...)


def listing(
    session: Session, filters: TokenFilter = TokenFilter(), cursor: str | None = None, limit: int = 50
) -> Page[TokenView]:
    """Tokens matching `filters`, newest first. Raises InvalidInput (codes `invalid_query`,
    `invalid_cursor`)."""
    limit = check_limit(limit)
    if filters.kind and filters.kind not in KINDS:
        raise InvalidInput("unknown token kind", code="invalid_query")
    if any(t is not None and t.tzinfo is None for t in (filters.since, filters.until)):
        raise InvalidInput("dates must carry their time zone", code="invalid_query")
    stmt = _select()
    if filters.meter_ids:
        stmt = stmt.where(col(Token.meter_id).in_(list(filters.meter_ids)))
    if filters.kind:
        stmt = stmt.where(col(Token.kind) == filters.kind)
    if filters.since is not None:
        stmt = stmt.where(col(Token.created_at) >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(col(Token.created_at) < filters.until)
    if cursor:
        (last_id,) = decode_cursor(cursor, [int])
        stmt = stmt.where(col(Token.id) < last_id)
    rows = session.execute(stmt.order_by(col(Token.id).desc()).limit(limit + 1)).all()
    views = _views(session, rows)
    return page_of(views, limit, lambda v: [v.id])


def _select() -> Select[Token, str, str | None, str | None, str | None]:
    return (
        select(Token, col(Meter.drn), col(Payment.reference), col(MeterPush.status), col(MeterPush.result))
        .join(Meter, col(Meter.id) == col(Token.meter_id))
        .outerjoin(Payment, col(Payment.id) == col(Token.payment_id))
        .outerjoin(MeterPush, col(MeterPush.token_id) == col(Token.id))
    )


def _views(session: Session, rows: Sequence[Any]) -> list[TokenView]:
    rows_: list[Any] = list(rows)
    sms = _sms_status(session, [r[0].payment_id for r in rows_ if r[0].payment_id is not None])
    out = []
    for t, drn, reference, push_status, push_result in rows_:
        assert t.id is not None
        out.append(
            TokenView(
                t.id,
                t.meter_id,
                drn,
                t.kind,
                t.token,
                t.tid,
                t.units,
                t.amount,
                t.currency,
                t.vat,
                t.issued_by,
                t.payment_id,
                reference,
                t.created_at,
                sms.get(t.payment_id) if t.payment_id is not None else None,
                push_status,
                push_result or "",
            )
        )
    return out


def _sms_status(session: Session, payment_ids: list[int]) -> dict[int, str]:
    """The status of the newest token SMS of each payment."""
    if not payment_ids:
        return {}
    newest = (
        select(func.max(col(SmsOutbox.id)))
        .where(col(SmsOutbox.payment_id).in_(payment_ids), col(SmsOutbox.kind) == "token")
        .group_by(col(SmsOutbox.payment_id))
    )
    stmt = select(col(SmsOutbox.payment_id), col(SmsOutbox.status)).where(col(SmsOutbox.id).in_(newest))
    return {pid: status for pid, status in session.execute(stmt) if pid is not None}


def get(session: Session, token_id: int) -> TokenView:
    """One token. Raises NotFound (code `token_not_found`)."""
    rows = session.execute(_select().where(col(Token.id) == token_id)).all()
    if not rows:
        raise NotFound("no such token", code="token_not_found")
    return _views(session, rows)[0]


def last_of_meter(session: Session, meter_id: int) -> TokenView | None:
    """The newest token of a meter (any kind), or None."""
    page = listing(session, TokenFilter(meter_ids=(meter_id,)), limit=1)
    return page.items[0] if page.items else None
