"""Two independent `nguvu serve` instances (separate processes and ports, standing for two machines, each
with its own workers and group-commit queue) on one PostgreSQL database: every callback delivered three
times, spread over both at once, gives one token per payment, and every token SMS is sent once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from apitest import served_service
from conftest import METER_DRN, OTHER_DRN, make_settings, queue_payment, seed
from sqlalchemy import Engine, select

from api.db import reading
from api.keystore import Kek
from api.models import Payment, PaymentStatus, SmsOutbox, Token
from api.payments.base import PaymentStatus as S
from api.payments.sandbox import SandboxConfig, signed_callback
from api.service import Service

PAYMENTS = 60
COPIES = 3
PHONE = "+243990000001"


@pytest.fixture
def instances(engine: Engine, tmp_path: Path) -> Iterator[list[str]]:
    if engine.dialect.name != "postgresql":
        pytest.skip("several machines share a PostgreSQL server, not a SQLite file")
    kek, kek_hex = Kek.generate()
    service = Service(make_settings(tmp_path, kek=kek), engine=engine, sms_write=lambda _l: None)
    seed(service)
    env = dict(
        NGUVU_KEK=kek_hex,
        DATABASE_URL=engine.url.render_as_string(hide_password=False),
        NGUVU_WORKER_POLL_SECONDS="0.05",
        NGUVU_SANDBOX_OUTCOME="timeout",  # the test is the wallet: it sends the callbacks
        NGUVU_PAYMENT_QUERY_AFTER_SECONDS="600",
    )
    with ExitStack() as stack:
        urls = [
            stack.enter_context(
                served_service(
                    {**env, "NGUVU_DATA_DIR": str(tmp_path / f"d{i}")}, tmp_path / f"i{i}.log", workers=1
                )
            )
            for i in range(2)
        ]
        yield urls
    for i in range(2):
        text = (tmp_path / f"i{i}.log").read_text()
        assert "Traceback" not in text, text[-3000:]
        assert "payment event sandbox succeeded -> vended" in text, f"instance {i} vended nothing"


@pytest.mark.slow
@pytest.mark.postgres
def test_callbacks_spread_over_two_instances_give_one_token_and_one_sms_each(
    instances: list[str], engine: Engine
) -> None:
    refs = [(f"i{n}", METER_DRN if n % 3 else OTHER_DRN) for n in range(PAYMENTS)]
    for ref, drn in refs:
        queue_payment(engine, ref, drn, msisdn=PHONE)
    requests = [
        (instances[(n + copy) % 2], *_callback(ref, drn))
        for n, (ref, drn) in enumerate(refs)
        for copy in range(COPIES)
    ]

    async def fire() -> list[int]:
        limits = httpx.Limits(max_connections=24, max_keepalive_connections=0)
        async with httpx.AsyncClient(limits=limits, timeout=60) as http:

            async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
                r = await http.post(f"{url}/callbacks/payments/sandbox", content=body, headers=headers)
                return r.status_code

            return await asyncio.gather(*(post(*r) for r in requests))

    assert asyncio.run(fire()) == [200] * len(requests)
    deadline = time.monotonic() + 60
    while True:
        with reading(engine) as s:
            sms = s.scalars(select(SmsOutbox).where(SmsOutbox.kind == "token")).all()
        if (sms and all(m.status == "sent" for m in sms)) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    with reading(engine) as s:
        payments = s.scalars(select(Payment)).all()
        tokens = s.scalars(select(Token).order_by(Token.id)).all()
    assert {p.status for p in payments} == {PaymentStatus.VENDED}
    assert sorted(t.payment_id for t in tokens) == sorted(p.id for p in payments)
    assert sorted(m.payment_id for m in sms) == sorted(p.id for p in payments)
    assert all(m.status == "sent" and m.attempts == 1 for m in sms)  # each sent once, by one instance
    for meter_id in {t.meter_id for t in tokens}:
        tids = [t.tid for t in tokens if t.meter_id == meter_id]
        assert tids == sorted(set(tids))


def _callback(ref: str, account: str) -> tuple[bytes, dict[str, str]]:
    return signed_callback(
        SandboxConfig().secret,
        txn_id="SBX" + ref,
        reference=ref,
        status=S.SUCCEEDED,
        amount=Decimal(5000),
        currency="CDF",
        msisdn=PHONE,
        account=account,
    )
