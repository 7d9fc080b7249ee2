"""Checking a form's values field by field, collecting every error before refusing (FieldErrors).

Values arrive as typed Python values (the CLI, the REST API) or as the text a form posted: both are
accepted, and text is parsed strictly (ASCII digits only, finite numbers, bounded lengths)."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from api.errors import FieldErrors, InvalidInput
from api.phone import parse_msisdn
from api.pricing import check_money

C = TypeVar("C")
_INTEGER = re.compile(r"-?[0-9]{1,12}")
_REAL = re.compile(r"-?[0-9]{1,6}(\.[0-9]{1,12})?")
_MONEY = re.compile(r"[0-9]{1,13}(\.[0-9]{1,2})?")


class Fields:
    """Collects field errors; `done()` raises them all at once."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def fail(self, name: str, key: str) -> None:
        self.errors.setdefault(name, key)

    def done(self) -> None:
        """Raises FieldErrors if any field failed."""
        if self.errors:
            raise FieldErrors(self.errors)

    def text(self, name: str, value: object, *, max_len: int = 80, required: bool = False) -> str:
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.fail(name, "invalid")
            return ""
        value = " ".join(value.split())  # no control characters, no double spaces
        if required and not value:
            self.fail(name, "required")
        elif len(value) > max_len:
            self.fail(name, "too_long")
        return value

    def integer(self, name: str, value: object, lo: int, hi: int) -> int:
        number = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            number = int(value.strip())
        if number is None:
            self.fail(name, "invalid_number" if value not in (None, "") else "required")
            return lo
        if not lo <= number <= hi:
            self.fail(name, "out_of_range")
        return number

    def choice(self, name: str, value: object, choices: Collection[C]) -> C:
        for option in choices:
            if value == option or (isinstance(value, str) and value.strip() == str(option)):
                return option
        self.fail(name, "invalid_choice" if value not in (None, "") else "required")
        return next(iter(choices))

    def real(self, name: str, value: object, lo: float, hi: float) -> float | None:
        """An optional float (empty: None) within lo..hi."""
        if value is None or value == "":
            return None
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str) and _REAL.fullmatch(value.strip()):
            number = float(value.strip())
        if number is None or number != number or number in (float("inf"), float("-inf")):
            self.fail(name, "invalid_number")
            return None
        if not lo <= number <= hi:
            self.fail(name, "out_of_range")
        return number

    def day(self, name: str, value: object) -> date | None:
        if value is None or value == "":
            return None
        if isinstance(value, date):
            return value
        if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value.strip()):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        self.fail(name, "invalid_date")
        return None

    def phone(self, name: str, value: object) -> str:
        if value in (None, ""):
            self.fail(name, "required")
            return ""
        try:
            return parse_msisdn(str(value))
        except InvalidInput:
            self.fail(name, "invalid_phone")
            return ""

    def flag(self, name: str, value: object) -> bool:
        if isinstance(value, bool):
            return value
        if value in (None, "", "0", "false", "off", "no"):
            return False
        if value in ("1", "true", "on", "yes"):
            return True
        self.fail(name, "invalid_choice")
        return False

    def money(self, name: str, value: object) -> Decimal:
        """A positive amount with at most 2 decimals below 10^12 (text: ASCII digits and one point)."""
        amount = parse_money(value)
        if amount is None:
            self.fail(name, "invalid_amount" if value not in (None, "") else "required")
            return Decimal(0)
        return amount

    def rate(self, name: str, value: object) -> Decimal:
        """A fraction 0 <= r < 1 (0.16 = 16 %) with at most 6 decimals."""
        rate = None
        if isinstance(value, Decimal):
            rate = value
        elif isinstance(value, (str, int)) and not isinstance(value, bool):
            text = str(value).strip()
            if re.fullmatch(r"[0-9](\.[0-9]{1,6})?", text):
                rate = Decimal(text)
        if rate is None or not rate.is_finite() or not Decimal(0) <= rate < 1 or rate != round(rate, 6):
            self.fail(name, "invalid_rate")
            return Decimal(0)
        return rate


def parse_money(value: object) -> Decimal | None:
    """A Decimal or the text of one (`5000`, `12.50`) as a valid amount, else None."""
    if isinstance(value, str):
        text = value.strip()
        if not _MONEY.fullmatch(text):
            return None
        value = Decimal(text)
    if not isinstance(value, Decimal):
        return None
    try:
        return check_money(value)
    except (InvalidInput, InvalidOperation):
        return None
