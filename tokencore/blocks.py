"""The 64-bit data blocks of every token class and subclass (sts-notes §1.3, §1.4), built and parsed.

A block is an int, bits numbered from 0 (LSB): SubClass at 63..60, fields at 59..16, CRC at 15..0.
Nothing here encrypts: see tokencore.ciphers and tokencore.codec.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from tokencore.crc import token_crc
from tokencore.errors import FieldRangeError
from tokencore.records import builder

CLASS_CREDIT = 0
CLASS_TEST = 1
CLASS_MANAGEMENT = 2


class Kind(Enum):
    """What a (class, subclass) pair means. The value is the name used in JSON and on the CLI."""

    CREDIT = "credit"  # class 0, subclasses 0-3
    CURRENCY_CREDIT = "currency_credit"  # class 0, subclasses 4-7 (experimental)
    TEST = "test"  # class 1, subclasses 0-1
    MPL = "mpl"  # 2/0
    CLEAR_CREDIT = "clear_credit"  # 2/1
    TARIFF_RATE = "tariff_rate"  # 2/2
    KCT_1 = "key_change_1"  # 2/3
    KCT_2 = "key_change_2"  # 2/4
    CLEAR_TAMPER = "clear_tamper"  # 2/5
    MPPUL = "mppul"  # 2/6
    WATER_FACTOR = "water_factor"  # 2/7
    KCT_3 = "key_change_3"  # 2/8
    KCT_4 = "key_change_4"  # 2/9
    UNDEFINED = "undefined"  # reserved or proprietary combinations

    # Members are singletons compared by identity, so the identity hash is right, and it is computed in
    # C: Enum's own __hash__ runs Python code, and these members are looked up in tables per token.
    __hash__ = object.__hash__


_MANAGEMENT_KINDS = {
    0: Kind.MPL,
    1: Kind.CLEAR_CREDIT,
    2: Kind.TARIFF_RATE,
    3: Kind.KCT_1,
    4: Kind.KCT_2,
    5: Kind.CLEAR_TAMPER,
    6: Kind.MPPUL,
    7: Kind.WATER_FACTOR,
    8: Kind.KCT_3,
    9: Kind.KCT_4,
}
KCT_SUBCLASSES = (3, 4, 8, 9)
KCT_KINDS = {Kind.KCT_1: 3, Kind.KCT_2: 4, Kind.KCT_3: 8, Kind.KCT_4: 9}
# Class 2 subclasses that carry RND, TID and a 16-bit payload (the "register" family).
REGISTER_SUBCLASSES = (0, 1, 2, 5, 6, 7)
# Clear-credit register values (IEC Table 28 as quoted by kf_tool): the 8 registers, or all of them.
CLEAR_ALL_REGISTERS = 0xFFFF
CLEAR_REGISTERS = (*range(8), CLEAR_ALL_REGISTERS)


def block_hex(block: int, kind: Kind) -> str:
    """The block as 16 hex digits for display; a key change block's 32 new-key bits (47..16) are masked."""
    text = f"{block:016X}"
    return text[:4] + "********" + text[12:] if kind in KCT_KINDS else text


def kind_of(token_class: int, subclass: int) -> Kind:
    """The kind of a (class, subclass) pair; Kind.UNDEFINED for reserved ones."""
    if token_class == CLASS_CREDIT:
        if subclass <= 3:
            return Kind.CREDIT
        return Kind.CURRENCY_CREDIT if subclass <= 7 else Kind.UNDEFINED
    if token_class == CLASS_TEST:
        return Kind.TEST if subclass <= 1 else Kind.UNDEFINED
    if token_class == CLASS_MANAGEMENT:
        return _MANAGEMENT_KINDS.get(subclass, Kind.UNDEFINED)
    return Kind.UNDEFINED


def uses_crc_c(token_class: int, subclass: int) -> bool:
    """Currency credit tokens (class 0, subclasses 4-7) use CRC_C."""
    return token_class == CLASS_CREDIT and 4 <= subclass <= 7


def _check(name: str, value: int, bits: int) -> None:
    if not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise FieldRangeError(f"{name} must fit in {bits} bits (0..{(1 << bits) - 1}), got {value}")


def seal(token_class: int, body: int) -> int:
    """Put the CRC (CRC_C where it applies) into bits 15..0 of a block whose CRC bits are zero."""
    subclass = body >> 60
    return body | token_crc(token_class, body, uses_crc_c(token_class, subclass))


def credit_block(subclass: int, rnd: int, tid: int, amount_field: int) -> int:
    """Class 0 subclasses 0-3: SubClass | RND | TID(24) | Amount(16) | CRC."""
    if not (0 <= subclass <= 3 and 0 <= rnd <= 15 and 0 <= tid <= 0xFFFFFF and 0 <= amount_field <= 0xFFFF):
        _check("subclass", subclass, 2)  # the fast path above skips these on the vending hot path
        _check("RND", rnd, 4)
        _check("TID", tid, 24)
        _check("amount field", amount_field, 16)
    body = (subclass << 60) | (rnd << 56) | (tid << 32) | (amount_field << 16)
    return body | token_crc(CLASS_CREDIT, body)


def currency_block(subclass: int, negative: bool, exponent: int, mantissa: int, tid: int) -> int:
    """Class 0 subclasses 4-7 (experimental): S&E nibble, TID, e1 e0 ‖ mantissa(14), CRC_C."""
    if not 4 <= subclass <= 7:
        raise FieldRangeError(f"currency subclass must be 4-7, got {subclass}")
    _check("exponent", exponent, 5)
    _check("mantissa", mantissa, 14)
    _check("TID", tid, 24)
    s_and_e = (int(negative) << 3) | (exponent >> 2)
    amount = ((exponent & 3) << 14) | mantissa
    return seal(CLASS_CREDIT, (subclass << 60) | (s_and_e << 56) | (tid << 32) | (amount << 16))


def register_block(subclass: int, rnd: int, tid: int, payload: int) -> int:
    """Class 2 register family (MPL, clear credit, tariff rate, clear tamper, MPPUL, water factor)."""
    if subclass not in REGISTER_SUBCLASSES:
        raise FieldRangeError(f"subclass {subclass} is not a class 2 register token")
    _check("RND", rnd, 4)
    _check("TID", tid, 24)
    _check("payload", payload, 16)
    return seal(CLASS_MANAGEMENT, (subclass << 60) | (rnd << 56) | (tid << 32) | (payload << 16))


def test_block(subclass: int, control: int, mfr_code: int) -> int:
    """Class 1: subclass 0 = control(36) ‖ MfrCode(8); subclass 1 = control(28) ‖ MfrCode(16)."""
    if subclass == 0:
        _check("control", control, 36)
        _check("manufacturer code", mfr_code, 8)
        body = (control << 24) | (mfr_code << 16)
    elif subclass == 1:
        _check("control", control, 28)
        _check("manufacturer code", mfr_code, 16)
        body = (1 << 60) | (control << 32) | (mfr_code << 16)
    else:
        raise FieldRangeError(f"test token subclass must be 0 or 1, got {subclass}")
    return seal(CLASS_TEST, body)


@dataclass(frozen=True, slots=True)
class KeySection:
    """One key change token's fields. Which fields are set depends on the section (sub 3, 4, 8, 9)."""

    subclass: int
    key_word: int  # 32 bits of the new key
    ken_nibble: int | None = None  # sub 3: KENHO, sub 4: KENLO
    krn: int | None = None  # sub 3
    ro: bool | None = None  # sub 3
    reserved: int | None = None  # sub 3, bit 50
    kt: int | None = None  # sub 3
    ti: int | None = None  # sub 4
    sgc_part: int | None = None  # sub 8: SGC low 12 bits, sub 9: SGC high 12 bits


def kct_block(section: KeySection) -> int:
    """Build a key change token block (class 2, subclass 3, 4, 8 or 9)."""
    s = section
    _check("key word", s.key_word, 32)
    sub = s.subclass
    if sub == 3:
        assert s.ken_nibble is not None and s.krn is not None and s.kt is not None
        _check("KENHO", s.ken_nibble, 4)
        _check("KRN", s.krn, 4)
        _check("KT", s.kt, 2)
        fields = (s.ken_nibble << 56) | (s.krn << 52) | (int(bool(s.ro)) << 51) | ((s.reserved or 0) << 50)
        fields |= s.kt << 48
    elif sub == 4:
        assert s.ken_nibble is not None and s.ti is not None
        _check("KENLO", s.ken_nibble, 4)
        _check("TI", s.ti, 8)
        fields = (s.ken_nibble << 56) | (s.ti << 48)
    elif sub in (8, 9):
        assert s.sgc_part is not None
        _check("SGC part", s.sgc_part, 12)
        fields = s.sgc_part << 48
    else:
        raise FieldRangeError(f"key change subclass must be 3, 4, 8 or 9, got {sub}")
    return seal(CLASS_MANAGEMENT, (sub << 60) | fields | (s.key_word << 16))


def parse_kct(block: int) -> KeySection:
    """Read the fields of a key change block (subclass 3, 4, 8 or 9)."""
    sub = block >> 60
    word = (block >> 16) & 0xFFFFFFFF
    if sub == 3:
        return KeySection(
            subclass=3,
            key_word=word,
            ken_nibble=(block >> 56) & 15,
            krn=(block >> 52) & 15,
            ro=bool((block >> 51) & 1),
            reserved=(block >> 50) & 1,
            kt=(block >> 48) & 3,
        )
    if sub == 4:
        return KeySection(subclass=4, key_word=word, ken_nibble=(block >> 56) & 15, ti=(block >> 48) & 0xFF)
    if sub in (8, 9):
        return KeySection(subclass=sub, key_word=word, sgc_part=(block >> 48) & 0xFFF)
    raise FieldRangeError(f"subclass {sub} is not a key change token")


@dataclass(frozen=True, slots=True)
class Fields:
    """Every field of a plaintext block, as far as its kind defines them (others are None)."""

    token_class: int
    subclass: int
    kind: Kind
    crc: int
    crc_ok: bool
    rnd: int | None = None
    tid: int | None = None
    amount_field: int | None = None  # credit, MPL, MPPUL: the encoded 16-bit amount
    payload: int | None = None  # register, rate, water factor, pad: the raw 16-bit field
    negative: bool | None = None  # currency credit
    exponent: int | None = None  # currency credit (5-bit)
    mantissa: int | None = None  # currency credit
    control: int | None = None  # test
    mfr_code: int | None = None  # test
    key_section: KeySection | None = None


# kind_of for every class (0-3) and subclass (0-15), looked up once per token parsed.
_KINDS = tuple(tuple(kind_of(c, s) for s in range(16)) for c in range(4))
_fields = builder(Fields)  # Fields(...) without the frozen __init__: parsing runs once per token decoded


def parse_block(token_class: int, block: int) -> Fields:
    """Split a plaintext block into its fields and check its CRC (CRC_C for currency credit)."""
    sub = block >> 60
    kind = _KINDS[token_class][sub] if 0 <= token_class <= 3 and 0 <= sub <= 15 else kind_of(token_class, sub)
    crc = block & 0xFFFF
    crc_ok = token_crc(token_class, block, token_class == CLASS_CREDIT and 4 <= sub <= 7) == crc
    rnd, tid, low16 = (block >> 56) & 15, (block >> 32) & 0xFFFFFF, (block >> 16) & 0xFFFF
    if kind is Kind.CREDIT or kind is Kind.MPL or kind is Kind.MPPUL:
        return _fields(token_class, sub, kind, crc, crc_ok, rnd, tid, low16)  # rnd, tid, amount_field
    if kind is Kind.CURRENCY_CREDIT:
        exponent = ((rnd & 7) << 2) | (low16 >> 14)
        return _fields(
            token_class, sub, kind, crc, crc_ok, tid=tid, negative=bool(rnd >> 3), exponent=exponent,
            mantissa=low16 & 0x3FFF,
        )  # fmt: skip
    if kind is Kind.TEST:
        if sub == 0:
            control, mfr_code = (block >> 24) & ((1 << 36) - 1), (block >> 16) & 0xFF
        else:
            control, mfr_code = (block >> 32) & ((1 << 28) - 1), low16
        return _fields(token_class, sub, kind, crc, crc_ok, control=control, mfr_code=mfr_code)
    if kind in (Kind.CLEAR_CREDIT, Kind.TARIFF_RATE, Kind.CLEAR_TAMPER, Kind.WATER_FACTOR):
        return _fields(token_class, sub, kind, crc, crc_ok, rnd=rnd, tid=tid, payload=low16)
    if kind in KCT_KINDS:
        return _fields(token_class, sub, kind, crc, crc_ok, key_section=parse_kct(block))
    return _fields(token_class, sub, kind, crc, crc_ok)
