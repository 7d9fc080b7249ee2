"""Reading the two values every provider sends in its own way: amounts and phone numbers."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

__all__ = ["e164_from_digits", "is_e164", "parse_amount"]

_MIN_E164 = 8  # "+" and at least 7 digits: shorter strings are not phone numbers anywhere we operate


def is_e164(text: str) -> bool:
    """``+`` then digits only (what CollectionRequest and SmsMessage accept)."""
    return text.startswith("+") and text[1:].isdigit() and len(text) >= _MIN_E164


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
