"""Reading the two values every provider sends in its own way: amounts and phone numbers.

A provider's amount is the one number from outside that decides a token, so it is read strictly: ASCII
digits with at most one decimal separator (a point, or a comma as some providers write it), finite,
above zero and below :data:`MAX_PROVIDER_AMOUNT`, with at most :data:`PROVIDER_AMOUNT_DECIMALS` decimals
(what ``payments.paid_amount`` stores exactly). Anything else is not "no amount" but a wrong one.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from api.phone import is_msisdn

__all__ = [
    "MAX_PROVIDER_AMOUNT",
    "PROVIDER_AMOUNT_DECIMALS",
    "check_provider_amount",
    "e164_from_digits",
    "is_e164",
    "parse_amount",
]

#: Provider amounts are below this (10^12: more than any CDF, USD or KES payment; the money columns hold it).
MAX_PROVIDER_AMOUNT = Decimal("1e12")
#: Decimals a provider amount may carry: ``payments.paid_amount`` (NUMERIC(20, 8)) stores them exactly.
PROVIDER_AMOUNT_DECIMALS = 8
_AMOUNT_TEXT = re.compile(r"[0-9]{1,13}([.,][0-9]{1,20})?")


def is_e164(text: str) -> bool:
    """E.164 exactly (what CollectionRequest and SmsMessage accept): the one rule of `api.phone`."""
    return is_msisdn(text)


def e164_from_digits(value: object) -> str | None:
    """A provider's bare-digits number ("2547...", 254708374149) as E.164; None if masked or absent."""
    text = str(value).strip() if value is not None else ""
    return "+" + text if is_e164("+" + text) else None


def parse_amount(value: object) -> Decimal | None:
    """A provider's amount (JSON number, "750.00", "5000,5") as a Decimal; None when it is absent
    (None or an empty string). Raises ValueError when it is present but not an amount we accept: not
    ASCII digits, NaN, infinite, zero or negative, 10^12 or more, more than 8 decimals."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValueError("an amount is a number")
    if isinstance(value, float):
        # JSON numbers arrive as floats: their shortest repr is what the provider wrote ("750.5").
        value = repr(value)
    text = str(value).strip()
    if not _AMOUNT_TEXT.fullmatch(text):
        raise ValueError("an amount is written with ASCII digits and at most one decimal separator")
    try:
        amount = Decimal(text.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the pattern admits only what Decimal reads
        raise ValueError("not an amount") from None
    return check_provider_amount(amount)


def check_provider_amount(amount: Decimal) -> Decimal:
    """`amount` if it is finite, above zero, below 10^12 and has at most 8 decimals; else ValueError."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValueError("an amount is a finite number")
    if not Decimal(0) < amount < MAX_PROVIDER_AMOUNT:
        raise ValueError("an amount is above zero and below 10^12")
    exponent = amount.as_tuple().exponent
    if (
        isinstance(exponent, int)
        and exponent < -PROVIDER_AMOUNT_DECIMALS
        and amount != round(amount, PROVIDER_AMOUNT_DECIMALS)
    ):
        raise ValueError(f"an amount has at most {PROVIDER_AMOUNT_DECIMALS} decimals")
    return amount
