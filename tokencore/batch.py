"""Issue many credit tokens at once: the vending rules per request, then one bit-sliced EA07 pass.

For large batches (a CSV of a month's vends, a load test) the per-token cost of building an EA07 cipher
and running it block by block dominates; `issue_credit_tokens` builds every plaintext block first, then
encrypts all the EA07 blocks together with `ea07_batch.encrypt_many` (each block under its own meter's
key). Requests for the same meter get distinct, increasing TIDs (the same-minute rule), in order, and
`last_tids` carries that across calls, so a stream of requests can be issued in pieces. What is left per
request is the vending rules themselves; their pure parts (amount field, minutes since the base date)
are remembered within a call, and `issue_credit_fields` skips building IssuedToken objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tokencore.amount import encode_amount, units_to_tenths
from tokencore.blocks import CLASS_CREDIT, credit_block
from tokencore.ciphers import REAL, TableSet, make_cipher
from tokencore.ciphers.ea07_batch import encrypt_many
from tokencore.ciphers.native import compiled_encrypt_many
from tokencore.codec import encode_token
from tokencore.digits import to_digits, transpose_class
from tokencore.errors import FieldRangeError, KeyParameterError, TokenError
from tokencore.issue import IssuedToken, credit_token, plan_credit
from tokencore.keys import DecoderKey
from tokencore.params import Ea, KeyType, MeterProfile, Service
from tokencore.tid import TID_MAX, check_key_expiry, tid_at


@dataclass(frozen=True, slots=True)
class CreditRequest:
    """One credit token to issue: see `Issuer.credit` for the meaning of each field."""

    profile: MeterProfile
    key: DecoderKey
    units: Decimal | int | str
    at: datetime
    rnd: int
    last_tid: int | None = None
    service: Service = Service.ELECTRICITY


class _Planner:
    """`plan_credit` with its pure parts remembered for one call: a big batch meets the same few hundred
    amounts and issue times over and over. Anything off the plain path (a refusal, a new amount or time,
    an out-of-range field) goes through `plan_credit` itself, so the rules and their error messages have
    one definition."""

    def __init__(self) -> None:
        self.fields: dict[str, int] = {}  # units text -> amount field
        # (at, at.fold, base date code) -> tid_at. The fold because equal local times of one zone can differ
        # by it; the code ("93", "14", "35") because hashing the enum member runs Python code, per request.
        self.minutes: dict[tuple[datetime, int, str], int] = {}

    def plan(self, request: CreditRequest, last_tid: int | None) -> tuple[int, int, int]:
        key, units, at, rnd = request.profile.key, request.units, request.at, request.rnd
        field = self.fields.get(units) if type(units) is str else None
        minute = self.minutes.get((at, at.fold, key.base_date._value_)) if isinstance(at, datetime) else None
        if field is None or minute is None or key.kt is KeyType.DDTK or type(rnd) is not int:
            return self._remember(request, last_tid)
        if last_tid is None or 0 <= last_tid < minute:
            tid = minute
        elif minute <= last_tid < TID_MAX:
            tid = last_tid + 1  # the same-minute rule, as next_tid applies it
        else:
            return self._remember(request, last_tid)
        if not 0 <= rnd <= 15:
            return self._remember(request, last_tid)
        check_key_expiry(tid, key.ken)
        return credit_block(int(request.service), rnd, tid, field), tid, field

    def _remember(self, request: CreditRequest, last_tid: int | None) -> tuple[int, int, int]:
        profile, units, at = request.profile, request.units, request.at
        try:
            planned = plan_credit(
                profile, units, at=at, rnd=request.rnd, last_tid=last_tid, service=request.service
            )
        except ValueError:
            # next_tid's refusal of an impossible last TID: one bad request must not stop the batch.
            if last_tid is not None and not 0 <= last_tid <= TID_MAX:
                raise FieldRangeError(f"last TID must be 0..{TID_MAX}, got {last_tid}") from None
            raise
        # plan_credit accepted the amount and the time: these are the values it computed from them.
        if type(units) is str and len(self.fields) < 65536:
            self.fields[units] = encode_amount(units_to_tenths(units))
        if len(self.minutes) < 65536:
            base = profile.key.base_date
            self.minutes[(at, at.fold, base._value_)] = tid_at(at, base)
        return planned


# One issued credit token as plain values, the arguments of `tokencore.issue.credit_token`:
# (token digits, plaintext block, TID, RND, amount field).
CreditFields = tuple[str, int, int, int, int]
_PENDING: CreditFields = ("", 0, 0, 0, 0)


def issue_credit_tokens(
    requests: Sequence[CreditRequest],
    tables: TableSet = REAL,
    *,
    last_tids: dict[str, int] | None = None,
) -> list[IssuedToken | TokenError]:
    """Issue a credit token per request, in order; a refused request yields its TokenError in its place.

    A meter's `last_tid` is taken from its first request and carried from token to token inside the batch.
    `last_tids` (PAN -> last TID issued), when given, carries it across calls too: a meter found in it
    ignores its requests' `last_tid`, and the mapping is updated in place with every token issued, so a
    long stream of requests can be issued in several calls with the same result as in one. A `last_tid`
    outside 0..0xFFFFFF refuses its request with FieldRangeError.
    """
    return [
        r if isinstance(r, TokenError) else credit_token(*r)
        for r in issue_credit_fields(requests, tables, last_tids=last_tids)
    ]


def issue_credit_fields(
    requests: Sequence[CreditRequest],
    tables: TableSet = REAL,
    *,
    last_tids: dict[str, int] | None = None,
) -> list[CreditFields | TokenError]:
    """`issue_credit_tokens` without the IssuedToken objects: each token as its CreditFields tuple, for a
    caller that issues millions and needs a few fields (`nguvu token batch`). Same rules, same errors."""
    results: list[CreditFields | TokenError] = []
    carried: dict[str, int] = {} if last_tids is None else last_tids
    plan = _Planner().plan
    sliced: list[tuple[int, int, int, int]] = []  # (index, TID, RND, amount field) of the EA07 blocks
    blocks: list[int] = []
    keys: list[int] = []
    for index, request in enumerate(requests):
        profile = request.profile
        pan, ea = profile.pan.pan, profile.key.ea
        try:
            block, tid, field = plan(request, carried.get(pan, request.last_tid))
            material = request.key.reveal()
            if len(material) != ea.key_bytes:
                raise KeyParameterError(f"the decoder key does not fit {ea.name}")
        except TokenError as exc:
            results.append(exc)
            continue
        carried[pan] = tid
        if ea is Ea.EA07:
            sliced.append((index, tid, request.rnd, field))
            blocks.append(block)
            keys.append(int.from_bytes(material, "big"))
            results.append(_PENDING)  # replaced below, once encrypted
        else:
            token = encode_token(CLASS_CREDIT, block, make_cipher(request.key, ea, tables))
            results.append((token, block, tid, request.rnd, field))
    encrypted = compiled_encrypt_many(keys, blocks, tables)
    if encrypted is None:
        encrypted = encrypt_many(keys, blocks, tables)
    for (index, tid, rnd, field), block, cipher_block in zip(sliced, blocks, encrypted, strict=True):
        results[index] = (to_digits(transpose_class(CLASS_CREDIT, cipher_block)), block, tid, rnd, field)
    return results
