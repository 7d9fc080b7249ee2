"""A simulated PZEM-004T (100 A) energy sensor and the load profiles that drive it.

The readings are clamped to the sensor's ranges (80-260 V, 0-100 A, at most 23 kW). Time here is the
*simulated* time (milliseconds), which runs `time_factor` times faster than the meter's own clock, so a
day of household load can pass in a few seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

MIN_V, MAX_V = 80.0, 260.0
MAX_A = 100.0
MAX_W = 23_000.0
DAY_MS = 86_400_000
LINE_RESISTANCE_OHM = 0.1  # the voltage sags a little with the current, as on a weak rural feeder


class LoadProfile(Protocol):
    """The power the household would draw at a simulated instant, in watts, whatever the relay does."""

    def demand_w(self, sim_ms: int) -> float: ...


@dataclass(frozen=True, slots=True)
class ConstantLoad:
    watts: float

    def demand_w(self, sim_ms: int) -> float:
        return self.watts

    def __str__(self) -> str:
        return f"constant:{self.watts:g}"


@dataclass(frozen=True, slots=True)
class DailyLoad:
    """A household day: a small base load, a morning peak and a larger evening peak (`peak_w`)."""

    peak_w: float

    def demand_w(self, sim_ms: int) -> float:
        hour = (sim_ms % DAY_MS) / 3_600_000
        morning = 0.35 * math.exp(-(((hour - 7.0) / 1.2) ** 2))
        evening = math.exp(-(((hour - 19.5) / 1.8) ** 2))
        return self.peak_w * (0.06 + morning + evening)

    def __str__(self) -> str:
        return f"daily:{self.peak_w:g}"


@dataclass(frozen=True, slots=True)
class StepLoad:
    """Cycles through fixed power levels, each held for `period_ms` of simulated time."""

    levels: tuple[float, ...]
    period_ms: int

    def demand_w(self, sim_ms: int) -> float:
        return self.levels[(sim_ms // self.period_ms) % len(self.levels)]

    def __str__(self) -> str:
        return f"steps:{','.join(f'{v:g}' for v in self.levels)}@{self.period_ms // 1000}"


def parse_profile(text: str) -> LoadProfile:
    """Read a profile spec: `constant:500`, `daily:2000` or `steps:100,2500,0@600` (levels in W, period in s).

    Raises ValueError with the accepted forms when the text does not parse.
    """
    kind, _, arg = text.partition(":")
    try:
        if kind == "constant":
            return ConstantLoad(_watts(arg))
        if kind == "daily":
            return DailyLoad(_watts(arg))
        if kind == "steps":
            levels, _, period = arg.partition("@")
            values = tuple(_watts(v) for v in levels.split(","))
            seconds = int(period or "60")
            if seconds <= 0:
                raise ValueError("period must be positive")
            return StepLoad(values, seconds * 1000)
    except ValueError as exc:
        raise ValueError(f"bad load profile {text!r}: {exc}") from None
    raise ValueError(f"bad load profile {text!r}: use constant:W, daily:PEAK_W or steps:W1,W2,...@SECONDS")


def _watts(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1_000_000 or math.isnan(value):
        raise ValueError(f"power must be 0..1000000 W, got {text}")
    return value


@dataclass(frozen=True, slots=True)
class Reading:
    voltage_v: float
    current_a: float
    power_w: float
    pf: float


@dataclass(frozen=True, slots=True)
class Pzem:
    """The sensor's measuring model. It measures the load side, so an open relay reads 0 A and 0 W."""

    nominal_v: float = 230.0
    swing_v: float = 0.0
    pf: float = 1.0

    def read(self, demand_w: float, relay_closed: bool, sim_ms: int) -> Reading:
        swing = self.swing_v * math.sin(2 * math.pi * (sim_ms % DAY_MS) / DAY_MS)
        open_v = self.nominal_v + swing
        if not relay_closed or demand_w <= 0:
            return Reading(_clamp(open_v, MIN_V, MAX_V), 0.0, 0.0, self.pf)
        # Appliances draw their power (constant-power loads); the line sags a little under the current.
        voltage = _clamp(open_v - LINE_RESISTANCE_OHM * demand_w / (open_v * self.pf), MIN_V, MAX_V)
        power = min(demand_w, MAX_W, voltage * MAX_A * self.pf)
        return Reading(voltage, round(power / (voltage * self.pf), 3), power, self.pf)


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))
