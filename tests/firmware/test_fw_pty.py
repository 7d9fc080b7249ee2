"""The simulated firmware on a pseudo-terminal (simharness -p), driven by pyserial like a real Uno on
/dev/ttyACM0: the host rules of docs/serial-protocol.md section 6 work against it."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import serial

from meter_emulator.eeprom import eeprom_image
from tests.firmware.conftest import sample_meter_state

if TYPE_CHECKING:
    from conftest import Simulator

pytestmark = pytest.mark.firmware


def request(port: serial.Serial, line: str) -> str:
    """Send one request and return its reply, skipping EVENT lines (protocol section 6, rule 2)."""
    port.write(line.encode() + b"\n")
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        reply = port.readline().decode().rstrip("\n")
        if reply and not reply.startswith("EVENT "):
            return reply
    raise AssertionError(f"no reply to {line!r}")


def test_pyserial_on_the_simulated_uno(simulator: Simulator, tmp_path: Path) -> None:
    link = tmp_path / "ttyNGUVU0"
    (tmp_path / "ee.bin").write_bytes(eeprom_image(sample_meter_state(), 1993))
    proc = subprocess.Popen(
        [
            str(simulator.harness),
            "-e",
            str(tmp_path / "ee.bin"),
            "-p",
            str(link),
            str(simulator.elfs["ea07"]),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not link.exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the harness did not create the pty"
            time.sleep(0.05)
        with serial.serial_for_url(str(link), baudrate=115200, timeout=0.2) as port:
            port.write(b"\n")  # resync (rule 1): end any partial line, then drop what arrives
            time.sleep(0.1)
            port.reset_input_buffer()
            assert request(port, "STATUS").startswith("STATUS credit=0.0 relay=off ")
            assert request(port, "TOKEN 2371-6100-5011-8319-4197") == "RESULT accept amount=0.1 credit=0.1"
            assert request(port, "TOKEN 23716100501183194197") == "RESULT used"  # resending is safe
            assert request(port, "LCD") == "LCD |Used            |                |"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "#END " in err
    assert not link.exists()
