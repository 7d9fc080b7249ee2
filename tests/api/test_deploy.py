"""docs/deploy: the nginx example runs (on loopback, its upstream pointed at two real `nguvu serve`
instances), a USSD purchase goes through it, killing one instance loses nothing seen from outside, an
oversized body stops at the proxy; the Prometheus rules name only metrics the service exports."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from apitest import _free_port, served_service
from conftest import METER_DRN, make_settings, seed
from sqlalchemy import Engine, select

from api.db import reading
from api.keystore import Kek
from api.models import Payment
from api.service import Service

DOCS = Path(__file__).resolve().parents[2] / "docs" / "deploy"


def _config(tmp: Path, listen: int, upstreams: list[int]) -> Path:
    text = (DOCS / "nginx.conf").read_text()
    servers = re.findall(r"^\s*server 10\.0\.0\.\d+:8000.*$", text, flags=re.M)
    assert len(servers) == 2, "the example lists two instances"
    for line, port in zip(servers, upstreams, strict=True):
        text = text.replace(line, re.sub(r"10\.0\.0\.\d+:8000", f"127.0.0.1:{port}", line))
    text = text.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    text = text.replace("worker_processes auto;", "worker_processes 1;")
    # Paths nginx writes to, inside the test's directory (a packaged nginx uses /var).
    temp = "".join(
        f"    {name}_temp_path {tmp / name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    log = (
        f"    log_format up '$request_uri $upstream_addr $status';\n    access_log {tmp / 'access.log'} up;\n"
    )
    text = text.replace("http {\n", "http {\n" + temp + log, 1)
    path = tmp / "nginx.conf"
    path.write_text(text)
    return path


@pytest.fixture
def proxied(engine: Engine, tmp_path: Path) -> Iterator[tuple[str, list[str], subprocess.Popen[bytes]]]:
    if engine.dialect.name != "postgresql":
        pytest.skip("instances on several machines share PostgreSQL")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("nginx is needed (nginx-light, scripts/install-system-deps.sh)")
    kek, kek_hex = Kek.generate()
    service = Service(make_settings(tmp_path, kek=kek), engine=engine, sms_write=lambda _l: None)
    seed(service)
    env = dict(
        NGUVU_KEK=kek_hex,
        DATABASE_URL=engine.url.render_as_string(hide_password=False)
        if engine.dialect.name == "postgresql"
        else "",
        NGUVU_DATA_DIR=str(Path(str(engine.url.database)).parent),
        NGUVU_RUN_WORKERS="false",
    )
    listen = _free_port()
    with ExitStack() as stack:
        victim = _serve(env, tmp_path / "i0.log")
        stack.callback(lambda: (victim.kill(), victim.wait(10)))
        urls = [victim.url, stack.enter_context(served_service(env, tmp_path / "i1.log", workers=1))]
        conf = _config(tmp_path, listen, [int(u.rsplit(":", 1)[1]) for u in urls])
        proc = subprocess.Popen(
            [
                nginx,
                "-p",
                str(tmp_path),
                "-c",
                str(conf),
                "-e",
                str(tmp_path / "error.log"),
                "-g",
                f"daemon off; master_process off; pid {tmp_path / 'nginx.pid'};",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stack.callback(lambda: (proc.send_signal(signal.SIGQUIT), proc.wait(10)))
        url = f"http://127.0.0.1:{listen}"
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (tmp_path / "error.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "nginx did not answer"
            time.sleep(0.1)
        yield url, urls, victim


class _Instance(subprocess.Popen[bytes]):
    url = ""


def _serve(env: dict[str, str], log: Path) -> _Instance:
    """An instance the test may kill -9 (served_service insists on a clean exit)."""
    port = _free_port()
    full = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NGUVU_", "PROMETHEUS_")) and k != "DATABASE_URL"
    }
    full.update(env)
    with log.open("wb") as err:
        proc = _Instance(
            [sys.executable, "-m", "cli.main", "serve", "--port", str(port)],
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    proc.url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, log.read_text()[-2000:]
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        try:
            if httpx.get(f"{proc.url}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)


def _ussd(url: str, text: str, session: str = "dep-1") -> httpx.Response:
    form = {"sessionId": session, "serviceCode": "*384*1234#", "phoneNumber": "+243990000001", "text": text}
    return httpx.post(f"{url}/ussd", data=form, timeout=20)


def test_the_nginx_example_spreads_requests_and_survives_an_instance(
    proxied: tuple[str, list[str], _Instance], engine: Engine, tmp_path: Path
) -> None:
    url, instances, victim = proxied
    for text in ("", "1", "1*1", "1*1*1", f"1*1*1*{METER_DRN}", f"1*1*1*{METER_DRN}*5000"):
        r = _ussd(url, text)
        assert r.status_code == 200 and r.text.startswith("CON "), r.text
    assert _ussd(url, f"1*1*1*{METER_DRN}*5000*1").text.startswith("END ")
    with reading(engine) as s:
        assert len(s.scalars(select(Payment)).all()) == 1
    # Both instances served some of twenty new-connection requests (least_conn, round robin on ties).
    for i in range(20):
        assert _ussd(url, "", session=f"spread-{i}").status_code == 200
    access = (tmp_path / "access.log").read_text()
    went = re.findall(r"^/ussd (127\.0\.0\.1:\d+) 200$", access, flags=re.M)
    assert len(went) == 27 and {u.rsplit(":", 1)[1] for u in went} == {i.rsplit(":", 1)[1] for i in instances}
    # One instance dies (SIGKILL): requests keep being answered by the other, none fails.
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    statuses = [_ussd(url, "", session=f"after-{i}").status_code for i in range(20)]
    assert statuses == [200] * 20
    # An oversized body stops at the proxy (client_max_body_size), before any instance reads it.
    big = httpx.post(f"{url}/callbacks/payments/sandbox", content=b"x" * (2 * 1024 * 1024), timeout=20)
    assert big.status_code == 413


def test_the_alert_rules_name_metrics_the_service_exports(client: object) -> None:
    from apitest import TestClient

    assert isinstance(client, TestClient)
    exported = set(re.findall(r"^# TYPE (\w+) (\w+)", client.get("/metrics").text, flags=re.M))
    names = {name for name, _ in exported}
    names |= {f"{name}_total" for name, kind in exported if kind == "counter"}
    rules = (DOCS / "alerts.yml").read_text()
    used = set(re.findall(r"\b(nguvu_\w+)", rules))
    assert used and used <= names, used - names
    assert "alerts.yml" in (DOCS / "prometheus.yml").read_text()
