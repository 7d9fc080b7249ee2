"""The system under soak: a PostgreSQL schema, K `nguvu serve` instances, a meter fleet, an SMS gateway.

Everything runs on loopback. Each process writes its stdout and stderr to a log file under the run's
directory; the checks read them all at the end (secrets scan). A killed process is restarted on the
same port (instances) or on its state files and ports (the fleet).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[2]
PG_USERS = ("postgres", "root")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_range(count: int) -> int:
    """A base port with `count` free ports above it (checked now; loopback only), below the ephemeral
    range, so that no outgoing connection takes one of them while the fleet is down (killed)."""
    top = _ephemeral_low() - count
    if top <= 10000:
        raise RuntimeError("no room for the fleet's ports below the ephemeral port range")
    for _ in range(50):
        base = 10000 + secrets.randbelow(top - 10000)
        socks = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {count} consecutive free loopback ports")


@dataclass
class Database:
    """A schema of its own in the PostgreSQL of DATABASE_URL (or the local test server); dropped after."""

    dsn: dict[str, object]
    schema: str
    app_name: str

    def url(self, app_name: str | None = None) -> str:
        """The service's URL (its connections carry `app_name`, which `cut_connections` targets); the
        soak's own checks connect under another name, so cutting the service's leaves them alone."""
        d = self.dsn
        auth = str(d["user"]) + (f":{d['password']}" if d.get("password") else "")
        return (
            f"postgresql+psycopg://{auth}@{d['host']}:{d['port']}/{d['dbname']}"
            f"?application_name={app_name or self.app_name}&options=-csearch_path%3D{self.schema}"
        )

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(**self.dsn, autocommit=True)  # type: ignore[arg-type]

    def cut_connections(self) -> int:
        """pg_terminate_backend on every connection of the service (by its application_name)."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND pid <> pg_backend_pid()",
                (self.app_name,),
            ).fetchall()
        return len(rows)


@contextmanager
def database() -> Iterator[Database]:
    raw = os.environ.get("DATABASE_URL", "")
    candidates: list[dict[str, object]] = []
    if raw:
        u = urlsplit(raw.replace("postgresql+psycopg://", "postgresql://"))
        candidates.append(
            dict(
                host=u.hostname or "127.0.0.1",
                port=u.port or 5432,
                dbname=(u.path or "/test").lstrip("/") or "test",
                user=u.username or "postgres",
                password=u.password or "",
            )
        )
    else:
        candidates += [dict(host="127.0.0.1", port=5432, dbname="test", user=u) for u in PG_USERS]
    dsn = None
    for cand in candidates:
        try:
            with psycopg.connect(**cand, connect_timeout=3):  # type: ignore[arg-type]
                dsn = cand
                break
        except psycopg.Error:
            continue
    if dsn is None:
        raise RuntimeError("PostgreSQL not reachable (DATABASE_URL or 127.0.0.1:5432/test)")
    tag = secrets.token_hex(4)
    db = Database(dsn, f"soak_{tag}", f"nguvu-soak-{tag}")
    with db.connect() as conn:
        conn.execute(f'CREATE SCHEMA "{db.schema}"')
    try:
        yield db
    finally:
        with db.connect() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                (db.app_name,),
            )
            conn.execute(f'DROP SCHEMA "{db.schema}" CASCADE')


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NGUVU_", "PROMETHEUS_")) and k != "DATABASE_URL"
    }
    env.update(extra)
    env["PYTHONPATH"] = str(ROOT)
    return env


@dataclass
class Proc:
    """One child process with its log file; `kill9` then `start` again."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"--- start {self.starts} at {time.time():.3f}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return -9
        return self.proc.returncode


@dataclass
class Instance(Proc):
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited: " + self.log.read_text()[-2000:])
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer /health")


def instance(n: int, env: dict[str, str], logs: Path) -> Instance:
    port = free_port()
    argv = [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--workers", "1"]
    return Instance(f"instance-{n}", argv, _child_env(env), logs / f"instance-{n}.log", port=port)


@dataclass
class Fleet(Proc):
    directory: Path = field(default_factory=Path)
    base_port: int = 0

    def wait_ready(self, count: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        last = self.base_port + count - 1
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError("the fleet exited: " + self.log.read_text()[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", last), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the fleet did not open its ports")


def fleet(count: int, directory: Path, vending_hex: str, logs: Path) -> Fleet:
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / "vending.hex"
    key_file.write_text(vending_hex + "\n")
    key_file.chmod(0o600)
    base = free_range(count)
    argv = [
        *(sys.executable, "-m", "cli.main", "meter", "fleet", str(directory), "--count", str(count)),
        *("--tcp", "--tcp-port", str(base), "--no-fsync", "--workers", "4"),
        *("--vending-key-file", str(key_file), "--load", "constant:0", "--tick-ms", "1000"),
    ]
    return Fleet("fleet", argv, _child_env({}), logs / "fleet.log", directory=directory, base_port=base)
