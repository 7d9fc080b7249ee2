"""The 4x4 keypad's entry buffer: digits, delete, enter, short keys, and the inter-digit timeout.

The buffer only collects keys and says what an `enter` means (a token for the decoder, a short code);
it never judges a token: every entry that is not a short code goes to tokencore's decoder as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

KEYS = frozenset("0123456789*#ABCD")
MAX_DIGITS = 20
INTER_DIGIT_TIMEOUT_MS = 20_000
# The letter keys are shortcuts for short codes (protocol §4); D alternates between two screens.
LETTER_CODES = {"A": "01", "B": "02", "C": "03"}


class Action(Enum):
    NONE = "none"  # nothing for the meter to do beyond redrawing the entry
    EDITED = "edited"  # the entry changed; show it
    CLEARED = "cleared"  # the entry became empty; back to the idle screen
    SUBMIT = "submit"  # `payload` holds the digits for the decoder
    SHORT_CODE = "short_code"  # `payload` holds a two-digit code


@dataclass(frozen=True, slots=True)
class KeyResult:
    action: Action
    payload: str = ""


class Keypad:
    """Collects one entry of up to 20 digits. Times are the meter's monotonic milliseconds."""

    __slots__ = ("_d_toggle", "digits", "last_ms")

    def __init__(self) -> None:
        self.digits = ""
        self.last_ms = 0
        self._d_toggle = False

    def expired(self, now_ms: int) -> bool:
        """True when a partial entry has waited longer than the inter-digit timeout."""
        return bool(self.digits) and now_ms - self.last_ms > INTER_DIGIT_TIMEOUT_MS

    def clear(self) -> None:
        self.digits = ""

    def press(self, key: str, now_ms: int) -> KeyResult:
        if key not in KEYS or len(key) != 1:
            raise ValueError(f"not a keypad key: {key!r}")
        if self.expired(now_ms):
            self.digits = ""
        self.last_ms = now_ms
        if key.isdigit():
            if len(self.digits) < MAX_DIGITS:
                self.digits += key
            return KeyResult(Action.EDITED)
        if key == "*":
            self.digits = self.digits[:-1]
            return KeyResult(Action.EDITED if self.digits else Action.CLEARED)
        if key == "#":
            return self._enter()
        self.digits = ""
        if key == "D":
            self._d_toggle = not self._d_toggle
            return KeyResult(Action.SHORT_CODE, "04" if self._d_toggle else "05")
        return KeyResult(Action.SHORT_CODE, LETTER_CODES[key])

    def _enter(self) -> KeyResult:
        digits, self.digits = self.digits, ""
        if not digits:
            return KeyResult(Action.NONE)
        if len(digits) == 2:
            return KeyResult(Action.SHORT_CODE, digits)
        return KeyResult(Action.SUBMIT, digits)
