"""Tokens on the emulated meter: what it accepts and refuses, what the LCD and the protocol say.

The rules are tokencore's decoder; these tests check that the emulator runs it, persists its result
and reports it with the protocol words and LCD texts of docs/serial-protocol.md.
"""

from pathlib import Path

import pytest
from emulator_kit import (
    KEY_A,
    PAN_A,
    PAN_B,
    PARAMS,
    PROFILE_A,
    TEST_VENDING_KEY,
    ManualClock,
    Vendor,
    corrupt,
    new_meter,
)

from meter_emulator import protocol
from meter_emulator.meter import Meter, MeterSettings
from meter_emulator.store import FileStore, StorageError
from tokencore import (
    BaseDate,
    DecoderKey,
    Dkga,
    Ea,
    KeyParams,
    MeterProfile,
    decode_token,
    derive_decoder_key,
    issue_key_change_tokens,
)
from tokencore.issue import issue_test_token


def lcd(meter: Meter, clock: ManualClock) -> tuple[str, str]:
    screen = meter.screen(clock.now)
    return screen.line1.rstrip(), screen.line2.rstrip()


def send(meter: Meter, clock: ManualClock, line: str) -> str:
    return protocol.handle(meter, line, clock.advance(50))


def test_credit_token_is_accepted_shown_and_closes_the_relay() -> None:
    clock, vendor = ManualClock(), Vendor()
    meter = new_meter(clock)
    assert not meter.relay_closed
    token = vendor.credit("12.5")
    assert send(meter, clock, f"TOKEN {token.grouped}") == "RESULT accept amount=12.5 credit=12.5"
    assert lcd(meter, clock) == ("Accept", "+12.5 kWh")
    assert meter.credit_wh == 12_500 and meter.relay_closed
    assert meter.drain_events() == ["EVENT relay state=on"]
    clock.advance(5_001)
    assert lcd(meter, clock) == ("Cr       12.5kWh", "Relay ON      0W")


def test_replayed_token_is_used_and_credits_nothing() -> None:
    clock, vendor = ManualClock(), Vendor()
    meter = new_meter(clock)
    token = vendor.credit("5").token
    assert send(meter, clock, f"TOKEN {token}").startswith("RESULT accept")
    assert send(meter, clock, f"TOKEN {token}") == "RESULT used"
    assert lcd(meter, clock) == ("Used", "")
    assert meter.credit_wh == 5_000


def test_token_older_than_the_whole_tid_memory_is_old() -> None:
    clock, vendor = ManualClock(), Vendor()
    meter = new_meter(clock)
    stale = vendor.credit("1").token  # issued first, typed last
    for _ in range(meter.state.config.tid_memory_size):
        assert send(meter, clock, f"TOKEN {vendor.credit('1').token}").startswith("RESULT accept")
    assert send(meter, clock, f"TOKEN {stale}") == "RESULT old"
    assert lcd(meter, clock) == ("Old", "")


def test_another_meters_token_is_rejected() -> None:
    clock = ManualClock()
    meter = new_meter(clock)
    profile_b = MeterProfile(PAN_B, PARAMS)
    other = Vendor(profile_b, derive_decoder_key(TEST_VENDING_KEY, profile_b)).credit("10").token
    assert send(meter, clock, f"TOKEN {other}") == "RESULT crc_error fails=1"
    assert lcd(meter, clock) == ("Reject", "")
    assert meter.credit_wh == 0


@pytest.mark.parametrize("position", [0, 7, 13, 19])
def test_corrupted_token_is_rejected(position: int) -> None:
    clock, vendor = ManualClock(), Vendor()
    meter = new_meter(clock)
    token = vendor.credit("10").token
    typo = corrupt(token, position, 3)
    if int(typo) < 2**66:  # otherwise it is a format error, tested below
        assert not decode_token(typo, KEY_A).crc_ok
    reply = send(meter, clock, f"TOKEN {typo}")
    assert reply.split()[1] in ("crc_error", "format_error")
    assert lcd(meter, clock)[0] in ("Reject", "Format error")
    assert meter.credit_wh == 0


def test_wrong_length_and_bad_characters() -> None:
    clock = ManualClock()
    meter = new_meter(clock)
    assert send(meter, clock, "TOKEN 1234") == "RESULT format_error fails=1"
    assert lcd(meter, clock) == ("Format error", "")
    assert send(meter, clock, "TOKEN 99999999999999999999") == "RESULT format_error fails=2"  # >= 2^66
    assert send(meter, clock, "TOKEN 1234x") == "ERROR bad_argument"
    assert send(meter, clock, "TOKEN") == "ERROR bad_argument"


def test_expired_key_refuses_the_token() -> None:
    clock, vendor = ManualClock(), Vendor()
    meter = new_meter(clock, params=KeyParams(sgc=123456, ti=1, krn=1, ken=85, base_date=PARAMS.base_date))
    token = vendor.credit("10")  # 2004 on the 1993 base: TID >> 16 is 89, above KEN 85
    assert token.tid is not None and token.tid >> 16 > 85
    assert send(meter, clock, f"TOKEN {token.token}") == "RESULT key_expired"
    assert lcd(meter, clock) == ("Expired", "")


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_key_change_in_either_order(order: tuple[int, int]) -> None:
    clock, vendor = ManualClock(), Vendor()
    meter = new_meter(clock)
    new_params = KeyParams(sgc=123456, ti=2, krn=2, base_date=PARAMS.base_date)
    new_key = derive_decoder_key(TEST_VENDING_KEY, MeterProfile(PAN_A, new_params))
    sections = issue_key_change_tokens(PROFILE_A, KEY_A, new_params, new_key)
    first, second = (sections[i].token for i in order)
    reply = send(meter, clock, f"TOKEN {first}")
    expected = "kct_2nd_pending" if order == (0, 1) else "kct_1st_pending"
    assert reply == f"RESULT {expected}"
    assert lcd(meter, clock) == ({"kct_2nd_pending": "PLS 2nd", "kct_1st_pending": "PLS 1St"}[expected], "")
    assert send(meter, clock, f"TOKEN {second}") == "RESULT accept krn=2 ti=02 kt=2 ken=255 credit=0.0"
    assert lcd(meter, clock) == ("Accept", "Key changed")
    assert "krn=2" in send(meter, clock, "INFO") and "ti=02" in send(meter, clock, "INFO")
    # Tokens made with the old key no longer work; tokens made with the new one do.
    assert send(meter, clock, f"TOKEN {vendor.credit('1').token}").startswith("RESULT crc_error")
    new_vendor = Vendor(MeterProfile(PAN_A, new_params), new_key, at=vendor.at, last_tid=vendor.last_tid)
    assert send(meter, clock, f"TOKEN {new_vendor.credit('1').token}").startswith("RESULT accept")


def test_lockout_after_three_wrong_entries() -> None:
    clock, vendor = ManualClock(), Vendor()
    meter = new_meter(clock)
    good = vendor.credit("2").token
    bad = corrupt(good, 19, 1)
    assert send(meter, clock, f"TOKEN {bad}") == "RESULT crc_error fails=1"
    assert send(meter, clock, f"TOKEN {bad}") == "RESULT crc_error fails=2"
    assert send(meter, clock, f"TOKEN {bad}") == "RESULT crc_error fails=3 seconds=10"
    reply = send(meter, clock, f"TOKEN {good}")
    assert reply.startswith("RESULT locked seconds=")
    assert lcd(meter, clock)[0].startswith("LOCK ")
    assert "locked=10" in send(meter, clock, "STATUS") or "locked=9" in send(meter, clock, "STATUS")
    # A test token (Class 1, for this manufacturer) is still processed while locked.
    test_token = issue_test_token(1, PAN_A.mfr_code).token
    assert send(meter, clock, f"TOKEN {test_token}").startswith("RESULT accept")
    clock.advance(6_000)
    assert lcd(meter, clock)[0].startswith("LOCK ")  # the idle screen counts down
    clock.advance(5_000)
    assert send(meter, clock, f"TOKEN {good}") == "RESULT accept amount=2.0 credit=2.0"
    assert "locked=0" in send(meter, clock, "STATUS")


def test_tokens_typed_on_the_keypad() -> None:
    clock, vendor = ManualClock(), Vendor()
    meter = new_meter(clock)
    token = vendor.credit("3").token
    for digit in token[:7]:
        assert send(meter, clock, f"KEY {digit}") == "OK"
    assert lcd(meter, clock) == ("Token       7/20", token[:7])
    assert send(meter, clock, "KEY *") == "OK"
    assert send(meter, clock, f"KEY {token[6]}") == "OK"
    for digit in token[7:]:
        send(meter, clock, f"KEY {digit}")
    assert send(meter, clock, "KEY #") == "RESULT accept amount=3.0 credit=3.0"
    assert lcd(meter, clock) == ("Accept", "+3.0 kWh")
    # a person at the keypad (not a KEY request) also tells the serial host
    for digit in vendor.credit("1").token:
        meter.press(digit, clock.advance(300), announce=True)
    meter.drain_events()
    meter.press("#", clock.advance(300), announce=True)
    assert meter.drain_events() == ["EVENT token accept amount=1.0 credit=4.0"]


def test_inter_digit_timeout_forgets_a_half_typed_token() -> None:
    clock, vendor = ManualClock(), Vendor()
    meter = new_meter(clock)
    token = vendor.credit("3").token
    for digit in token[:10]:
        send(meter, clock, f"KEY {digit}")
    clock.advance(20_001)
    assert lcd(meter, clock)[0].startswith("Cr")
    for digit in token[10:]:
        send(meter, clock, f"KEY {digit}")
    assert send(meter, clock, "KEY #") == "RESULT format_error fails=1"


def test_short_codes() -> None:
    clock, vendor = ManualClock(), Vendor()
    meter = new_meter(clock)
    send(meter, clock, f"TOKEN {vendor.credit('7.5').token}")
    for key in "01#":
        send(meter, clock, f"KEY {key}")
    assert lcd(meter, clock) == ("Credit", "7.5 kWh")
    send(meter, clock, "KEY C")
    assert lcd(meter, clock) == ("Last token", "Accept")
    send(meter, clock, "KEY D")
    assert lcd(meter, clock) == ("00000000000", "SGC 123456")
    send(meter, clock, "KEY D")
    assert lcd(meter, clock) == ("KRN 1 TI 01", "KEN 255 KT 2")
    for key in "99#":
        send(meter, clock, f"KEY {key}")
    assert lcd(meter, clock) == ("Unknown code", "")
    assert send(meter, clock, "KEY E") == "ERROR bad_argument"


def test_protocol_errors_change_nothing() -> None:
    clock = ManualClock()
    meter = new_meter(clock)
    before = meter.state
    assert send(meter, clock, "HELLO") == "ERROR unknown_command"
    assert send(meter, clock, "STATUS now") == "ERROR bad_argument"
    assert send(meter, clock, "status").startswith("STATUS credit=0.0")  # keywords are case-insensitive
    assert meter.state == before


class FailingStore:
    def __init__(self, data: bytes | None) -> None:
        self.data = data

    def load(self) -> bytes | None:
        return self.data

    def save(self, data: bytes) -> None:
        raise StorageError("disk full")


def test_a_token_that_cannot_be_stored_is_not_applied() -> None:
    clock, vendor = ManualClock(), Vendor()
    meter = new_meter(clock)
    broken = Meter.load(FailingStore(meter.store.load()), MeterSettings(), clock.now)
    token = vendor.credit("5").token
    assert send(broken, clock, f"TOKEN {token}") == "ERROR storage"
    assert broken.credit_wh == 0
    assert send(meter, clock, f"TOKEN {token}").startswith("RESULT accept")  # the token is still good


def test_background_saves_survive_a_failing_store() -> None:
    """Consumption and relay saves that fail are retried later; they never stop the meter."""
    from meter_emulator.sensor import ConstantLoad

    clock, vendor = ManualClock(), Vendor()
    settings = MeterSettings(profile=ConstantLoad(1000.0), time_factor=3600.0, persist_interval_ms=100)
    meter = new_meter(clock, settings)
    meter.enter_token(vendor.credit("1").token, clock.now)
    broken = Meter.load(FailingStore(meter.store.load()), settings, clock.now)
    for _ in range(20):
        broken.advance(clock.advance(500))  # runs out of credit: the relay opens, the save fails
    assert broken.credit_wh == 0 and not broken.relay_closed


def test_pending_key_change_and_lockout_survive_a_power_cut(tmp_path: Path) -> None:
    clock, vendor = ManualClock(), Vendor()
    meter = new_meter(clock, path=tmp_path / "m.json")
    new_params = KeyParams(sgc=123456, ti=3, krn=3, base_date=PARAMS.base_date)
    new_key = derive_decoder_key(TEST_VENDING_KEY, MeterProfile(PAN_A, new_params))
    first, second = (t.token for t in issue_key_change_tokens(PROFILE_A, KEY_A, new_params, new_key))
    assert send(meter, clock, f"TOKEN {first}") == "RESULT kct_2nd_pending"
    bad = corrupt(vendor.credit("1").token, 19, 1)
    for _ in range(3):
        send(meter, clock, f"TOKEN {bad}")
    assert meter.locked_seconds(clock.now) == 10

    revived = Meter.load(FileStore(tmp_path / "m.json"), MeterSettings(), clock.advance(2_000))
    assert revived.locked_seconds(clock.now) == 8  # the lockout kept running through the cut
    assert send(revived, clock, f"TOKEN {second}").startswith("RESULT locked")
    clock.advance(8_000)
    assert send(revived, clock, f"TOKEN {second}").startswith("RESULT accept krn=3 ti=03")


def test_ea11_key_change_prompts_for_each_missing_section() -> None:
    """The decoder scenario `ea11_key_change_prompts` on the emulator (the firmware test runs the same
    tokens): PLS 2nd, PLS 3rd, PLS 4th, then the key changes; an emulated meter refuses PROVISION."""
    clock = ManualClock()
    params = KeyParams(sgc=123457, ti=1, krn=1, base_date=BaseDate.Y1993, dkga=Dkga.DKGA04, ea=Ea.EA11)
    meter = new_meter(clock, params=params, key=DecoderKey.from_hex("F94B6ED353C3BFDB113E2D3A7EA3C41D"))
    sections = [
        "40937788669556693706",
        "55900126766830063715",
        "70168064023104948668",
        "31051353433275215300",
    ]
    seen = []
    for token in sections:
        seen.append((send(meter, clock, f"TOKEN {token}"), lcd(meter, clock)[0]))
    assert seen == [
        ("RESULT kct_2nd_pending", "PLS 2nd"),
        ("RESULT kct_3rd_pending", "PLS 3rd"),
        ("RESULT kct_4th_pending", "PLS 4th"),
        ("RESULT accept krn=2 ti=01 kt=2 ken=255 credit=0.0", "Accept"),
    ]
    assert (
        send(meter, clock, "PROVISION ID 600727000000000009 123457 01 1 2 255 11 1993") == "ERROR provisioned"
    )
