"""Hostile input against two `nguvu serve` instances sharing one PostgreSQL database.

A seeded stream of NGUVU_FUZZ_REQUESTS requests (default 240) goes to the two instances in turn: random
and malformed USSD texts, sandbox payment callbacks (signed for unknown references, forged, altered,
malformed, NaN amounts), inbound SMS and SMS delivery reports. For each: never a 5xx, and a refused
request (4xx) leaves every table's rows unchanged. The workers are off and the simulated payer never
answers within the run, so only the requests themselves write. Then very large bodies: a declared
200 MB body is answered 413 without being sent, and a chunked 8 MB one is cut off, on both instances.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from apitest import served_service, table_digests
from conftest import METER_DRN, OTHER_DRN, make_settings, seed
from sqlalchemy import Engine

from api.keystore import Kek
from api.payments.base import PaymentStatus
from api.payments.sandbox import SandboxConfig, signed_callback
from api.payments.secret import Secret
from api.service import Service

REQUESTS = int(os.environ.get("NGUVU_FUZZ_REQUESTS", "240"))
PHONES = ["+243990000001", "+243970000009", "+243810000002", "243990000001", "", "+", "+2439900000011111"]
MENU = ["1", "2", "3", "0", "00", "9", "", METER_DRN, OTHER_DRN, "ENK-0001", "5000", "1000", "999999"]


@pytest.fixture
def instances(engine: Engine, tmp_path: Path) -> Iterator[list[str]]:
    kek, kek_hex = Kek.generate()
    service = Service(make_settings(tmp_path, kek=kek), engine=engine, sms_write=lambda _l: None)
    seed(service)
    env = dict(
        NGUVU_KEK=kek_hex,
        DATABASE_URL=engine.url.render_as_string(hide_password=False),
        NGUVU_RUN_WORKERS="false",
        NGUVU_SANDBOX_DELAY_S="3600",  # the simulated payer does not answer during the run
        # A few phones send the whole stream: with the per-phone limit most USSD requests would only
        # meet the limit's screen, not the menu (the limits have their own tests: test_rate_limits.py).
        NGUVU_USSD_PHONE_PER_MINUTE="0",
        NGUVU_USSD_SESSION_REQUESTS="0",
    )
    logs = [tmp_path / "serve-a.log", tmp_path / "serve-b.log"]
    with (
        served_service(dict(env, NGUVU_DATA_DIR=str(tmp_path / "a")), logs[0], workers=1) as a,
        served_service(dict(env, NGUVU_DATA_DIR=str(tmp_path / "b")), logs[1], workers=1) as b,
    ):
        yield [a, b]
    for log in logs:
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def ussd(rng: random.Random) -> tuple[str, bytes, dict[str, str]]:
    steps = [rng.choice(MENU) if rng.random() < 0.7 else junk(rng, 12) for _ in range(rng.randint(0, 6))]
    form = {
        "sessionId": rng.choice(["s-1", "s-2", f"s-{rng.randrange(10**6)}"])
        if rng.random() < 0.8
        else rng.choice(["", junk(rng, 120)]),
        "serviceCode": rng.choice(["*384*1234#", "", junk(rng, 10)]),
        "phoneNumber": rng.choice(PHONES[:3])
        if rng.random() < 0.75
        else rng.choice([*PHONES, junk(rng, 20)]),
        "text": "*".join(steps),
    }
    if rng.random() < 0.1:
        del form[rng.choice(list(form))]
    return "/ussd", urlencode(form).encode(), {"content-type": "application/x-www-form-urlencoded"}


def payment_callback(rng: random.Random) -> tuple[str, bytes, dict[str, str]]:
    secret = SandboxConfig().secret if rng.random() < 0.6 else Secret("not-the-secret")
    body, headers = signed_callback(
        secret,
        txn_id=rng.choice(["SBX1", "SBX2", junk(rng, 90), ""]),
        reference=rng.choice(["nope", "r-1", junk(rng, 50)]),
        status=rng.choice(list(PaymentStatus)),
        amount=rng.choice([Decimal(5000), Decimal("3000.00001"), Decimal(-1), None]),
        currency=rng.choice(["CDF", "USD", "XXX", ""]),
        msisdn=rng.choice(PHONES),
        account=rng.choice([METER_DRN, OTHER_DRN, junk(rng, 20)]),
    )
    roll = rng.random()
    if roll < 0.15:  # altered after signing
        body = body.replace(b"5000", b"9000").replace(b"CDF", b"USD")
    elif roll < 0.25:
        body = body.replace(b'"amount":"5000"', b'"amount":NaN')
    elif roll < 0.35:
        body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
    elif roll < 0.4:
        body = b"[" * 5000
    return "/callbacks/payments/sandbox", body, headers


def sms(rng: random.Random) -> tuple[str, bytes, dict[str, str]]:
    kind = rng.choice(["inbound", "delivery"])
    if kind == "inbound":
        form = {
            "from": rng.choice(PHONES),
            "to": "12345",
            "text": rng.choice(["JETON", f"token {METER_DRN}", "TENA ENK-0001", "", junk(rng, 60)]),
            "id": rng.choice(["ATXid_1", "ATXid_2", f"ATXid_{rng.randrange(10**6)}", "", junk(rng, 90)]),
            "date": junk(rng, 10),
        }
    else:
        form = {
            "id": rng.choice(["1", "999", junk(rng, 30), ""]),
            "status": rng.choice(["Success", "Failed", "Rejected", junk(rng, 8)]),
            "failureReason": junk(rng, 20),
        }
    for name in list(form):
        if rng.random() < 0.08:
            del form[name]
    raw = urlencode(form).encode() if rng.random() < 0.9 else junk(rng, 200).encode("utf-8", "replace")
    return f"/callbacks/sms/console/{kind}", raw, {"content-type": "application/x-www-form-urlencoded"}


def junk(rng: random.Random, size: int) -> str:
    alphabet = "0123456789*#+ abcENK-\x00\u00e9\u0665\uff15\U0001f600%&=\n\r\t"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, size)))


@pytest.mark.parametrize("engine", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_two_instances_take_hostile_requests_without_5xx_or_stray_writes(
    instances: list[str], engine: Engine
) -> None:
    rng = random.Random(20261204)
    statuses: dict[int, int] = {}
    with httpx.Client(timeout=30) as http:
        for i in range(REQUESTS):
            url, body, headers = rng.choice([ussd, ussd, payment_callback, sms])(rng)
            before = table_digests(engine)
            r = http.post(instances[i % 2] + url, content=body, headers=headers)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert r.status_code < 500, (i, url, body[:200], r.status_code, r.text[:300])
            if r.status_code >= 400:
                assert table_digests(engine) == before, (i, url, body[:200], r.status_code)
    print(f"{REQUESTS} requests over two instances, by status: {dict(sorted(statuses.items()))}")  # pytest -s
    assert statuses.get(200, 0) > REQUESTS // 10, statuses  # the stream reaches past the checks
    assert sum(n for code, n in statuses.items() if code >= 400) > REQUESTS // 5, statuses


def raw_post(base: str, path: str, head: dict[str, str], body: bytes) -> tuple[int, float]:
    """Sends the head and `body` (maybe far less than announced); the status line and seconds taken."""
    parts = urlsplit(base)
    started = time.perf_counter()
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        lines = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", *(f"{k}: {v}" for k, v in head.items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        reply = sock.recv(4096).decode("latin-1")
    return int(reply.split(" ", 2)[1]), time.perf_counter() - started


@pytest.mark.parametrize("engine", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_two_instances_refuse_huge_bodies_before_reading_them(instances: list[str], engine: Engine) -> None:
    before = table_digests(engine)
    for base in instances:
        for path, ctype in (
            ("/ussd", "application/x-www-form-urlencoded"),
            ("/callbacks/payments/sandbox", "application/json"),
            ("/callbacks/sms/console/inbound", "application/x-www-form-urlencoded"),
            (f"/api/v1/meters/{METER_DRN}/tokens/credit", "application/json"),
        ):
            # 200 MB announced, 1 KB sent: the answer comes without the rest of the body.
            head = {
                "Content-Type": ctype,
                "Content-Length": str(200 * 1024 * 1024),
                "Authorization": "Bearer x",
            }
            status, seconds = raw_post(base, path, head, b"{" * 1024)
            assert status == 413 if not path.startswith("/api/") else status in (401, 413), (path, status)
            assert seconds < 5, (path, seconds)

            def body() -> Iterator[bytes]:
                for _ in range(128):
                    yield b"x" * 65536  # 8 MB, chunked

            r = httpx.post(base + path, content=body(), headers={"content-type": ctype}, timeout=30)
            assert r.status_code in (413, 401), (path, r.status_code)
    assert table_digests(engine) == before
    assert json.loads(httpx.get(instances[0] + "/health").text)["status"] == "ok"
