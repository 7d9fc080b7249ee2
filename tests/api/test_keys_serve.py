"""The whole purchase with vending keys in a PKCS#11 token (SoftHSM2): the key ceremony through the CLI
(transport key from two components, the KMC's wrapped file, `vending-key import`), then `nguvu serve
--workers 2` with NGUVU_KEYSTORE=pkcs11 sells tokens over USSD -> sandbox wallet -> vend, each worker
process logged in to the token on its own; the tokens decode under the software-derived decoder key."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
from apitest import served_service
from conftest import SETUP, seed_tariffs_and_subscriber
from softhsm import Hsm
from sqlalchemy import Engine, select

from api.db import reading, transaction
from api.keyring import profile_of
from api.keystore import Kek
from api.models import Meter, Payment, PaymentStatus, Token
from api.registry import MeterSpec, register_meter
from tokencore import VendingKey, decode_token, derive_decoder_key

DRNS = ("01234567897", "01234567905")
PURCHASES = 6


def _nguvu(env: dict[str, str], *args: str) -> str:
    full = {k: v for k, v in os.environ.items() if not k.startswith("NGUVU_") and k != "DATABASE_URL"}
    r = subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env={**full, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout + r.stderr


def _ceremony(env: dict[str, str], tmp_path: Path, vk: VendingKey) -> str:
    """Custodians load the transport key; the KMC wraps the vending key; the operator imports it."""
    tk_label, vk_label = f"tk-{secrets.token_hex(3)}", f"vk-{secrets.token_hex(3)}"
    parts = [secrets.token_bytes(32), secrets.token_bytes(32)]
    for i, part in enumerate(parts):
        (tmp_path / f"component{i}.hex").write_text(part.hex())
    _nguvu(
        env,
        "vending-key",
        "transport-key",
        tk_label,
        "--component-file",
        str(tmp_path / "component0.hex"),
        "--component-file",
        str(tmp_path / "component1.hex"),
    )
    # The key management centre's side (it holds the same transport key and the vending key).
    kmc = tmp_path / "kmc"
    kmc.mkdir()
    (kmc / "tk.hex").write_text(bytes(a ^ b for a, b in zip(*parts, strict=True)).hex())
    (kmc / "vk.hex").write_text(vk.hex())
    out = _nguvu(
        env,
        "vending-key",
        "wrap",
        "--transport-key-file",
        str(kmc / "tk.hex"),
        "--key-file",
        str(kmc / "vk.hex"),
        "--out",
        str(tmp_path / "vk.wrapped"),
    )
    assert vk.hex() not in (tmp_path / "vk.wrapped").read_text().upper() and "check value" in out
    out = _nguvu(
        env,
        "vending-key",
        "import",
        vk_label,
        "--wrapped",
        str(tmp_path / "vk.wrapped"),
        "--transport-key",
        tk_label,
    )
    assert "imported into the token (160 bits)" in out
    return vk_label


def _seed(engine: Engine, vk_label: str) -> None:
    with transaction(engine) as s:
        seed_tariffs_and_subscriber(s, usd=False)
        for drn, ea in zip(DRNS, (7, 11), strict=True):
            register_meter(
                s,
                MeterSpec(number=drn, sgc=123457, ti=1, krn=1, dkga=4, ea=ea, vending_key=vk_label),
                actor=SETUP,
            )


def _buy(url: str, i: int) -> None:
    drn = DRNS[i % 2]
    form = {
        "sessionId": f"S{i}",
        "serviceCode": "*384*1234#",
        "phoneNumber": "+243990000001",
        "networkCode": "63002",
        "text": f"1*1*1*{drn}*5000*1",
    }
    r = httpx.post(f"{url}/ussd", data=form, timeout=10)
    assert r.status_code == 200 and r.text.startswith("END "), r.text


def _vended(engine: Engine) -> list[Payment]:
    with reading(engine) as s:
        return [p for p in s.scalars(select(Payment)) if p.status == PaymentStatus.VENDED]


def test_a_ussd_purchase_with_the_pkcs11_store_on_two_workers(
    engine: Engine, tmp_path: Path, hsm: Hsm
) -> None:
    _kek, kek_hex = Kek.generate()
    vk = VendingKey(secrets.token_bytes(20))
    env = {
        **hsm.env(),
        "NGUVU_KEK": kek_hex,
        "NGUVU_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": engine.url.render_as_string(hide_password=False),
    }
    vk_label = _ceremony(env, tmp_path, vk)
    _seed(engine, vk_label)
    log = tmp_path / "serve.log"
    serve_env = {**env, "NGUVU_SANDBOX_DELAY_S": "0.05", "NGUVU_WORKER_POLL_SECONDS": "0.05"}
    with served_service(serve_env, log, workers=2) as url:
        for i in range(PURCHASES):
            _buy(url, i)
        deadline = time.monotonic() + 60
        while len(_vended(engine)) < PURCHASES:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
    with reading(engine) as s:
        tokens = s.scalars(select(Token)).all()
        meters = {m.id: m for m in s.scalars(select(Meter))}
        assert len(tokens) == PURCHASES
        for token in tokens:
            profile = profile_of(meters[token.meter_id])
            decoded = decode_token(token.token, derive_decoder_key(vk, profile), profile.key.ea)
            assert decoded.crc_ok, token.token
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    logins = {line.rsplit("(process ", 1)[1] for line in text.splitlines() if "logged in (process" in line}
    assert len(logins) == 2, text[-3000:]  # one session per worker process
    assert vk.hex() not in text.upper() and hsm.pin_file.read_text().strip() not in text
