"""Hypothesis strategies for tokencore, for this project's tests and for anyone else's (a utility's own
suite, the vending service's). Importing this module needs `hypothesis`; tokencore itself does not.

    from tokencore.testing import meter_profiles, vending_keys, credit_requests
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from hypothesis import strategies as st

from tokencore.amount import MAX_VALUE, exponent_range
from tokencore.blocks import CLEAR_REGISTERS
from tokencore.identity import MeterPan, luhn_check_digit, pan_from_drn
from tokencore.keys import DecoderKey, VendingKey
from tokencore.params import BaseDate, Dkga, Ea, KeyParams, KeyType, MeterProfile, Service
from tokencore.tid import TID_MAX, tid_time

__all__ = [
    "TokenRequest",
    "amounts_in_tenths",
    "base_dates",
    "credit_units",
    "decoder_keys",
    "digit_corruptions",
    "drns",
    "foreign_tokens",
    "issue_times",
    "key_params",
    "meter_pans",
    "meter_profiles",
    "token_requests",
    "vending_keys",
]


@st.composite
def drns(draw: st.DrawFn, digits: int | None = None) -> str:
    """Valid DRNs: 11 digits (2-digit MfrCode) or 13 digits (4-digit MfrCode), Luhn digit last."""
    length = digits or draw(st.sampled_from([11, 13]))
    body = draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    return body + str(luhn_check_digit(body))


def meter_pans() -> st.SearchStrategy[MeterPan]:
    """Valid MeterPANs (IIN 600727 with an 11-digit DRN, IIN 0000 with a 13-digit DRN)."""
    return drns().map(pan_from_drn)


def base_dates() -> st.SearchStrategy[BaseDate]:
    return st.sampled_from(list(BaseDate))


@st.composite
def key_params(
    draw: st.DrawFn, ea: Ea | None = None, kt: KeyType | None = None, ken: int | None = None
) -> KeyParams:
    """Valid key parameters; EA11 always pairs with DKGA04 (only it derives 128-bit keys)."""
    chosen_ea = ea or draw(st.sampled_from([Ea.EA07, Ea.EA11]))
    dkga = Dkga.DKGA04 if chosen_ea is Ea.EA11 else draw(st.sampled_from(list(Dkga)))
    return KeyParams(
        sgc=draw(st.integers(0, 999_999)),
        ti=draw(st.integers(0, 99)),
        krn=draw(st.integers(1, 9)),
        kt=kt if kt is not None else draw(st.sampled_from([KeyType.DUTK, KeyType.DITK, KeyType.DCTK])),
        ken=ken if ken is not None else 255,
        base_date=draw(base_dates()),
        dkga=dkga,
        ea=chosen_ea,
    )


@st.composite
def meter_profiles(draw: st.DrawFn, ea: Ea | None = None, kt: KeyType | None = None) -> MeterProfile:
    return MeterProfile(draw(meter_pans()), draw(key_params(ea=ea, kt=kt)))


def vending_keys(dkga: Dkga = Dkga.DKGA02) -> st.SearchStrategy[VendingKey]:
    """64-bit vending keys for DKGA02, 160-bit for DKGA04."""
    size = 8 if dkga is Dkga.DKGA02 else 20
    return st.binary(min_size=size, max_size=size).map(VendingKey)


def decoder_keys(ea: Ea = Ea.EA07) -> st.SearchStrategy[DecoderKey]:
    return st.binary(min_size=ea.key_bytes, max_size=ea.key_bytes).map(DecoderKey)


@st.composite
def amounts_in_tenths(draw: st.DrawFn) -> int:
    """Amounts across every exponent, with their boundaries over-represented."""
    exponent = draw(st.integers(0, 3))
    start, last, step = exponent_range(exponent)
    top = min(last + step - 1, MAX_VALUE)  # values between two exponents round up into the next
    edges = [min(v, top) for v in (start, start + 1, last - 1, last, last + 1, top)]
    return draw(st.one_of(st.integers(start, top), st.sampled_from(edges)))


def credit_units() -> st.SearchStrategy[Decimal]:
    """Credit quantities in units, up to three decimals (rounded up to a tenth by the engine)."""
    return (
        st.integers(0, MAX_VALUE * 100)
        .map(lambda n: Decimal(n).scaleb(-3))
        .filter(lambda d: d * 10 <= MAX_VALUE)
    )


@st.composite
def issue_times(draw: st.DrawFn, base_date: BaseDate, margin_minutes: int = 0) -> datetime:
    """UTC issue times inside the base date's TID range (seconds included: TIDs floor them)."""
    minutes = draw(st.integers(0, TID_MAX - margin_minutes))
    seconds = draw(st.integers(0, 59))
    return tid_time(minutes, base_date) + timedelta(seconds=seconds)


@dataclass(frozen=True)
class TokenRequest:
    """One token to issue: `kind` is an Issuer method name, `args` its keyword arguments (no time)."""

    kind: str
    args: tuple[tuple[str, object], ...]


@st.composite
def token_requests(draw: st.DrawFn) -> TokenRequest:
    """Requests of every TID-carrying kind (credit for each service, MPL, MPPUL, clear credit, tariff
    rate, clear tamper, water factor); key change and test tokens have their own strategies."""
    kind = draw(
        st.sampled_from(
            ["credit", "max_power_limit", "phase_unbalance_limit", "clear_credit", "tariff_rate",
             "clear_tamper", "water_meter_factor"]
        )
    )  # fmt: skip
    args: dict[str, object]
    if kind == "credit":
        args = {
            "units": Decimal(draw(amounts_in_tenths())).scaleb(-1),
            "service": draw(st.sampled_from(list(Service))),
        }
    elif kind in ("max_power_limit", "phase_unbalance_limit"):
        args = {"watts": draw(amounts_in_tenths())}
    elif kind == "clear_credit":
        args = {"register": draw(st.sampled_from(CLEAR_REGISTERS))}
    elif kind == "tariff_rate":
        args = {"rate": draw(st.integers(0, 0xFFFF))}
    elif kind == "water_meter_factor":
        args = {"factor": draw(st.integers(0, 0xFFFF))}
    else:
        args = {}
    return TokenRequest(kind, tuple(args.items()))


@st.composite
def digit_corruptions(draw: st.DrawFn, token: str) -> str:
    """The token with exactly one digit changed (what a subscriber mistyping one key produces)."""
    position = draw(st.integers(0, 19))
    digit = draw(st.sampled_from([d for d in "0123456789" if d != token[position]]))
    return token[:position] + digit + token[position + 1 :]


@st.composite
def foreign_tokens(draw: st.DrawFn, base_date: BaseDate = BaseDate.Y2014) -> str:
    """Valid credit tokens made for some other meter under some other DKGA02 key (a meter must refuse
    them; with a 16-bit CRC, 1 in 65,536 slips through as a random but well-formed block)."""
    from tokencore.issue import Issuer
    from tokencore.kdf import derive_decoder_key

    profile = MeterProfile(draw(meter_pans()), draw(key_params(ea=Ea.EA07, kt=KeyType.DUTK)))
    profile = MeterProfile(profile.pan, replace(profile.key, base_date=base_date))
    key = derive_decoder_key(draw(vending_keys(profile.key.dkga)), profile)
    units = Decimal(draw(amounts_in_tenths())).scaleb(-1)
    return (
        Issuer(profile, key)
        .credit(units, at=draw(issue_times(base_date)), rnd=draw(st.integers(0, 15)))
        .token
    )
