"""One mistyped digit: how often does a meter take it for a valid token?

After decryption a corrupted token is a random-looking block, so only the 16-bit CRC stands between it
and acceptance: the expected pass rate is 2^-16 (about 1.5 in 100,000). We measure it over 300,000
corruptions and check the count against that Poisson rate statistically, both ways: well above it would
mean a weak check, and none at all over a far larger sample would mean the measurement is broken (the
second check uses a cheaper path, the CRC alone over random blocks, where 2^-16 must show up).
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tokencore import DecoderKey, Ea, KeyParams, MeterProfile, parse_pan
from tokencore.blocks import parse_block
from tokencore.ciphers import make_cipher
from tokencore.crc import crc_matches
from tokencore.decoder import Outcome, enter_token, new_meter_state
from tokencore.digits import MAX_TOKEN_VALUE, untranspose_class
from tokencore.issue import Issuer
from tokencore.testing import digit_corruptions

CRC_PASS = 2.0**-16
KEY = DecoderKey.from_hex("E653341F9D5BF36F")
PROFILE = MeterProfile(parse_pan("600727000000000009"), KeyParams(sgc=123456, ti=1, krn=1))


def poisson_upper(mean: float, tail: float) -> int:
    """Smallest k with P(X >= k) <= tail for X ~ Poisson(mean)."""
    k, term, cdf = 0, math.exp(-mean), 0.0
    while True:
        cdf += term
        k += 1
        if 1 - cdf <= tail:
            return k
        term *= mean / k


def corrupt(token: str, rng: random.Random) -> str:
    position = rng.randrange(20)
    digit = rng.choice([d for d in "0123456789" if d != token[position]])
    return token[:position] + digit + token[position + 1 :]


def test_one_digit_corruptions_pass_the_crc_at_the_16_bit_rate() -> None:
    rng = random.Random(20261128)
    cipher = make_cipher(KEY, Ea.EA07)
    issuer = Issuer(PROFILE, KEY)
    trials = 300_000
    passed = 0
    tokens = [
        issuer.credit(str(rng.randint(1, 5000)), at=_at(rng), rnd=rng.randrange(16)).token
        for _ in range(2000)
    ]
    for n in range(trials):
        value = int(corrupt(tokens[n % len(tokens)], rng))
        if value > MAX_TOKEN_VALUE:
            continue  # a format error: refused before any decryption
        token_class, encrypted = untranspose_class(value)
        block = encrypted if token_class == 1 else cipher.decrypt_block(encrypted)
        passed += parse_block(token_class, block).crc_ok
    mean = trials * CRC_PASS
    # One-sided bound at a false-alarm probability of 1e-6.
    assert passed < poisson_upper(mean, 1e-6), (
        f"{passed} of {trials} corruptions passed the CRC (expected ~{mean:.1f})"
    )


def test_the_crc_check_itself_passes_random_blocks_at_2_to_the_minus_16() -> None:
    rng = random.Random(7)
    trials = 2_000_000
    passed = sum(crc_matches(rng.randrange(3), rng.getrandbits(64)) for _ in range(trials))
    mean = trials * CRC_PASS  # about 30.5
    assert poisson_upper(mean, 1e-6) > passed > mean - 6 * math.sqrt(mean)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_meter_never_credits_a_corrupted_token_it_cannot_verify(data: st.DataObject) -> None:
    issuer = Issuer(PROFILE, KEY)
    token = issuer.credit("10", at=_at(random.Random(data.draw(st.integers(0, 10**6)))), rnd=3)
    typo = data.draw(digit_corruptions(token.token))
    meter = new_meter_state(PROFILE.pan, KEY, PROFILE.key)
    meter, result = enter_token(meter, typo, 0)
    if result.outcome is Outcome.ACCEPT:  # a 1-in-65,536 CRC collision: still one TID, one credit
        assert result.tid is not None and meter.tid_memory.count(result.tid) == 1
    else:
        assert result.outcome in (Outcome.CRC_ERROR, Outcome.FORMAT_ERROR, Outcome.FUNCTION_ERROR)
        assert meter.credit == 0


def _at(rng: random.Random) -> datetime:
    return datetime(2015, 1, 1) + timedelta(minutes=rng.randrange(10_000_000))
