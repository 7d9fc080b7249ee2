"""The serial protocol parsers fed random bytes and over-long lines: the meter emulator's (LineFramer and
protocol.handle) and the firmware's (firmware/app on the host HAL under ASan/UBSan, test/apphost.c).

A seeded stream of NGUVU_FUZZ_SERIAL_LINES lines (default 400, about 150 KB) of garbage: random bytes,
lines of 65 to 20,000 bytes, control characters, unknown commands, requests with bad arguments, and
read-only requests; no line that could change the meter (a token, a key press, provisioning). Checked:
- the firmware runs it without a crash or a sanitizer report;
- each line gets exactly the reply the framing rules call for (docs/serial-protocol.md section 2), and
  the firmware's replies are the emulator's, word for word (only the firmware name differs);
- nothing changed: the EEPROM image is byte for byte the same, the emulator's stored document too,
  and STATUS after the stream is STATUS before it.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from meter_emulator import protocol
from meter_emulator.framing import MAX_LINE, FramingError, LineFramer
from meter_emulator.meter import MeterSettings
from meter_emulator.provision import Identity, create_meter
from meter_emulator.store import MemoryStore
from tests.firmware.conftest import TEST_METERS, TEST_PAN, sample_provisioning
from tokencore import DecoderKey, parse_pan

if TYPE_CHECKING:
    from tests.firmware.conftest import Simulator

pytestmark = pytest.mark.firmware

LINES = int(os.environ.get("NGUVU_FUZZ_SERIAL_LINES", "400"))
CHANGES_STATE = (b"TOKEN", b"KEY", b"PROVISION")
BAD_REQUESTS = [
    b"TOKEN",
    b"TOKEN abc",
    b"TOKEN 12x4",
    b"TOKEN \x7f1",
    b"KEY",
    b"KEY 55",
    b"KEY Z",
    b"STATUS x",
    b"INFO 1",
    b"LCD ?",
    b"HELLO",
    b"TOKENS 1",
    b"\t",
    b"STATUS\x00",
]
READS = [b"STATUS", b"status", b"INFO", b"LCD", b"  LCD  ", b"Info", b"\r\rSTATUS\r"]


def garbage_line(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.3:
        line = bytes(rng.randrange(256) for _ in range(rng.randint(0, 120)))
    elif roll < 0.45:
        size = rng.choice([MAX_LINE + 1, 100, 1000, 4096, 20_000])
        line = bytes(rng.randrange(0x20, 0x7F) for _ in range(size))
    elif roll < 0.5:
        line = b"STATUS " + b" " * rng.randint(MAX_LINE, 3 * MAX_LINE)  # over-long, though it would trim
    elif roll < 0.8:
        line = "".join(
            rng.choice("TOKENSTAUIFLCDKYPRV 0123456789-#*abc") for _ in range(rng.randint(0, 70))
        ).encode()
    elif roll < 0.92:
        line = rng.choice(BAD_REQUESTS)
    else:
        line = rng.choice(READS)
    line = line.replace(b"\n", b"")
    if line.strip(b" \r").upper().startswith(CHANGES_STATE):
        return b"HELLO " + line  # an unknown command instead
    return line


def emulator_replies(stream: bytes) -> tuple[list[str], bytes | None, bytes | None]:
    """The emulator meter's replies to the stream; its stored document before and after."""
    params, key = TEST_METERS["ea07"]
    store = MemoryStore()
    now = 1_000_000
    meter = create_meter(
        store, Identity(parse_pan(TEST_PAN), params), DecoderKey.from_hex(key), MeterSettings(), now
    )
    before = store.data
    replies = [protocol.handle(meter, item, now) for item in LineFramer().feed(stream)]
    return replies, before, store.data


def firmware_replies(apphost: Path, stream: bytes, eeprom: Path) -> list[str]:
    chunks = [stream[i : i + 1000] for i in range(0, len(stream), 1000)]
    script = "".join(f"!raw {c.hex()}\n" for c in chunks)
    proc = subprocess.run(
        [str(apphost), str(eeprom)], input=script, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "AddressSanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr[-3000:]
    return [line for line in proc.stdout.splitlines() if not line.startswith("EVENT ")]


def normalise(reply: str) -> str:
    return re.sub(r" fw=\S+", " fw=*", reply)


@pytest.fixture(scope="module")
def apphost(fw_make: Callable[..., Path]) -> Path:
    return fw_make("sanitize") / "san" / "apphost"


def test_random_bytes_and_overlong_lines_get_clear_errors_and_change_nothing(
    apphost: Path, tmp_path: Path
) -> None:
    eeprom = tmp_path / "eeprom.bin"
    provisioning = "".join(line + "\n" for line in sample_provisioning()).encode()
    assert firmware_replies(apphost, provisioning, eeprom) == ["OK", "OK"]
    saved = eeprom.read_bytes()

    rng = random.Random(20261204)
    lines = [b"STATUS", *(garbage_line(rng) for _ in range(LINES)), b"STATUS"]
    stream = b"\n".join(lines) + b"\n"
    expected = LineFramer().feed(stream)
    got = [normalise(r) for r in firmware_replies(apphost, stream, eeprom)]

    emulated, doc_before, doc_after = emulator_replies(stream)
    assert got == [normalise(r) for r in emulated]
    assert len(got) == len(expected)
    for item, reply in zip(expected, got, strict=True):
        if isinstance(item, FramingError):
            assert reply == f"ERROR {item.reason}"
        elif item.strip().upper() not in ("STATUS", "INFO", "LCD"):
            assert reply.startswith("ERROR "), (item, reply)
    assert got[0] == got[-1] and got[0].startswith("STATUS credit=0.0 ")
    assert eeprom.read_bytes() == saved
    assert doc_after == doc_before
    words = {r for r in got if r.startswith("ERROR")}
    assert {"ERROR too_long", "ERROR bad_char", "ERROR unknown_command", "ERROR bad_argument"} <= words


def test_the_simulated_board_answers_printable_garbage_like_the_host_app(
    apphost: Path, simulator: Simulator, tmp_path: Path
) -> None:
    """The same on the AVR image in simavr, for what its harness can type (printable lines, a few
    over-long ones): the Uno's replies are the host app's, and its EEPROM is unchanged."""
    rng = random.Random(7)
    lines = [b"STATUS"]
    while len(lines) < 40:
        line = garbage_line(rng)
        if all(0x20 <= b < 0x7F for b in line) and len(line) <= 300 and not line.startswith(b"!"):
            lines.append(line)
    lines.append(b"STATUS")
    script = [line.decode() for line in lines]
    eeprom = tmp_path / "sim-ee.bin"
    run = simulator.run(script, eeprom)
    saved = eeprom.read_bytes()
    host = firmware_replies(
        apphost,
        "".join(f"{line}\n" for line in [*sample_provisioning(), *script]).encode(),
        tmp_path / "h.bin",
    )
    assert run.replies() == host[2:]
    assert simulator.run(script, eeprom).replies() == run.replies()
    assert eeprom.read_bytes() == saved
