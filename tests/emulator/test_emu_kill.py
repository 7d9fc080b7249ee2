"""A real emulator process, killed with SIGKILL at random moments while it accepts tokens over its pty.

After every restart the host resends the one token whose reply it never got (the protocol's rule:
tokens are safe to resend). At the end the credit must be exactly the sum of the accepted tokens minus
the consumption the meter recorded, and no token may be accepted twice.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import termios
import threading
from pathlib import Path

import serial
from emulator_kit import ManualClock, SerialHost, Vendor, new_meter

from meter_emulator.meter import Meter, MeterSettings
from meter_emulator.store import FileStore

KILLS = 20
LINK_ERRORS = (serial.SerialException, OSError, TimeoutError, UnicodeDecodeError, termios.error)


# `nguvu meter ...` with only the meter commands loaded: the same Typer app, a third of the start-up time.
NGUVU_METER = "import cli.meter_cmds; from cli.apps import app; app()"


def start(state: Path) -> tuple[subprocess.Popen[str], str]:
    command = [
        *(sys.executable, "-c", NGUVU_METER, "meter", "emulate", str(state), "--headless"),
        *("--load", "constant:2000", "--time-factor", "3600", "--tick-ms", "20", "--save-every", "0.05"),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline().split()
    proc.stdout.close()
    assert first[:1] == ["SERIAL"], first
    return proc, first[1]


def test_sigkill_never_loses_or_doubles_credit(tmp_path: Path) -> None:
    state = tmp_path / "meter.json"
    new_meter(ManualClock(), path=state)
    rng = random.Random(20_26)
    vendor = Vendor()
    amounts: dict[str, int] = {}  # every token sent, with its credit in Wh

    def next_token() -> str:
        issued = vendor.credit(f"{rng.randint(1, 40) / 10:.1f}")
        amounts[issued.token] = round(issued.units * 1000)  # type: ignore[operator]
        return issued.token

    accepted: list[str] = []
    in_doubt: str | None = None
    busy_kills = 0

    for _ in range(KILLS):
        proc, path = start(state)
        host = SerialHost(path, timeout_s=2.0)
        killer = threading.Timer(rng.uniform(0.002, 0.06), os.kill, (proc.pid, signal.SIGKILL))
        try:
            if in_doubt is not None:  # sent before the last kill, reply never seen: resend it
                outcome = host.request(f"TOKEN {in_doubt}").split()[1]
                assert outcome in ("accept", "used")
                accepted.append(in_doubt)
                in_doubt = None
            killer.start()
            while True:  # until the kill
                in_doubt = next_token()
                reply = host.request(f"TOKEN {in_doubt}")
                assert reply.startswith("RESULT accept amount="), reply
                accepted.append(in_doubt)
                in_doubt = None
        except LINK_ERRORS:
            busy_kills += in_doubt is not None  # killed with a token in flight
        finally:
            host.close()
            killer.cancel()
            proc.kill()
            proc.wait()

    assert busy_kills >= KILLS // 2, "most kills should land while a token is being processed"
    proc, path = start(state)
    host = SerialHost(path)
    try:
        if in_doubt is not None:
            assert host.request(f"TOKEN {in_doubt}").split()[1] in ("accept", "used")
            accepted.append(in_doubt)
        # no token is accepted twice: every one sent so far is refused now
        for token in amounts:
            assert host.request(f"TOKEN {token}").split()[1] in ("used", "old")
    finally:
        host.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0

    assert len(accepted) == len(set(accepted))
    meter = Meter.load(FileStore(state), MeterSettings(), 0)
    assert meter.debited_wh > 0  # the load ran while tokens were accepted
    assert meter.credit_wh == sum(amounts[t] for t in accepted) - meter.debited_wh
