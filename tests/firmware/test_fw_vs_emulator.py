"""Behaviour parity: the firmware's application code (firmware/app on the host HAL, under ASan/UBSan)
and the meter emulator (meter_emulator) get the same random sessions of serial requests, key presses and
waits, and must give the same replies: outcomes, fields, LCD texts, short codes, timeouts, lockout.

Both run the CTSA test meter with no load; only the firmware name in `INFO` differs."""

from __future__ import annotations

import contextlib
import random
import re
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_emulator import protocol
from meter_emulator.meter import MeterSettings
from meter_emulator.provision import Identity, create_meter, create_unprovisioned
from meter_emulator.provisioning import NoKey
from meter_emulator.store import MemoryStore
from tokencore import BaseDate, DecoderKey, Issuer, KeyParams, MeterProfile, parse_pan

from tests.firmware.conftest import sample_provisioning

pytestmark = pytest.mark.firmware

PAN = parse_pan("600727000000000009")
PARAMS = KeyParams(sgc=123456, ti=1, krn=1, base_date=BaseDate.Y1993)
KEY = DecoderKey.from_hex("E653341F9D5BF36F")
ISSUER = Issuer(MeterProfile(PAN, PARAMS), KEY)
START = datetime(2004, 3, 1, 13, 55, tzinfo=UTC)
TOKENS = [ISSUER.credit(f"{i}.5", at=START + timedelta(minutes=i), rnd=i % 16).token for i in range(6)]
MPL = ISSUER.max_power_limit(5000, at=START + timedelta(minutes=30), rnd=3).token
STEP_MS = 20  # the host driver runs 20 ms of meter time after each request line


@pytest.fixture(scope="session")
def apphost(fw_make: Callable[..., Path]) -> Path:
    return fw_make("sanitize") / "san" / "apphost"


def corrupt(token: str, rng: random.Random) -> str:
    i = rng.randrange(20)
    return token[:i] + str((int(token[i]) + 1 + rng.randrange(9)) % 10) + token[i + 1 :]


@st.composite
def sessions(draw: st.DrawFn) -> list[tuple[str, str]]:
    rng = random.Random(draw(st.integers(0, 2**32)))
    steps: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["token", "token", "bad", "key", "key", "key", "status", "wait"]))
        token = rng.choice([*TOKENS, MPL])
        if kind == "token":
            steps.append(("line", f"TOKEN {token}"))
        elif kind == "bad":
            steps.append(("line", rng.choice([f"TOKEN {corrupt(token, rng)}", "TOKEN 12345", "TOKEN 1" * 3])))
        elif kind == "key":
            if rng.random() < 0.3:  # type a whole token on the keypad
                steps.extend(("key", k) for k in token + "#")
            else:
                steps.append(("key", rng.choice("0123456789*#ABCD")))
            if rng.random() < 0.5:
                steps.append(("line", "LCD"))
        elif kind == "status":
            steps.append(("line", rng.choice(["STATUS", "LCD", "INFO"])))
        else:
            steps.append(("wait", str(rng.choice([100, 4_000, 6_000, 11_000, 21_000, 45_000]))))
    steps.append(("line", "LCD"))
    steps.append(("line", "STATUS"))
    return steps


def run_emulator(steps: list[tuple[str, str]], provisioned: bool = True) -> list[str]:
    now = 1_000_000
    if provisioned:
        meter = create_meter(MemoryStore(), Identity(PAN, PARAMS), KEY, MeterSettings(), now)
    else:
        meter = create_unprovisioned(MemoryStore(), MeterSettings(), now)
    now += 100
    replies = []
    for kind, arg in steps:
        if kind == "line":
            replies.append(protocol.handle(meter, arg, now))
            now += STEP_MS
        elif kind == "key":
            with contextlib.suppress(NoKey):  # a keypad token on a meter with no key: only shown
                meter.press(arg, now)
            now += 100
        else:
            now += int(arg)
    return replies


def run_firmware_app(apphost: Path, steps: list[tuple[str, str]], provisioned: bool = True) -> list[str]:
    """The replies of the host app, provisioned over the serial line as the emulator's meter (or not)."""
    script = sample_provisioning() if provisioned else []
    for kind, arg in steps:
        script.append(arg if kind == "line" else f"!key {arg}" if kind == "key" else f"!wait {arg}")
    proc = subprocess.run(
        [str(apphost)],
        input="\n".join(script) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    replies = [line for line in proc.stdout.splitlines() if not line.startswith("EVENT ")]
    if not provisioned:
        return replies
    assert replies[:2] == ["OK", "OK"]
    return replies[2:]


def normalise(reply: str) -> str:
    return re.sub(r" fw=\S+", " fw=*", reply)


@settings(max_examples=60, deadline=None)
@given(steps=sessions())
def test_firmware_app_replies_like_the_emulator(apphost: Path, steps: list[tuple[str, str]]) -> None:
    expected = [normalise(r) for r in run_emulator(steps)]
    got = [normalise(r) for r in run_firmware_app(apphost, steps)]
    assert got == expected


ID, KEY_LINE = sample_provisioning()
PROVISION_LINES = [
    ID,
    ID,
    KEY_LINE,
    KEY_LINE,
    KEY_LINE.lower(),
    KEY_LINE[:-1],
    KEY_LINE + "0",
    KEY_LINE.replace("E6", "G6"),
    ID.replace(" 07 ", " 11 "),  # the other variant (the host app is the EA07 image)
    ID.replace(" 07 ", " 7 "),
    ID.replace("600727000000000009", "600727000000000008"),  # PAN check digit
    ID.replace("600727000000000009", "600727000000000108"),  # DRN check digit
    ID.replace(" 123456 ", " 12345 "),
    ID.replace(" 01 ", " 1 "),
    ID.replace(" 255 ", " 256 "),
    ID.replace(" 1993", " 1994"),
    ID.replace(" 01 ", "  01 "),
    ID + " 1",
    ID[: len("PROVISION ID")],
    "PROVISION",
    "PROVISION KEY",
    "provision id " + ID[len("PROVISION ID ") :],
    "PROVISION IDX " + ID[len("PROVISION ID ") :],
    "TOKEN 56493153725450313471",  # Class 1 test token: accepted with or without a key
]


@st.composite
def provisioning_sessions(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Sessions of a meter with no key: provisioning requests, good and bad, among the other requests."""
    steps = draw(sessions())
    rng = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(1, 12))):
        steps.insert(rng.randrange(len(steps) + 1), ("line", rng.choice(PROVISION_LINES)))
    if rng.random() < 0.5:  # often a complete provisioning somewhere
        at = rng.randrange(len(steps) + 1)
        steps[at:at] = [("line", ID), ("line", KEY_LINE)]
    return steps


@settings(max_examples=60, deadline=None)
@given(steps=provisioning_sessions())
def test_provisioning_replies_like_the_emulator(apphost: Path, steps: list[tuple[str, str]]) -> None:
    """From an erased EEPROM / an unprovisioned emulated meter (`nguvu meter new --unprovisioned`)."""
    expected = [normalise(r) for r in run_emulator(steps, provisioned=False)]
    got = [normalise(r) for r in run_firmware_app(apphost, steps, provisioned=False)]
    assert got == expected
