"""The invariants of issue 11, checked at the end of a soak from the database, the meters, the SMS
gateway's record and every log line and response. Each returns the list of what broke (empty: held)."""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, select

from api.db import reading
from api.models import Meter, MeterPush, Payment, SmsOutbox, Token
from benchmarks.soaking.load import TOKEN_IN_SMS, Ledger


@dataclass
class Snapshot:
    payments: list[Payment]
    tokens: list[Token]
    sms: list[SmsOutbox]
    pushes: list[MeterPush]
    meters: dict[int, str]  # id -> DRN


def snapshot(engine: Engine) -> Snapshot:
    with reading(engine) as s:
        return Snapshot(
            list(s.scalars(select(Payment))),
            list(s.scalars(select(Token).order_by(Token.id))),
            list(s.scalars(select(SmsOutbox))),
            list(s.scalars(select(MeterPush))),
            {m.id: m.drn for m in s.scalars(select(Meter)) if m.id is not None},
        )


def payments_and_tokens(snap: Snapshot, ledger: Ledger) -> list[str]:
    broken: list[str] = []
    by_payment = Counter(t.payment_id for t in snap.tokens if t.payment_id is not None)
    status = {p.id: p.status for p in snap.payments}
    for p in snap.payments:
        n = by_payment.get(p.id, 0)
        if p.status == "vended" and n != 1:
            broken.append(f"payment {p.reference} vended with {n} tokens")
        if p.status in ("held", "failed", "expired") and n:
            broken.append(f"payment {p.reference} is {p.status} but has {n} tokens")
        if p.status in ("queued", "pending"):
            broken.append(f"payment {p.reference} still {p.status}")
        want = ledger.expected.get(p.reference)
        if want is not None and p.status != want:
            broken.append(f"payment {p.reference}: the wallet said {want}, the service has {p.status}")
    for t in snap.tokens:
        if t.payment_id is None or status.get(t.payment_id) != "vended":
            broken.append(f"token {t.id} without a confirmed payment")
    known = {p.reference for p in snap.payments}
    for ref in ledger.expected:
        if ref not in known:
            broken.append(f"the wallet answered {ref}, the service has no such payment")
    return broken


def tids(snap: Snapshot) -> list[str]:
    broken = []
    per_meter: dict[int, list[int]] = defaultdict(list)
    for t in snap.tokens:  # in issue (id) order
        if t.tid is not None:
            per_meter[t.meter_id].append(t.tid)
    for meter_id, seq in per_meter.items():
        if any(b <= a for a, b in itertools.pairwise(seq)):
            broken.append(f"meter {snap.meters.get(meter_id)}: TIDs not strictly increasing")
    return broken


def sms(snap: Snapshot, sent: list[dict[str, str]], allowance: int) -> tuple[list[str], int]:
    """Every token's SMS sent, after retries, and received by the gateway at least once and at most
    once per recorded send attempt (a send that timed out although the gateway took it is retried and
    received twice: two sends). Beyond that, only a send in flight when its instance was killed or its
    database connection cut (not recorded, so sent again after the lease): at most `allowance` (kills +
    cuts x instances). Returns what broke and how many messages the gateway received more than once."""
    broken = []
    token_sms = [m for m in snap.sms if m.kind == "token"]
    with_sms = Counter(m.payment_id for m in token_sms)
    for p in snap.payments:
        if p.status == "vended" and with_sms.get(p.id, 0) != 1:
            broken.append(f"payment {p.reference}: {with_sms.get(p.id, 0)} token SMS rows")
    for m in snap.sms:
        if m.status not in ("sent", "delivered"):
            broken.append(f"SMS {m.id} ({m.kind}) ended {m.status}")
    received = Counter(row["message"] for row in sent)
    unrecorded = 0
    for m in token_sms:
        got = received.get(m.text, 0)
        if got == 0:
            broken.append(f"token SMS {m.id} never reached the gateway")
        unrecorded += max(0, got - m.attempts)
    if unrecorded > allowance:
        broken.append(
            f"{unrecorded} token SMS received more often than sent, beyond kills and cuts ({allowance})"
        )
    duplicates = sum(n - 1 for n in received.values() if n > 1)
    return broken, duplicates


def queues(snap: Snapshot) -> list[str]:
    broken = []
    for push in snap.pushes:
        if push.status != "done":
            broken.append(f"push {push.id} ended {push.status} ({push.result})")
        elif push.result == "used" and push.attempts <= 1:
            broken.append(f"push {push.id}: the meter had the token before its first push")
        elif push.result not in ("accept", "used"):
            broken.append(f"push {push.id}: the meter answered {push.result}")
    return broken


def _credit(units: list[Decimal]) -> str:
    return f"{sum(units, Decimal(0)):.1f}"


def meters(
    snap: Snapshot, read: dict[str, str], connected: set[str], keypad: set[str], ledger: Ledger
) -> list[str]:
    """Each meter's credit equals the sum of its tokens (consumption is zero in the soak: load
    constant:0), and each token was accepted exactly once (pushes: accept first, or used after a
    retry; keypads: the first typing accepted, any later copy refused as used)."""
    broken = []
    tokens_of: dict[str, list[Token]] = defaultdict(list)
    for t in snap.tokens:
        tokens_of[snap.meters[t.meter_id]].append(t)
    for drn in sorted(connected | keypad):
        want = _credit([t.units or Decimal(0) for t in tokens_of.get(drn, [])])
        if read.get(drn) != want:
            broken.append(f"meter {drn}: credit {read.get(drn)} kWh, its tokens sum to {want}")
    for drn in keypad:
        for t in tokens_of.get(drn, []):
            first = ledger.keypad_typed.get(t.token)
            if first is None or not first.startswith("RESULT accept"):
                broken.append(f"keypad meter {drn}: token {t.id} typed -> {first}")
            again = ledger.keypad_again.get(t.token)
            if again is not None and again != "RESULT used":
                broken.append(f"keypad meter {drn}: a second copy of token {t.id} -> {again}")
    return broken


EXCEPTION_LINE = re.compile(r"^(?:[\w.]+\.)?(\w+(?:Error|Exception))\b")
UNEXPECTED = re.compile(r" ERROR nguvu\.app: unexpected (\w+)")


def unexpected_errors(log: Path) -> list[str]:
    """Errors in a service log other than the database connection cut by pg_terminate_backend (the
    request or worker pass it interrupted answers 500 or is retried; nothing else may fail)."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        m = EXCEPTION_LINE.match(line) or UNEXPECTED.search(line)
        if m and m.group(1) not in ("OperationalError", "ConnectionDoesNotExistError"):
            found.append(f"{log.name}: {line[:160]}")
    return found


def secrets_scan(logs: list[Path], ledger: Ledger, snap: Snapshot, secrets: dict[str, str]) -> list[str]:
    """No key material, API key, wallet secret or token digits in any log line or response body."""
    broken = []
    needles = dict(secrets)
    for t in snap.tokens:
        digits = t.token.replace(" ", "")
        needles[f"token {t.id}"] = digits
        needles[f"token {t.id} grouped"] = " ".join(digits[i : i + 4] for i in range(0, 20, 4))
    texts = [(str(p.name), p.read_text(errors="replace")) for p in logs if p.exists()]
    texts.append(("responses", "\n".join(ledger.bodies)))
    for where, text in texts:
        for name, value in needles.items():
            if value and value in text:
                broken.append(f"{name} appears in {where}")
        if "hidden due to hide_parameters" not in text and "[parameters:" in text:
            broken.append(f"SQL parameters logged in {where}")
        if TOKEN_IN_SMS.search(text):
            broken.append(f"a grouped 20-digit number appears in {where}")
    return broken
