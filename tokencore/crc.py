"""The STS token CRC (sts-notes §1.8): CRC-16/MODBUS over class ‖ block bits 63..16, byte-swapped."""

from __future__ import annotations

from functools import lru_cache


def _byte_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _byte_table()


@lru_cache(maxsize=1)
def _pair_table() -> tuple[int, ...]:
    """CRC register after two bytes, indexed by (register XOR (first | second << 8)): two steps in one."""
    table = _TABLE
    out = []
    for index in range(65536):
        crc = (index >> 8) ^ table[index & 0xFF]  # first byte already folded into the index's low byte
        crc = (crc >> 8) ^ table[crc & 0xFF]  # second byte folded into the index's high byte
        out.append(crc)
    return tuple(out)


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0x8005 reflected, init 0xFFFF, no final XOR). Check value: 0x4B37."""
    crc = 0xFFFF
    table = _TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def _swap(crc: int) -> int:
    return ((crc & 0xFF) << 8) | (crc >> 8)


def token_crc(token_class: int, block: int, currency: bool = False) -> int:
    """The 16-bit CRC field for a 64-bit block of the given class (bits 15..0 of `block` are ignored).

    `currency` selects CRC_C (Class 0 subclasses 4-7, experimental): one byte 0x01 appended to the input.
    """
    value = (token_class << 48) | (block >> 16)
    # Seven bytes, most significant first: the first alone, then three pairs through the two-byte table
    # (this runs once per token issued or decoded).
    table, pairs = _TABLE, _pair_table()
    crc = (0xFFFF >> 8) ^ table[(0xFFFF ^ (value >> 48)) & 0xFF]
    for shift in (32, 16, 0):
        # Feeding bytes hi, lo: the register's low byte meets hi, its high byte meets lo.
        pair = (value >> shift) & 0xFFFF
        crc = pairs[(crc ^ (pair >> 8) ^ ((pair & 0xFF) << 8)) & 0xFFFF]
    if currency:
        crc = (crc >> 8) ^ table[(crc ^ 0x01) & 0xFF]
    return _swap(crc)


def crc_matches(token_class: int, block: int, currency: bool = False) -> bool:
    """True when the block's CRC field (bits 15..0) is right for its class and upper 48 bits."""
    return token_crc(token_class, block, currency) == block & 0xFFFF
