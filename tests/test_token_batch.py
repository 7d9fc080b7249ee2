"""tokencore.batch against one `Issuer.credit` per request: same tokens, same refusals, same messages."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tokencore import (
    BaseDate,
    DecoderKey,
    FieldRangeError,
    IssuedToken,
    Issuer,
    KeyParams,
    KeyType,
    MeterProfile,
    Service,
    TokenError,
    VendingKey,
    derive_decoder_key,
    pan_from_drn,
)
from tokencore.batch import CreditRequest, issue_credit_fields, issue_credit_tokens
from tokencore.identity import luhn_check_digit
from tokencore.tid import TID_MAX

VENDING_KEY = VendingKey.from_hex("0123456789ABCDEF")
EAT = timezone(timedelta(hours=3))
PARAMS = KeyParams(sgc=123456, ti=1, krn=1)


def _meter(serial: int, params: KeyParams = PARAMS) -> tuple[MeterProfile, DecoderKey]:
    body = f"{serial:010d}"
    profile = MeterProfile(pan_from_drn(body + str(luhn_check_digit(body))), params)
    return profile, derive_decoder_key(VENDING_KEY, profile)


METERS = [
    _meter(1),
    _meter(2, replace(PARAMS, base_date=BaseDate.Y1993)),  # 2025: past its rollover
    _meter(3, replace(PARAMS, ken=1)),  # expired before 2025
    _meter(4, replace(PARAMS, kt=KeyType.DDTK)),
    _meter(5, replace(PARAMS, base_date=BaseDate.Y2035)),  # 2025: before its base date
    _meter(6),
]
UNITS = ["0.1", "1", "12.34", "25.55", "1820162.4", "1820162.5", "-1", "abc", "0"]
TIMES = [
    datetime(2025, 6, 1, 10, 0, tzinfo=UTC),
    datetime(2025, 6, 1, 13, 0, tzinfo=EAT),  # the same minute, another zone
    datetime(2025, 6, 1, 10, 0, 30),  # naive: UTC
    datetime(2025, 6, 1, 9, 59, tzinfo=UTC),  # a minute earlier: the same-minute rule pushes the TID
    datetime(2040, 1, 1, tzinfo=UTC),
]
LAST_TIDS = [None, None, None, 0, 6_000_000, 6_003_960, TID_MAX - 1, TID_MAX]


def _requests(seed: int, n: int) -> list[CreditRequest]:
    rng = random.Random(seed)
    requests = []
    for _ in range(n):
        # Mostly requests that succeed, with every kind of refusal now and then.
        profile, key = rng.choice(METERS) if rng.random() < 0.3 else METERS[rng.choice([0, 5])]
        requests.append(
            CreditRequest(
                profile,
                key,
                rng.choice(UNITS) if rng.random() < 0.2 else rng.choice(UNITS[:5]),
                rng.choice(TIMES) if rng.random() < 0.2 else rng.choice(TIMES[:4]),
                16 if rng.random() < 0.02 else rng.randrange(16),
                rng.choice(LAST_TIDS) if rng.random() < 0.05 else rng.choice(LAST_TIDS[:6]),
                rng.choice(list(Service)),
            )
        )
    return requests


def _one_by_one(requests: list[CreditRequest]) -> list[IssuedToken | TokenError]:
    """The reference: one Issuer.credit per request, the meter's last TID carried by hand."""
    last: dict[str, int] = {}
    out: list[IssuedToken | TokenError] = []
    for r in requests:
        pan = r.profile.pan.pan
        try:
            token = Issuer(r.profile, r.key).credit(
                r.units, at=r.at, rnd=r.rnd, last_tid=last.get(pan, r.last_tid), service=r.service
            )
        except TokenError as exc:
            out.append(exc)
            continue
        assert token.tid is not None
        last[pan] = token.tid
        out.append(token)
    return out


def _same(got: list[IssuedToken | TokenError], want: list[IssuedToken | TokenError]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        if isinstance(w, TokenError):
            assert type(g) is type(w) and str(g) == str(w)
        else:
            assert g == w


@pytest.mark.parametrize("seed", range(4))
def test_batch_equals_one_issuer_per_request(seed: int) -> None:
    requests = _requests(seed, 600)
    want = _one_by_one(requests)
    assert sum(isinstance(w, IssuedToken) for w in want) > 150  # the happy path is exercised too
    assert len({type(w) for w in want}) >= 6  # and most refusals
    _same(issue_credit_tokens(requests), want)


def test_fields_are_the_issued_tokens_values() -> None:
    requests = _requests(9, 300)
    for fields, token in zip(issue_credit_fields(requests), issue_credit_tokens(requests), strict=True):
        if isinstance(token, TokenError):
            assert type(fields) is type(token)
        else:
            assert fields == (token.token, token.block, token.tid, token.rnd, token.amount_field)


def test_last_tids_carry_a_meter_across_calls() -> None:
    requests = _requests(5, 900)
    want = _one_by_one(requests)
    carried: dict[str, int] = {}
    got: list[IssuedToken | TokenError] = []
    for start, stop in ((0, 1), (1, 250), (250, 251), (251, 900)):
        got += issue_credit_tokens(requests[start:stop], last_tids=carried)
    _same(got, want)
    assert carried == _last_of(want, requests)


def _last_of(results: list[IssuedToken | TokenError], requests: list[CreditRequest]) -> dict[str, int]:
    last: dict[str, int] = {}
    for result, request in zip(results, requests, strict=True):
        if isinstance(result, IssuedToken) and result.tid is not None:
            last[request.profile.pan.pan] = result.tid
    return last


@pytest.mark.parametrize("bad", [-1, TID_MAX + 1])
def test_an_impossible_last_tid_refuses_its_request_only(bad: int) -> None:
    (profile, key), at = METERS[0], TIMES[0]
    requests = [
        CreditRequest(profile, key, "1", at, 1, bad),
        CreditRequest(METERS[5][0], METERS[5][1], "1", at, 1),
    ]
    first, second = issue_credit_tokens(requests)
    assert isinstance(first, FieldRangeError) and "last TID" in str(first)
    assert isinstance(second, IssuedToken)
