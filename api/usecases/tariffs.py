"""Tariffs: a new price in force now, a price change scheduled for later, withdrawing a scheduled one.

Rows are never edited: each change is a new row with its `effective_from`, so every past sale can be
explained by the row that was in force (api.queries.tariffs.in_force)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from api.actors import Actor
from api.audit import record
from api.errors import Conflict, FieldErrors, NotFound
from api.models import Tariff
from api.models.meters import TARIFF_EPOCH
from api.pricing import CURRENCIES
from api.usecases.fields import Fields


@dataclass(frozen=True)
class TariffInput:
    """A tariff's terms as typed or posted. Amounts are VAT-inclusive; rates are fractions."""

    currency: object
    price_per_kwh: object
    vat_rate: object = "0.16"
    min_amount: object = "1"
    max_amount: object = "1000000"
    fee_rate: object = "0"
    name: object = "residential"


def _check(spec: TariffInput) -> Tariff:
    f = Fields()
    row = Tariff(
        name=f.text("name", spec.name, max_len=40, required=True),
        currency=f.choice("currency", spec.currency, CURRENCIES),
        price_per_kwh=f.money("price_per_kwh", spec.price_per_kwh),
        vat_rate=f.rate("vat_rate", spec.vat_rate),
        fee_rate=f.rate("fee_rate", spec.fee_rate),
        min_amount=f.money("min_amount", spec.min_amount),
        max_amount=f.money("max_amount", spec.max_amount),
    )
    if not f.errors and row.min_amount > row.max_amount:
        f.fail("min_amount", "min_above_max")
    f.done()
    return row


def create(session: Session, actor: Actor, spec: TariffInput, at: datetime) -> Tariff:
    """New terms for tariff `name` in `currency`, in force from `at` (now). The first row of a name and
    currency is in force since always (sales before it are not repriced: there were none). Audited.
    Raises FieldErrors (`name`, `currency`, `price_per_kwh`, `vat_rate`, `fee_rate`, `min_amount`,
    `max_amount`) before writing."""
    row = _check(spec)
    stmt = select(col(Tariff.id)).where(col(Tariff.name) == row.name, col(Tariff.currency) == row.currency)
    row.effective_from = at if session.scalars(stmt).first() is not None else TARIFF_EPOCH
    return _add(session, actor, row, "tariff_created")


def schedule(
    session: Session, actor: Actor, spec: TariffInput, effective_from: datetime, now: datetime
) -> Tariff:
    """New terms that take effect at `effective_from` (aware, after `now`). Audited. Raises
    FieldErrors (the fields of `create`, and `effective_from`: in_the_past/tariff_exists)."""
    if effective_from.tzinfo is None:
        raise ValueError("effective_from must carry its time zone")
    row = _check(spec)
    if effective_from <= now:
        raise FieldErrors({"effective_from": "in_the_past"})
    row.effective_from = effective_from
    return _add(session, actor, row, "tariff_scheduled")


def _add(session: Session, actor: Actor, row: Tariff, action: str) -> Tariff:
    clash = session.scalars(
        select(col(Tariff.id)).where(
            col(Tariff.name) == row.name,
            col(Tariff.currency) == row.currency,
            col(Tariff.effective_from) == row.effective_from,
        )
    ).first()
    if clash is not None:
        raise FieldErrors({"effective_from": "tariff_exists"})
    session.add(row)
    session.flush()
    record(session, actor, action, f"{row.name} {row.currency}", after=row)
    return row


def withdraw(session: Session, actor: Actor, tariff_id: int, now: datetime) -> Tariff:
    """Cancel a scheduled tariff row (one that has not started); audited. Raises NotFound
    (`tariff_not_found`) or Conflict (`tariff_started`: rows that applied stay for the history)."""
    row = session.get(Tariff, tariff_id)
    if row is None or not row.active:
        raise NotFound("no such tariff", code="tariff_not_found")
    if row.effective_from <= now:
        raise Conflict("this tariff has already applied; schedule a new one instead", code="tariff_started")
    before = {"active": True}
    row.active = False
    record(
        session,
        actor,
        "tariff_withdrawn",
        f"{row.name} {row.currency}",
        before=before,
        after={"active": False},
    )
    session.flush()
    return row
