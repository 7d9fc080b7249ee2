"""Meter numbers and key wrappers: exact validation messages, and secrets that never show."""

from __future__ import annotations

import logging
import pickle

import pytest
from hypothesis import given

from tokencore import (
    DecoderKey,
    IdentityError,
    Issuer,
    KeyParameterError,
    KeyParams,
    MeterProfile,
    VendingKey,
    meter_from_number,
    pan_from_drn,
    parse_pan,
    validate_drn,
)
from tokencore.decoder import new_meter_state
from tokencore.testing import drns, meter_pans


@given(drns())
def test_every_drn_expands_to_a_pan_that_parses_back(drn: str) -> None:
    pan = pan_from_drn(drn)
    assert parse_pan(pan.pan) == pan and pan.drn == drn and len(pan.pan) == 18
    assert pan.iin == ("600727" if len(drn) == 11 else "0000")
    assert pan.mfr_code == int(drn[: 2 if len(drn) == 11 else 4])
    assert meter_from_number(drn) == meter_from_number(pan.pan)


@given(meter_pans())
def test_any_changed_digit_of_a_pan_is_caught(pan) -> None:  # type: ignore[no-untyped-def]
    for position in range(18):
        wrong = pan.pan[:position] + str((int(pan.pan[position]) + 1) % 10) + pan.pan[position + 1 :]
        with pytest.raises(IdentityError):
            parse_pan(wrong)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("600727000000000008", "last digit is 8, expected 9"),
        ("60072700000000000", "18 digits, got 17"),
        ("60072700000000000X", "decimal digits"),
        ("600727000000000108", "DRN inside MeterPAN 00000000010 fails its Luhn check"),
    ],
)
def test_pan_errors_say_exactly_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(IdentityError, match=message):
        parse_pan(text)


def test_drn_errors() -> None:
    assert validate_drn("11111111115") == "11111111115"
    with pytest.raises(IdentityError, match="expected 5"):
        validate_drn("11111111111")
    with pytest.raises(IdentityError, match="11 or 13 digits, got 12"):
        validate_drn("111111111115")


def test_keys_never_show_in_repr_str_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    secret = "ABABABABABABABAB"
    vk, dk = VendingKey.from_hex(secret), DecoderKey.from_hex("E653341F9D5BF36F")
    profile = MeterProfile(parse_pan("600727000000000009"), KeyParams(sgc=123456, ti=1, krn=1))
    state = new_meter_state(profile.pan, dk, profile.key)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("keys %s %r %s %r %r", vk, vk, dk, Issuer(profile, dk), state)
    shown = caplog.text + repr(vk) + str(dk) + repr(profile)
    assert secret not in shown and "E653341F9D5BF36F" not in shown.upper() and "hidden" in shown
    with pytest.raises(KeyParameterError) as error:
        VendingKey.from_hex("ABABABABABABABAZ")  # one typo: the message must not echo the rest
    assert "ABABABAB" not in str(error.value)
    with pytest.raises(KeyParameterError, match="64-bit"):
        VendingKey.from_hex("ABAB")


def test_keys_compare_and_travel_to_worker_processes() -> None:
    vk = VendingKey.from_hex("AB" * 20)
    assert pickle.loads(pickle.dumps(vk)) == vk and vk != VendingKey.from_hex("AC" * 20)
    assert vk.bits == 160 and DecoderKey(bytes(16)).bits == 128
    with pytest.raises(TypeError):
        VendingKey("ABABABABABABABAB")  # type: ignore[arg-type]
