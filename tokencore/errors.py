"""Operational errors of the token engine.

Every refusal the rules of STS impose (an amount out of range, a key that has expired, a token that does
not decode) is a `TokenError` subclass, so the edges (CLI, API, USSD) can translate them in one place.
Programmer mistakes (wrong argument types) raise `TypeError`/`ValueError` at the public function.
Messages never contain key material.
"""

from __future__ import annotations


class TokenError(Exception):
    """Root of every operational error raised by tokencore."""

    code = "token_error"


class IdentityError(TokenError):
    """A meter number (MeterPAN or DRN) is malformed or fails its Luhn check."""

    code = "invalid_meter_number"


class KeyParameterError(TokenError):
    """A key parameter (SGC, TI, KRN, KT, KEN, base date, DKGA, EA) or a key itself is invalid."""

    code = "invalid_key_parameter"


class AmountRangeError(TokenError):
    """An amount (credit, power limit) is negative, malformed or above what the 16-bit field holds."""

    code = "amount_out_of_range"


class FieldRangeError(TokenError):
    """A token field (register, rate, control bits, manufacturer code, RND) is outside its width."""

    code = "field_out_of_range"


class TidError(TokenError):
    """An issue time cannot be expressed as a TID (before the base date or past its rollover)."""

    code = "tid_out_of_range"


class KeyExpiredError(TokenError):
    """The token's TID is past the key's expiry number: (TID >> 16) > KEN. The meter would refuse it."""

    code = "key_expired"


class DdtkError(TokenError):
    """Credit tokens are not issued to a meter on a default key (KT 1, DDTK)."""

    code = "ddtk_credit_refused"


class KeyTypeError(TokenError):
    """A key change the meter would refuse under the key-type change rules."""

    code = "key_type_not_allowed"


class TokenFormatError(TokenError):
    """Entered text is not a 20-digit token, or its 66-bit value is out of range."""

    code = "token_format"


class UnsupportedError(TokenError):
    """A feature with no public definition (EA09, DKGA01/03) was requested."""

    code = "unsupported"
