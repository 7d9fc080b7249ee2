"""The meter application (firmware/app) on the host HAL, built with ASan/UBSan (firmware/test/apphost.c).

The same C that runs on the Uno, fed arbitrary serial bytes: no memory error, and exactly the replies the
framing rules of docs/serial-protocol.md section 2 call for (the emulator's LineFramer is the oracle)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_emulator.framing import FramingError, LineFramer

from tests.firmware.conftest import sample_provisioning

if TYPE_CHECKING:
    from conftest import Simulator

pytestmark = pytest.mark.firmware

REPLY_WORDS = ("RESULT", "OK", "STATUS", "INFO", "LCD", "ERROR")
REQUESTS = [
    b"STATUS",
    b"status",
    b"INFO",
    b"LCD",
    b"KEY 5",
    b"KEY #",
    b"KEY *",
    b"KEY A",
    b"TOKEN 23716100501183194197",
    b"TOKEN 2371 6100 5011 8319 4197",
    b"TOKEN 1234",
    b"  LCD  ",
    b"\r",
    b"",
    b" ",
]


@pytest.fixture(scope="session")
def apphost(fw_make: Callable[..., Path]) -> Path:
    return fw_make("sanitize") / "san" / "apphost"


def run_app(apphost: Path, stream: bytes, eeprom: Path | None = None) -> list[str]:
    chunks = [stream[i : i + 1000] for i in range(0, len(stream), 1000)]
    script = "".join(f"!raw {c.hex()}\n" for c in chunks)
    args = [str(apphost)] + ([str(eeprom)] if eeprom else [])
    proc = subprocess.run(args, input=script, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ERROR: AddressSanitizer" not in proc.stderr and "runtime error" not in proc.stderr
    return [line for line in proc.stdout.splitlines() if not line.startswith("EVENT ")]


lines = st.one_of(
    st.sampled_from(REQUESTS),
    st.binary(max_size=80).map(lambda b: b.replace(b"\n", b"")),
    st.text(alphabet="TOKENSTAUIFLCDKY 0123456789-#*abc", max_size=70).map(str.encode),
)


@settings(max_examples=60, deadline=None)
@given(stream_lines=st.lists(lines, min_size=1, max_size=30))
def test_any_serial_input_gets_the_framed_replies(apphost: Path, stream_lines: list[bytes]) -> None:
    provision = [line.encode() for line in sample_provisioning()]
    stream = b"\n".join(provision + stream_lines) + b"\n"
    expected = LineFramer().feed(stream)
    replies = run_app(apphost, stream)
    assert len(replies) == len(expected), (stream, replies)
    for item, reply in zip(expected, replies, strict=True):
        if isinstance(item, FramingError):
            assert reply == f"ERROR {item.reason}"
        else:
            assert reply.split(" ", 1)[0] in REPLY_WORDS


def test_host_app_matches_the_simulated_board(apphost: Path, simulator: Simulator, tmp_path: Path) -> None:
    """The same requests give the same replies on the host HAL and on the simulated Uno, provisioned
    over the serial line from an erased EEPROM."""
    script = [
        *sample_provisioning(),
        "STATUS",
        "TOKEN 2371 6100 5011 8319 4197",
        "LCD",
        "TOKEN 23716100501183194197",
        "INFO",
        "KEY 0",
    ]
    stream = "".join(line + "\n" for line in script).encode()
    replies = run_app(apphost, stream, tmp_path / "host-ee.bin")
    assert replies == simulator.run(script, tmp_path / "sim-ee.bin", provisioned=False).replies()
    assert replies == [
        "OK",
        "OK",
        "STATUS credit=0.0 relay=off power=0 voltage=230.0 current=0.000 energy=0.000 tamper=0 locked=0 mpl=0"
        " low=1 pf=1.00",
        "RESULT accept amount=0.1 credit=0.1",
        "LCD |Accept          |+0.1 kWh        |",
        "RESULT used",
        "INFO pan=600727000000000009 drn=00000000000 sgc=123456 ti=01 krn=1 kt=2 ken=255 ea=07 bd=1993"
        " fw=nguvu-uno/0.1",
        "OK",
    ]
