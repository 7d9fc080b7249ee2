"""Helpers of the back office's browser tests: a real `nguvu serve` on a loopback port over a seeded
SQLite database, Debian's Chromium driven by Playwright, and screenshots on a phone and a desktop viewport.

A module name of its own (tests/ directories have no __init__), imported by this directory's conftest.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}

# What the seeded service holds (test values, never a real utility's).
VENDING_KEY = "0123456789abcdef"
SGC, TI, KRN = 123457, 1, 1
METER_DRN = "01234567897"  # 11-digit DRN with its Luhn check digit
CUSTOMER_CODE = "ENK-0001"
SUPER_EMAIL = "super@enk.example"
SUPER_PASSWORD = "Mwami-wa-Beni-2026!"


@dataclass(frozen=True)
class Served:
    """A running `nguvu serve`: its base URL, data directory and the environment its commands need."""

    url: str
    data_dir: Path
    env: Mapping[str, str]
    log: Path

    def admin(self, path: str = "") -> str:
        return f"{self.url}/admin{path}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without its NGUVU_*, DATABASE_URL and PROMETHEUS_* settings, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NGUVU_", "PROMETHEUS_")) and k != "DATABASE_URL"
    }
    env.update(extra)
    return env


def nguvu(env: Mapping[str, str], *args: str) -> str:
    """Run one `nguvu` command to completion; its standard output (fails the test on a non-zero exit)."""
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", *args], env=dict(env), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"nguvu {' '.join(args[:2])}: {done.stdout[-1000:]}{done.stderr[-1000:]}"
    return done.stdout


def seed(env: Mapping[str, str]) -> None:
    """The first super administrator, a vending key, the CDF and USD tariffs and one subscriber with a
    meter, all through the `nguvu` commands an installer runs."""
    nguvu({**env, "NGUVU_VENDING_KEY": VENDING_KEY}, "vending-key", "add", "vk1")
    for currency, price, low, high in (("CDF", "400", "500", "500000"), ("USD", "0.15", "1", "200")):
        nguvu(env, "tariff", "set", "--currency", currency, "--price", price, "--min", low, "--max", high)
    nguvu(
        {**env, "NGUVU_ADMIN_PASSWORD": SUPER_PASSWORD},
        *("admin", "create-superuser", "--email", SUPER_EMAIL, "--name", "Kasereka"),
        *("--post-name", "Vahwere", "--position", "Directeur commercial"),
    )
    nguvu(
        env,
        *("subscriber", "add", "--code", CUSTOMER_CODE, "--name", "Kahindo", "--post-name", "Masika"),
        *("--phone", "+243990000001", "--quarter", "Mabakanga", "--cell", "Kanzuli", "--avenue", "Matonge"),
    )
    nguvu(
        env,
        *("meter", "register", METER_DRN, "--sgc", str(SGC), "--ti", str(TI), "--krn", str(KRN)),
        *("--vending-key", "vk1", "--customer-code", CUSTOMER_CODE),
        *("--latitude", "0.4917", "--longitude", "29.4731"),
    )


@contextmanager
def serve(data_dir: Path, kek_hex: str) -> Iterator[Served]:
    """Seed a fresh SQLite database under `data_dir`, then `nguvu serve` it on a free loopback port until
    the block ends (SIGINT, then a check that it stopped cleanly)."""
    env = clean_env(
        {
            "NGUVU_KEK": kek_hex,
            "NGUVU_DATA_DIR": str(data_dir),
            "NGUVU_SANDBOX_DELAY_S": "0.2",
            "NGUVU_WORKER_POLL_SECONDS": "0.2",
            "NGUVU_TIMEZONE": "Africa/Lubumbashi",
        }
    )
    seed(env)
    port = free_port()
    log = data_dir / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _await_health(proc, url, log)
        yield Served(url, data_dir, env, log)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()[-2000:]


def _await_health(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, log.read_text()[-2000:]
        assert time.monotonic() < deadline, "nguvu serve did not start: " + log.read_text()[-2000:]
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)


def shoot(page: Page, name: str) -> list[Path]:
    """Save the page as it is now on a phone-sized and a desktop viewport (whole page), into
    tests/admin/artifacts/<name>-phone.png and -desktop.png; the page is left at the desktop size."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    paths = []
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        path = ARTIFACTS / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    return paths
