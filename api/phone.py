"""Phone numbers: the one rule for every number a person types or a form sends (E.164, `+243...`)."""

from __future__ import annotations

import re

from api.errors import InvalidInput

COUNTRY_CODE = "243"  # DR Congo: a national number "0991234567" means "+243991234567"
E164 = re.compile(r"\+[1-9][0-9]{7,14}")
_NATIONAL = re.compile(r"0[1-9][0-9]{8}")
_SEPARATORS = re.compile(r"[\s().-]")  # people write "+243 99 123 4567", "099-123-45-67"
MAX_TYPED = 32


def parse_msisdn(text: str) -> str:
    """The E.164 form of a phone number as typed: `+243991234567`, `00243 99 123 4567`, `0991234567`
    (national, DR Congo) or `243991234567`. ASCII digits only. Raises InvalidInput (code
    `invalid_phone`)."""
    if not isinstance(text, str) or len(text) > MAX_TYPED:
        raise InvalidInput("phone must be E.164, e.g. +243991234567", code="invalid_phone")
    compact = _SEPARATORS.sub("", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    elif _NATIONAL.fullmatch(compact):
        compact = "+" + COUNTRY_CODE + compact[1:]
    elif compact.startswith(COUNTRY_CODE) and len(compact) == 12:
        compact = "+" + compact
    if not E164.fullmatch(compact):
        raise InvalidInput("phone must be E.164, e.g. +243991234567", code="invalid_phone")
    return compact


def is_msisdn(text: str) -> bool:
    """True if `text` is already an E.164 number exactly (what a provider or gateway sends)."""
    return isinstance(text, str) and E164.fullmatch(text) is not None


def digits_fragment(text: str) -> str:
    """The ASCII digits of a search fragment ("099 12" -> "09912"), for partial phone matches."""
    return "".join(c for c in text if "0" <= c <= "9")
