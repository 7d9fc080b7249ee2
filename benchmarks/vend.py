"""Vending-service benchmark on loopback: paid vends per second and USSD step latency.

A paid vend here is the whole server side of a purchase after the payer typed the PIN: the sandbox
wallet's signed callback arrives over HTTP, the adapter verifies it, the vend transaction issues the token
(tokencore, the meter's key and last TID), stores it, queues the SMS and commits durably (SQLite
synchronous=FULL / PostgreSQL fsync). Payments are pre-queued as PENDING, spread over many meters (a
utility's real load) and, separately, all on one meter (the worst case: every vend serialises on it).
With --cold-meters N --cold-active M, N more meters are registered and a cold phase spreads the vends over
M of them picked at random, so nearly every vend meets a meter the worker has not seen (no issuer cached):
its vends/s print beside the warm full-load phase of the same service.

Baseline, side by side: the same service with group commit off (NGUVU_VEND_BATCH_MAX=1: one transaction,
one commit per vend) runs the full-load and paced phases first; the group-commit run prints its ratio.
Each phase prints the CPU per vend of the service, PostgreSQL and the load client, and checks that every
payment of the phase got exactly one token.

Prints figures only (no assertions). Bounded: a few thousand requests per run, loopback only.

    .venv/bin/python benchmarks/vend.py [--vends 3000] [--meters 200] [--concurrency 32] [--workers 1]
                                        [--cold-meters 100000 --cold-active 20000]
                                        [--no-postgres] [--no-sqlite] [--no-baseline]
                                        [--keystore kek|pkcs11|both]

--keystore runs DKGA 04 meters with the vending key in software and/or in a PKCS#11 token (SoftHSM2),
side by side, instead of the group-commit comparison (benchmarks/vend_keys.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import Engine, func, insert, select
from sqlmodel import col

from api import migrate
from api.actors import Actor
from api.db import make_engine, transaction
from api.keystore import Kek
from api.models import Meter, Payment, PaymentStatus, Token
from api.payments.base import PaymentStatus as EventStatus
from api.payments.sandbox import SandboxConfig, signed_callback
from api.registry import MeterSpec, add_subscriber, add_vending_key, register_meter, set_tariff
from api.service import Service
from api.settings import Settings
from tokencore import pan_from_drn
from tokencore.identity import luhn_check_digit

PHONE = "+243990000001"


def drn(i: int) -> str:
    body = f"01{i:08d}"
    return body + str(luhn_check_digit(body))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[Engine]:
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp / 'nguvu.db'}", pool_size=40)
        yield engine
        engine.dispose()
        return
    user = None
    for candidate in ("postgres", "root"):
        try:
            with psycopg.connect(host="127.0.0.1", dbname="test", user=candidate, connect_timeout=3):
                user = candidate
                break
        except psycopg.Error:
            continue
    if user is None:
        raise RuntimeError("PostgreSQL not reachable on 127.0.0.1:5432")
    schema = "bench_" + secrets.token_hex(4)
    with psycopg.connect(host="127.0.0.1", dbname="test", user=user, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    engine = make_engine(
        f"postgresql+psycopg://{user}@127.0.0.1:5432/test?options=-csearch_path%3D{schema}", pool_size=40
    )
    try:
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(host="127.0.0.1", dbname="test", user=user, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def seed(service: Service, meters: int) -> list[int]:
    with transaction(service.engine) as s:
        add_vending_key(s, service.keyring, "vk", secrets.token_hex(8), actor=Actor.cli())
        set_tariff(
            s,
            actor=Actor.cli(),
            name="residential",
            currency="CDF",
            price_per_kwh=Decimal(400),
            vat_rate=Decimal("0.16"),
            min_amount=Decimal(500),
            max_amount=Decimal(500000),
        )
        add_subscriber(
            s, actor=Actor.cli(), customer_code="ENK-1", name="Kahindo", post_name="Masika", phone=PHONE
        )
        ids = []
        for i in range(meters):
            m = register_meter(
                s,
                MeterSpec(number=drn(i), sgc=123457, ti=1, krn=1, vending_key="vk", customer_code="ENK-1"),
                actor=Actor.cli(),
            )
            assert m.id is not None
            ids.append(m.id)
    return ids


def seed_cold(engine: Engine, template_id: int, count: int) -> list[int]:
    """`count` more meters like the template (same key, subscriber and tariff), inserted in bulk."""
    with transaction(engine) as s:
        template = s.get(Meter, template_id)
        assert template is not None
        same = ("subscriber_id", "tariff_name", "sgc", "ti", "krn", "kt", "ken", "base_date", "dkga", "ea")
        base = {name: getattr(template, name) for name in (*same, "vending_key_id")}
    now = datetime.now(UTC)
    ids: list[int] = []
    for start in range(0, count, 10_000):
        rows = []
        for i in range(start, min(count, start + 10_000)):
            number = pan_from_drn(drn(10_000_000 + i))
            rows.append(dict(base, pan=number.pan, drn=number.drn, created_at=now))
        with transaction(engine) as s:
            ids += s.execute(insert(Meter).returning(col(Meter.id)), rows).scalars().all()
    return ids


def queue_payments(engine: Engine, meter_ids: list[int], n: int, prefix: str) -> list[tuple[str, str]]:
    rows, refs = [], []
    now = datetime.now(UTC)
    with transaction(engine) as s:
        drns: dict[int, str] = {row.id: row.drn for row in s.execute(select(col(Meter.id), col(Meter.drn)))}
    for i in range(n):
        mid = meter_ids[i % len(meter_ids)]
        ref = f"{prefix}{i}"
        rows.append(
            dict(
                reference=ref,
                channel="ussd",
                provider="sandbox",
                status=PaymentStatus.PENDING,
                msisdn=PHONE,
                meter_id=mid,
                account=drns[mid],
                amount=Decimal(5000),
                currency="CDF",
                language="fr",
                reason="",
                attempts=0,
                created_at=now,
                updated_at=now,
            )
        )
        refs.append((ref, drns[mid]))
    with transaction(engine) as s:
        s.execute(insert(Payment), rows)
    return refs


def callback(ref: str, account: str, config: SandboxConfig) -> tuple[bytes, dict[str, str]]:
    """The sandbox wallet's signed "paid" callback for one queued payment."""
    return signed_callback(
        config.secret,
        txn_id="SBX" + ref,
        reference=ref,
        status=EventStatus.SUCCEEDED,
        amount=Decimal(5000),
        currency="CDF",
        msisdn=PHONE,
        account=account,
    )


class Server:
    """`nguvu serve` in its own process(es), as in production: the client does not share its GIL."""

    def __init__(self, env: dict[str, str], workers: int) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        full = {**os.environ, **env, "NGUVU_RUN_WORKERS": "false", "NGUVU_MIGRATE_ON_START": "false"}
        # The service's log goes to a file (a pipe nobody reads would fill and stall it).
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by __exit__
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "cli.main", "serve", "--port", str(self.port)),
                *("--workers", str(workers), "--log-level", "warning"),
            ],
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )

    def __enter__(self) -> Server:
        self.url = url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nguvu serve exited: {self.log_tail()}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("nguvu serve did not start")

    def log_tail(self, lines: int = 5) -> str:
        self.log.seek(0)
        return b"".join(self.log.readlines()[-lines:]).decode(errors="replace")

    def warnings(self) -> int:
        """Lines of the service's log at WARNING or above (a rolled-back batch, an error)."""
        self.log.seek(0)
        return sum(b"WARNING" in line or b"ERROR" in line for line in self.log)

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: set[int]) -> float:
    """User + system CPU of these processes (those that ended meanwhile count nothing)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def processes(root: int | None = None, comm: str | None = None) -> set[int]:
    """`root` and its descendants, or every process named `comm`."""
    found, parents = set(), {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        if comm is not None and name == comm:
            found.add(int(entry.name))
    if root is not None:
        found.add(root)
        changed = True
        while changed:
            changed = False
            for pid, ppid in parents.items():
                if ppid in found and pid not in found:
                    found.add(pid)
                    changed = True
    return found


class CpuMeter:
    """CPU spent by the service, the database and this client between start() and the report."""

    def __init__(self, server_pid: int, kind: str) -> None:
        self.server_pid, self.kind = server_pid, kind

    def start(self) -> None:
        self.server = processes(self.server_pid)
        self.db = processes(comm="postgres") if self.kind == "postgres" else set()
        self.t0 = (cpu_seconds(self.server), cpu_seconds(self.db), time.process_time())

    def per_request(self, n: int) -> str:
        now = (cpu_seconds(self.server), cpu_seconds(self.db), time.process_time())
        srv, db, client = (1000 * (b - a) / n for a, b in zip(self.t0, now, strict=True))
        text = f"CPU per vend: service {srv:.2f} ms"
        if self.kind == "postgres":
            text += f", PostgreSQL {db:.2f} ms"
        return text + f", load client {client:.2f} ms"


class Connection:
    """One keep-alive HTTP/1.1 connection with just enough client to POST and read a Content-Length
    answer. The load generator shares the 2 cores with the service and the database, so it must cost
    little: httpx spends about as much CPU per request as the server's whole vend."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, url: str) -> Connection:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer, f"{host}:{port}")

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        head = f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def fire(
    url: str, refs: list[tuple[str, str]], concurrency: int, rate: float | None
) -> tuple[float, list[float]]:
    cfg = SandboxConfig()
    latencies: list[float] = []
    requests = [callback(ref, account, cfg) for ref, account in refs]  # signed before the clock starts
    queue: asyncio.Queue[tuple[bytes, dict[str, str]]] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    connections = [await Connection.open(url) for _ in range(concurrency)]
    start = time.perf_counter()

    async def worker(offset: int, conn: Connection) -> None:
        sent = offset
        while True:
            try:
                body, headers = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if rate:  # open-loop pacing: request k leaves at k / rate seconds
                due = start + sent / rate
                sent += concurrency
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            t0 = time.perf_counter()
            status, answer = await conn.post("/callbacks/payments/sandbox", body, headers)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                raise RuntimeError(f"callback answered {status}: {answer[:200]!r}")

    try:
        await asyncio.gather(*(worker(i, c) for i, c in enumerate(connections)))
    finally:
        for c in connections:
            c.close()
    return time.perf_counter() - start, latencies


def ussd_steps(url: str, account: str, n: int) -> list[float]:
    paths = ["", "1", "1*1", "1*1*1", f"1*1*1*{account}", f"1*1*1*{account}*5000"]
    latencies = []
    with httpx.Client(base_url=url, timeout=10) as http:
        for i in range(n):
            text = paths[i % len(paths)]
            t0 = time.perf_counter()
            r = http.post(
                "/ussd",
                data={
                    "sessionId": f"B{i}",
                    "serviceCode": "*384*1234#",
                    "phoneNumber": PHONE,
                    "networkCode": "63002",
                    "text": text,
                },
            )
            latencies.append(time.perf_counter() - t0)
            assert r.status_code == 200
    return latencies


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


def run(kind: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as engine:
        migrate.upgrade(engine)
        kek, kek_hex = Kek.generate()
        settings = Settings(kek=kek, data_dir=Path(tmp), run_workers=False, migrate_on_start=False)
        service = Service(settings, engine=engine, sms_write=lambda _line: None)
        meter_ids = seed(service, args.meters)
        cold_ids = seed_cold(engine, meter_ids[0], args.cold_meters) if args.cold_meters else []
        env = {"NGUVU_KEK": kek_hex, "NGUVU_DATA_DIR": tmp, "NGUVU_SMS_PROVIDER": "console"}
        # One phone walks the USSD menu as fast as it can: measure the menu, not the rate limit.
        env |= {"NGUVU_USSD_PHONE_PER_MINUTE": "0", "NGUVU_USSD_SESSION_REQUESTS": "0"}
        if kind == "postgres":
            env["DATABASE_URL"] = str(engine.url.render_as_string(hide_password=False))
        full_load = f"paid vends, {args.meters} meters, {args.concurrency} in flight"
        baseline = None
        if not args.no_baseline:
            # The same service with group commit off: one transaction (one commit) per vend, as before.
            print(f"{kind:8s} baseline: nguvu serve --workers {args.workers}, NGUVU_VEND_BATCH_MAX=1")
            with Server({**env, "NGUVU_VEND_BATCH_MAX": "1"}, args.workers) as server:
                measure = Phases(kind, engine, server, args.concurrency)
                measure.warm_up(meter_ids)
                baseline = measure.phase(full_load, meter_ids, args.vends, "b", None)
                measure.phase("paid vends paced at 200/s", meter_ids, min(args.vends, 1000), "c", 200.0)
        print(f"{kind:8s} service: nguvu serve --workers {args.workers} (group commit)")
        with Server(env, args.workers) as server:
            measure = Phases(kind, engine, server, args.concurrency)
            measure.warm_up(meter_ids)
            rate = measure.phase(full_load, meter_ids, args.vends, "m", None)
            if baseline:
                print(f"{'':8s}   {rate / baseline:.1f}x the baseline's vends/s")
            if cold_ids:
                active = random.Random(12).sample(cold_ids, min(args.cold_active, len(cold_ids)))
                label = f"paid vends, cold: {len(active)} of {len(cold_ids) + len(meter_ids)} meters"
                cold = measure.phase(label, active, args.vends, "k", None)
                print(f"{'':8s}   {cold / rate:.2f}x the warm full-load phase's vends/s")
            measure.phase("paid vends paced at 200/s", meter_ids, min(args.vends, 1000), "r", 200.0)
            measure.phase("paid vends, all on ONE meter", meter_ids[:1], min(args.vends, 500), "o", None)
            lat = ussd_steps(server.url, pan_from_drn(drn(0)).drn, args.ussd)
            report(kind, f"USSD steps, sequential ({args.ussd})", None, lat)


class Phases:
    """Runs measured phases against one started service and checks its log afterwards."""

    def __init__(self, kind: str, engine: Engine, server: Server, concurrency: int) -> None:
        self.kind, self.engine, self.server, self.concurrency = kind, engine, server, concurrency
        self.cpu = CpuMeter(server.proc.pid, kind)

    def warm_up(self, meter_ids: list[int]) -> None:
        """Connections, decoder-key cache: not counted."""
        refs = queue_payments(self.engine, meter_ids, 100, "w" + secrets.token_hex(3))
        asyncio.run(fire(self.server.url, refs, self.concurrency, None))

    def phase(self, label: str, ids: list[int], n: int, prefix: str, rate: float | None) -> float:
        """Vends/s of one phase; also prints latency, CPU per vend, and any token count mismatch."""
        refs = queue_payments(self.engine, ids, n, prefix)
        self.cpu.start()
        elapsed, lat = asyncio.run(fire(self.server.url, refs, self.concurrency, rate))
        report(self.kind, label, elapsed, lat)
        tokens = count_tokens(self.engine, prefix)
        check = "" if tokens == n else f"   MISMATCH: {tokens} tokens for {n} payments"
        print(f"{'':8s}   {self.cpu.per_request(n)}{check}")
        if warnings := self.server.warnings():
            print(
                f"{'':8s}   the service logged {warnings} warnings/errors; last lines:\n{self.server.log_tail()}"
            )
        return len(lat) / elapsed


def count_tokens(engine: Engine, prefix: str) -> int:
    """Tokens issued for the payments of one phase: every one vended exactly once, or the run is void."""
    with transaction(engine) as s:
        stmt = (
            select(func.count())
            .select_from(Token)
            .join(Payment, col(Payment.id) == col(Token.payment_id))
            .where(col(Payment.reference).startswith(prefix), col(Payment.status) == PaymentStatus.VENDED)
        )
        return int(s.scalar(stmt) or 0)


def report(kind: str, label: str, elapsed: float | None, lat: list[float]) -> None:
    rate = f"{len(lat) / elapsed:7.0f} /s" if elapsed else " " * 9
    print(f"{kind:8s} {label:42s} {rate}   p50 {ms(statistics.median(lat))}   p99 {ms(pct(lat, 99))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vends", type=int, default=3000)
    parser.add_argument("--meters", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--ussd", type=int, default=600)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--cold-meters", type=int, default=0, help="more meters for the cold phase")
    parser.add_argument("--cold-active", type=int, default=20_000, help="cold meters the phase vends to")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run with group commit off")
    parser.add_argument(
        "--keystore",
        choices=("kek", "pkcs11", "both"),
        help="compare the key stores on DKGA 04 meters (benchmarks/vend_keys.py) instead",
    )
    args = parser.parse_args()
    kinds = [k for k, off in (("sqlite", args.no_sqlite), ("postgres", args.no_postgres)) if not off]
    for kind in kinds:
        if args.keystore:
            from vend_keys import run_keystores

            run_keystores(kind, args)
        else:
            run(kind, args)


if __name__ == "__main__":
    main()
