"""From a 64-bit block and a class to the 20-digit token and back (sts-notes §1.1, §1.9)."""

from __future__ import annotations

from tokencore.errors import TokenFormatError

MAX_TOKEN_VALUE = (1 << 66) - 1
_BIT27 = 1 << 27
_BIT28 = 1 << 28
_CLASS_MASK = ~(_BIT27 | _BIT28) & ((1 << 64) - 1)


def transpose_class(token_class: int, encrypted: int) -> int:
    """Insert the 2 class bits at bits 28..27; their old values move to bits 65..64."""
    moved = ((encrypted >> 27) & 3) << 64
    return moved | (encrypted & _CLASS_MASK) | (token_class << 27)


def untranspose_class(value: int) -> tuple[int, int]:
    """Split a 66-bit token value into (class, 64-bit encrypted block)."""
    token_class = (value >> 27) & 3
    block = (value & _CLASS_MASK) | (((value >> 64) & 3) << 27)
    return token_class, block


def to_digits(value: int) -> str:
    """The 66-bit value as 20 decimal digits (leading zeros kept)."""
    return f"{value:020d}"


def parse_digits(text: str) -> int:
    """Parse a token typed by a person (spaces and dashes allowed) into its 66-bit value.

    Raises TokenFormatError when it is not exactly 20 digits or its value needs more than 66 bits.
    """
    cleaned = text.strip().replace(" ", "").replace("-", "")
    if len(cleaned) != 20 or not cleaned.isascii() or not cleaned.isdigit():
        raise TokenFormatError(f"a token is 20 digits, got {len(cleaned)} characters")
    value = int(cleaned)
    if value > MAX_TOKEN_VALUE:
        raise TokenFormatError("20-digit value above 2^66 - 1 cannot be a token")
    return value


def group(token: str) -> str:
    """Print a 20-digit token in groups of four: '2371 6100 5011 8319 4197'."""
    return " ".join(token[i : i + 4] for i in range(0, len(token), 4))
