"""Tariffs: the one home of "the tariff in force" (USSD, REST, counter sales and the vend all ask here).

A tariff name has rows per currency and per start (`effective_from`); the row in force at a moment is
the active one with the latest start not after that moment. A scheduled change is a row starting later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from sqlmodel import col

from api.models import Tariff

TARIFFS = Tariff.__table__  # type: ignore[attr-defined]

# Built once: the vend's hot path runs it for every payment (SQLAlchemy caches the compiled form).
IN_FORCE = (
    select(TARIFFS)
    .where(
        TARIFFS.c.name == bindparam("tname"),
        TARIFFS.c.currency == bindparam("cur"),
        TARIFFS.c.active,
        TARIFFS.c.effective_from <= bindparam("at"),
    )
    .order_by(TARIFFS.c.effective_from.desc())
    .limit(1)
)


class TariffRow(Protocol):
    """A `tariffs` row as `in_force` returns it (what api.pricing.quote needs, and which row it is)."""

    id: int
    name: str
    currency: str
    price_per_kwh: Decimal
    vat_rate: Decimal
    fee_rate: Decimal
    min_amount: Decimal
    max_amount: Decimal
    effective_from: datetime


def in_force(session: Session, name: str, currency: str, at: datetime) -> TariffRow | None:
    """The tariff `name` in `currency` in force at `at` (aware datetime); None if there is none.
    Raises nothing."""
    row: Any = session.execute(IN_FORCE, {"tname": name, "cur": currency, "at": at}).first()
    return row  # type: ignore[no-any-return]


def all_in_force(session: Session, name: str, at: datetime) -> list[TariffRow]:
    """The rows of tariff `name` in force at `at`, one per currency that has one (sorted by currency)."""
    out = []
    for currency in sorted(_currencies(session, name)):
        row = in_force(session, name, currency, at)
        if row is not None:
            out.append(row)
    return out


def _currencies(session: Session, name: str) -> set[str]:
    stmt = select(col(Tariff.currency)).where(col(Tariff.name) == name).distinct()
    return set(session.scalars(stmt))


def names(session: Session) -> list[str]:
    """Every tariff name (for a meter's tariff select)."""
    return list(session.scalars(select(col(Tariff.name)).distinct().order_by(col(Tariff.name))))


class TariffState(StrEnum):
    IN_FORCE = "in_force"
    SCHEDULED = "scheduled"  # starts later
    SUPERSEDED = "superseded"  # a later row took over
    WITHDRAWN = "withdrawn"  # marked inactive


@dataclass(frozen=True)
class TariffView:
    id: int
    name: str
    currency: str
    price_per_kwh: Decimal
    vat_rate: Decimal
    fee_rate: Decimal
    min_amount: Decimal
    max_amount: Decimal
    effective_from: datetime
    state: TariffState


def listing(session: Session, at: datetime) -> list[TariffView]:
    """Every tariff row with its state at `at`, by name, currency, then newest start first."""
    rows = session.scalars(
        select(Tariff).order_by(col(Tariff.name), col(Tariff.currency), col(Tariff.effective_from).desc())
    ).all()
    current = {key: in_force(session, *key, at) for key in {(r.name, r.currency) for r in rows}}
    out = []
    for r in rows:
        now = current[(r.name, r.currency)]
        if not r.active:
            state = TariffState.WITHDRAWN
        elif r.effective_from > at:
            state = TariffState.SCHEDULED
        elif now is not None and now.id == r.id:
            state = TariffState.IN_FORCE
        else:
            state = TariffState.SUPERSEDED
        assert r.id is not None
        out.append(
            TariffView(
                r.id,
                r.name,
                r.currency,
                r.price_per_kwh,
                r.vat_rate,
                r.fee_rate,
                r.min_amount,
                r.max_amount,
                r.effective_from,
                state,
            )
        )
    return out
