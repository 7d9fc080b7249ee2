"""Helpers shared by the service tests (a unique module name: tests/ directories have no __init__)."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import Engine, select
from sqlmodel import SQLModel
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers the `httpx2` fork for its test client; plain httpx works the same for us.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

__all__ = ["TestClient", "served_service", "table_digests"]


def table_digests(engine: Engine) -> dict[str, tuple[int, str]]:
    """Row count and a hash of every row's content, per table (rows in primary-key order): two equal
    results mean nothing was written in between. The rate limits' request counters (`rate_counts`)
    are left out: every request counts, refused or not (api/ratelimit.py)."""
    from api.db import reading  # the service's module, imported when a test asks (as the fixtures do)

    out: dict[str, tuple[int, str]] = {}
    with reading(engine) as s:
        for table in SQLModel.metadata.sorted_tables:
            if table.name == "rate_counts":
                continue
            rows = s.execute(select(table).order_by(*table.primary_key.columns)).all()
            digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
            out[table.name] = (len(rows), digest)
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served_service(env: Mapping[str, str], log: Path, *, workers: int) -> Iterator[str]:
    """`nguvu serve --workers N` in a subprocess on a free loopback port, its stderr in `log`: yields its
    URL once /health answers, then stops it with SIGINT and checks that it exited cleanly. `env` is added
    to this process's environment without its NGUVU_*, DATABASE_URL and PROMETHEUS_* variables."""
    port = _free_port()
    full = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NGUVU_", "PROMETHEUS_")) and k != "DATABASE_URL"
    }
    full.update(env)
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--workers", str(workers)],
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "nguvu serve did not start: " + log.read_text()[-2000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()[-2000:]
