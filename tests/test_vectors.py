"""Every known-answer vector of sts-notes §4 (tests/vectors/*.json), in Python."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.vectorfiles import at, decoder_key_of, load, profile_of
from tokencore import (
    BaseDate,
    DecoderKey,
    Ea,
    Issuer,
    Kind,
    decode_token,
    encode_amount,
    issue_test_token,
    luhn_check_digit,
    parse_pan,
    tid_at,
)
from tokencore.amount import decode_amount, decode_currency
from tokencore.blocks import parse_block
from tokencore.ciphers import make_cipher
from tokencore.crc import crc16_modbus, token_crc
from tokencore.digits import to_digits, transpose_class, untranspose_class
from tokencore.errors import AmountRangeError, KeyExpiredError
from tokencore.kdf import control_block, dkga04_message, pan_block
from tokencore.tid import check_key_expiry, rollover_time

EA07 = load("ea07.json")
KDF = load("kdf.json")


def test_crc_vectors() -> None:
    data = load("crc.json")
    assert crc16_modbus(data["modbus_check"]["ascii"].encode()) == int(data["modbus_check"]["crc"], 16)
    for v in data["vectors"]:
        raw = int(v["input"], 16)
        assert token_crc(raw >> 48, (raw & ((1 << 48) - 1)) << 16) == int(v["field"], 16)


@pytest.mark.parametrize("v", KDF["vectors"], ids=lambda v: f"DKGA{v['dkga']}-EA{v['ea']}-{v['pan']}")
def test_decoder_key_derivation(v: dict) -> None:
    assert decoder_key_of(v).hex() == v["decoder_key"]
    profile = profile_of(v)
    if "pan_block" in v:
        assert pan_block(profile).hex().upper() == v["pan_block"]
    if "control_block" in v:
        assert control_block(profile).hex().upper() == v["control_block"]
    if "message" in v:
        assert dkga04_message(profile).hex() == v["message"]


@pytest.mark.parametrize("v", EA07["vectors"], ids=lambda v: v["case"])
def test_ea07_blocks_and_tokens(v: dict) -> None:
    cipher = make_cipher(DecoderKey.from_hex(v["decoder_key"]), Ea.EA07)
    plain, encrypted = int(v["plain"], 16), int(v["encrypted"], 16)
    assert cipher.encrypt_block(plain) == encrypted
    assert cipher.decrypt_block(encrypted) == plain
    assert to_digits(transpose_class(v["class"], encrypted)) == v["token"]
    decoded = decode_token(v["token"], DecoderKey.from_hex(v["decoder_key"]))
    assert decoded.block == plain and decoded.crc_ok and decoded.fields.token_class == v["class"]


ISSUE_CASES = [
    v for v in EA07["vectors"] + load("ea11.json")["vectors"] if "vending_key" in v.get("issue", {})
]


@pytest.mark.parametrize("v", ISSUE_CASES, ids=lambda v: v["token"])
def test_issue_reproduces_published_tokens(v: dict) -> None:
    spec = v["issue"]
    issuer = Issuer(profile_of(spec), decoder_key_of(spec))
    if spec["kind"] == "credit":
        token = issuer.credit(spec["units"], at=at(spec["at"]), rnd=spec["rnd"])
    else:
        token = issuer.max_power_limit(spec["watts"], at=at(spec["at"]), rnd=spec["rnd"])
    assert token.token == v["token"]
    assert token.block == int(v["plain"], 16)


def test_issue_with_given_decoder_key_1996_example() -> None:
    v = EA07["vectors"][0]
    profile = profile_of({"pan": "600727000000000009", "sgc": 123456, "ti": 1, "krn": 1})
    token = Issuer(profile, DecoderKey.from_hex(v["decoder_key"])).credit(
        "25.6", at=at(v["issue"]["at"]), rnd=11
    )
    assert token.token == v["token"]
    assert token.grouped == "2905 4347 1393 0985 1356"


def test_key_change_pair_reproduces_published_tokens() -> None:
    kc = EA07["key_change"]
    current = profile_of({"pan": kc["pan"], "vending_key": kc["vending_key"], **kc["current"]})
    new = profile_of({"pan": kc["pan"], **kc["new"]})
    vk_spec = {"pan": kc["pan"], "vending_key": kc["vending_key"]}
    new_key = decoder_key_of({**vk_spec, **kc["new"]})
    assert new_key.hex() == kc["new_decoder_key"]
    tokens = Issuer(current, decoder_key_of({**vk_spec, **kc["current"]})).key_change(new.key, new_key)
    assert [t.token for t in tokens] == kc["tokens"]
    assert [t.kind for t in tokens] == [Kind.KCT_1, Kind.KCT_2]


@pytest.mark.parametrize("v", load("class1.json")["vectors"], ids=lambda v: v["token"])
def test_class1_tokens(v: dict) -> None:
    token = issue_test_token(int(v["control"], 16), v["mfr_code"], long_mfr_code=v["subclass"] == 1)
    assert token.token == v["token"] and token.block == int(v["plain"], 16)
    decoded = decode_token(v["token"], None)
    assert decoded.crc_ok and decoded.fields.control == int(v["control"], 16)


def test_ea11_token() -> None:
    v = load("ea11.json")["vectors"][0]
    key = DecoderKey.from_hex(v["decoder_key"])
    assert make_cipher(key, Ea.EA11).encrypt_block(int(v["plain"], 16)) == int(v["encrypted"], 16)
    decoded = decode_token(v["token"], key, Ea.EA11)
    assert decoded.crc_ok and decoded.block == int(v["plain"], 16)


def test_transposition_example() -> None:
    v = load("transposition.json")["vectors"][0]
    value = transpose_class(v["class"], int(v["block"], 16))
    assert value == int(v["value66"], 16) and to_digits(value) == v["token"]
    assert untranspose_class(value) == (v["class"], int(v["block"], 16))


def test_amount_boundaries() -> None:
    data = load("amount.json")
    for v in data["vectors"]:
        field = encode_amount(v["value"])
        assert field == int(v["field"], 16), v
        assert decode_amount(field) == v.get("encoded", v["value"])
    for value in data["too_large"]:
        with pytest.raises(AmountRangeError):
            encode_amount(value)
    c = data["currency"]
    fields = parse_block(0, (4 << 60) | (int(c["field"], 16) << 16))
    assert (fields.exponent, fields.mantissa) == (c["exponent"], c["mantissa"])
    assert decode_currency(c["exponent"], c["mantissa"]) == c["value"]


def test_identity_vectors() -> None:
    data = load("identity.json")
    for v in data["vectors"]:
        assert luhn_check_digit(v["payload"]) == v["check"]
    for v in data["pans"]:
        pan = parse_pan(v["pan"])
        assert (pan.iin, pan.drn, pan.pan_block_digits()) == (v["iin"], v["drn"], v["pan_block"])


def test_tid_vectors() -> None:
    data = load("tid.json")
    for v in data["vectors"]:
        assert tid_at(at(v["at"]), BaseDate.from_year(v["base_date"])) == int(v["tid"], 16)
    for v in data["rollover"]:
        assert rollover_time(BaseDate.from_year(v["base_date"])).replace(
            tzinfo=None
        ) == datetime.fromisoformat(v["last_minute"])
    for v in data["key_expiry"]:
        tid = tid_at(at(v["at"]), BaseDate.from_year(v["base_date"]))
        if v["expired"]:
            with pytest.raises(KeyExpiredError):
                check_key_expiry(tid, v["ken"])
        else:
            check_key_expiry(tid, v["ken"])
