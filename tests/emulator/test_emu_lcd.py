"""LCD texts of docs/serial-protocol.md §8: every screen is two lines of exactly 16 characters."""

from hypothesis import given
from hypothesis import strategies as st

from meter_emulator import lcd
from meter_emulator.lcd import RelayWord


def test_idle_screen_examples_from_the_protocol_document() -> None:
    assert lcd.idle_screen(125, RelayWord.ON, 230, 0).framed() == "|Cr       12.5kWh|Relay ON    230W|"
    assert lcd.idle_screen(15, RelayWord.LOW, 230, 0).line2 == "LOW CREDIT  230W"
    assert lcd.idle_screen(0, RelayWord.OFF_CREDIT, 0, 0).line2 == "OFF NoCred    0W"
    assert lcd.idle_screen(0, RelayWord.OFF_MPL, 0, 0).line2 == "OFF Limit     0W"
    assert lcd.idle_screen(0, RelayWord.OFF_TAMPER, 0, 0).line2 == "OFF Tamper    0W"
    assert lcd.idle_screen(125, RelayWord.ON, 0, 40).line1 == "LOCK 40         "


def test_entry_screen_shows_count_and_last_sixteen_digits() -> None:
    screen = lcd.entry_screen("1234567")
    assert screen.line1 == "Token       7/20"
    assert screen.line2 == "1234567         "
    assert lcd.entry_screen("12345678901234567890").line2 == "5678901234567890"


def test_result_screens() -> None:
    accept = lcd.result_screen("accept", lcd.accept_detail_credit(125))
    assert (accept.line1.rstrip(), accept.line2.rstrip()) == ("Accept", "+12.5 kWh")
    assert lcd.result_screen("crc_error").line1.rstrip() == "Reject"
    assert lcd.result_screen("kct_1st_pending").line1.rstrip() == "PLS 1St"
    assert lcd.result_screen("kct_2nd_pending").line1.rstrip() == "PLS 2nd"
    assert lcd.result_screen("locked", locked_s=1280).line1.rstrip() == "LOCK 1280"
    assert lcd.accept_detail_mpl(1000) == "Limit 1000 W"


def test_short_code_screens() -> None:
    assert lcd.power_screen(230, 230.0, 1.0).framed() == "|Power 230 W     |230.0V 1.000A   |"
    assert lcd.key_screen(1, 1, 255, 2).framed() == "|KRN 1 TI 01     |KEN 255 KT 2    |"
    assert lcd.energy_screen(12345).line2.rstrip() == "12.345 kWh"
    assert lcd.meter_number_screen("01234567897", 123456).line2.rstrip() == "SGC 123456"


@given(st.integers(0, 18_201_624), st.sampled_from(list(RelayWord)), st.integers(0, 23_000))
def test_idle_screen_always_fits(credit: int, word: RelayWord, power: int) -> None:
    screen = lcd.idle_screen(credit, word, power, 0)
    assert len(screen.line1) == len(screen.line2) == 16
    assert screen.line1.rstrip().endswith("kWh") and "|" not in screen.framed()[1:-1].replace("|", "", 1)
