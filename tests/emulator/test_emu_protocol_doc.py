"""The example session of docs/serial-protocol.md §10, replayed byte for byte against the emulator:
in process, then over a real pseudo-terminal with pyserial."""

import re
from pathlib import Path

from emulator_kit import ManualClock, SerialHost, ServedMeter, new_meter

from meter_emulator import protocol
from meter_emulator.clock import SystemClock

DOC = Path(__file__).resolve().parents[2] / "docs" / "serial-protocol.md"


def example_session() -> list[tuple[str, str]]:
    text = DOC.read_text()
    section = text[text.index("## 10. Example session") :]
    block = re.search(r"```\n(.*?)```", section, re.S)
    assert block is not None
    lines = block.group(1).splitlines()
    pairs = []
    for request, reply in zip(lines[::2], lines[1::2], strict=True):
        assert request.startswith("> ") and reply.startswith("< ")
        pairs.append((request[2:], reply[2:]))
    assert len(pairs) >= 8
    return pairs


def test_example_session_in_process() -> None:
    clock = ManualClock()
    meter = new_meter(clock)
    for request, expected in example_session():
        assert protocol.handle(meter, request, clock.advance(100)) == expected


def test_example_session_over_a_pty() -> None:
    clock = SystemClock()
    served = ServedMeter(new_meter(clock), clock)
    host = SerialHost(served.path)
    try:
        for request, expected in example_session():
            assert host.request(request) == expected
    finally:
        host.close()
        served.close()
