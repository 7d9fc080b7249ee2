"""The meter-side state machine: `enter_token(state, digits, now_ms) -> (state, result)`.

The processing order (sts-notes §3.1): format; class; decrypt (not Class 1); CRC; dispatch on class and
subclass; for TID tokens: key expiry, used, old, range, DDTK, overflow, apply and record the TID; key
change sections staged in any order until the set is complete (§3.3); keypad lockout (§3.4).
The C decoder in firmware/ implements the same rules; the two are tested against each other.
`now_ms` is the meter's own clock (milliseconds); it only times the lockout and the key change window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tokencore.amount import decode_amount, decode_currency
from tokencore.blocks import (
    CLASS_CREDIT,
    CLASS_TEST,
    CLEAR_ALL_REGISTERS,
    CLEAR_REGISTERS,
    Fields,
    KeySection,
    Kind,
    parse_block,
    parse_kct,
)
from tokencore.ciphers import make_cipher
from tokencore.decoder.state import REGISTER_COUNT, UNIT_SCALE, MeterKey, MeterState, PendingSection
from tokencore.digits import MAX_TOKEN_VALUE, untranspose_class
from tokencore.keys import DecoderKey
from tokencore.outcome import Outcome
from tokencore.params import Ea, KeyType
from tokencore.records import builder, evolver


@dataclass(frozen=True, slots=True)
class DecodeResult:
    """What the meter did with one entry. `amount` is in register units (Wh...) for credit, watts for
    MPL/MPPUL; `register` is the credit register filled or cleared (0xFFFF: all)."""

    outcome: Outcome
    kind: Kind | None = None
    token_class: int | None = None
    subclass: int | None = None
    tid: int | None = None
    amount: int | None = None
    register: int | None = None
    control: int | None = None
    lock_remaining_ms: int = 0


# The frozen records without their __init__ (tokencore.records): one entry builds a result and, when
# accepted, one new state; through dataclasses.replace that was half the cost of an entry.
_decode_result = builder(DecodeResult)
_evolve = evolver(MeterState)


def _result(
    outcome: Outcome,
    fields: Fields,
    amount: int | None = None,
    register: int | None = None,
    control: int | None = None,
) -> DecodeResult:
    """The result of an entry whose block was read (its kind, class, subclass and TID are known)."""
    f = fields
    return _decode_result(outcome, f.kind, f.token_class, f.subclass, f.tid, amount, register, control)


def _parse_entry(digits: str) -> int | None:
    """The 66-bit value of 20 entered digits, or None when the entry is not a token."""
    if len(digits) != 20 or not digits.isascii() or not digits.isdigit():
        return None
    value = int(digits)
    return value if value <= MAX_TOKEN_VALUE else None


def _expire_pending(state: MeterState, now_ms: int) -> MeterState:
    timeout = state.config.kct_timeout_ms
    fresh = tuple(p for p in state.pending if 0 <= now_ms - p.received_ms <= timeout)
    return state if len(fresh) == len(state.pending) else _evolve(state, pending=fresh)


def _wrong_entry(state: MeterState, now_ms: int, outcome: Outcome) -> tuple[MeterState, DecodeResult]:
    cfg = state.config
    wrong = state.wrong_entries + 1
    locked_until = state.locked_until_ms
    if wrong >= cfg.lockout_threshold:
        lock_ms = min(cfg.lockout_base_ms << (wrong - cfg.lockout_threshold), cfg.lockout_max_ms)
        locked_until = now_ms + lock_ms
    new = _evolve(state, wrong_entries=wrong, locked_until_ms=locked_until)
    return new, _decode_result(outcome, lock_remaining_ms=max(0, locked_until - now_ms))


def _accepted(state: MeterState) -> MeterState:
    """An accepted meter-specific token resets the lockout."""
    if state.wrong_entries == 0 and state.locked_until_ms == 0:
        return state
    return _evolve(state, wrong_entries=0, locked_until_ms=0)


def enter_token(state: MeterState, digits: str, now_ms: int) -> tuple[MeterState, DecodeResult]:
    """Process one token entry (exactly the characters entered) at meter time `now_ms`.

    Never raises for any entry: every refusal is an Outcome, and a refused entry changes nothing but
    the lockout counter.
    """
    if state.pending:
        state = _expire_pending(state, now_ms)
    value = _parse_entry(digits)
    token_class = None if value is None else (value >> 27) & 3
    if now_ms < state.locked_until_ms and token_class != CLASS_TEST:  # state.is_locked(now_ms)
        return state, _decode_result(Outcome.LOCKED, lock_remaining_ms=state.locked_until_ms - now_ms)
    if value is None or token_class is None:
        return _wrong_entry(state, now_ms, Outcome.FORMAT_ERROR)
    token_class, encrypted = untranspose_class(value)
    if token_class == CLASS_TEST:
        return _test_token(state, now_ms, parse_block(CLASS_TEST, encrypted))
    key = state.key
    block = make_cipher(key.key, key.ea).decrypt_block(encrypted)
    fields = parse_block(token_class, block)
    if not fields.crc_ok:
        return _wrong_entry(state, now_ms, Outcome.CRC_ERROR)
    if not _supported(state, fields):
        return state, _result(Outcome.FUNCTION_ERROR, fields)
    if fields.key_section is not None:
        return _key_change_section(state, now_ms, block, fields)
    return _tid_token(state, fields)


def _supported(state: MeterState, fields: Fields) -> bool:
    kind = fields.kind
    if kind is Kind.UNDEFINED:
        return False
    if fields.token_class == CLASS_CREDIT:
        return fields.subclass in state.config.services
    if kind in (Kind.KCT_3, Kind.KCT_4):
        return state.key.ea is Ea.EA11
    return True


def _test_token(state: MeterState, now_ms: int, fields: Fields) -> tuple[MeterState, DecodeResult]:
    """Class 1: not encrypted, no TID, never recorded; processed even while the keypad is locked."""
    if not fields.crc_ok:
        return _wrong_entry(state, now_ms, Outcome.CRC_ERROR)
    if fields.kind is not Kind.TEST:
        return state, _result(Outcome.FUNCTION_ERROR, fields)
    if fields.mfr_code != state.pan.mfr_code:
        return state, _result(Outcome.MFR_CODE_ERROR, fields)
    return state, _result(Outcome.ACCEPT, fields, control=fields.control)


def _tid_refusal(state: MeterState, fields: Fields, tid: int, oldest: int) -> Outcome | None:
    """The outcome refusing a token with a TID before it is applied (expired, used, old, range, DDTK),
    or None. Overflow is checked where the amount is known."""
    if (tid >> 16) > state.key.ken:
        return Outcome.KEY_EXPIRED
    if tid in state.tid_memory:
        return Outcome.USED
    if tid < oldest:
        return Outcome.OLD
    if fields.kind is Kind.CLEAR_CREDIT and fields.payload not in CLEAR_REGISTERS:
        return Outcome.RANGE_ERROR
    if fields.token_class == CLASS_CREDIT and state.key.kt == KeyType.DDTK:
        return Outcome.DDTK_ERROR
    return None


def _tid_token(state: MeterState, fields: Fields) -> tuple[MeterState, DecodeResult]:
    tid = fields.tid
    assert tid is not None
    oldest = min(state.tid_memory)
    refusal = _tid_refusal(state, fields, tid, oldest)
    if refusal is not None:
        return state, _result(refusal, fields)
    # Record the TID in place of the smallest (oldest) one; the first one when several are equal.
    memory = list(state.tid_memory)
    memory[memory.index(oldest)] = tid
    if fields.token_class == CLASS_CREDIT:
        register = fields.subclass
        amount = _credit_amount(fields)
        if state.registers[register] + amount > state.config.register_limit:
            return state, _result(Outcome.OVERFLOW, fields)
        registers = list(state.registers)
        registers[register] += amount
        # Credit, record the TID and reset the lockout (an accepted meter-specific token): one new state.
        new = _evolve(
            state, registers=tuple(registers), tid_memory=tuple(memory), wrong_entries=0, locked_until_ms=0
        )
        return new, _result(Outcome.ACCEPT, fields, amount, register)
    return _apply_management(state, fields, tuple(memory))


def _apply_management(
    state: MeterState, fields: Fields, memory: tuple[int, ...]
) -> tuple[MeterState, DecodeResult]:
    """A class 2 token with a TID (MPL, MPPUL, clear credit, tariff rate, clear tamper, water factor)
    applied, with `memory` (the TID recorded) and the lockout reset, in one new state."""
    kind = fields.kind
    changes: dict[str, Any] = {}
    amount: int | None = None
    register: int | None = None
    if kind is Kind.MPL:
        assert fields.amount_field is not None
        amount = changes["mpl_watts"] = decode_amount(fields.amount_field)
    elif kind is Kind.MPPUL:
        assert fields.amount_field is not None
        amount = changes["mppul_watts"] = decode_amount(fields.amount_field)
    elif kind is Kind.CLEAR_CREDIT:
        register = fields.payload
        cleared = range(REGISTER_COUNT) if register == CLEAR_ALL_REGISTERS else (register,)
        changes["registers"] = tuple(0 if i in cleared else r for i, r in enumerate(state.registers))
    elif kind is Kind.TARIFF_RATE:
        changes["tariff_rate"] = fields.payload
    elif kind is Kind.CLEAR_TAMPER:
        changes["tamper"] = False
    elif kind is Kind.WATER_FACTOR:
        changes["water_factor"] = fields.payload
    new = _evolve(state, tid_memory=memory, wrong_entries=0, locked_until_ms=0, **changes)
    return new, _result(Outcome.ACCEPT, fields, amount, register)


def _credit_amount(fields: Fields) -> int:
    if fields.kind is Kind.CURRENCY_CREDIT:
        assert fields.exponent is not None and fields.mantissa is not None
        return decode_currency(fields.exponent, fields.mantissa)
    assert fields.amount_field is not None
    return decode_amount(fields.amount_field) * UNIT_SCALE


_KCT_PROMPTS = (
    Outcome.KCT_1ST_PENDING,
    Outcome.KCT_2ND_PENDING,
    Outcome.KCT_3RD_PENDING,
    Outcome.KCT_4TH_PENDING,
)


def _key_change_section(
    state: MeterState, now_ms: int, block: int, fields: Fields
) -> tuple[MeterState, DecodeResult]:
    sub = fields.subclass
    others = [p for p in state.pending if p.subclass != sub]
    held = tuple(sorted([*others, PendingSection(sub, block, now_ms)], key=lambda p: p.subclass))
    needed = (3, 4) if state.key.ea is Ea.EA07 else (3, 4, 8, 9)
    have = {p.subclass for p in held}
    if not set(needed) <= have:
        # The prompt names the first section still missing: 1st, 2nd, then (EA11) 3rd, 4th.
        missing = next(n for n, section in enumerate(needed) if section not in have)
        return _accepted(_evolve(state, pending=held)), _result(_KCT_PROMPTS[missing], fields)
    sections = {p.subclass: parse_kct(p.block) for p in held}
    first = sections[3]
    assert first.kt is not None
    cleared = _evolve(state, pending=())
    # Key-type rules (sts-notes §3.3), checked once the whole set is present.
    if (first.kt == KeyType.DITK and state.key.kt != KeyType.DITK) or first.kt == KeyType.DCTK:
        return cleared, _result(Outcome.KEY_TYPE_ERROR, fields)
    return _accepted(_apply_key_change(cleared, sections)), _result(Outcome.ACCEPT, fields)


def _apply_key_change(state: MeterState, s: dict[int, KeySection]) -> MeterState:
    first, second = s[3], s[4]
    assert first.ken_nibble is not None and second.ken_nibble is not None
    assert first.krn is not None and first.kt is not None and second.ti is not None
    words: tuple[int, ...]
    if state.key.ea is Ea.EA07:
        words = (first.key_word, second.key_word)
        sgc = state.key.sgc
    else:
        words = (first.key_word, s[8].key_word, s[9].key_word, second.key_word)
        assert s[8].sgc_part is not None and s[9].sgc_part is not None
        sgc = (s[9].sgc_part << 12) | s[8].sgc_part
    material = b"".join(w.to_bytes(4, "big") for w in words)
    key = MeterKey(
        DecoderKey(material),
        state.key.ea,
        kt=first.kt,
        krn=first.krn,
        ti=second.ti,
        ken=(first.ken_nibble << 4) | second.ken_nibble,
        sgc=sgc,
    )
    memory = (0,) * state.config.tid_memory_size if first.ro else state.tid_memory
    return _evolve(state, key=key, tid_memory=memory)
