"""Property tests of the engine: amounts, ciphers, round trips of every token kind, vending rules."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tokencore import (
    BaseDate,
    DdtkError,
    DecoderKey,
    Ea,
    Issuer,
    KeyExpiredError,
    KeyParameterError,
    KeyParams,
    KeyType,
    KeyTypeError,
    MeterProfile,
    TidError,
    VendingKey,
    decode_token,
    derive_decoder_key,
    issue_test_token,
    next_tid,
    parse_pan,
    rollover_time,
    tid_at,
)
from tokencore.amount import MAX_VALUE, decode_amount, encode_amount, units_to_tenths
from tokencore.ciphers import REAL, SAMPLE
from tokencore.ciphers.ea07 import Ea07, reference_decrypt, reference_encrypt
from tokencore.decoder import MeterConfig, Outcome, enter_token, new_meter_state
from tokencore.digits import transpose_class, untranspose_class
from tokencore.errors import AmountRangeError
from tokencore.testing import (
    amounts_in_tenths,
    decoder_keys,
    issue_times,
    key_params,
    meter_profiles,
    token_requests,
    vending_keys,
)

ALL_SERVICES = MeterConfig(services=frozenset(range(8)))


@given(amounts_in_tenths())
def test_amount_encoding_rounds_up_to_the_nearest_representable(value: int) -> None:
    field = encode_amount(value)
    encoded = decode_amount(field)
    assert encoded >= value
    # Nothing representable lies between the request and what was encoded.
    assert field == 0 or decode_amount(field - 1) < value or (field & 0x3FFF) == 0


@given(st.integers(0, MAX_VALUE), st.integers(0, MAX_VALUE))
def test_amount_encoding_is_monotone(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert decode_amount(encode_amount(low)) <= decode_amount(encode_amount(high))


@given(st.integers(0, 0xFFFF))
def test_every_field_decodes_to_a_value_that_encodes_back_to_it(field: int) -> None:
    assert encode_amount(decode_amount(field)) == field


def test_amount_limits_and_decimal_exactness() -> None:
    assert units_to_tenths("0.1") == 1 and units_to_tenths(Decimal("0.1") * 3) == 3
    assert units_to_tenths("0.11") == 2  # rounded up: the customer's favour
    assert units_to_tenths("1820162.4") == MAX_VALUE
    for bad in ("1820162.41", "-1", "NaN", "Infinity", "one"):
        with pytest.raises(AmountRangeError):
            units_to_tenths(bad)
    with pytest.raises(TypeError):
        units_to_tenths(0.1)  # type: ignore[arg-type]


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.sampled_from([REAL, SAMPLE]))
def test_ea07_fast_tables_match_the_bit_by_bit_algorithm(key: int, block: int, tables) -> None:  # type: ignore[no-untyped-def]
    cipher = Ea07(key, tables)
    encrypted = cipher.encrypt_block(block)
    assert encrypted == reference_encrypt(key, block, tables)
    assert cipher.decrypt_block(encrypted) == block == reference_decrypt(key, encrypted, tables)


@given(st.integers(0, 3), st.integers(0, 2**64 - 1))
def test_class_transposition_round_trip(token_class: int, block: int) -> None:
    value = transpose_class(token_class, block)
    assert value < 2**66 and untranspose_class(value) == (token_class, block)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_every_token_kind_round_trips_through_decode_and_a_meter(data: st.DataObject) -> None:
    profile = data.draw(meter_profiles(kt=KeyType.DUTK))
    key = data.draw(decoder_keys(profile.key.ea))
    request = data.draw(token_requests())
    at = data.draw(issue_times(profile.key.base_date))
    rnd = data.draw(st.integers(0, 15))
    token = getattr(Issuer(profile, key), request.kind)(**dict(request.args), at=at, rnd=rnd)
    # A fresh meter's TID memory holds zeros, so it refuses TID 0 (the base date's first minute) as used.
    assume(token.tid > 0)
    decoded = decode_token(token.token, key, profile.key.ea)
    assert decoded.crc_ok and decoded.block == token.block
    assert decoded.fields.tid == token.tid == tid_at(at, profile.key.base_date)
    if token.units is not None:
        assert decoded.units == token.units >= Decimal(str(dict(request.args)["units"]))
    meter = new_meter_state(profile.pan, key, profile.key, ALL_SERVICES)
    meter, result = enter_token(meter, token.token, 0)
    assert result.outcome is Outcome.ACCEPT
    assert enter_token(meter, token.token, 1)[1].outcome is Outcome.USED


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_key_change_tokens_are_accepted_in_any_order(data: st.DataObject) -> None:
    ea = data.draw(st.sampled_from([Ea.EA07, Ea.EA11]))
    profile = data.draw(meter_profiles(ea=ea, kt=KeyType.DUTK))
    key = data.draw(decoder_keys(ea))
    new = replace(
        data.draw(key_params(ea=ea, kt=KeyType.DUTK)),
        dkga=profile.key.dkga,
        ken=data.draw(st.integers(0, 255)),
    )
    new_key = data.draw(decoder_keys(ea))
    rollover = data.draw(st.booleans())
    if rollover and new_key == key:
        with pytest.raises(KeyParameterError):  # old tokens would replay once the TID memory is cleared
            Issuer(profile, key).key_change(new, new_key, rollover=True)
        return
    tokens = Issuer(profile, key).key_change(new, new_key, rollover=rollover)
    assert len(tokens) == (2 if ea is Ea.EA07 else 4)
    order = data.draw(st.permutations(tokens))
    meter = new_meter_state(profile.pan, key, profile.key)
    credit = Issuer(profile, key).credit(
        "5", at=rollover_time(profile.key.base_date) - timedelta(days=1), rnd=1
    )
    meter, _ = enter_token(meter, credit.token, 0)
    entered: set[int] = set()
    for n, token in enumerate(order):
        meter, result = enter_token(meter, token.token, 1000 * (n + 1))
        entered.add(token.subclass)
        if n < len(order) - 1:  # held: the prompt names the first missing section (PLS 1St/2nd/3rd/4th)
            missing = next(i for i, sub in enumerate((3, 4, 8, 9)) if sub not in entered)
            assert (
                result.outcome
                is (
                    Outcome.KCT_1ST_PENDING,
                    Outcome.KCT_2ND_PENDING,
                    Outcome.KCT_3RD_PENDING,
                    Outcome.KCT_4TH_PENDING,
                )[missing]
            )
            assert meter.key.key == key
    assert result.outcome is Outcome.ACCEPT
    assert meter.key.key == new_key and (meter.key.krn, meter.key.ti, meter.key.ken) == (
        new.krn,
        new.ti,
        new.ken,
    )
    if ea is Ea.EA11:
        assert meter.key.sgc == new.sgc
    assert (set(meter.tid_memory) == {0}) is rollover


@given(meter_profiles(ea=Ea.EA07), vending_keys(), st.integers(0, 500))
def test_same_minute_rule_gives_increasing_tids(profile: MeterProfile, vk: VendingKey, minutes: int) -> None:
    assume(profile.key.dkga.value == "02")
    start = profile.key.base_date.epoch + timedelta(days=365)
    issuer = Issuer(profile, derive_decoder_key(vk, profile))
    last = None
    tids = []
    # Five tokens in one minute, then one stamped earlier (a clock that went back): all distinct, rising.
    for at in [start] * 5 + [start - timedelta(minutes=minutes)]:
        token = issuer.credit("1", at=at, rnd=0, last_tid=last)
        tids.append(token.tid)
        last = token.tid
    assert tids == sorted(set(tids)) and tids[0] == tid_at(start, profile.key.base_date)


def test_tid_range_and_key_expiry_are_enforced() -> None:
    for base in BaseDate:
        with pytest.raises(TidError):
            tid_at(base.epoch - timedelta(minutes=1), base)
        with pytest.raises(TidError):
            tid_at(rollover_time(base) + timedelta(minutes=1), base)
        assert tid_at(rollover_time(base) + timedelta(seconds=59), base) == 0xFFFFFF
        with pytest.raises(TidError):
            next_tid(rollover_time(base), base, 0xFFFFFF)
    profile = MeterProfile(
        parse_pan("600727000000000009"),
        KeyParams(sgc=123456, ti=1, krn=1, ken=85, base_date=BaseDate.Y1993),
    )
    issuer = Issuer(profile, DecoderKey(bytes(8)))
    with pytest.raises(KeyExpiredError):
        issuer.credit("1", at=datetime(2004, 3, 1, 13, 55), rnd=5)
    with pytest.raises(KeyExpiredError):
        issuer.clear_tamper(at=datetime(2004, 3, 1, 13, 55), rnd=5)


def test_vending_refusals_ddtk_and_key_types() -> None:
    pan = parse_pan("600727000000000009")
    ddtk = MeterProfile(pan, KeyParams(sgc=1, ti=1, krn=1, kt=KeyType.DDTK))
    with pytest.raises(DdtkError):
        Issuer(ddtk, DecoderKey(bytes(8))).credit("1", at=datetime(2020, 1, 1), rnd=1)
    Issuer(ddtk, DecoderKey(bytes(8))).max_power_limit(100, at=datetime(2020, 1, 1), rnd=1)  # allowed
    dutk = MeterProfile(pan, KeyParams(sgc=1, ti=1, krn=1))
    for kt in (KeyType.DITK, KeyType.DCTK):
        with pytest.raises(KeyTypeError):
            Issuer(dutk, DecoderKey(bytes(8))).key_change(replace(dutk.key, kt=kt), DecoderKey(bytes(8)))


def test_test_tokens_of_every_width() -> None:
    for subclass, bits, mfr_max in ((0, 36, 99), (1, 28, 9999)):
        for control, mfr in itertools.product((0, 1, (1 << bits) - 1), (0, mfr_max)):
            token = issue_test_token(control, mfr, long_mfr_code=subclass == 1)
            fields = decode_token(token.token, None).fields
            assert (fields.subclass, fields.control, fields.mfr_code, fields.crc_ok) == (
                subclass,
                control,
                mfr,
                True,
            )
