"""The Uno firmware's EEPROM image of a meter: what `nguvu meter eeprom` writes for avrdude.

The firmware (firmware/app/app_store.c) keeps two 512-byte slots, each holding one generation: magic
0x4E47, a 16-bit sequence number, the `app_persist_t` record (firmware/app/app.h, which embeds the
decoder's `tc_state_t` of firmware/core/tc_decoder.h) and a CRC-16/MODBUS over all of it. The AVR
packs structs without padding and is little-endian, so the record is a plain `struct` layout. The
image holds one generation (sequence 1) in slot 0 and erased bytes (0xFF) everywhere else, so writing
the whole image also invalidates whatever an earlier provisioning left in slot 1.

The image holds the meter's decoder key: it is as secret as the meter state file it comes from.
"""

from __future__ import annotations

import struct

from tokencore.crc import crc16_modbus
from tokencore.decoder import MeterState

EEPROM_SIZE = 1024  # ATmega328P
SLOT_SIZE = 512
MAGIC = 0x4E47  # "NG"
TID_MAX = 20  # TC_TID_MAX of the firmware
PENDING_MAX = 4  # TC_PENDING_MAX
BASE_YEARS = {1993: 93, 2014: 14, 2035: 35}
_HAS_BITS = (("mpl_watts", 0x01), ("mppul_watts", 0x02), ("tariff_rate", 0x04), ("water_factor", 0x08))

# tc_config_t, tc_key_t, tc_pending_t, then tc_state_t and app_persist_t around them (little-endian,
# no padding, in the field order of the C headers).
_CONFIG = struct.Struct("<IIIIBBB")
_KEY = struct.Struct("<I16sBBBBB")
_PENDING = struct.Struct("<Q8sB")
_STATE_HEAD = struct.Struct(f"<Q8I{TID_MAX}III")
_STATE_TAIL = struct.Struct("<HHHHBBB")
_PERSIST_TAIL = struct.Struct("<QI18sBB")
RECORD_SIZE = (
    _STATE_HEAD.size
    + _CONFIG.size
    + _KEY.size
    + PENDING_MAX * _PENDING.size
    + _STATE_TAIL.size
    + _PERSIST_TAIL.size
)


class ImageError(ValueError):
    """The meter state does not fit the firmware's record (e.g. a TID memory larger than 20)."""


def _u32(value: int, what: str) -> int:
    if not 0 <= value <= 0xFFFF_FFFF:
        raise ImageError(f"{what} does not fit the firmware's 32-bit field: {value}")
    return value


def _state_bytes(state: MeterState) -> bytes:
    config, key = state.config, state.key
    if config.tid_memory_size > TID_MAX:
        raise ImageError(f"the firmware remembers at most {TID_MAX} TIDs, not {config.tid_memory_size}")
    if len(state.pending) > PENDING_MAX:
        raise ImageError("more pending key change sections than the firmware holds")
    tids = list(state.tid_memory) + [0] * (TID_MAX - len(state.tid_memory))
    head = _STATE_HEAD.pack(
        state.locked_until_ms,
        *(_u32(r, "a register") for r in state.registers),
        *(_u32(t, "a TID") for t in tids),
        _u32(state.mpl_watts or 0, "the power limit"),
        _u32(state.mppul_watts or 0, "the per-phase limit"),
    )
    packed_config = _CONFIG.pack(
        config.kct_timeout_ms,
        _u32(config.register_limit, "the register limit"),
        config.lockout_base_ms,
        config.lockout_max_ms,
        config.tid_memory_size,
        sum(1 << s for s in config.services),
        config.lockout_threshold,
    )
    material = key.key.reveal()
    packed_key = _KEY.pack(
        key.sgc, material.ljust(16, b"\0"), int(key.ea.value), key.kt, key.krn, key.ti, key.ken
    )
    pending = b"".join(
        _PENDING.pack(p.received_ms, p.block.to_bytes(8, "little"), p.subclass) for p in state.pending
    ) + bytes(_PENDING.size * (PENDING_MAX - len(state.pending)))
    has = sum(bit for name, bit in _HAS_BITS if getattr(state, name) is not None)
    tail = _STATE_TAIL.pack(
        state.tariff_rate or 0,
        state.water_factor or 0,
        min(state.wrong_entries, 0xFFFF),
        state.pan.mfr_code,
        has,
        int(state.tamper),
        len(state.pending),
    )
    return head + packed_config + packed_key + pending + tail


def record(state: MeterState, base_year: int) -> bytes:
    """The `app_persist_t` record of a meter: its decoder state, meter clock 0, no energy reference."""
    if base_year not in BASE_YEARS:
        raise ImageError(f"base date {base_year} is not 1993, 2014 or 2035")
    tail = _PERSIST_TAIL.pack(0, 0, state.pan.pan.encode("ascii"), BASE_YEARS[base_year], 0)
    return _state_bytes(state) + tail


def eeprom_image(state: MeterState, base_year: int) -> bytes:
    """The whole 1 KB EEPROM: one generation in slot 0, the rest erased (0xFF)."""
    body = struct.pack("<HH", MAGIC, 1) + record(state, base_year)
    slot = body + struct.pack("<H", crc16_modbus(body))
    return slot + b"\xff" * (EEPROM_SIZE - len(slot))


def intel_hex(data: bytes, width: int = 16) -> str:
    """`data` from address 0 as Intel HEX (data records of `width` bytes, then the end record)."""
    lines = []
    for addr in range(0, len(data), width):
        chunk = data[addr : addr + width]
        rec = bytes([len(chunk), addr >> 8 & 0xFF, addr & 0xFF, 0]) + chunk
        lines.append(f":{rec.hex().upper()}{-sum(rec) & 0xFF:02X}")
    lines.append(":00000001FF")
    return "\n".join(lines) + "\n"


def read_intel_hex(text: str, size: int = EEPROM_SIZE) -> bytes:
    """The bytes of an Intel HEX file (data and end records; 16-bit addresses), unset bytes 0xFF.

    Raises ValueError on a malformed line or checksum.
    """
    out = bytearray(b"\xff" * size)
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            rec = bytes.fromhex(line[1:]) if line.startswith(":") else b""
        except ValueError:
            rec = b""
        if len(rec) < 5 or len(rec) != rec[0] + 5 or sum(rec) & 0xFF:
            raise ValueError(f"line {number}: not an Intel HEX record")
        kind, addr = rec[3], rec[1] << 8 | rec[2]
        if kind == 1:
            break
        if kind != 0 or addr + rec[0] > size:
            raise ValueError(f"line {number}: unsupported record or address beyond {size} bytes")
        out[addr : addr + rec[0]] = rec[4:-1]
    return bytes(out)
