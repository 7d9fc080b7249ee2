"""docs/service.md's examples, run as written: the set-up commands and the USSD exchange."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from apitest import TestClient

from api.keystore import Kek
from api.service import Service
from api.settings import Settings

DOC = Path(__file__).parents[2] / "docs" / "service.md"
KEK_HEX = "42" * 32


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_the_documented_setup_and_ussd_exchange_work(tmp_path: Path) -> None:
    text = DOC.read_text()
    setup = next(b for b in _blocks(text, "sh") if "nguvu vending-key add" in b)
    (tmp_path / "vending.hex").write_text("0123456789abcdef\n")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(NGUVU_DATA_DIR=str(tmp_path), NGUVU_KEK=KEK_HEX, NGUVU_ADMIN_PASSWORD="a long password")
    for line in setup.strip().splitlines():
        argv = shlex.split(line)
        assert argv[0] == "nguvu"
        result = subprocess.run(
            [sys.executable, "-m", "cli.main", *argv[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, (line, result.stderr)

    rows = re.findall(r"^\| (`[^|]*`|\(empty\)) \| (`CON .*?) \|$", text, flags=re.M)
    assert len(rows) == 3
    settings = Settings(kek=Kek.from_hex(KEK_HEX), data_dir=tmp_path, run_workers=False)
    service = Service(settings, sms_write=lambda _line: None)
    from api.app import create_app

    with TestClient(create_app(settings, service=service)) as client:
        for sent, reply in rows:
            path = "" if sent == "(empty)" else sent.strip("`")
            expected = "\n".join(part.strip("`") for part in reply.split(" / "))
            r = client.post(
                "/ussd",
                data={
                    "sessionId": "doc",
                    "serviceCode": "*384*1234#",
                    "phoneNumber": "+243990000001",
                    "text": path,
                },
            )
            assert r.text == expected
