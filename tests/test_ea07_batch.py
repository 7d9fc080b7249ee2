"""The bit-sliced batch EA07 against the bit-by-bit reference and the byte-table `Ea07`."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokencore.ciphers import ea07_batch
from tokencore.ciphers.ea07 import Ea07, reference_decrypt, reference_encrypt
from tokencore.ciphers.ea07_batch import decrypt_many, encrypt_many
from tokencore.ciphers.tables import REAL, SAMPLE, TableSet

U64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
TABLES = pytest.mark.parametrize("tables", [REAL, SAMPLE], ids=lambda t: t.name)


def _random(n: int, seed: int) -> tuple[list[int], list[int]]:
    rng = random.Random(seed)
    return [rng.getrandbits(64) for _ in range(n)], [rng.getrandbits(64) for _ in range(n)]


def test_published_vectors() -> None:
    keys = [0xE653341F9D5BF36F, 0x0ABC12DEF3456789]
    plain = [0x05599863000119E6, 0x0B19EB230100C207]
    cipher = [0x492083C0AE7CE455, 0x9335C6C96B7352DC]
    assert encrypt_many(keys, plain) == cipher
    assert decrypt_many(keys, cipher) == plain


@TABLES
@pytest.mark.parametrize("n", [0, 1, 2, 7, 8, 9, 63, 64, 65, 1000])
def test_matches_reference(tables: TableSet, n: int) -> None:
    keys, blocks = _random(n, seed=n)
    encrypted = encrypt_many(keys, blocks, tables)
    assert encrypted == [reference_encrypt(k, b, tables) for k, b in zip(keys, blocks, strict=True)]
    assert decrypt_many(keys, blocks, tables) == [
        reference_decrypt(k, b, tables) for k, b in zip(keys, blocks, strict=True)
    ]
    assert decrypt_many(keys, encrypted, tables) == blocks


@TABLES
def test_matches_ea07_with_repeated_keys(tables: TableSet) -> None:
    rng = random.Random(7)
    distinct = [rng.getrandbits(64) for _ in range(5)] + [0, (1 << 64) - 1]
    keys = [rng.choice(distinct) for _ in range(300)]
    blocks = [rng.getrandbits(64) for _ in range(300)] + [0, (1 << 64) - 1]
    keys += [distinct[0], distinct[0]]
    ciphers = {k: Ea07(k, tables) for k in distinct}
    encrypted = encrypt_many(keys, blocks, tables)
    assert encrypted == [ciphers[k].encrypt_block(b) for k, b in zip(keys, blocks, strict=True)]
    assert decrypt_many(keys, blocks, tables) == [
        ciphers[k].decrypt_block(b) for k, b in zip(keys, blocks, strict=True)
    ]
    assert decrypt_many(keys, encrypted, tables) == blocks


def test_one_key_for_all_blocks() -> None:
    keys, blocks = _random(65, seed=3)
    cipher = Ea07(keys[0])
    assert encrypt_many([keys[0]] * 65, blocks) == [cipher.encrypt_block(b) for b in blocks]


def test_several_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ea07_batch, "CHUNK", 24)  # 24, 24, then 2 (padded to 8)
    keys, blocks = _random(50, seed=11)
    assert ea07_batch._run(keys, blocks, REAL, ea07_batch._encrypt_planes, 24) == [
        reference_encrypt(k, b) for k, b in zip(keys, blocks, strict=True)
    ]
    encrypted = encrypt_many(keys, blocks)
    assert decrypt_many(keys, encrypted) == blocks


def test_accepts_any_sequence() -> None:
    keys, _ = _random(10, seed=5)
    assert encrypt_many(tuple(keys), range(10)) == encrypt_many(keys, list(range(10)))


def test_empty() -> None:
    assert encrypt_many([], []) == []
    assert decrypt_many([], [], SAMPLE) == []


def test_length_mismatch() -> None:
    with pytest.raises(ValueError, match="2 keys for 1 blocks"):
        encrypt_many([1, 2], [3])
    with pytest.raises(ValueError):
        decrypt_many([1], [])


@pytest.mark.parametrize("bad", [-1, 1 << 64])
def test_out_of_range(bad: int) -> None:
    with pytest.raises(ValueError, match="blocks"):
        encrypt_many([1, 2], [3, bad])
    with pytest.raises(ValueError, match="keys"):
        decrypt_many([bad, 2], [3, 4])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(U64, U64), max_size=80), st.sampled_from([REAL, SAMPLE]))
def test_round_trip(pairs: list[tuple[int, int]], tables: TableSet) -> None:
    keys = [k for k, _ in pairs]
    blocks = [b for _, b in pairs]
    assert decrypt_many(keys, encrypt_many(keys, blocks, tables), tables) == blocks
    assert encrypt_many(keys, decrypt_many(keys, blocks, tables), tables) == blocks
