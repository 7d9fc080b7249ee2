"""Meter identity: the 18-digit MeterPAN and the DRN printed on the meter, with their Luhn check digits.

MeterPAN = IIN ‖ IAIN ‖ PAN check digit (sts-notes §2.5):
- legacy IIN "600727" with an 11-digit IAIN/DRN = MfrCode(2) ‖ serial(8) ‖ DRN check digit;
- IIN "0000" with a 13-digit IAIN/DRN = MfrCode(4) ‖ serial(8) ‖ DRN check digit.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokencore.errors import IdentityError

LEGACY_IIN = "600727"
SHORT_IIN = "0000"


# Digit characters mapped to their value, and to the digit sum of twice their value (Luhn's doubling).
_PLAIN = bytes.maketrans(b"0123456789", bytes(range(10)))
_DOUBLED = bytes.maketrans(b"0123456789", bytes((2 * d) // 10 + (2 * d) % 10 for d in range(10)))


def luhn_check_digit(digits: str) -> int:
    """Return the Luhn check digit (0-9) that completes `digits` (a string of decimal digits).

    Raises IdentityError when `digits` is empty or holds anything but 0-9.
    """
    if not digits or not digits.isascii() or not digits.isdigit():
        raise IdentityError(f"expected decimal digits, got {digits!r}")
    # Counting from the right-most digit of the payload, every second digit is doubled (starting with it).
    reverse = digits[::-1].encode("ascii")
    total = sum(reverse[0::2].translate(_DOUBLED)) + sum(reverse[1::2].translate(_PLAIN))
    return (10 - total % 10) % 10


def _check(number: str, what: str) -> None:
    expected = luhn_check_digit(number[:-1])
    if int(number[-1]) != expected:
        raise IdentityError(
            f"{what} {number} fails its Luhn check: last digit is {number[-1]}, expected {expected}"
        )


def validate_drn(drn: str) -> str:
    """Check a DRN (11 or 13 digits, Luhn check digit last) and return it.

    Raises IdentityError naming exactly what is wrong (length, characters, or the expected check digit).
    """
    drn = drn.strip()
    if not drn.isascii() or not drn.isdigit():
        raise IdentityError(f"DRN must be decimal digits, got {drn!r}")
    if len(drn) not in (11, 13):
        raise IdentityError(f"DRN must have 11 or 13 digits, got {len(drn)}")
    _check(drn, "DRN")
    return drn


@dataclass(frozen=True, slots=True)
class MeterPan:
    """A validated 18-digit MeterPAN."""

    pan: str

    @property
    def iin(self) -> str:
        """The issuer number: "0000" (with a 13-digit DRN) or six digits, usually 600727."""
        return SHORT_IIN if self.pan.startswith(SHORT_IIN) else self.pan[:6]

    @property
    def drn(self) -> str:
        """The IAIN: the number printed on the meter (11 or 13 digits, with its own check digit)."""
        return self.pan[len(self.iin) : 17]

    @property
    def mfr_code(self) -> int:
        """Manufacturer code: the first 2 (11-digit DRN) or 4 (13-digit DRN) digits of the DRN."""
        drn = self.drn
        return int(drn[:2] if len(drn) == 11 else drn[:4])

    @property
    def mfr_code_digits(self) -> int:
        return 2 if len(self.drn) == 11 else 4

    def pan_block_digits(self, zero_iain: bool = False) -> str:
        """The 16 digits of the DKGA PANBlock (sts-notes §2.4): IIN tail ‖ IAIN, no PAN check digit."""
        iin, drn = self.iin, self.drn
        tail = iin[-5:] if len(iin) == 6 else iin[-3:]
        return tail + ("0" * len(drn) if zero_iain else drn)

    def __str__(self) -> str:
        return self.pan


def parse_pan(text: str) -> MeterPan:
    """Validate an 18-digit MeterPAN (the PAN check digit and the DRN's own check digit).

    Raises IdentityError with the exact fault (length, characters, which check digit was expected).
    """
    pan = text.strip().replace(" ", "")
    if not pan.isascii() or not pan.isdigit():
        raise IdentityError(f"MeterPAN must be decimal digits, got {text!r}")
    if len(pan) != 18:
        raise IdentityError(f"MeterPAN must have 18 digits, got {len(pan)}")
    _check(pan, "MeterPAN")
    meter = MeterPan(pan)
    _check(meter.drn, "DRN inside MeterPAN")
    return meter


def pan_from_drn(drn: str) -> MeterPan:
    """Build the MeterPAN of a DRN: IIN 600727 for 11 digits, IIN 0000 for 13, then the PAN check digit.

    Raises IdentityError when the DRN is malformed or fails its check digit.
    """
    drn = validate_drn(drn)
    body = (LEGACY_IIN if len(drn) == 11 else SHORT_IIN) + drn
    return MeterPan(body + str(luhn_check_digit(body)))


def meter_from_number(text: str) -> MeterPan:
    """Accept either a MeterPAN (18 digits) or a DRN (11 or 13 digits), as typed by a person."""
    digits = text.strip().replace(" ", "")
    return parse_pan(digits) if len(digits) == 18 else pan_from_drn(digits)
