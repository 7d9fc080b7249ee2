"""MISTY1 (RFC 2994, STS EA11): published known answers, round trips, S-box design properties, misuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokencore.ciphers import misty1
from tokencore.ciphers.misty1 import Misty1

VECTORS_PATH = Path(__file__).parent / "vectors" / "misty1.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
CASES = [pytest.param(v, id=v["name"]) for v in VECTORS["vectors"]]

keys = st.binary(min_size=16, max_size=16)
blocks = st.integers(min_value=0, max_value=2**64 - 1)


def test_vector_file_has_provenance_and_cases() -> None:
    assert "RFC 2994" in VECTORS["provenance"]
    assert {v["name"] for v in VECTORS["vectors"]} >= {"rfc2994-1", "rfc2994-2", "sts-ea11-credit"}


@pytest.mark.parametrize("vector", CASES)
def test_encrypt_known_answer(vector: dict[str, str]) -> None:
    cipher = Misty1(bytes.fromhex(vector["key"]))
    assert cipher.encrypt_block(int(vector["plaintext"], 16)) == int(vector["ciphertext"], 16)


@pytest.mark.parametrize("vector", CASES)
def test_decrypt_known_answer(vector: dict[str, str]) -> None:
    cipher = Misty1(bytes.fromhex(vector["key"]))
    assert cipher.decrypt_block(int(vector["ciphertext"], 16)) == int(vector["plaintext"], 16)


@settings(max_examples=300, deadline=None)
@given(key=keys, block=blocks)
def test_decrypt_inverts_encrypt(key: bytes, block: int) -> None:
    cipher = Misty1(key)
    assert cipher.decrypt_block(cipher.encrypt_block(block)) == block
    assert cipher.encrypt_block(cipher.decrypt_block(block)) == block


@settings(max_examples=100, deadline=None)
@given(key=keys, block=blocks, bit=st.integers(min_value=0, max_value=127))
def test_every_key_bit_matters(key: bytes, block: int, bit: int) -> None:
    flipped = (int.from_bytes(key, "big") ^ (1 << bit)).to_bytes(16, "big")
    assert Misty1(key).encrypt_block(block) != Misty1(flipped).encrypt_block(block)


def test_instances_with_different_keys_do_not_interfere() -> None:
    first = Misty1(bytes.fromhex("00112233445566778899aabbccddeeff"))
    Misty1(bytes(16))
    assert first.encrypt_block(0x0123456789ABCDEF) == 0x8B1DA5F56AB3D07C


def test_bytearray_key_is_accepted() -> None:
    cipher = Misty1(bytearray.fromhex("00112233445566778899aabbccddeeff"))
    assert cipher.encrypt_block(0xFEDCBA9876543210) == 0x04B68240B13BE95D


@pytest.mark.parametrize("length", [0, 1, 8, 15, 17, 20, 32])
def test_key_of_wrong_length_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Misty1(bytes(length))


@pytest.mark.parametrize("key", ["00112233445566778899aabbccddeeff", 0, None])
def test_key_that_is_not_bytes_is_refused(key: object) -> None:
    with pytest.raises(TypeError):
        Misty1(key)  # type: ignore[arg-type]


@pytest.mark.parametrize("block", [-1, 2**64, 2**80])
@pytest.mark.parametrize("direction", ["encrypt_block", "decrypt_block"])
def test_block_outside_64_bits_is_refused(block: int, direction: str) -> None:
    cipher = Misty1(bytes(16))
    with pytest.raises(ValueError, match="64-bit"):
        getattr(cipher, direction)(block)


def test_repr_hides_the_key() -> None:
    key = bytes.fromhex("f94b6ed353c3bfdb113e2d3a7ea3c41d")
    cipher = Misty1(key)
    assert repr(cipher) == "Misty1(<key hidden>)"
    assert str(cipher) == "Misty1(<key hidden>)"
    for needle in (key.hex(), key.hex().upper(), str(int.from_bytes(key, "big")), "f94b", "F94B"):
        assert needle not in repr(cipher)


# The S-box tables are transcribed data; these tests check every entry against what the MISTY design
# guarantees, so a mistyped entry fails here even where no known-answer vector happens to reach it.


def _differential_uniformity(sbox: tuple[int, ...]) -> int:
    size = len(sbox)
    worst = 0
    for delta in range(1, size):
        counts = [0] * size
        for x in range(size):
            counts[sbox[x] ^ sbox[x ^ delta]] += 1
        worst = max(worst, max(counts))
    return worst


def _algebraic_degree(sbox: tuple[int, ...], bits: int) -> int:
    degree = 0
    for out_bit in range(bits):
        anf = [(y >> out_bit) & 1 for y in sbox]
        for i in range(bits):  # Moebius transform: truth table -> algebraic normal form
            step = 1 << i
            for x in range(len(anf)):
                if x & step:
                    anf[x] ^= anf[x ^ step]
        degree = max([degree, *(x.bit_count() for x in range(len(anf)) if anf[x])])
    return degree


@pytest.mark.parametrize(("name", "bits", "degree"), [("_S7", 7, 3), ("_S9", 9, 2)])
def test_sbox_has_the_design_properties(name: str, bits: int, degree: int) -> None:
    sbox: tuple[int, ...] = getattr(misty1, name)
    assert sorted(sbox) == list(range(1 << bits))
    assert _differential_uniformity(sbox) == 2
    assert _algebraic_degree(sbox, bits) == degree


def _reference_fi(x: int, ki: int) -> int:
    """FI written step by step as RFC 2994 describes it, straight from S7 and S9."""
    s7, s9 = misty1._S7, misty1._S9
    d9, d7 = x >> 7, x & 0x7F
    d9 = s9[d9] ^ d7
    d7 = (s7[d7] ^ d9) & 0x7F
    d7 ^= ki >> 9
    d9 ^= ki & 0x1FF
    d9 = s9[d9] ^ d7
    return (d7 << 9) | d9


@pytest.mark.parametrize("ki", [0x0000, 0xFFFF, 0x8001, 0x5A3C])
def test_precomputed_fi_matches_the_rfc_steps_for_every_input(ki: int) -> None:
    assert all(misty1._fi(x, ki) == _reference_fi(x, ki) for x in range(0x10000))
