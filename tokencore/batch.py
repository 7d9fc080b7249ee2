"""Issue many credit tokens at once: the vending rules per request, then one bit-sliced EA07 pass.

For large batches (a CSV of a month's vends, a load test) the per-token cost of building an EA07 cipher
and running it block by block dominates; `issue_credit_tokens` builds every plaintext block first, then
encrypts all the EA07 blocks together with `ea07_batch.encrypt_many` (each block under its own meter's
key). Requests for the same meter get distinct, increasing TIDs (the same-minute rule), in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tokencore.blocks import CLASS_CREDIT
from tokencore.ciphers import REAL, TableSet, make_cipher
from tokencore.ciphers.ea07_batch import encrypt_many
from tokencore.codec import encode_token
from tokencore.digits import to_digits, transpose_class
from tokencore.errors import KeyParameterError, TokenError
from tokencore.issue import IssuedToken, credit_token, plan_credit
from tokencore.keys import DecoderKey
from tokencore.params import Ea, MeterProfile, Service


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


def issue_credit_tokens(
    requests: Sequence[CreditRequest], tables: TableSet = REAL
) -> list[IssuedToken | TokenError]:
    """Issue a credit token per request, in order; a refused request yields its TokenError in its place.

    A meter's `last_tid` is taken from its first request and carried from token to token inside the batch.
    """
    results: list[IssuedToken | TokenError | None] = []
    last_tids: dict[str, int | None] = {}
    planned: list[tuple[int, int, int, int, int, int]] = []  # (index, block, tid, rnd, field, key int)
    for index, request in enumerate(requests):
        pan = request.profile.pan.pan
        last_tid = last_tids.get(pan, request.last_tid)
        try:
            block, tid, field = plan_credit(
                request.profile,
                request.units,
                at=request.at,
                rnd=request.rnd,
                last_tid=last_tid,
                service=request.service,
            )
            material = request.key.reveal()
            if len(material) != request.profile.key.ea.key_bytes:
                raise KeyParameterError(f"the decoder key does not fit {request.profile.key.ea.name}")
        except TokenError as exc:
            results.append(exc)
            continue
        last_tids[pan] = tid
        results.append(None)  # filled in below, once encrypted
        if request.profile.key.ea is Ea.EA07:
            planned.append((index, block, tid, request.rnd, field, int.from_bytes(material, "big")))
        else:
            token = encode_token(
                CLASS_CREDIT, block, make_cipher(request.key, request.profile.key.ea, tables)
            )
            results[index] = credit_token(token, block, tid, request.rnd, field)
    encrypted = encrypt_many([p[5] for p in planned], [p[1] for p in planned], tables)
    for (index, block, tid, rnd, field, _), cipher_block in zip(planned, encrypted, strict=True):
        token = to_digits(transpose_class(CLASS_CREDIT, cipher_block))
        results[index] = credit_token(token, block, tid, rnd, field)
    return [r for r in results if r is not None]
