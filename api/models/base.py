"""Column helpers shared by the table modules."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Numeric
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive; we read them back as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Money: 18 digits with 4 decimals holds any CDF or USD amount; units (kWh) with one decimal as STS does.
MONEY = Numeric(18, 4, asdecimal=True)
UNITS = Numeric(12, 1, asdecimal=True)
# What a provider said it was paid, exactly: up to 8 decimals below 10^12 (api.payments.fields).
PAID = Numeric(20, 8, asdecimal=True)
RATE = Numeric(9, 6, asdecimal=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


def money(value: Decimal | int | str) -> Decimal:
    return Decimal(value).quantize(Decimal("0.0001"))
