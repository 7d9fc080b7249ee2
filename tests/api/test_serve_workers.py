"""Exactly one token per payment with the real thing: `nguvu serve --workers 2` (two processes, each with
its own group-commit queue) receiving every callback three times at once, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
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

PAYMENTS = 40
COPIES = 3  # each callback delivered this many times, all at once
PHONE = "+243990000001"


@pytest.fixture
def served(engine: Engine, tmp_path: Path) -> Iterator[str]:
    kek, kek_hex = Kek.generate()
    service = Service(make_settings(tmp_path, kek=kek), engine=engine, sms_write=lambda _l: None)
    seed(service)
    env = dict(
        NGUVU_KEK=kek_hex,
        NGUVU_DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=engine.url.render_as_string(hide_password=False),
        NGUVU_RUN_WORKERS="false",  # no SMS or push worker: the outbox is counted, not sent
    )
    log = tmp_path / "serve.log"
    with served_service(env, log, workers=2) as url:
        yield url
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    # Copies of one callback meet on the payment's row lock, never in a failed shared transaction (a
    # deadlock or a constraint hit would have rolled a batch back and logged it).
    assert "rolled back" not in text, text[-3000:]
    assert "payment event sandbox succeeded -> vended" in text  # the service logs its events


def _queue(engine: Engine) -> list[tuple[str, str]]:
    refs = [(f"w{i}", METER_DRN if i % 3 else OTHER_DRN) for i in range(PAYMENTS)]
    for ref, drn in refs:
        queue_payment(engine, ref, drn, msisdn=PHONE)
    return refs


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


@pytest.mark.slow
def test_every_callback_three_times_at_once_on_two_workers_gives_one_token_each(
    served: str, engine: Engine
) -> None:
    refs = _queue(engine)
    requests = [_callback(ref, account) for ref, account in refs for _ in range(COPIES)]

    async def fire() -> list[int]:
        # Many connections, so that both worker processes take a share of every payment's copies.
        limits = httpx.Limits(max_connections=24, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=served, limits=limits, timeout=60) as http:

            async def post(body: bytes, headers: dict[str, str]) -> int:
                r = await http.post("/callbacks/payments/sandbox", content=body, headers=headers)
                return r.status_code

            return await asyncio.gather(*(post(b, h) for b, h in requests))

    statuses = asyncio.run(fire())
    assert statuses == [200] * len(requests)
    with reading(engine) as s:
        payments = s.scalars(select(Payment)).all()
        tokens = s.scalars(select(Token).order_by(Token.id)).all()
        sms = s.scalars(select(SmsOutbox).where(SmsOutbox.kind == "token")).all()
    assert {p.status for p in payments} == {PaymentStatus.VENDED}
    assert sorted(t.payment_id for t in tokens) == sorted(p.id for p in payments)  # one each, no more
    assert sorted(m.payment_id for m in sms) == sorted(p.id for p in payments)
    for meter_id in {t.meter_id for t in tokens}:
        tids = [t.tid for t in tokens if t.meter_id == meter_id]
        assert tids == sorted(set(tids)), "TIDs of one meter must increase in issue order"
