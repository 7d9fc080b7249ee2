"""Group commit: many payment events in one vend transaction give each event exactly what it would get
alone, never lose or double a token, and one bad event spoils nothing for the others.

The reference for "what it would get alone" is a twin service on its own SQLite file, fed the same
events one at a time through `Vendor.apply_event` (the single-event path); with the same clock and the
same random digit both issue the same tokens, so results and tables are compared field for field.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import Clock, World, make_settings, queue_payment, seed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from api import migrate
from api.db import make_engine, reading, transaction
from api.keyring import Keyring
from api.models import Meter, MeterPush, Payment, PaymentStatus, SmsOutbox, Token
from api.models.audit import AuditLog
from api.payments.base import PaymentEvent
from api.payments.base import PaymentStatus as S
from api.service import Service, VendQueue
from api.vend import VendResult

PHONE = "+243990000001"


@dataclass
class Side:
    """One service and its database: the batch side or the one-event-at-a-time twin."""

    service: Service
    engine: Engine

    def queue(self, reference: str, drn: str, amount: str = "5000", currency: str = "CDF") -> None:
        queue_payment(self.engine, reference, drn, amount=amount, currency=currency, msisdn=PHONE)

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Everything a vend writes, without ids the two databases may number differently."""
        with reading(self.engine) as s:
            # C2B payments get a random reference of ours: compare them by their provider's id.
            def name(p: Payment) -> str:
                return f"c2b:{p.provider_txn_id}" if p.channel == "c2b" else p.reference

            refs = {p.id: name(p) for p in s.scalars(select(Payment))}
            return {
                "payments": sorted(
                    (name(p), p.status, p.reason, p.provider_txn_id, p.paid_amount)
                    for p in s.scalars(select(Payment))
                ),
                "tokens": sorted(
                    (
                        refs.get(t.payment_id),
                        t.meter_id,
                        t.token,
                        t.tid,
                        t.units,
                        t.amount,
                        t.vat,
                        t.issued_by.split("-")[0],  # c2b-<random>
                    )
                    for t in s.scalars(select(Token))
                ),
                "sms": sorted(
                    (refs.get(m.payment_id), m.to, m.kind, m.text) for m in s.scalars(select(SmsOutbox))
                ),
                "meters": sorted((m.drn, m.last_tid) for m in s.scalars(select(Meter))),
                "pushes": sorted((p.meter_id, p.status) for p in s.scalars(select(MeterPush))),
                "audit": sorted(
                    (a.action, a.subject, a.detail)
                    for a in s.scalars(select(AuditLog))
                    # the seed's entries (actor cli) hold each side's own creation times
                    if a.action != "payment_c2b" and a.actor != "cli"
                ),
            }


def make_side(engine: Engine, tmp_path: Path, clock: Clock) -> Side:
    service = Service(make_settings(tmp_path), engine=engine, clock=clock, sms_write=lambda _l: None)
    service.vendor.rnd = lambda: 7  # the same random digit on both sides: the same tokens
    seed(service)
    with transaction(engine) as s:  # one connected meter: its vends queue serial pushes too
        meter = s.scalars(select(Meter).where(Meter.drn == "01234567905")).one()
        meter.connected, meter.serial_url = True, "loop://"
    return Side(service, engine)


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'twin.db'}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def paid(
    ref: str | None, txn: str | None, amount: str = "5000", currency: str = "CDF", **kw: Any
) -> PaymentEvent:
    status = kw.pop("status", S.SUCCEEDED)
    return PaymentEvent("sandbox", txn, ref, status, Decimal(amount), currency, PHONE, **kw)


def outcomes(results: list[Any]) -> list[tuple[Any, ...]]:
    return [(r.outcome, r.reason, r.token, r.units) for r in results]


def apply_both(batch: Side, alone: Side, events: list[PaymentEvent]) -> list[VendResult]:
    results = batch.service.vendor.apply_events(events)
    expected = [alone.service.vendor.apply_event(e) for e in events]
    assert all(isinstance(r, VendResult) for r in results), results
    assert outcomes(results) == outcomes(expected)
    a, b = batch.snapshot(), alone.snapshot()
    for key in a:
        assert a[key] == b[key], (
            key,
            [x for x in a[key] if x not in b[key]],
            [x for x in b[key] if x not in a[key]],
        )
    return [r for r in results if isinstance(r, VendResult)]


METER, OTHER = "01234567897", "01234567905"


def test_a_mixed_batch_gives_every_event_its_lone_result(
    engine: Engine, twin: Engine, tmp_path: Path
) -> None:
    clock = Clock()
    batch, alone = make_side(engine, tmp_path / "a", clock), make_side(twin, tmp_path / "b", clock)
    for side in (batch, alone):
        for ref in ("r1", "r2", "r3", "r5", "r6", "r7"):
            side.queue(ref, METER)
        side.queue("r4", OTHER)
        side.queue("usd", METER, amount="10", currency="USD")
        side.queue("tiny", METER, amount="100")  # under the tariff's minimum: held, not vended
    events = [
        paid("r1", "T1"),
        paid("r2", "T2"),  # same meter, same minute: a greater TID
        paid("r1", "T1"),  # the same callback again, inside the batch
        paid("r3", None, status=S.FAILED, message="declined"),
        paid("r3", "T3"),  # success after failure: not vended, held as a payment of its own
        paid("r4", "T4"),  # the connected meter: a serial push too
        paid("r5", "T5", amount="2500"),  # amount mismatch: held
        paid("nope", "T9"),  # unknown reference
        paid("r6", None, status=S.PENDING),  # not final: ignored ...
        paid("r6", "T6"),  # ... then vended on the one-event path, inside the batch
        paid("r7", "T7"),  # and the meter's next plain vend must see r6's TID
        paid("usd", "T8", amount="10", currency="CDF"),  # currency mismatch: held
        paid("tiny", "T10", amount="100"),
        paid(None, "C2B1", account=METER),  # no reference: applied on its own
    ]
    results = apply_both(batch, alone, events)
    assert [r.outcome for r in results] == [
        "vended",
        "vended",
        "duplicate",
        "failed",
        "held",
        "vended",
        "held",
        "unknown_payment",
        "ignored",
        "vended",
        "vended",
        "held",
        "held",
        "vended",
    ]
    with reading(engine) as s:
        meter_id = s.scalars(select(Meter.id).where(Meter.drn == METER)).one()
        tids = [t.tid for t in s.scalars(select(Token).where(Token.meter_id == meter_id).order_by(Token.id))]
        assert len(tids) == 5 and tids == sorted(set(tids))
        assert len(s.scalars(select(MeterPush)).all()) == 1
    # Each vended result names its stored token.
    with reading(engine) as s:
        for r in results:
            if r.outcome == "vended":
                token = s.get(Token, r.token_id)
                assert token is not None and token.token == r.token


def test_batches_of_random_events_match_the_one_event_path(twin: Engine, tmp_path: Path) -> None:
    """Hypothesis: random batches (repeats, declines, mismatches, unknowns, non-final states, two
    payments sharing a provider transaction id) on two long-lived twins; state carries over examples."""
    clock = Clock()
    first = make_engine(f"sqlite:///{tmp_path / 'batch.db'}")
    migrate.upgrade(first)
    batch, alone = make_side(first, tmp_path / "a", clock), make_side(twin, tmp_path / "b", clock)
    counter = iter(range(10**6))
    kinds = st.sampled_from(
        ["paid", "paid", "paid", "again", "failed", "pending", "short", "unknown", "txn_reuse"]
    )

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(plan=st.lists(st.tuples(kinds, st.booleans(), st.integers(0, 5)), min_size=2, max_size=14))
    def check(plan: list[tuple[str, bool, int]]) -> None:
        n = next(counter)
        refs = [f"h{n}-{i}" for i in range(6)]
        for i, ref in enumerate(refs):
            for side in (batch, alone):
                side.queue(ref, METER if i % 2 else OTHER)
        events = []
        for kind, flag, i in plan:
            ref = refs[i]
            events.append(
                {
                    "paid": paid(ref, f"X{n}-{i}"),
                    "again": paid(ref, f"X{n}-{i}"),
                    "failed": paid(ref, None, status=S.FAILED),
                    "pending": paid(ref, None, status=S.PENDING),
                    "short": paid(ref, f"X{n}-{i}", amount="1000"),
                    "unknown": paid(f"nope{n}", f"N{n}"),
                    "txn_reuse": paid(ref, f"X{n}-{(i + 1) % 6}" if flag else f"X{n}-{i}"),
                }[kind]
            )
        apply_both(batch, alone, events)
        clock.now = clock.now.replace(second=(clock.now.second + 13) % 60)

    try:
        check()
    finally:
        first.dispose()


def test_a_shared_transaction_id_rolls_the_batch_back_and_each_event_is_applied_alone(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    side = Side(world.service, world.service.engine)
    for ref in ("a", "b", "c"):
        side.queue(ref, world.meter_drn)
    with caplog.at_level(logging.WARNING, logger="nguvu.vend"):
        results = world.service.vendor.apply_events([paid("a", "SAME"), paid("b", "SAME"), paid("c", "OWN")])
    assert [(r.outcome, r.reason) for r in results if isinstance(r, VendResult)] == [
        ("vended", ""),
        ("duplicate", "provider_txn_seen"),
        ("vended", ""),
    ]
    assert "rolled back (IntegrityError)" in caplog.text
    with reading(world.service.engine) as s:
        assert len(s.scalars(select(Token)).all()) == 2


def test_an_event_that_raises_fails_alone(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    side = Side(world.service, world.service.engine)
    side.queue("good", world.meter_drn)
    side.queue("bad", world.other_drn)
    real = Keyring.issuer

    def issuer(self: Keyring, meter: Any, load: Any) -> Any:
        if meter.drn == world.other_drn:
            raise RuntimeError("vending key unreadable")
        return real(self, meter, load)

    monkeypatch.setattr(Keyring, "issuer", issuer)
    good, bad = world.service.vendor.apply_events([paid("good", "G"), paid("bad", "B")])
    assert isinstance(good, VendResult) and good.outcome == "vended"
    assert isinstance(bad, RuntimeError)
    with reading(world.service.engine) as s:
        statuses = {p.reference: p.status for p in s.scalars(select(Payment))}
    assert statuses == {"good": PaymentStatus.VENDED, "bad": PaymentStatus.PENDING}


def test_overlapping_batches_on_several_threads_vend_each_payment_once(world: World) -> None:
    """Four threads apply the same 24 callbacks in different orders, concurrently: on PostgreSQL the
    batches lock shared rows (payments, then meters, in id order) without deadlock; each payment gets
    one token and each meter's TIDs increase in issue order."""
    side = Side(world.service, world.service.engine)
    refs = [f"p{i}" for i in range(24)]
    for i, ref in enumerate(refs):
        side.queue(ref, world.meter_drn if i % 3 else world.other_drn)
    events = [paid(ref, "TX" + ref) for ref in refs]
    orders = [random.Random(seed).sample(events, len(events)) for seed in range(4)]
    barrier = threading.Barrier(4)

    def go(order: list[PaymentEvent]) -> list[Any]:
        barrier.wait()
        return world.service.vendor.apply_events(order)

    with ThreadPoolExecutor(4) as pool:
        results = [r for rs in pool.map(go, orders) for r in rs]
    assert all(isinstance(r, VendResult) for r in results), results
    assert sum(r.outcome == "vended" for r in results) == 24
    assert {r.outcome for r in results} == {"vended", "duplicate"}
    with reading(world.service.engine) as s:
        tokens = s.scalars(select(Token).order_by(Token.id)).all()
        assert sorted(t.payment_id for t in tokens) == sorted(set(t.payment_id for t in tokens))
        assert len(tokens) == 24
        for meter_id in {t.meter_id for t in tokens}:
            tids = [t.tid for t in tokens if t.meter_id == meter_id]
            assert tids == sorted(set(tids))


def test_concurrent_callers_share_transactions_and_each_gets_its_own_result(world: World) -> None:
    side = Side(world.service, world.service.engine)
    refs = [f"q{i}" for i in range(30)]
    for ref in refs:
        side.queue(ref, world.meter_drn)
    sizes: list[int] = []
    vendor = world.service.vendor
    real = vendor.apply_events

    def spy(events: Any) -> Any:
        sizes.append(len(events))
        return real(events)

    vendor.apply_events = spy  # type: ignore[method-assign]

    async def main() -> list[list[VendResult]]:
        return await asyncio.gather(*(world.service.apply_events([paid(r, "TX" + r)]) for r in refs))

    results = asyncio.run(main())
    assert [res[0].outcome for res in results] == ["vended"] * 30
    assert sum(sizes) == 30 and max(sizes) > 1  # callers that arrive together share a transaction
    # Each event's latency is observed once, from entering the queue to its committed result.
    assert world.service.metrics.registry.get_sample_value("nguvu_vend_seconds_count") == 30
    with reading(world.service.engine) as s:
        by_payment = {p.id: p.reference for p in s.scalars(select(Payment))}
        for ref, [result] in zip(refs, results, strict=True):
            assert by_payment[result.payment_id] == ref


def test_a_caller_that_goes_away_does_not_stop_its_vend(world: World) -> None:
    side = Side(world.service, world.service.engine)
    side.queue("gone", world.meter_drn)
    side.queue("stays", world.meter_drn)
    queue = VendQueue(world.service.vendor, 200)

    async def main() -> list[VendResult]:
        first = asyncio.create_task(queue.submit([paid("stays", "S")]))
        await asyncio.sleep(0)  # its transaction is running: the next one waits
        second = asyncio.create_task(queue.submit([paid("gone", "G")]))
        await asyncio.sleep(0)
        second.cancel()
        result = await first
        while queue._drainer is not None and not queue._drainer.done():
            await asyncio.sleep(0.01)
        return result

    [result] = asyncio.run(main())
    assert result.outcome == "vended"
    with reading(world.service.engine) as s:
        assert {p.reference: p.status for p in s.scalars(select(Payment))} == {
            "gone": PaymentStatus.VENDED,
            "stays": PaymentStatus.VENDED,
        }


def test_through_the_queue_only_the_caller_of_a_failing_event_gets_the_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    side = Side(world.service, world.service.engine)
    for ref in ("ok1", "ok2"):
        side.queue(ref, world.meter_drn)
    side.queue("bad", world.other_drn)
    real = Keyring.issuer

    def issuer(self: Keyring, meter: Any, load: Any) -> Any:
        if meter.drn == world.other_drn:
            raise RuntimeError("vending key unreadable")
        return real(self, meter, load)

    monkeypatch.setattr(Keyring, "issuer", issuer)

    async def main() -> list[Any]:
        return await asyncio.gather(
            world.service.apply_events([paid("ok1", "O1")]),
            world.service.apply_events([paid("bad", "B"), paid("ok2", "O2")]),  # one callback, two events
            return_exceptions=True,
        )

    alone, together = asyncio.run(main())
    assert [r.outcome for r in alone] == ["vended"]
    assert isinstance(together, RuntimeError)
    with reading(world.service.engine) as s:
        statuses = {p.reference: p.status for p in s.scalars(select(Payment))}
    # The failing event's neighbour in the same callback was still applied (the provider redelivers both).
    assert statuses == {
        "ok1": PaymentStatus.VENDED,
        "ok2": PaymentStatus.VENDED,
        "bad": PaymentStatus.PENDING,
    }
