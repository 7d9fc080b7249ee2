"""The keypad entry buffer: 20 digits, delete, enter, short codes, inter-digit timeout."""

import pytest

from meter_emulator.keypad import INTER_DIGIT_TIMEOUT_MS, Action, Keypad


def type_keys(pad: Keypad, keys: str, start_ms: int = 0, step_ms: int = 100) -> list[Action]:
    return [pad.press(k, start_ms + i * step_ms).action for i, k in enumerate(keys)]


def test_twenty_digits_and_enter_submit_a_token() -> None:
    pad = Keypad()
    type_keys(pad, "12345678901234567890")
    result = pad.press("#", 5_000)
    assert (result.action, result.payload) == (Action.SUBMIT, "12345678901234567890")
    assert pad.digits == ""


def test_the_twenty_first_digit_is_ignored() -> None:
    pad = Keypad()
    type_keys(pad, "1" * 20 + "9")
    assert pad.digits == "1" * 20


def test_delete_removes_the_last_digit() -> None:
    pad = Keypad()
    assert type_keys(pad, "12*") == [Action.EDITED, Action.EDITED, Action.EDITED]
    assert pad.digits == "1"
    assert pad.press("*", 1000).action is Action.CLEARED


def test_two_digits_and_enter_is_a_short_code() -> None:
    pad = Keypad()
    type_keys(pad, "01")
    assert pad.press("#", 1000).payload == "01"


def test_other_lengths_go_to_the_decoder() -> None:
    pad = Keypad()
    type_keys(pad, "12345")
    assert pad.press("#", 1000).action is Action.SUBMIT


def test_enter_alone_does_nothing() -> None:
    assert Keypad().press("#", 0).action is Action.NONE


def test_letter_keys_are_short_codes_and_d_alternates() -> None:
    pad = Keypad()
    assert [pad.press(k, 0).payload for k in "ABCDD"] == ["01", "02", "03", "04", "05"]


def test_inter_digit_timeout_forgets_the_entry() -> None:
    pad = Keypad()
    type_keys(pad, "1234")
    assert not pad.expired(300 + INTER_DIGIT_TIMEOUT_MS)
    assert pad.expired(301 + INTER_DIGIT_TIMEOUT_MS)
    pad.press("5", 301 + INTER_DIGIT_TIMEOUT_MS)
    assert pad.digits == "5"


def test_unknown_key_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        Keypad().press("E", 0)
