"""Power cuts at random instants of random sessions (tokens, consumption, status), on the meter app
built for the host under ASan/UBSan (firmware/test/apphost.c). The EEPROM keeps what was written up to
the cut; the sensor keeps its energy register; RAM is lost and the meter powers up again.

A model follows the session: when a cut hits a token's save, the token may or may not have been
applied (the reply never left), so the model keeps both possibilities until later replies (STATUS,
a replay) tell them apart. Every reply must fit at least one possibility: credit is never lost, a token
is never applied twice, and consumption is never forgotten, whatever the cut point."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tokencore import BaseDate, DecoderKey, Issuer, KeyParams, MeterProfile, parse_pan

from tests.firmware.conftest import sample_provisioning

pytestmark = pytest.mark.firmware

ISSUER = Issuer(
    MeterProfile(
        parse_pan("600727000000000009"), KeyParams(sgc=123456, ti=1, krn=1, base_date=BaseDate.Y1993)
    ),
    DecoderKey.from_hex("E653341F9D5BF36F"),
)
AMOUNTS = [1, 5, 20, 37, 100, 250, 9, 64]  # tenths of a kWh
TOKENS = [
    ISSUER.credit(f"{a / 10:.1f}", at=datetime(2024, 1, 1) + timedelta(minutes=i), rnd=i).token
    for i, a in enumerate(AMOUNTS)
]


@pytest.fixture(scope="session")
def apphost(fw_make: Callable[..., Path]) -> Path:
    return fw_make("sanitize") / "san" / "apphost"


def kwh(wh: int) -> str:
    tenths = wh // 100
    return f"{tenths // 10}.{tenths % 10}"


ops = st.lists(
    st.one_of(
        st.tuples(st.just("token"), st.integers(0, len(TOKENS) - 1)),
        st.tuples(st.just("energy"), st.integers(0, 2500)),
        st.tuples(st.just("cut"), st.integers(1, 14)),
        st.tuples(st.just("status"), st.just(0)),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(session=ops)
def test_power_cuts_never_lose_or_double_credit(apphost: Path, session: list[tuple[str, int]]) -> None:
    script: list[str] = sample_provisioning()
    energy = 0
    for kind, arg in session:
        if kind == "token":
            script.append(f"TOKEN {TOKENS[arg]}")
        elif kind == "energy":
            energy += arg
            script += [f"!energy {energy}", "!wait 1100"]
        elif kind == "cut":
            script.append(f"!cut {arg}")
        else:
            script.append("STATUS")
    script.append("STATUS")
    session = [*session, ("status", 0)]
    proc = subprocess.run(
        [str(apphost)],
        input="\n".join(script) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if not line.startswith("EVENT ")]
    assert lines[:2] == ["OK", "OK"], "serial provisioning of the erased EEPROM"
    lines = lines[2:]

    # Possible (credit Wh, tokens applied) pairs; the energy reference is the same in all of them.
    states: set[tuple[int, frozenset[int]]] = {(0, frozenset())}
    ref = 0
    energy = 0
    pos = 0
    line = ""

    def next_line() -> str:
        nonlocal pos
        while pos < len(lines) and lines[pos] == "CUT":
            event("power cut during a consumption save")
            pos += 1  # nothing to decide: the credit is recomputed from the sensor
        assert pos < len(lines), "missing reply"
        pos += 1
        return lines[pos - 1]

    for kind, arg in session:
        if kind == "energy":
            energy += arg
            tenths = (energy - ref) // 100
            ref += 100 * tenths
            states = {(max(0, c - 100 * tenths), used) for c, used in states}
        elif kind == "token":
            line = next_line()
            amount = AMOUNTS[arg] * 100
            if line == "CUT request":
                event("power cut during a token's save")
                states = {
                    s
                    for c, used in states
                    if arg not in used
                    for s in ((c, used), (c + amount, used | {arg}))
                }
            else:
                states = {
                    (c + amount, used | {arg}) if arg not in used else (c, used)
                    for c, used in states
                    if line
                    == (
                        "RESULT used"
                        if arg in used
                        else f"RESULT accept amount={kwh(amount)} credit={kwh(c + amount)}"
                    )
                }
        elif kind == "status":
            line = next_line()
            assert line.startswith("STATUS credit="), line
            credit = line.split()[1].removeprefix("credit=")
            states = {s for s in states if kwh(s[0]) == credit}
        assert states, f"no consistent state after {kind} {arg}: {line}"
