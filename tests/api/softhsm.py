"""A SoftHSM2 token of the tests' own, in a temporary directory (never the system's token store).

SOFTHSM2_CONF points the library at a config whose tokendir is that directory; it must be set before
this process first loads the PKCS#11 library (the library reads it once), so one token directory serves
the whole test session, with a label per key so tests never meet. The transport key is made from two
custodian components through the store, and the test keeps its value: the tests play the key
management centre (api.wrapped.wrap_*).
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from api.hsm import Pin, Pkcs11Config, Pkcs11Store
from api.keystore import Kek

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
TOKEN = "nguvu-test"
TRANSPORT = "transport"


@dataclass(frozen=True)
class Hsm:
    directory: Path
    token: str
    pin_file: Path
    transport_key: bytes  # what the key management centre holds

    @property
    def config(self) -> Pkcs11Config:
        return Pkcs11Config(MODULE, self.token, Pin(self.pin_file.read_text().strip()))

    def store(self, kek: Kek) -> Pkcs11Store:
        return Pkcs11Store(self.config, kek)

    def env(self) -> dict[str, str]:
        """The service's environment for this token."""
        return {
            "NGUVU_KEYSTORE": "pkcs11",
            "NGUVU_PKCS11_MODULE": str(MODULE),
            "NGUVU_PKCS11_TOKEN": self.token,
            "NGUVU_PKCS11_PIN_FILE": str(self.pin_file),
            "SOFTHSM2_CONF": os.environ["SOFTHSM2_CONF"],
        }


def init_token(directory: Path, label: str) -> Path:
    """A fresh token `label` under the session's token directory; returns the user PIN's file."""
    pin = secrets.token_hex(8)
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            secrets.token_hex(8),
            "--pin",
            pin,
        ],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    pin_file = directory / f"{label}.pin"
    pin_file.write_text(pin + "\n")
    pin_file.chmod(0o600)
    return pin_file


def make_hsm(directory: Path) -> Hsm:
    """Configure SoftHSM2 under `directory` (SOFTHSM2_CONF must already point at `configure`'s file)."""
    pin_file = init_token(directory, TOKEN)
    components = [secrets.token_bytes(32), secrets.token_bytes(32)]
    transport = bytes(a ^ b for a, b in zip(*components, strict=True))
    hsm = Hsm(directory, TOKEN, pin_file, transport)
    hsm.store(Kek.generate()[0]).create_transport_key(TRANSPORT, components)
    return hsm


def configure(directory: Path) -> Path:
    """Write a SoftHSM2 config whose tokens live under `directory`; returns its path."""
    tokens = directory / "tokens"
    tokens.mkdir()
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    return conf
