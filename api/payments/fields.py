"""Reading the two values every provider sends in its own way: amounts and phone numbers."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from api.phone import is_msisdn

__all__ = ["e164_from_digits", "is_e164", "parse_amount"]


def is_e164(text: str) -> bool:
    """E.164 exactly (what CollectionRequest and SmsMessage accept): the one rule of `api.phone`."""
    return is_msisdn(text)


def e164_from_digits(value: object) -> str | None:
    """A provider's bare-digits number ("2547...", 254708374149) as E.164; None if masked or absent."""
    text = str(value).strip() if value is not None else ""
    return "+" + text if is_e164("+" + text) else None


def parse_amount(value: object) -> Decimal | None:
    """A provider's amount (JSON number, "750.00", "5000,5") as a finite Decimal, else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None
