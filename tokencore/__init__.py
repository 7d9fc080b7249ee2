"""tokencore: a pure-Python STS (IEC 62055-41) token engine and meter-side decoder.

No I/O, no clock, no randomness: issue time, RND and the meter's last TID issued are arguments, and
results are frozen dataclasses. See docs/engine.md.
"""

from tokencore.amount import decode_amount, encode_amount, tenths_to_units, units_to_tenths
from tokencore.blocks import Kind
from tokencore.ciphers import REAL, SAMPLE, TableSet, make_cipher, table_set
from tokencore.decode import DecodedToken, decode_token
from tokencore.digits import group
from tokencore.errors import (
    AmountRangeError,
    DdtkError,
    FieldRangeError,
    IdentityError,
    KeyExpiredError,
    KeyParameterError,
    KeyTypeError,
    TidError,
    TokenError,
    TokenFormatError,
    UnsupportedError,
)
from tokencore.identity import (
    MeterPan,
    luhn_check_digit,
    meter_from_number,
    pan_from_drn,
    parse_pan,
    validate_drn,
)
from tokencore.issue import IssuedToken, Issuer, issue_credit_token, issue_key_change_tokens, issue_test_token
from tokencore.kdf import derive_decoder_key
from tokencore.keys import DecoderKey, VendingKey
from tokencore.outcome import Outcome
from tokencore.params import BaseDate, Dkga, Ea, KeyParams, KeyType, MeterProfile, Service
from tokencore.tid import TID_MAX, check_key_expiry, next_tid, rollover_time, tid_at, tid_time

__all__ = [
    "REAL",
    "SAMPLE",
    "TID_MAX",
    "AmountRangeError",
    "BaseDate",
    "DdtkError",
    "DecodedToken",
    "DecoderKey",
    "Dkga",
    "Ea",
    "FieldRangeError",
    "IdentityError",
    "IssuedToken",
    "Issuer",
    "KeyExpiredError",
    "KeyParameterError",
    "KeyParams",
    "KeyType",
    "KeyTypeError",
    "Kind",
    "MeterPan",
    "MeterProfile",
    "Outcome",
    "Service",
    "TableSet",
    "TidError",
    "TokenError",
    "TokenFormatError",
    "UnsupportedError",
    "VendingKey",
    "check_key_expiry",
    "decode_amount",
    "decode_token",
    "derive_decoder_key",
    "encode_amount",
    "group",
    "issue_credit_token",
    "issue_key_change_tokens",
    "issue_test_token",
    "luhn_check_digit",
    "make_cipher",
    "meter_from_number",
    "next_tid",
    "pan_from_drn",
    "parse_pan",
    "rollover_time",
    "table_set",
    "tenths_to_units",
    "tid_at",
    "tid_time",
    "units_to_tenths",
    "validate_drn",
]
