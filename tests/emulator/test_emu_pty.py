"""The emulator on a real pseudo-terminal, driven with pyserial as the vending service drives a board."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from emulator_kit import (
    PAN_B,
    PARAMS,
    PROFILE_A,
    TEST_VENDING_KEY,
    SerialHost,
    ServedMeter,
    Vendor,
    corrupt,
    new_meter,
)

from meter_emulator.clock import SystemClock
from tokencore import KeyParams, MeterProfile, derive_decoder_key

# KEN 89: tokens issued until 2004-03-19 (TID >> 16 = 89 on the 1993 base) are good, later ones expired.
PARAMS_KEN89 = KeyParams(sgc=PARAMS.sgc, ti=PARAMS.ti, krn=PARAMS.krn, ken=89, base_date=PARAMS.base_date)


@pytest.fixture
def served() -> Iterator[tuple[ServedMeter, SerialHost]]:
    clock = SystemClock()
    meter = ServedMeter(new_meter(clock, params=PARAMS_KEN89), clock)
    host = SerialHost(meter.path)
    try:
        yield meter, host
    finally:
        host.close()
        meter.close()


def lcd_line1(host: SerialHost) -> str:
    reply = host.request("LCD")
    assert reply.startswith("LCD |") and len(reply) == 39
    return reply.split("|")[1].rstrip()


def test_tokens_over_the_pty(served: tuple[ServedMeter, SerialHost]) -> None:
    meter, host = served
    vendor = Vendor()
    stale = vendor.credit("1").token
    tokens = [vendor.credit("2.5").token for _ in range(20)]
    credit = 0.0
    for token in tokens:
        credit += 2.5
        assert host.request(f"TOKEN {token}") == f"RESULT accept amount=2.5 credit={credit:.1f}"
    assert lcd_line1(host) == "Accept"
    assert "EVENT relay state=on" in host.events

    profile_b = MeterProfile(PAN_B, PARAMS)
    other_meter = Vendor(profile_b, derive_decoder_key(TEST_VENDING_KEY, profile_b)).credit("9").token
    late = Vendor(PROFILE_A, at=datetime(2004, 4, 1, tzinfo=UTC)).credit("9").token
    refusals = [
        (tokens[3], "RESULT used", "Used"),
        (stale, "RESULT old", "Old"),
        (other_meter, "RESULT crc_error fails=1", "Reject"),
        (corrupt(tokens[0], 12, 5), "RESULT crc_error fails=2", "Reject"),
        (late, "RESULT key_expired", "Expired"),
    ]
    for token, reply, text in refusals:
        assert host.request(f"TOKEN {token}") == reply
        assert lcd_line1(host) == text
    assert host.request("STATUS").startswith(f"STATUS credit={credit:.1f} relay=on")
    assert meter.meter.credit_wh == 50_000


def test_tokens_typed_with_key_requests(served: tuple[ServedMeter, SerialHost]) -> None:
    _, host = served
    token = Vendor().credit("4").token
    for digit in token:
        assert host.request(f"KEY {digit}") == "OK"
    assert host.request("LCD") == f"LCD |Token      20/20|{token[-16:]}|"
    assert host.request("KEY #") == "RESULT accept amount=4.0 credit=4.0"


def test_framing_over_the_wire(served: tuple[ServedMeter, SerialHost]) -> None:
    _, host = served
    assert host.request(b"status\r\n").startswith("STATUS credit=0.0")
    assert host.request(b"X" * 500 + b"\n") == "ERROR too_long"
    assert host.request(b"\x00\x01garbage\xff\n") == "ERROR bad_char"
    assert host.request(b"NONSENSE\n") == "ERROR unknown_command"
    host.port.write(b"TOKEN 1234")  # a partial line, then the host resyncs with a lone LF
    host.port.flush()
    assert host.request(b"\n") == "RESULT format_error fails=1"  # the partial line got its reply
    assert host.request("INFO").startswith("INFO pan=600727000000000009 ")
    host.port.write(b"STATUS\nINFO\nLCD\n")  # pipelined requests are answered in order
    assert [host.reply().split()[0] for _ in range(3)] == ["STATUS", "INFO", "LCD"]
