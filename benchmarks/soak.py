"""The soak: several service instances, a thousand connected meters, purchases and faults, then invariants.

    .venv/bin/python benchmarks/soak.py --seconds 60 --instances 2 [--meters 1000] [--keypads 50]
                                        [--customers 16] [--seed N] [--keep DIR]

On loopback: PostgreSQL from DATABASE_URL or the local test server (a schema of its own, dropped after),
K `nguvu serve` processes on their own ports sharing it, `nguvu meter fleet` with METERS connected meters
(their tokens are pushed over TCP) and KEYPADS keypad meters (their owners type the token of the SMS),
a fake Africa's Talking gateway for the SMS, and the load: USSD sessions on random instances and the
wallet's signed callbacks (10 % duplicated, some late, out of order, declined, with a wrong amount,
for unknown references; some sessions name unknown meters). At random moments: kill -9 of an instance
(restarted), of the fleet (restarted on its state files), pg_terminate_backend of every service
connection, the SMS gateway failing for a while, meter links held busy.

At the end (the load stopped and the queues drained) it checks every invariant of issue 11 from the
database, the meters and the gateway, and scans every log line and response for secrets; it prints the
counts and figures last and exits 1 if any invariant broke (2 if the run itself failed). Bounded: the
load runs SECONDS, the drain at most 240 s more.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, func, select  # noqa: E402

from api import migrate  # noqa: E402
from api.actors import Actor  # noqa: E402
from api.db import make_engine, reading, transaction  # noqa: E402
from api.keyring import Keyring  # noqa: E402
from api.keystore import Kek  # noqa: E402
from api.models import MeterPush, Payment, SmsOutbox, Token  # noqa: E402
from api.registry import MeterSpec, add_subscriber, add_vending_key, register_meter, set_tariff  # noqa: E402
from benchmarks.soaking import checks, cluster  # noqa: E402
from benchmarks.soaking.load import Ledger, Meters, Spread, Traffic  # noqa: E402
from benchmarks.soaking.meters import Keypads, credits, hold_link  # noqa: E402
from meter_emulator.fleet import fleet_drns  # noqa: E402
from tests.fakes.africastalking import FakeAfricasTalking  # noqa: E402

QUERY_AFTER = 3
LEASE = 15
DRAIN_SECONDS = 240


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def seed(
    engine: Engine, kek: Kek, vending_hex: str, drns: list[str], connected: int, base_port: int
) -> list[str]:
    """Tariff, the vending key, 1,000 subscribers (their phones pay; each phone stays under the per-phone
    USSD limit, and a session refused by it is counted, not bought), the meters (the first `connected`
    pushed over TCP, the rest keypad meters). Returns the payers' phones."""
    actor = Actor.cli()
    phones = [f"+2439710{i:05d}" for i in range(1000)]
    with transaction(engine) as s:
        add_vending_key(s, Keyring(kek), "vk", vending_hex, actor=actor)
        set_tariff(
            s,
            actor=actor,
            name="residential",
            currency="CDF",
            price_per_kwh=Decimal(400),
            vat_rate=Decimal("0.16"),
            min_amount=Decimal(1000),
            max_amount=Decimal(500000),
        )
        for i, phone in enumerate(phones):
            add_subscriber(
                s, actor=actor, customer_code=f"SOAK-{i:04d}", name="Soak", post_name="Abonne", phone=phone
            )
        for i, drn in enumerate(drns):
            is_connected = i < connected
            register_meter(
                s,
                MeterSpec(
                    number=drn,
                    sgc=123456,
                    ti=1,
                    krn=1,
                    vending_key="vk",
                    customer_code=f"SOAK-{i % len(phones):04d}",
                    connected=is_connected,
                    serial_url=f"socket://127.0.0.1:{base_port + i}" if is_connected else "",
                ),
                actor=actor,
            )
    return phones


class Faults:
    def __init__(
        self,
        rng: random.Random,
        seconds: float,
        instances: list[cluster.Instance],
        alive: list[bool],
        fleet: cluster.Fleet,
        meters: int,
        db: cluster.Database,
        gateway: FakeAfricasTalking,
        ports: dict[str, int],
    ) -> None:
        self.rng, self.seconds = rng, seconds
        self.instances, self.alive, self.fleet, self.meters = instances, alive, fleet, meters
        self.db, self.gateway, self.ports = db, gateway, ports
        self.done: dict[str, int] = {
            "instance kill -9": 0,
            "fleet kill -9": 0,
            "pg_terminate_backend": 0,
            "connections cut": 0,
            "SMS gateway down": 0,
            "meter links held": 0,
        }

    def plan(self) -> list[tuple[float, str]]:
        rounds = max(1, int(self.seconds // 60))
        kinds = ["instance", "fleet", "pg", "sms", "links"]
        plan = []
        for r in range(rounds):
            start, end = r * self.seconds / rounds, (r + 1) * self.seconds / rounds
            for kind in kinds:
                plan.append((self.rng.uniform(start + 3, max(start + 4, end - 8)), kind))
        return sorted(plan)

    async def run(self, started: float) -> None:
        loop = asyncio.get_running_loop()
        background: list[asyncio.Future[object]] = []
        for at, kind in self.plan():
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            if kind == "instance":
                i = self.rng.randrange(len(self.instances))
                self.alive[i] = False
                self.instances[i].kill9()
                self.done["instance kill -9"] += 1
                background.append(loop.run_in_executor(None, self._restart_instance, i))
            elif kind == "fleet":
                self.fleet.kill9()
                self.done["fleet kill -9"] += 1
                background.append(loop.run_in_executor(None, self._restart_fleet))
            elif kind == "pg":
                self.done["connections cut"] += await loop.run_in_executor(None, self.db.cut_connections)
                self.done["pg_terminate_backend"] += 1
            elif kind == "sms":
                self.gateway.knobs.fail_next = 10**9
                self.done["SMS gateway down"] += 1
                background.append(asyncio.ensure_future(self._sms_back(self.rng.uniform(5, 10))))
            else:
                ports = self.rng.sample(sorted(self.ports.values()), 5)
                self.done["meter links held"] += len(ports)
                for port in ports:
                    background.append(asyncio.ensure_future(hold_link(port, self.rng.uniform(4, 10))))
        await asyncio.gather(*background)

    def _restart_instance(self, i: int) -> None:
        time.sleep(self.rng.uniform(1, 3))
        self.instances[i].start()
        self.instances[i].wait_ready()
        self.alive[i] = True

    def _restart_fleet(self) -> None:
        time.sleep(self.rng.uniform(1, 3))
        self.fleet.start()
        self.fleet.wait_ready(self.meters)

    async def _sms_back(self, after: float) -> None:
        await asyncio.sleep(after)
        self.gateway.knobs.fail_next = 0


def _open_work(engine: Engine) -> tuple[int, int, int]:
    with reading(engine) as s:
        payments = s.scalar(select(func.count()).where(Payment.status.in_(("queued", "pending")))) or 0  # type: ignore[attr-defined]
        sms = s.scalar(select(func.count()).where(SmsOutbox.status == "queued")) or 0
        pushes = s.scalar(select(func.count()).where(MeterPush.status == "queued")) or 0
    return int(payments), int(sms), int(pushes)


def _unanswered(engine: Engine, known: set[str]) -> list[tuple[str, str, str, Decimal]]:
    with reading(engine) as s:
        rows = s.execute(
            select(Payment.reference, Payment.msisdn, Payment.account, Payment.amount).where(
                Payment.status.in_(("queued", "pending"))  # type: ignore[attr-defined]
            )
        ).all()
    return [(r, m, a, x) for r, m, a, x in rows if r not in known]


async def drive(
    args: argparse.Namespace,
    engine: Engine,
    traffic: Traffic,
    keypads: Keypads,
    faults: Faults,
    gateway: FakeAfricasTalking,
    stats: dict[str, float],
) -> None:
    rng = random.Random(args.seed)
    started = time.monotonic()
    customers = [
        asyncio.ensure_future(traffic.customer(random.Random(rng.random()))) for _ in range(args.customers)
    ]
    keypad_stop = asyncio.Event()
    follower = asyncio.ensure_future(keypads.follow(gateway.sent, keypad_stop))
    fault_task = asyncio.ensure_future(faults.run(started))
    await asyncio.sleep(args.seconds)
    traffic.stop.set()
    await asyncio.gather(*customers)
    await traffic.drain_tasks()
    stats["load_seconds"] = time.monotonic() - started
    with reading(engine) as s:
        stats["tokens_at_stop"] = s.scalar(select(func.count()).select_from(Token)) or 0
    await fault_task
    # Drain: every prompt answered, the queues empty, every SMS typed where a keypad waits for it.
    deadline = time.monotonic() + DRAIN_SECONDS
    loop = asyncio.get_running_loop()
    while True:
        leftovers = await loop.run_in_executor(None, _unanswered, engine, set(traffic.ledger.expected))
        if leftovers:
            await traffic.answer_leftovers(leftovers)
        work = await loop.run_in_executor(None, _open_work, engine)
        if work == (0, 0, 0) and keypads.seen >= len(gateway.sent):
            break
        if time.monotonic() > deadline:
            traffic.ledger.errors.append(f"queues not drained after {DRAIN_SECONDS} s: {work}")
            break
        await asyncio.sleep(1)
    stats["drain_seconds"] = time.monotonic() - started - stats["load_seconds"]
    keypad_stop.set()
    await follower
    await traffic.spread.aclose()


async def read_meters(ports: dict[str, int]) -> dict[str, str]:
    return await credits(ports, time.monotonic() + 120)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--keypads", type=int, default=50)
    parser.add_argument("--customers", type=int, default=16, help="concurrent USSD customers")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="keep the logs and state files here")
    args = parser.parse_args()
    if not (
        10 <= args.seconds <= 3600
        and 1 <= args.instances <= 8
        and 1 <= args.meters <= 5000
        and 0 <= args.keypads <= 500
        and 1 <= args.customers <= 200
    ):
        parser.error(
            "bounds: --seconds 10-3600, --instances 1-8, --meters 1-5000, --keypads 0-500, --customers 1-200"
        )
    args.seed = args.seed if args.seed is not None else secrets.randbelow(10**6)
    work = Path(tempfile.mkdtemp(prefix="nguvu-soak-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    try:
        return run(args, work, logs)
    finally:
        if args.keep is None:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path, logs: Path) -> int:
    rng = random.Random(args.seed)
    kek, kek_hex = Kek.generate()
    vending_hex = secrets.token_hex(8)
    wallet_secret = secrets.token_hex(16)
    at_key = "at-" + secrets.token_hex(12)
    total = args.meters + args.keypads
    drns = list(fleet_drns(total))
    ledger = Ledger()
    instances: list[cluster.Instance] = []
    fleet = cluster.fleet(total, work / "fleet", vending_hex, logs)
    gateway = FakeAfricasTalking(username="soak", api_key=at_key)
    started_at = time.monotonic()
    with cluster.database() as db, gateway:
        engine = make_engine(db.url(db.app_name + "-check"), pool_size=4)
        try:
            migrate.upgrade(engine)
            phones = seed(engine, kek, vending_hex, drns, args.meters, fleet.base_port)
            fleet.start()
            fleet.wait_ready(total)
            env = {
                "NGUVU_KEK": kek_hex,
                "DATABASE_URL": db.url(),
                "NGUVU_DATA_DIR": str(work / "data"),
                "NGUVU_PAYMENT_PROVIDER": "sandbox",
                "NGUVU_SANDBOX_OUTCOME": "timeout",  # the soak is the payer: it sends every callback
                "NGUVU_SANDBOX_EXPIRY_S": "100000",
                "NGUVU_SANDBOX_SECRET": wallet_secret,
                "NGUVU_SMS_PROVIDER": "africastalking",
                "NGUVU_AT_USERNAME": "soak",
                "NGUVU_AT_API_KEY": at_key,
                "NGUVU_AT_BASE_URL": gateway.url,
                "NGUVU_AT_TIMEOUT_S": "5",
                "NGUVU_WORKER_LEASE_SECONDS": str(LEASE),
                "NGUVU_PAYMENT_QUERY_AFTER_SECONDS": str(QUERY_AFTER),
                "NGUVU_PAYMENT_TIMEOUT_SECONDS": "3600",
                "NGUVU_SMS_MAX_ATTEMPTS": "100",
                "NGUVU_PUSH_MAX_ATTEMPTS": "100",
                "NGUVU_BACKOFF_BASE_SECONDS": "0.5",
                "NGUVU_BACKOFF_MAX_SECONDS": "4",
                "NGUVU_SERIAL_TIMEOUT_SECONDS": "3",
                "NGUVU_SMS_RESEND_PER_HOUR": "0",
                # 200 phones drive every USSD session of the load, each faster than a person types:
                # the per-phone and per-session limits (docs/service.md) would refuse most of it.
                "NGUVU_USSD_PHONE_PER_MINUTE": "0",
                "NGUVU_USSD_SESSION_REQUESTS": "0",
            }
            instances = [cluster.instance(n, env, logs) for n in range(args.instances)]
            for inst in instances:
                inst.start()
            for inst in instances:
                inst.wait_ready()
            alive = [True] * len(instances)
            ports = {drn: fleet.base_port + i for i, drn in enumerate(drns)}
            connected, keypad = drns[: args.meters], drns[args.meters :]
            stats: dict[str, float] = {}

            async def go() -> dict[str, str]:
                spread = Spread([i.url for i in instances], alive, ledger)
                traffic = Traffic(
                    spread, Meters(connected, keypad, phones), wallet_secret, ledger, QUERY_AFTER
                )
                keypads = Keypads({d: ports[d] for d in keypad}, ledger)
                faults = Faults(rng, args.seconds, instances, alive, fleet, total, db, gateway, ports)
                await drive(args, engine, traffic, keypads, faults, gateway, stats)
                stats.update({f"fault: {k}": v for k, v in faults.done.items()})
                return await read_meters(ports)

            read = asyncio.run(go())
            snap = checks.snapshot(engine)
            exits = [inst.stop() for inst in instances]
            fleet.stop(sig=15)
            results: dict[str, list[str]] = {}
            results[
                "every confirmed payment has exactly one token; none without; held/declined not vended"
            ] = checks.payments_and_tokens(snap, ledger)
            results["TIDs strictly increasing per meter"] = checks.tids(snap)
            allowance = int(
                stats["fault: instance kill -9"] + stats["fault: pg_terminate_backend"] * args.instances
            )
            sms_broken, duplicates = checks.sms(snap, gateway.sent, allowance)
            results["every token SMS sent (after retries), once per send"] = sms_broken
            results["nothing stuck in a queue; pushes accepted once"] = checks.queues(snap)
            results["meter credit = sum of its tokens, each accepted once"] = checks.meters(
                snap, read, set(connected), set(keypad), ledger
            )
            secret_values = {
                "KEK": kek_hex,
                "vending key": vending_hex,
                "wallet secret": wallet_secret,
                "SMS API key": at_key,
            }
            results["no key, secret or token digits in logs and responses"] = checks.secrets_scan(
                sorted(logs.glob("*.log")), ledger, snap, secret_values
            )
            results["the service ran and stopped cleanly (errors only from cut connections)"] = [
                f"{inst.name} exited {code}" for inst, code in zip(instances, exits, strict=True) if code != 0
            ] + [line for inst in instances for line in checks.unexpected_errors(inst.log)]
            results["the load saw no unexpected answer"] = ledger.errors[:20]
        finally:
            for inst in instances:
                inst.stop()
            fleet.stop(sig=15)
            engine.dispose()
    report(args, stats, ledger, snap, results, duplicates, time.monotonic() - started_at)
    return 1 if any(results.values()) else 0


def report(
    args: argparse.Namespace,
    stats: dict[str, float],
    ledger: Ledger,
    snap: checks.Snapshot,
    results: dict[str, list[str]],
    duplicates: int,
    wall: float,
) -> None:
    by_status: dict[str, int] = {}
    for p in snap.payments:
        by_status[p.status] = by_status.get(p.status, 0) + 1
    pushes: dict[str, int] = {}
    for push in snap.pushes:
        pushes[push.result] = pushes.get(push.result, 0) + 1
    print(
        f"soak: seed {args.seed}, {args.instances} instances, {args.meters} connected meters, "
        f"{args.keypads} keypad meters, {args.customers} customers, load {stats['load_seconds']:.0f} s, "
        f"drain {stats['drain_seconds']:.0f} s, wall {wall:.0f} s"
    )
    print(
        "faults:",
        ", ".join(f"{k.split(': ', 1)[1]} {int(v)}" for k, v in stats.items() if k.startswith("fault: ")),
    )
    print(
        f"traffic: {ledger.ussd_sessions} USSD sessions ({ledger.ussd_unknown_meter} for unknown meters), "
        f"{ledger.rate_limited} refused by the per-phone limit, {ledger.callbacks_sent} callbacks ({ledger.duplicated} duplicated, {ledger.late} late, "
        f"{ledger.out_of_order} out of order, {ledger.declined} declined, {ledger.wrong_amount} wrong amount, "
        f"{ledger.unknown_reference} unknown references), {ledger.retried_requests} requests retried on "
        f"another instance"
    )
    print(
        "payments:",
        ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())),
        f"| tokens {len(snap.tokens)} | SMS {len(snap.sms)} ({duplicates} sent twice)",
        "| pushes:",
        ", ".join(f"{k} {v}" for k, v in sorted(pushes.items())),
        f"| keypad tokens typed {len(ledger.keypad_typed)} (+{len(ledger.keypad_again)} copies)",
    )
    for name, broken in results.items():
        print(f"[{'ok' if not broken else 'BROKEN'}] {name}")
        for line in broken[:10]:
            print(f"    {line}")
        if len(broken) > 10:
            print(f"    ... and {len(broken) - 10} more")
    vends = stats["tokens_at_stop"] / stats["load_seconds"]
    print(
        f"USSD step p50 {statistics.median(ledger.ussd_latency) * 1000:.0f} ms, p99 {pct(ledger.ussd_latency, 99) * 1000:.0f} ms"
    )
    print(
        f"vended {len(snap.tokens)}, {vends:.1f} vends/s, callback p50 "
        f"{statistics.median(ledger.callback_latency) * 1000:.0f} ms, p99 {pct(ledger.callback_latency, 99) * 1000:.0f} ms, "
        f"invariants {'all held' if not any(results.values()) else 'BROKEN'}"
    )


if __name__ == "__main__":
    sys.exit(main())
