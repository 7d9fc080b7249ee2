"""`nguvu demo --serve`: the purchase, then the service stays up on the demo's data; the printed demo
login opens the back office, whose dashboard and subscriber page show the USSD purchase."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

TOKEN = re.compile(r"\b(\d{4} \d{4} \d{4} \d{4} \d{4})\b")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read_until_login(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    out, deadline = "", time.monotonic() + 150
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        out += line
        if "Serving the demo's data" in line:
            return out
    raise AssertionError("no back-office login printed:\n" + out[-3000:])


def _log_in(http: httpx.Client, email: str, password: str) -> None:
    form = http.get("/admin/login")
    csrf = CSRF.search(form.text)
    assert csrf, form.text[-500:]
    done = http.post("/admin/login", data={"csrf": csrf.group(1), "email": email, "password": password})
    assert done.status_code == 200 and 'id="login-form"' not in done.text, done.text[-1000:]


def test_demo_serve_shows_the_purchase_in_the_back_office(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NGUVU_") and k != "DATABASE_URL"}
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "demo",
            "--serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        out = _read_until_login(proc)
        login = re.search(r"login (\S+)  password (\S+)", out)
        assert login and f"http://127.0.0.1:{port}/admin/" in out
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=True, timeout=10) as http:
            _log_in(http, login.group(1), login.group(2))
            dashboard = http.get("/admin/")
            assert dashboard.status_code == 200
            # Today's card counts the demo's sales (money in FC or USD, not the "0" of an empty day).
            today = dashboard.text.split('class="card"', 2)[1]
            assert re.search(r"[1-9][\d\u00a0.,]*\u00a0FC|USD\u00a0[1-9]", today), today[:2000]
            found = http.get("/admin/subscribers", params={"q": "ENK-0001"})
            link = re.search(r'href="/admin/subscribers/(\d+)"', found.text)
            assert link, found.text[-1000:]
            detail = http.get(f"/admin/subscribers/{link.group(1)}")
            shown = TOKEN.findall(detail.text)
            # The USSD purchase's token, as its SMS showed it in the demo's output (wrapped in a phone
            # screen), is in the history.
            flat = re.sub(r"[\s|]", "", out)
            assert shown and all(token.replace(" ", "") in flat for token in shown), (shown, out[-2000:])
    finally:
        proc.send_signal(signal.SIGINT)
        try:  # read to the end: closing the pipe first would break the demo's last line ("stopped")
            rest, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
    assert proc.returncode == 0, rest[-2000:]
