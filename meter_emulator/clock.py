"""The meter's time source."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """The meter's real-time clock, in milliseconds.

    Like the RTC of a keypad meter it keeps running while the meter is off, so a lockout or a key
    change window started before a power cut still ends on time after it.
    """

    def now_ms(self) -> int: ...


class SystemClock:
    __slots__ = ()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000
