"""From money to units: the deductions, then the tariff, then STS amount resolution.

Deduction order (payments-ussd-sms.md §5.3): channel fee (a rate of the amount), then VAT (the amount is
VAT-inclusive: VAT = net x rate / (1 + rate)), then the price per kWh applies to what is left. Units are
rounded DOWN to the STS resolution of 0.1 kWh here, so the utility never sells energy it was not paid for
(the error is under 0.1 kWh); tokencore then encodes that number, rounding up only where the 16-bit
exponent/mantissa field cannot hold it exactly (in the customer's favour).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Protocol

from api.errors import AmountOutOfLimits, InvalidInput

CURRENCIES = ("CDF", "USD")
UNIT_STEP = Decimal("0.1")
CENT = Decimal("0.01")
MAX_MONEY = Decimal("1e12")


@dataclass(frozen=True)
class Quote:
    amount: Decimal  # what the payer pays, VAT included
    currency: str
    fee: Decimal
    vat: Decimal
    energy_money: Decimal  # what buys energy
    units: Decimal  # kWh, multiple of 0.1


def parse_amount(text: str, currency: str) -> Decimal:
    """Parse a typed amount ("5000", "12.50"). Raises InvalidInput (never InvalidOperation)."""
    if currency not in CURRENCIES:
        raise InvalidInput(f"currency must be one of {', '.join(CURRENCIES)}", code="invalid_currency")
    text = text.strip()
    # ASCII digits only: str.isdigit() also accepts other scripts' digits, which Decimal would read.
    if not text or len(text) > 15 or not all(c in "0123456789." for c in text) or text.count(".") > 1:
        raise InvalidInput("amount must be a positive number", code="invalid_amount")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidInput("amount must be a positive number", code="invalid_amount") from None
    return check_money(value)


def check_money(value: Decimal) -> Decimal:
    """A positive, finite amount with at most 2 decimals, below 10^12. Raises InvalidInput."""
    if not value.is_finite() or value >= MAX_MONEY:
        raise InvalidInput("amount is too large", code="invalid_amount")
    if value <= 0 or value != value.quantize(CENT, rounding=ROUND_DOWN):
        raise InvalidInput("amount must be positive with at most 2 decimals", code="invalid_amount")
    return value


class TariffTerms(Protocol):
    """A Tariff or a `tariffs` row."""

    currency: str
    price_per_kwh: Decimal
    vat_rate: Decimal
    fee_rate: Decimal
    min_amount: Decimal
    max_amount: Decimal


def quote(tariff: TariffTerms, amount: Decimal) -> Quote:
    """Units bought by `amount` (VAT-inclusive) under `tariff`. Raises AmountOutOfLimits."""
    amount = check_money(amount)
    if amount < tariff.min_amount or amount > tariff.max_amount:
        raise AmountOutOfLimits(
            f"amount must be between {_plain(tariff.min_amount)} and {_plain(tariff.max_amount)} "
            f"{tariff.currency}",
            minimum=tariff.min_amount,
            maximum=tariff.max_amount,
        )
    fee = (amount * tariff.fee_rate).quantize(CENT, rounding=ROUND_HALF_UP)
    taxable = amount - fee
    vat = (taxable * tariff.vat_rate / (1 + tariff.vat_rate)).quantize(CENT, rounding=ROUND_HALF_UP)
    energy_money = taxable - vat
    units = (energy_money / tariff.price_per_kwh).quantize(UNIT_STEP, rounding=ROUND_DOWN)
    return Quote(amount, tariff.currency, fee, vat, energy_money, units)


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def plain(value: Decimal) -> str:
    """A Decimal without exponent or trailing zeros: 5000, 12.5."""
    return _plain(value)
