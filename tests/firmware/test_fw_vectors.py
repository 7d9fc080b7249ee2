"""The C token core over the shared JSON vectors (tests/vectors/*.json) and against tokencore's own
Python functions (the same rules written twice, compared on random inputs)."""

from __future__ import annotations

import ctypes
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokencore.amount import decode_amount
from tokencore.ciphers import make_cipher
from tokencore.crc import crc_matches, token_crc
from tokencore.digits import transpose_class, untranspose_class
from tokencore.keys import DecoderKey
from tokencore.params import Ea

pytestmark = pytest.mark.firmware

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
U8x8 = ctypes.c_uint8 * 8
U8x9 = ctypes.c_uint8 * 9


def load(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((VECTORS / name).read_text())  # type: ignore[no-any-return]


def c_ea07_decrypt(lib: ctypes.CDLL, key: int, block: int) -> int:
    buf = U8x8(*block.to_bytes(8, "little"))
    lib.tc_ea07_decrypt(buf, U8x8(*key.to_bytes(8, "little")))
    return int.from_bytes(bytes(buf), "little")


def c_misty1_decrypt(lib: ctypes.CDLL, key: bytes, block: int) -> int:
    ks = (ctypes.c_uint16 * 16)()
    ptr = ctypes.cast(ks, ctypes.POINTER(ctypes.c_uint8))
    lib.tc_misty1_schedule(ptr, (ctypes.c_uint8 * 16)(*key))
    buf = U8x8(*block.to_bytes(8, "big"))
    lib.tc_misty1_decrypt(ptr, buf)
    return int.from_bytes(bytes(buf), "big")


def c_untranspose(lib: ctypes.CDLL, token: str) -> tuple[int, int]:
    t = U8x9()
    assert lib.tc_digits_to_u66(token.encode(), t) == 0
    block = U8x8()
    cls = lib.tc_untranspose(t, block)
    return cls, int.from_bytes(bytes(block), "little")


@pytest.mark.parametrize("v", load("ea07.json")["vectors"], ids=lambda v: v["token"])
def test_ea07_json(libtc: ctypes.CDLL, v: dict) -> None:  # type: ignore[type-arg]
    cls, encrypted = c_untranspose(libtc, v["token"])
    assert (cls, encrypted) == (v["class"], int(v["encrypted"], 16))
    plain = c_ea07_decrypt(libtc, int(v["decoder_key"], 16), encrypted)
    assert plain == int(v["plain"], 16)
    assert libtc.tc_block_crc_ok(cls, U8x8(*plain.to_bytes(8, "little"))) == 1


@pytest.mark.parametrize("v", load("ea11.json")["vectors"], ids=lambda v: v["token"])
def test_ea11_json(libtc: ctypes.CDLL, v: dict) -> None:  # type: ignore[type-arg]
    cls, encrypted = c_untranspose(libtc, v["token"])
    assert (cls, encrypted) == (0, int(v["encrypted"], 16))
    assert c_misty1_decrypt(libtc, bytes.fromhex(v["decoder_key"]), encrypted) == int(v["plain"], 16)


@pytest.mark.parametrize("v", load("misty1.json")["vectors"], ids=lambda v: v["name"])
def test_misty1_json(libtc: ctypes.CDLL, v: dict) -> None:  # type: ignore[type-arg]
    got = c_misty1_decrypt(libtc, bytes.fromhex(v["key"]), int(v["ciphertext"], 16))
    assert got == int(v["plaintext"], 16)


@pytest.mark.parametrize("v", load("crc.json")["vectors"], ids=lambda v: v["input"])
def test_crc_json(libtc: ctypes.CDLL, v: dict) -> None:  # type: ignore[type-arg]
    raw = bytes.fromhex(v["input"])
    block = (int.from_bytes(raw[1:], "big") << 16) | int(v["field"], 16)
    assert libtc.tc_block_crc_ok(raw[0], U8x8(*block.to_bytes(8, "little"))) == 1


def test_crc_check_json(libtc: ctypes.CDLL) -> None:
    check = load("crc.json")["modbus_check"]
    data = check["ascii"].encode()
    assert libtc.tc_crc16((ctypes.c_uint8 * len(data))(*data), len(data)) == int(check["crc"], 16)


@pytest.mark.parametrize("v", load("transposition.json")["vectors"], ids=lambda v: v["token"])
def test_transposition_json(libtc: ctypes.CDLL, v: dict) -> None:  # type: ignore[type-arg]
    assert c_untranspose(libtc, v["token"]) == (v["class"], int(v["block"], 16))


@pytest.mark.parametrize("v", load("class1.json")["vectors"], ids=lambda v: v["token"])
def test_class1_json(libtc: ctypes.CDLL, v: dict) -> None:  # type: ignore[type-arg]
    cls, block = c_untranspose(libtc, v["token"])
    assert (cls, block) == (1, int(v["plain"], 16))
    assert libtc.tc_block_crc_ok(1, U8x8(*block.to_bytes(8, "little"))) == 1


@pytest.mark.parametrize("v", load("amount.json")["vectors"], ids=lambda v: str(v["field"]))
def test_amount_json(libtc: ctypes.CDLL, v: dict) -> None:  # type: ignore[type-arg]
    field = int(v["field"], 16) if isinstance(v["field"], str) else v["field"]
    assert libtc.tc_amount_decode(field) == decode_amount(field)
    assert libtc.tc_amount_decode(field) >= v["value"]  # the field is the value rounded up


# ---- against tokencore's functions on random inputs


@settings(max_examples=300, deadline=None)
@given(key=st.integers(0, 2**64 - 1), block=st.integers(0, 2**64 - 1))
def test_ea07_matches_tokencore(libtc: ctypes.CDLL, key: int, block: int) -> None:
    cipher = make_cipher(DecoderKey(key.to_bytes(8, "big")), Ea.EA07)
    assert c_ea07_decrypt(libtc, key, block) == cipher.decrypt_block(block)


@settings(max_examples=300, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), block=st.integers(0, 2**64 - 1))
def test_misty1_matches_tokencore(libtc: ctypes.CDLL, key: bytes, block: int) -> None:
    cipher = make_cipher(DecoderKey(key), Ea.EA11)
    assert c_misty1_decrypt(libtc, key, block) == cipher.decrypt_block(block)


@settings(max_examples=500, deadline=None)
@given(cls=st.integers(0, 3), block=st.integers(0, 2**64 - 1))
def test_crc_and_transposition_match_tokencore(libtc: ctypes.CDLL, cls: int, block: int) -> None:
    sealed = (block & ~0xFFFF) | token_crc(cls, block)
    assert libtc.tc_block_crc_ok(cls, U8x8(*sealed.to_bytes(8, "little"))) == 1
    assert libtc.tc_block_crc_ok(cls, U8x8(*block.to_bytes(8, "little"))) == int(crc_matches(cls, block))
    value = transpose_class(cls, block)
    assert c_untranspose(libtc, f"{value:020d}") == untranspose_class(value) == (cls, block)


@settings(max_examples=300, deadline=None)
@given(field=st.integers(0, 0xFFFF))
def test_amount_matches_tokencore(libtc: ctypes.CDLL, field: int) -> None:
    assert libtc.tc_amount_decode(field) == decode_amount(field)
