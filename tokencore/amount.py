"""The 16-bit amount field (sts-notes §1.7): exponent/mantissa, rounded up in the customer's favour.

    value = m                                   if e = 0
    value = m·10^e + Σ_{i=1..e} 2^14·10^(i−1)   if e > 0

Credit amounts are in tenths of a unit (0.1 kWh), power limits in whole watts. Everything is integer or
Decimal arithmetic: 0.1 kWh times 10 is exactly 1 tenth here, never 0.9999.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal, InvalidOperation
from functools import lru_cache

from tokencore.errors import AmountRangeError

MANTISSA_BITS = 14
MANTISSA_MAX = (1 << MANTISSA_BITS) - 1
MAX_EXPONENT = 3


_POW10: tuple[int, ...] = tuple(10**i for i in range(32))
# Σ_{i=1..e} 2^14·10^(i−1): the value where exponent e starts.
_OFFSETS: tuple[int, ...] = tuple(
    sum((1 << MANTISSA_BITS) * _POW10[i - 1] for i in range(1, e + 1)) for e in range(32)
)


def _offset(exponent: int) -> int:
    return _OFFSETS[exponent]


def exponent_range(exponent: int) -> tuple[int, int, int]:
    """(first value, last value, step) that the given exponent represents."""
    start = _offset(exponent)
    return start, start + MANTISSA_MAX * _POW10[exponent], _POW10[exponent]


def _encode(value: int, max_exponent: int, what: str) -> tuple[int, int]:
    if value < 0:
        raise AmountRangeError(f"{what} cannot be negative")
    for exponent in range(max_exponent + 1):
        start, last, step = exponent_range(exponent)
        if value <= last:
            # Smallest representable value >= value: the ceiling of (value - start) / step.
            mantissa = max(0, -((start - value) // step))
            return exponent, mantissa
    raise AmountRangeError(f"{what} {value} is above the largest encodable {exponent_range(max_exponent)[1]}")


def encode_amount(value: int) -> int:
    """Encode an integer value (tenths of a unit, or watts) as the 16-bit amount field, rounding up.

    Raises AmountRangeError when it is negative or above 18,201,624 (1,820,162.4 units).
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("amount value must be an int")
    if 0 <= value <= MANTISSA_MAX:
        return value  # exponent 0: the value itself
    exponent, mantissa = _encode(value, MAX_EXPONENT, "amount")
    return (exponent << MANTISSA_BITS) | mantissa


def decode_amount(field: int) -> int:
    """The integer value a 16-bit amount field represents (tenths of a unit, or watts)."""
    if not 0 <= field <= 0xFFFF:
        raise ValueError("amount field is 16 bits")
    exponent, mantissa = field >> MANTISSA_BITS, field & MANTISSA_MAX
    return mantissa * _POW10[exponent] + _OFFSETS[exponent]


MAX_VALUE = decode_amount(0xFFFF)  # 18,201,624 tenths = 1,820,162.4 units


def units_to_tenths(units: Decimal | int | str) -> int:
    """Convert a quantity in units (kWh, m3, ...) to whole tenths, rounding up (customer's favour).

    Raises AmountRangeError for a negative, non-finite or malformed quantity, or one above 1,820,162.4.
    """
    if isinstance(units, float):
        raise TypeError("pass units as Decimal, int or str, never float")
    if isinstance(units, str) and not units.isascii():  # Decimal() also reads "５" and "٥" as digits
        raise AmountRangeError(f"units must be written with ASCII digits, got {units!r}")
    try:
        quantity = Decimal(units)
    except InvalidOperation:
        raise AmountRangeError(f"not a number: {units!r}") from None
    if not quantity.is_finite() or quantity < 0:
        raise AmountRangeError(f"units must be a finite, non-negative number, got {units}")
    tenths = int((quantity * 10).to_integral_value(rounding=ROUND_CEILING))
    if tenths > MAX_VALUE:
        raise AmountRangeError(f"{quantity} units is above the largest credit token, 1820162.4")
    return tenths


@lru_cache(maxsize=4096)
def tenths_to_units(tenths: int) -> Decimal:
    """Tenths of a unit as a Decimal number of units (e.g. 256 -> Decimal('25.6')). Cached: Decimals
    are immutable, and a vending run meets the same few hundred amounts over and over."""
    return Decimal(tenths).scaleb(-1)


def credit_amount(units: Decimal | int | str) -> tuple[int, Decimal]:
    """(amount field, units it credits) for a credit of `units`: `encode_amount(units_to_tenths(units))`
    and what that field decodes to, rounded up as those round. Raises as `units_to_tenths` does.

    Memoised (the last 4,096 amounts, keyed by value and type, so 1.0 never hits the entry of 1): a vending
    run asks for the same few hundred amounts over and over, and the Decimal arithmetic is a tenth of a
    token's cost.
    """
    try:
        return _credit_amount(units)
    except TypeError:
        # Unhashable input (a signalling NaN, a list): the plain path gives the documented error.
        field = encode_amount(units_to_tenths(units))
        return field, tenths_to_units(decode_amount(field))


@lru_cache(maxsize=4096, typed=True)
def _credit_amount(units: Decimal | int | str) -> tuple[int, Decimal]:
    field = encode_amount(units_to_tenths(units))
    return field, tenths_to_units(decode_amount(field))


# Currency credit (Class 0 subclasses 4-7, Ed3, experimental: sts-notes §1.7.3): a 5-bit exponent, the
# value in 1/100000 of the currency unit. Only exponents 0-3 are confirmed by a vector.
CURRENCY_MAX_EXPONENT = 31
CURRENCY_SCALE = 5


def encode_currency(value: int) -> tuple[int, int]:
    """Encode a currency value (in 10^-5 currency units) as (exponent 0-31, mantissa), rounding up."""
    return _encode(value, CURRENCY_MAX_EXPONENT, "currency amount")


def decode_currency(exponent: int, mantissa: int) -> int:
    """The value (10^-5 currency units) of an exponent (0-31) and a 14-bit mantissa."""
    return mantissa * _POW10[exponent] + _OFFSETS[exponent]
