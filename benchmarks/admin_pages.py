"""Back-office benchmark: how fast the pages' queries answer at a large utility's size.

Seeds 100,000 subscribers, 100,000 meters and 1,000,000 payments (with their ~940,000 tokens) into
PostgreSQL (its own schema of the `test` database at 127.0.0.1:5432, dropped at the end) and into a
SQLite file, both migrated to head (so with the indexes the service really has), then times the query
functions the /admin pages call, side by side: subscriber search by a name fragment, a phone fragment and
a meter number, a subscriber's detail, the dashboard and the payments list. p50/p99 per row over
--repeat calls after one warm-up call (the dashboard's first call, which fills its cache of closed days,
is shown on its own). With --http, the same pages are also fetched over HTTP from the service (create_app
under uvicorn on loopback, logged in as a super administrator).

Target: p99 < 100 ms for every page on PostgreSQL. Prints figures only (no assertions).

    .venv/bin/python benchmarks/admin_pages.py [--subscribers 100000] [--payments 1000000]
                                               [--repeat 100] [--no-sqlite] [--no-postgres] [--http]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
from admin_queries import Case, page_cases, query_cases
from admin_seed import Size, seed
from sqlalchemy import Engine

from api import migrate
from api.actors import Actor
from api.db import make_engine, transaction
from api.keystore import Kek
from api.registry import create_admin
from api.service import Service
from api.settings import Settings
from cli.demo import running_service

TARGET_MS = 100.0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[Engine]:
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp / 'admin-bench.db'}")
        yield engine
        engine.dispose()
        return
    user = _pg_user()
    schema = "bench_admin_" + secrets.token_hex(4)
    with psycopg.connect(host="127.0.0.1", dbname="test", user=user, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    engine = make_engine(f"postgresql+psycopg://{user}@127.0.0.1:5432/test?options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(host="127.0.0.1", dbname="test", user=user, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _pg_user() -> str:
    for candidate in ("postgres", "root"):
        try:
            with psycopg.connect(host="127.0.0.1", dbname="test", user=candidate, connect_timeout=3):
                return candidate
        except psycopg.Error:
            continue
    raise SystemExit("PostgreSQL is not reachable on 127.0.0.1:5432 (database test)")


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@contextmanager
def logged_in(engine: Engine, kek: Kek, tmp: Path) -> Iterator[httpx.Client]:
    """The service (create_app under uvicorn on a loopback port, in this process, workers off) on the
    seeded database, and an HTTP client logged in to its back office as a super administrator."""
    settings = Settings(kek=kek, data_dir=tmp, run_workers=False, migrate_on_start=False)
    service = Service(settings, engine=engine)
    email, password = "bench@nguvu.example", secrets.token_urlsafe(12)
    with transaction(engine) as s:
        create_admin(s, actor=Actor.cli(), email=email, password=password, name="Bench", role="superadmin")
    with running_service(service, settings) as base_url, httpx.Client(base_url=base_url, timeout=30) as http:
        form = http.get("/admin/login")
        csrf = CSRF.search(form.text)
        if csrf is None:
            raise SystemExit("no login form at /admin/login")
        done = http.post("/admin/login", data={"csrf": csrf.group(1), "email": email, "password": password})
        if done.status_code != 303:
            raise SystemExit(f"the benchmark's login was refused ({done.status_code})")
        yield http


def time_case(case: Case, repeat: int) -> tuple[float, list[float]]:
    """The first call's milliseconds, then `repeat` timed calls (inputs vary per call)."""
    rng = random.Random(1)
    t0 = time.perf_counter()
    case.run(rng)
    first = (time.perf_counter() - t0) * 1000
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        case.run(rng)
        samples.append((time.perf_counter() - t0) * 1000)
    return first, samples


def run_backend(kind: str, size: Size, repeat: int, http: bool, tmp: Path) -> dict[str, tuple[float, ...]]:
    results: dict[str, tuple[float, ...]] = {}

    def measure(cases: Iterator[Case]) -> None:
        for case in cases:
            first, samples = time_case(case, repeat)
            results[case.name] = (first, pct(samples, 50), pct(samples, 99))
            print(
                f"[{kind}] {case.name}: first {first:.1f} ms, p50 {results[case.name][1]:.1f} ms, "
                f"p99 {results[case.name][2]:.1f} ms",
                flush=True,
            )

    with database(kind, tmp) as engine:
        kek = Kek.generate()[0]
        t0 = time.perf_counter()
        migrate.upgrade(engine)
        counts = seed(engine, size, kek=kek)
        took = time.perf_counter() - t0
        print(f"[{kind}] seeded {counts} in {took:.0f} s; load average {os.getloadavg()[0]:.1f}", flush=True)
        measure(query_cases(engine, size))
        if http:
            with logged_in(engine, kek, tmp) as client:
                measure(page_cases(client, size))
    return results


def report(size: Size, repeat: int, by_kind: dict[str, dict[str, tuple[float, ...]]]) -> None:
    kinds = list(by_kind)
    names = list(dict.fromkeys(n for r in by_kind.values() for n in r))
    load = os.getloadavg()[0]
    print(
        f"\nadmin pages at {size.subscribers:,} subscribers/meters and {size.payments:,} payments; "
        f"{repeat} calls per row; load average {load:.1f}; ms"
    )
    head = f"{'page':<44}" + "".join(f"{k + ' p50':>13}{k + ' p99':>13}" for k in kinds)
    print(head + f"{'target p99':>12}")
    for name in names:
        line = f"{name:<44}"
        for kind in kinds:
            row = by_kind[kind].get(name)
            line += f"{row[1]:>13.1f}{row[2]:>13.1f}" if row else f"{'-':>13}{'-':>13}"
        pg = by_kind.get("postgres", {}).get(name)
        verdict = "" if pg is None else ("meets" if pg[2] < TARGET_MS else "ABOVE")
        print(line + f"{verdict:>12}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--http", action="store_true", help="also fetch the pages over HTTP")
    args = parser.parse_args(argv)
    size = Size(args.subscribers, args.payments)
    kinds = [k for k, off in (("postgres", args.no_postgres), ("sqlite", args.no_sqlite)) if not off]
    by_kind: dict[str, dict[str, tuple[float, ...]]] = {}
    with tempfile.TemporaryDirectory(prefix="nguvu-admin-bench-") as tmp:
        for kind in kinds:
            by_kind[kind] = run_backend(kind, size, args.repeat, args.http, Path(tmp))
    report(size, args.repeat, by_kind)


if __name__ == "__main__":
    main()
