"""The dashboard's 30-day sales chart, laid out on the server and drawn as inline SVG by a template.

kWh are the one unit every sale shares (CDF and USD cannot be added), so bar heights are kWh; each bar's
tooltip carries the money of that day per currency. No script and no chart library: the page works
offline and prints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from api.queries.dashboard import DaySales

WIDTH = 720
HEIGHT = 220
LEFT = 48  # room for the axis labels
BOTTOM = 24  # room for the day labels
TOP = 8
TICKS = 4


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the day, shown under some bars
    title: str  # the tooltip: day, kWh, money, vends


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: int
    baseline: float
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]


def _nice_ceiling(value: Decimal) -> Decimal:
    """A round top for the axis (1, 2, 5 x 10^n) at or above `value`."""
    if value <= 0:
        return Decimal(10)
    exponent = value.adjusted()
    for step in (1, 2, 5, 10):
        top = Decimal(step).scaleb(exponent)
        if top >= value:
            return top
    return Decimal(10).scaleb(exponent + 1)  # pragma: no cover - 10 x 10^n always covers value


def _kwh(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.1"), rounding=ROUND_CEILING).normalize(), "f")


def sales_chart(series: Sequence[DaySales], describe: Callable[[DaySales], str]) -> BarChart:
    """Bars of kWh per day; `describe(day)` writes a bar's tooltip (the page formats money its way)."""
    top = _nice_ceiling(max((d.units for d in series), default=Decimal(0)))
    plot_w = WIDTH - LEFT
    plot_h = HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(series), 1)
    bars = []
    for i, day in enumerate(series):
        h = float(day.units / top) * plot_h
        label = f"{day.day.day:02d}/{day.day.month:02d}" if i % 5 == 4 or i == len(series) - 1 else ""
        bars.append(
            Bar(
                x=round(LEFT + i * slot + slot * 0.15, 2),
                y=round(TOP + plot_h - h, 2),
                width=round(slot * 0.7, 2),
                height=round(h, 2),
                label=label,
                title=describe(day),
            )
        )
    ticks = tuple(
        Tick(y=round(TOP + plot_h - plot_h * n / TICKS, 2), label=_kwh(top * n / TICKS))
        for n in range(TICKS + 1)
    )
    return BarChart(WIDTH, HEIGHT, LEFT, TOP + plot_h, tuple(bars), ticks)
