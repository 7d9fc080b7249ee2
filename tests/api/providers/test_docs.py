"""docs/providers.md stays true: its examples load, and it names exactly the settings the code reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.payments.factory import load_payment_config
from api.sms.factory import load_sms_config

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "providers.md").read_text(encoding="utf-8")
NAME = re.compile(r"NGUVU_[A-Z0-9_]+[A-Z0-9]")


def examples() -> list[dict[str, str]]:
    blocks = re.findall(r"```env\n(.*?)```", DOC, flags=re.S)
    return [dict(line.split("=", 1) for line in block.strip().splitlines()) for block in blocks]


@pytest.mark.parametrize(
    "env", examples(), ids=lambda env: env.get("NGUVU_PAYMENT_PROVIDER") or env.get("NGUVU_SMS_PROVIDER", "?")
)
def test_every_example_configures_its_provider(env: dict[str, str]) -> None:
    if "NGUVU_SMS_PROVIDER" in env:
        sms = load_sms_config(env)
        assert sms is not None and sms.username == env["NGUVU_AT_USERNAME"]
    else:
        payment = load_payment_config(env)
        assert type(payment).__name__.lower().startswith(env["NGUVU_PAYMENT_PROVIDER"][:4])


def test_examples_cover_every_provider() -> None:
    names = {e.get("NGUVU_PAYMENT_PROVIDER") or e.get("NGUVU_SMS_PROVIDER") for e in examples()}
    assert names == {"sandbox", "airtel", "mpesa", "orange", "africastalking"}


def test_documented_settings_are_the_ones_read() -> None:
    source = "".join(
        p.read_text(encoding="utf-8") for d in ("payments", "sms") for p in (ROOT / "api" / d).glob("*.py")
    )
    in_code = set(NAME.findall(source))
    in_doc = set(NAME.findall(DOC))
    assert in_doc - in_code == set(), "documented but never read"
    assert in_code - in_doc == set(), "read but not documented"
