"""The engine's fast paths against their plain definitions: the table CRC, memoised amounts, and the
record builders that skip the frozen dataclass __init__ (tokencore.records)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, field, replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokencore.amount import credit_amount, decode_amount, encode_amount, tenths_to_units, units_to_tenths
from tokencore.blocks import Kind
from tokencore.crc import crc16_modbus, token_crc
from tokencore.decoder import MeterConfig, MeterState, new_meter_state
from tokencore.errors import AmountRangeError
from tokencore.issue import IssuedToken
from tokencore.keys import DecoderKey
from tokencore.params import KeyParams
from tokencore.records import builder, evolver


def plain_token_crc(token_class: int, block: int, currency: bool) -> int:
    """sts-notes §1.8 word for word: CRC-16/MODBUS of class ‖ bits 63..16 (‖ 0x01 for CRC_C), swapped."""
    data = bytes([token_class]) + (block >> 16).to_bytes(6, "big") + (b"\x01" if currency else b"")
    crc = crc16_modbus(data)
    return ((crc & 0xFF) << 8) | (crc >> 8)


@given(st.integers(0, 255), st.integers(0, 2**64 - 1), st.booleans())
def test_table_crc_is_the_plain_crc(token_class: int, block: int, currency: bool) -> None:
    assert token_crc(token_class, block, currency) == plain_token_crc(token_class, block, currency)


@given(st.one_of(st.integers(0, 1_820_162), st.decimals(0, Decimal("1820162.4"), places=3), st.just("25.6")))
def test_memoised_credit_amount_is_the_plain_computation(units: int | Decimal | str) -> None:
    for _ in range(2):  # computed, then from the memo
        field_ = encode_amount(units_to_tenths(units))
        assert credit_amount(units) == (field_, tenths_to_units(decode_amount(field_)))


def test_memoised_credit_amount_keeps_every_refusal() -> None:
    assert credit_amount(1) == (10, Decimal("1.0"))
    with pytest.raises(TypeError):
        credit_amount(1.0)  # type: ignore[arg-type]  # equal to 1 and hashed alike, still refused
    for bad in (Decimal("sNaN"), Decimal("NaN"), "-1", "1820162.5", "one"):
        with pytest.raises(AmountRangeError):
            credit_amount(bad)


@dataclass(frozen=True, slots=True)
class Sample:
    a: int
    b: str = "b"
    c: tuple[int, ...] = ()


def test_builder_and_evolver_match_the_dataclass() -> None:
    build, evolve = builder(Sample), evolver(Sample)
    assert build(1) == Sample(1) and build(1, "x", (2,)) == Sample(1, "x", (2,))
    assert build(a=1, c=(3,)) == Sample(1, c=(3,))
    made = build(1, "x")
    assert type(made) is Sample and repr(made) == "Sample(a=1, b='x', c=())"
    with pytest.raises(FrozenInstanceError):
        made.a = 2  # type: ignore[misc]
    assert evolve(made, c=(4,)) == replace(made, c=(4,)) and made == Sample(1, "x")
    with pytest.raises(TypeError):
        evolve(made, d=1)


def test_builder_refuses_classes_it_cannot_build() -> None:
    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(frozen=True, slots=True)
    class Factory:
        a: list[int] = field(default_factory=list)

    for cls in (NoSlots, Factory):
        with pytest.raises(TypeError):
            builder(cls)
        with pytest.raises(TypeError):
            evolver(cls)


def test_built_records_equal_constructed_ones() -> None:
    token = builder(IssuedToken)("1" * 20, 0, 0, Kind.CREDIT, 5, 7, 1, 10, Decimal("1.0"))
    assert token == IssuedToken("1" * 20, 0, 0, Kind.CREDIT, 5, 7, 1, 10, Decimal("1.0"))
    state = new_meter_state("600727000000000009", DecoderKey(bytes(8)), KeyParams(sgc=1, ti=1, krn=1))
    evolved = evolver(MeterState)(state, registers=(5,) + (0,) * 7)
    assert evolved == replace(state, registers=(5,) + (0,) * 7)
    assert evolved.config == MeterConfig() and evolved.tid_memory == state.tid_memory
