"""The portable C core (firmware/core/tc_*.c) built for the host and driven through ctypes.

Published vectors come from /work/shared/docs/sts-notes.md section 4 and RFC 2994; the random tests
compare the C code with a plain-Python statement of the same rule (sts-notes sections 1.1, 1.7, 1.8, 1.9)."""

from __future__ import annotations

import ctypes
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.firmware

U8x8 = ctypes.c_uint8 * 8
U8x9 = ctypes.c_uint8 * 9
U8x16 = ctypes.c_uint8 * 16
MISTY_KS = ctypes.c_uint16 * 16


def le8(v: int) -> ctypes.Array[ctypes.c_uint8]:
    return U8x8(*v.to_bytes(8, "little"))


def from_le(buf: ctypes.Array[ctypes.c_uint8]) -> int:
    return int.from_bytes(bytes(buf), "little")


def ea07_decrypt(lib: ctypes.CDLL, key: int, block: int) -> int:
    buf = le8(block)
    lib.tc_ea07_decrypt(buf, le8(key))
    return from_le(buf)


def ea07_encrypt(lib: ctypes.CDLL, key: int, block: int) -> int:
    buf = le8(block)
    lib.tc_ea07_encrypt(buf, le8(key))
    return from_le(buf)


def misty1(lib: ctypes.CDLL, key: bytes, block: bytes, *, decrypt: bool) -> bytes:
    ks = MISTY_KS()
    lib.tc_misty1_schedule(ctypes.cast(ks, ctypes.POINTER(ctypes.c_uint8)), U8x16(*key))
    buf = U8x8(*block)
    fn = lib.tc_misty1_decrypt if decrypt else lib.tc_misty1_encrypt
    fn(ctypes.cast(ks, ctypes.POINTER(ctypes.c_uint8)), buf)
    return bytes(buf)


def digits_to_int(lib: ctypes.CDLL, digits: str) -> int | None:
    out = U8x9()
    rc = lib.tc_digits_to_u66(digits.encode(), out)
    return None if rc != 0 else int.from_bytes(bytes(out), "little")


def untranspose(lib: ctypes.CDLL, value: int) -> tuple[int, int]:
    block = U8x8()
    cls = lib.tc_untranspose(U8x9(*value.to_bytes(9, "little")), block)
    return cls, from_le(block)


# (decoder key, class, plaintext block, encrypted block, token): sts-notes 4.3
EA07_VECTORS = [
    (0x0ABC12DEF3456789, 0, 0x0B19EB230100C207, 0x9335C6C96B7352DC, "29054347139309851356"),
    (0xE653341F9D5BF36F, 0, 0x05599863000119E6, 0x492083C0AE7CE455, "23716100501183194197"),
    (0xE94023262E9993C2, 0, 0x0559986800016824, 0xA4AC0EE51A85A744, "67206107716095682372"),
    (0xE653341F9D5BF36F, 2, 0x055A2F1D03E8F8F4, 0xC267DB18153BDCB4, "50901894209860263092"),
    (0xE653341F9D5BF36F, 2, 0x3F12060B8643D717, 0xCCA0882E572FDBAD, "51638423060042734509"),
    (0xE653341F9D5BF36F, 2, 0x4F02C59A27F189A8, 0xD530672AA6C65C22, "15361891762113502242"),
    (0xAA4BAA8749C10D27, 0, 0x05806A600001C68D, 0xD9D81F87A079E8C5, "15697331168573253829"),
]


@pytest.mark.parametrize(("key", "cls", "plain", "cipher", "token"), EA07_VECTORS)
def test_ea07_published_tokens(
    libtc: ctypes.CDLL, key: int, cls: int, plain: int, cipher: int, token: str
) -> None:
    value = digits_to_int(libtc, token)
    assert value is not None
    got_cls, block = untranspose(libtc, value)
    assert (got_cls, block) == (cls, cipher)
    assert ea07_decrypt(libtc, key, block) == plain
    assert ea07_encrypt(libtc, key, plain) == cipher
    assert libtc.tc_block_crc_ok(cls, le8(plain)) == 1


@pytest.mark.parametrize(
    ("key", "plain", "cipher"),
    [
        ("00112233445566778899aabbccddeeff", "0123456789abcdef", "8b1da5f56ab3d07c"),
        ("00112233445566778899aabbccddeeff", "fedcba9876543210", "04b68240b13be95d"),
        # EA11 credit token of sts-notes 4.5 (DKGA04/MISTY1 key).
        ("F94B6ED353C3BFDB113E2D3A7EA3C41D", "0559982C00012831", "38269A8E59319817"),
    ],
)
def test_misty1_vectors(libtc: ctypes.CDLL, key: str, plain: str, cipher: str) -> None:
    k, p, c = bytes.fromhex(key), bytes.fromhex(plain), bytes.fromhex(cipher)
    assert misty1(libtc, k, p, decrypt=False) == c
    assert misty1(libtc, k, c, decrypt=True) == p


def test_misty1_sts_token(libtc: ctypes.CDLL) -> None:
    value = digits_to_int(libtc, "59386323472137426967")
    assert value is not None
    cls, block = untranspose(libtc, value)
    assert cls == 0
    key = bytes.fromhex("F94B6ED353C3BFDB113E2D3A7EA3C41D")
    plain = misty1(libtc, key, block.to_bytes(8, "big"), decrypt=True)
    assert plain.hex().upper() == "0559982C00012831"


@settings(max_examples=300, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), block=st.binary(min_size=8, max_size=8))
def test_misty1_round_trip(libtc: ctypes.CDLL, key: bytes, block: bytes) -> None:
    assert misty1(libtc, key, misty1(libtc, key, block, decrypt=False), decrypt=True) == block


@settings(max_examples=300, deadline=None)
@given(key=st.integers(0, 2**64 - 1), block=st.integers(0, 2**64 - 1))
def test_ea07_round_trip(libtc: ctypes.CDLL, key: int, block: int) -> None:
    assert ea07_decrypt(libtc, key, ea07_encrypt(libtc, key, block)) == block


@pytest.mark.parametrize(
    ("msg", "field"),
    [
        ("00004A2D900FF2", 0x0FFA),
        ("000B19EB230100", 0xC207),
        ("0005C02A552710", 0x1970),
        ("00055AB659000A", 0x3504),
        ("00155AB659000A", 0x3794),
        ("00255AB659000A", 0x3264),
    ],
)
def test_crc_published(libtc: ctypes.CDLL, msg: str, field: int) -> None:
    raw = bytes.fromhex(msg)
    crc = libtc.tc_crc16((ctypes.c_uint8 * 7)(*raw), 7)
    assert ((crc & 0xFF) << 8) | (crc >> 8) == field
    block = (int.from_bytes(raw[1:], "big") << 16) | field
    assert libtc.tc_block_crc_ok(raw[0], le8(block)) == 1
    assert libtc.tc_block_crc_ok(raw[0], le8(block ^ 1)) == 0


def test_crc_check_value(libtc: ctypes.CDLL) -> None:
    assert libtc.tc_crc16((ctypes.c_uint8 * 9)(*b"123456789"), 9) == 0x4B37


def py_crc16(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@settings(max_examples=300, deadline=None)
@given(data=st.binary(min_size=0, max_size=64))
def test_crc_matches_python(libtc: ctypes.CDLL, data: bytes) -> None:
    assert libtc.tc_crc16((ctypes.c_uint8 * max(1, len(data)))(*data), len(data)) == py_crc16(data)


@settings(max_examples=500, deadline=None)
@given(value=st.integers(0, 2**66 - 1))
def test_digits_round_trip(libtc: ctypes.CDLL, value: int) -> None:
    digits = f"{value:020d}"
    assert digits_to_int(libtc, digits) == value
    out = ctypes.create_string_buffer(21)
    libtc.tc_u66_to_digits(U8x9(*value.to_bytes(9, "little")), out)
    assert out.value.decode() == digits


@pytest.mark.parametrize(
    "digits",
    ["73786976294838206464", "99999999999999999999", "1234567890123456789x", "0000000000000000000", "0" * 21],
)
def test_digits_format_errors(libtc: ctypes.CDLL, digits: str) -> None:
    assert digits_to_int(libtc, digits) is None


@settings(max_examples=300, deadline=None)
@given(value=st.integers(0, 2**66 - 1))
def test_transposition_matches_rule(libtc: ctypes.CDLL, value: int) -> None:
    cls, block = untranspose(libtc, value)
    assert cls == (value >> 27) & 3
    expected = value & (2**64 - 1) & ~(3 << 27)
    expected |= ((value >> 64) & 1) << 27 | ((value >> 65) & 1) << 28
    assert block == expected
    out = U8x9()
    libtc.tc_transpose(cls, le8(block), out)
    assert int.from_bytes(bytes(out), "little") == value


def test_iec_transposition_example(libtc: ctypes.CDLL) -> None:
    out = U8x9()
    libtc.tc_transpose(1, le8(0x6543210987654321), out)
    assert int.from_bytes(bytes(out), "little") == 0x0654321098F654321
    assert f"{0x0654321098F654321:020d}" == "07296712146214535969"


def py_amount(field: int) -> int:
    e, m = field >> 14, field & 0x3FFF
    return m * 10**e + sum(2**14 * 10 ** (i - 1) for i in range(1, e + 1))


@pytest.mark.parametrize(
    ("field", "value"), [(0, 0), (1, 1), (0x3FFF, 16383), (0x4000, 16384), (0x8000, 180224)]
)
def test_amount_boundaries(libtc: ctypes.CDLL, field: int, value: int) -> None:
    assert libtc.tc_amount_decode(field) == value


def test_amount_every_field(libtc: ctypes.CDLL) -> None:
    for field in range(0, 0x10000, 7):
        assert libtc.tc_amount_decode(field) == py_amount(field)
    assert libtc.tc_amount_decode(0xFFFF) == 18201624


def test_host_kat_program_under_sanitizers(fw_make: Callable[..., Path]) -> None:
    """The C-only known-answer program, built with ASan/UBSan (`make sanitize` runs it)."""
    build = fw_make("sanitize")
    proc = subprocess.run([str(build / "san" / "host_test")], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok (0 failures)" in proc.stdout
