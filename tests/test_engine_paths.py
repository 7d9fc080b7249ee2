"""The compiled EA07 path and the pure-Python path give the same tokens: every EA07 vector and generated
keys, blocks and credit requests, on each path in one run (tokencore/ciphers/native.py).

The compiled cases are skipped, with the reason, when the extension was not built at install time (no C
compiler or Python headers); `make test` installs both before it builds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vectorfiles import at, decoder_key_of, load, profile_of
from tokencore import DecoderKey, Ea, Issuer, KeyParams, MeterProfile, decode_token, make_cipher, parse_pan
from tokencore.batch import CreditRequest, issue_credit_tokens
from tokencore.ciphers import REAL, SAMPLE, native
from tokencore.ciphers.ea07 import Ea07, reference_decrypt, reference_encrypt
from tokencore.decoder import Outcome, enter_token, new_meter_state

COMPILED = pytest.param(
    native.COMPILED,
    marks=pytest.mark.skipif(not native.compiled_available(), reason="the compiled EA07 was not built"),
)
PATHS = [native.PURE, COMPILED]
EA07 = load("ea07.json")
PROFILE = MeterProfile(parse_pan("600727000000000009"), KeyParams(sgc=123456, ti=1, krn=1))


@pytest.fixture(params=PATHS)
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test on one EA07 path, then restore the one the session started with."""
    before = native.active_path()
    native.use_path(request.param)
    yield request.param
    native.use_path(before)


def cipher_class(path: str) -> str:
    return "Ea07" if path == native.PURE else "tokencore.ciphers._ea07c.Ea07"


def test_the_active_path_builds_the_ciphers(path: str) -> None:
    cipher = make_cipher(DecoderKey(bytes(8)), Ea.EA07)
    assert (type(cipher) is Ea07) is (path == native.PURE)
    assert repr(cipher) == "Ea07(<key hidden>)"


@pytest.mark.parametrize("v", EA07["vectors"], ids=lambda v: v["case"])
def test_every_ea07_vector(path: str, v: dict) -> None:
    key = DecoderKey.from_hex(v["decoder_key"])
    cipher = make_cipher(key, Ea.EA07)
    plain, encrypted = int(v["plain"], 16), int(v["encrypted"], 16)
    assert cipher.encrypt_block(plain) == encrypted and cipher.decrypt_block(encrypted) == plain
    decoded = decode_token(v["token"], key)
    assert decoded.block == plain and decoded.crc_ok
    spec = v.get("issue", {})
    if spec.get("kind") == "credit" and "vending_key" in spec:
        token = Issuer(profile_of(spec), decoder_key_of(spec)).credit(
            spec["units"], at=at(spec["at"]), rnd=spec["rnd"]
        )
        assert token.token == v["token"] and token.block == plain


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.sampled_from([REAL, SAMPLE]))
def test_compiled_cipher_is_the_bit_by_bit_algorithm(key: int, block: int, tables) -> None:  # type: ignore[no-untyped-def]
    if not native.compiled_available():
        pytest.skip("the compiled EA07 was not built")
    compiled = native.compiled_tables(tables)
    from tokencore.ciphers import _ea07c  # type: ignore[attr-defined]

    cipher = _ea07c.Ea07(compiled, key)
    encrypted = cipher.encrypt_block(block)
    assert encrypted == reference_encrypt(key, block, tables) == Ea07(key, tables).encrypt_block(block)
    assert cipher.decrypt_block(encrypted) == block == reference_decrypt(key, encrypted, tables)
    assert _ea07c.encrypt_many(compiled, [key, key ^ 1], [block, block]) == [
        encrypted,
        reference_encrypt(key ^ 1, block, tables),
    ]


@settings(max_examples=200, deadline=None)
@given(
    key=st.binary(min_size=8, max_size=8),
    units=st.decimals(0, Decimal("1820162.4"), places=1),
    minutes=st.integers(1, 0xFFFFF0),
    rnd=st.integers(0, 15),
    service=st.integers(0, 3),
    tables=st.sampled_from([REAL, SAMPLE]),
)
def test_credit_tokens_are_the_same_on_both_paths(
    key: bytes, units: Decimal, minutes: int, rnd: int, service: int, tables
) -> None:  # type: ignore[no-untyped-def]
    when = datetime(2014, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    before = native.active_path()
    issued = []
    try:
        for name in (native.PURE, native.COMPILED) if native.compiled_available() else (native.PURE,):
            native.use_path(name)
            issuer = Issuer(PROFILE, DecoderKey(key), tables)
            issued.append(issuer.credit(units, at=when, rnd=rnd, service=service))  # type: ignore[arg-type]
            issued.append(issuer.max_power_limit(minutes, at=when, rnd=rnd))
    finally:
        native.use_path(before)
    assert all(token == issued[i % 2] for i, token in enumerate(issued))
    pure = issued[0]
    assert (pure.tid, pure.rnd, pure.subclass) == (minutes, rnd, service)
    assert pure.token == Issuer(PROFILE, DecoderKey(key), tables)._token(0, pure.block).token


def test_issue_decode_enter_and_batch_agree(path: str) -> None:
    key = DecoderKey.from_hex("0123456789ABCDEF")
    issuer = Issuer(PROFILE, key)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    tokens, last = [], None
    for i in range(50):
        token = issuer.credit(
            Decimal(i + 1).scaleb(-1), at=start + timedelta(seconds=20 * i), rnd=i & 15, last_tid=last
        )
        tokens.append(token)
        last = token.tid
    requests = [
        CreditRequest(PROFILE, key, t.units, start + timedelta(seconds=20 * i), i & 15)
        for i, t in enumerate(tokens)
    ]
    assert issue_credit_tokens(requests) == tokens
    meter = new_meter_state(PROFILE.pan, key, PROFILE.key)
    for token in tokens:
        assert decode_token(token.token, key).block == token.block
        meter, result = enter_token(meter, token.token, 0)
        assert result.outcome is Outcome.ACCEPT
    assert meter.credit == sum(t.amount_field for t in tokens) * 100


def test_compiled_calls_refuse_bad_input_without_showing_keys() -> None:
    if not native.compiled_available():
        pytest.skip("the compiled EA07 was not built")
    from tokencore.ciphers import _ea07c  # type: ignore[attr-defined]

    tables = native.compiled_tables(REAL)
    secret = 0x0123456789ABCDEF
    cipher = _ea07c.Ea07(tables, secret)
    for block in (-1, 2**64):
        with pytest.raises(OverflowError):
            cipher.encrypt_block(block)
        with pytest.raises(OverflowError):
            cipher.decrypt_block(block)
    with pytest.raises(TypeError):
        cipher.encrypt_block("1")
    for key in (-5, 2**64 + secret):
        with pytest.raises(ValueError, match="64-bit") as caught:
            _ea07c.Ea07(tables, key)
        assert str(abs(key)) not in str(caught.value) and f"{secret:X}" not in str(caught.value)
    for args in (
        (cipher, 4, 0, 0, 0),
        (cipher, 0, 16, 0, 0),
        (cipher, 0, 0, 1 << 24, 0),
        (cipher, 0, 0, 0, 1 << 16),
    ):
        with pytest.raises(ValueError):
            _ea07c.credit_token(*args)
    with pytest.raises(TypeError):
        _ea07c.credit_token(Ea07(1), 0, 0, 0, 0)  # a pure cipher is not the compiled one
    with pytest.raises(ValueError):
        _ea07c.encrypt_many(tables, [1], [1, 2])
    with pytest.raises(ValueError):
        _ea07c.Tables(bytes(16), bytes(range(16)), bytes(range(64)))  # S1 not a permutation


def test_use_path_refuses_unknown_names() -> None:
    with pytest.raises(ValueError):
        native.use_path("fast")
    if not native.compiled_available():
        with pytest.raises(ValueError, match="not built"):
            native.use_path(native.COMPILED)


@pytest.mark.parametrize(("env", "expected"), [("1", "pure"), ("", "compiled"), ("0", "compiled")])
def test_the_environment_selects_the_path_at_import(env: str, expected: str) -> None:
    if expected == native.COMPILED and not native.compiled_available():
        expected = native.PURE
    code = "from tokencore.ciphers import native; print(native.active_path())"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "NGUVU_PURE_PYTHON": env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == expected
