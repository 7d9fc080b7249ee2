"""A meter with no identity and key yet, and the `PROVISION` requests that give it both
(docs/serial-protocol.md §3.6), as the firmware implements them (firmware/app/app_provision.c).

An unprovisioned meter holds a blank decoder state (all-zero PAN and key, manufacturer code 00): it
decodes Class 1 test tokens only and refuses everything else with `ERROR no_key`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from meter_emulator import decoding
from tokencore import BaseDate, DecoderKey, Ea, KeyParams, KeyType, MeterPan
from tokencore.decoder import MeterState
from tokencore.digits import parse_digits, untranspose_class
from tokencore.errors import TokenError
from tokencore.identity import parse_pan

BLANK_PAN = "000000000000000000"
CLASS_TEST = 1
_ID = re.compile(r"(\d{18}) (\d{6}) (\d{2}) ([1-9]) ([0-3]) (\d{1,3}) (07|11) (1993|2014|2035)")
_KEY_HEX = re.compile(r"[0-9A-Fa-f]+")


class NoKey(Exception):
    """The meter is not provisioned: the token was not decoded (`ERROR no_key`)."""


class ProvisionRefused(Exception):
    """A `PROVISION` request the meter refuses; `reason` is the protocol's error word."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def blank_state() -> MeterState:
    """The decoder state of a meter with no identity and key."""
    params = KeyParams(sgc=0, ti=0, krn=1)
    return decoding.new_state(parse_pan(BLANK_PAN), params, DecoderKey(bytes(8)))


def is_test_token(digits: str) -> bool:
    """True for 20 digits that carry a Class 1 (test) token, the only class a meter with no key reads."""
    try:
        token_class, _ = untranspose_class(parse_digits(digits))
    except TokenError:
        return False
    return token_class == CLASS_TEST


@dataclass(frozen=True, slots=True)
class PendingIdentity:
    """What `PROVISION ID` gave, held until `PROVISION KEY`."""

    pan: MeterPan
    params: KeyParams


def parse_id(arg: str) -> PendingIdentity:
    """`<pan> <sgc> <ti> <krn> <kt> <ken> <ea> <bd>`; raises ProvisionRefused("bad_argument")."""
    m = _ID.fullmatch(arg)
    if m is None or int(m.group(6)) > 255:
        raise ProvisionRefused("bad_argument")
    try:
        pan = parse_pan(m.group(1))
        params = KeyParams(
            sgc=int(m.group(2)),
            ti=int(m.group(3)),
            krn=int(m.group(4)),
            kt=KeyType(int(m.group(5))),
            ken=int(m.group(6)),
            base_date=BaseDate.from_year(int(m.group(8))),
            ea=Ea(m.group(7)),
        )
    except (TokenError, ValueError):
        raise ProvisionRefused("bad_argument") from None
    return PendingIdentity(pan, params)


def provisioned_state(pending: PendingIdentity, key_hex: str) -> MeterState:
    """The fresh state of the meter once `PROVISION KEY` came; raises ProvisionRefused("bad_argument")."""
    if _KEY_HEX.fullmatch(key_hex) is None or len(key_hex) != 2 * pending.params.ea.key_bytes:
        raise ProvisionRefused("bad_argument")
    return decoding.new_state(pending.pan, pending.params, DecoderKey(bytes.fromhex(key_hex)))
