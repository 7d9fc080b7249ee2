"""The meter's time source."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic milliseconds (any origin). Wall-clock time is never needed by a meter."""

    def monotonic_ms(self) -> int: ...


class SystemClock:
    __slots__ = ()

    def monotonic_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000
