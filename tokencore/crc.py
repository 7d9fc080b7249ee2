"""The STS token CRC (sts-notes §1.8): CRC-16/MODBUS over class ‖ block bits 63..16, byte-swapped."""

from __future__ import annotations


def _byte_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _byte_table()


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0x8005 reflected, init 0xFFFF, no final XOR). Check value: 0x4B37."""
    crc = 0xFFFF
    table = _TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def _swap(crc: int) -> int:
    return ((crc & 0xFF) << 8) | (crc >> 8)


def _position_tables() -> tuple[tuple[int, ...], ...]:
    """Per input byte (class, then block bits 63..16, 8 bits each), its share of the token CRC.

    For inputs of one length the CRC is affine: crc(a ^ b) = crc(a) ^ crc(b) ^ crc(0). So the CRC of the
    seven bytes is crc(0) XOR one entry per byte, each entry the CRC of that byte alone in its place
    (minus crc(0)); the byte swap of the field is linear too and is folded in. crc(0) goes into the
    class byte's table. Built from 8 basis values per position: table[v] is the XOR of the basis values
    of v's set bits.
    """
    zero = crc16_modbus(bytes(7))
    tables = []
    for position in range(7):
        table = [_swap(zero) if position == 0 else 0]
        for bit in range(8):
            message = bytearray(7)
            message[position] = 1 << bit
            share = _swap(crc16_modbus(bytes(message)) ^ zero)
            table += [t ^ share for t in table]
        tables.append(tuple(table))
    return tuple(tables)


_CLASS, _B63, _B55, _B47, _B39, _B31, _B23 = _position_tables()


def token_crc(token_class: int, block: int, currency: bool = False) -> int:
    """The 16-bit CRC field for a 64-bit block of the given class (bits 15..0 of `block` are ignored).

    `currency` selects CRC_C (Class 0 subclasses 4-7, experimental): one byte 0x01 appended to the input.
    Raises OverflowError when the block does not fit 64 bits.
    """
    # This runs once per token issued or decoded: six byte lookups instead of seven CRC steps.
    b63, b55, b47, b39, b31, b23, _, _ = block.to_bytes(8, "big")
    crc = _CLASS[token_class] ^ _B63[b63] ^ _B55[b55] ^ _B47[b47] ^ _B39[b39] ^ _B31[b31] ^ _B23[b23]
    if currency:
        crc = _swap(crc)
        crc = _swap((crc >> 8) ^ _TABLE[(crc ^ 0x01) & 0xFF])
    return crc


def crc_matches(token_class: int, block: int, currency: bool = False) -> bool:
    """True when the block's CRC field (bits 15..0) is right for its class and upper 48 bits."""
    return token_crc(token_class, block, currency) == block & 0xFFFF
