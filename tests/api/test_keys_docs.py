"""docs/keys.md's key ceremony, run as written against the test session's SoftHSM2 token: the test plays
the custodians (two components) and the key management centre (the wrapped files)."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

from softhsm import Hsm
from sqlalchemy import select

from api.db import make_engine, reading
from api.keyring import profile_of
from api.keystore import Kek
from api.models import Meter, VendingKeyRecord
from api.wrapped import wrap_decoder_key, wrap_vending_key
from tokencore import VendingKey, derive_decoder_key

DOC = Path(__file__).parents[2] / "docs" / "keys.md"


def test_the_documented_key_ceremony_works(tmp_path: Path, hsm: Hsm) -> None:
    [block] = [b for b in re.findall(r"```sh\n(.*?)```", DOC.read_text(), flags=re.S) if "transport-key" in b]
    parts = [secrets.token_bytes(32), secrets.token_bytes(32)]
    (tmp_path / "custodian-a.hex").write_text(parts[0].hex())
    (tmp_path / "custodian-b.hex").write_text(parts[1].hex())
    transport = bytes(a ^ b for a, b in zip(*parts, strict=True))
    vk = VendingKey(secrets.token_bytes(20))
    (tmp_path / "utility-1.wrapped").write_text(wrap_vending_key(transport, vk).to_json())
    # The KMC computed this DKGA 02 meter's decoder key with a 64-bit key the vending server never sees.
    profile = profile_of(_meter_for("01234567905"))
    dk = derive_decoder_key(VendingKey(secrets.token_bytes(8)), profile)
    file = wrap_decoder_key(transport, dk, profile)
    (tmp_path / "01234567905.wrapped").write_text(file.to_json())
    env = {k: v for k, v in os.environ.items() if not k.startswith("NGUVU_") and k != "DATABASE_URL"}
    env.update(hsm.env(), NGUVU_DATA_DIR=str(tmp_path), NGUVU_KEK=Kek.generate()[1])
    for line in block.strip().splitlines():
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
        assert vk.hex() not in result.stdout.upper() + result.stderr.upper()
    engine = make_engine(f"sqlite:///{tmp_path / 'nguvu.db'}")
    with reading(engine) as s:
        keys = {r.label: r for r in s.scalars(select(VendingKeyRecord))}
        assert keys["utility-1"].store == "pkcs11" and keys["utility-1"].sealed == b""
        assert (
            keys["dk-01234567905"].kind == "decoder" and dk.hex() not in keys["dk-01234567905"].sealed.hex()
        )
        assert {m.drn for m in s.scalars(select(Meter))} == {"01234567897", "01234567905"}
    engine.dispose()


def _meter_for(drn: str) -> Meter:
    from tokencore import meter_from_number

    pan = meter_from_number(drn)
    return Meter(pan=pan.pan, drn=pan.drn, sgc=123457, ti=1, krn=1, kt=2, dkga=2, ea=7, base_date=2014)
