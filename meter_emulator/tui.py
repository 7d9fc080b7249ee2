"""The interactive terminal meter: the LCD, the keypad on the keyboard, the relay and live readings.

Keys: digits; Backspace or `*` = delete; Enter or `#` = enter; a/b/c/d = short keys A-D;
`+`/`-` = change a constant load by 100 W; t = the tamper switch; q = quit. It runs inside the same
event loop as the serial endpoint, so a host can talk to the meter while a person watches it.
"""

from __future__ import annotations

import curses
from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from typing import Protocol

from meter_emulator.clock import Clock
from meter_emulator.hub import Hub
from meter_emulator.meter import Meter
from meter_emulator.provisioning import NoKey
from meter_emulator.sensor import ConstantLoad

KEYMAP = {
    **{ord(d): d for d in "0123456789"},
    ord("*"): "*",
    curses.KEY_BACKSPACE: "*",
    127: "*",
    8: "*",
    curses.KEY_DC: "*",
    ord("#"): "#",
    10: "#",
    13: "#",
    curses.KEY_ENTER: "#",
    **{ord(c): c.upper() for c in "abcd"},
    **{ord(c): c for c in "ABCD"},
}


class Terminal(Protocol):
    """The person's terminal: keys in (codes, -1 when none is waiting), rows of text out."""

    def key(self) -> int: ...

    def render(self, rows: list[str]) -> None: ...


class CursesTerminal:
    def __init__(self, window: curses.window) -> None:
        self.window = window
        window.nodelay(True)
        window.keypad(True)
        curses.curs_set(0)

    def key(self) -> int:
        return self.window.getch()

    def render(self, rows: list[str]) -> None:
        self.window.erase()
        height, width = self.window.getmaxyx()
        for y, row in enumerate(rows[: height - 1]):
            self.window.addnstr(y, 0, row, width - 1)
        self.window.refresh()


def panel(meter: Meter, now_ms: int, endpoint: str, log: Iterable[str] = ()) -> list[str]:
    """The rows the terminal meter shows: the 16x2 LCD in a frame, then the relay and live readings."""
    lcd = meter.screen(now_ms)
    status = dict(meter.status_fields(now_ms))
    info = dict(meter.info_fields())
    return [
        "+----------------+",
        f"|{lcd.line1}|",
        f"|{lcd.line2}|",
        "+----------------+",
        "",
        f"Relay  : {'CLOSED (power on)' if meter.relay_closed else 'OPEN (power off)'}",
        f"Credit : {status['credit']} kWh    low={status['low']}  locked={status['locked']} s",
        f"Reading: {status['voltage']} V  {status['current']} A  {status['power']} W  pf {status['pf']}",
        f"Energy : {status['energy']} kWh   MPL: {status['mpl']} W   tamper: {status['tamper']}",
        f"Load   : {meter.settings.profile}  x{meter.settings.time_factor:g} time",
        f"Meter  : PAN {info['pan']}  SGC {info['sgc']}  TI {info['ti']}  KRN {info['krn']}",
        f"Serial : {endpoint}",
        "",
        "Keys: 0-9, Backspace=delete, Enter=enter, a-d=short keys, +/- load, t=tamper, q=quit",
        "",
        *log,
    ]


class TerminalMeter:
    """Keys from the terminal to the meter, and the panel back to the terminal."""

    def __init__(self, terminal: Terminal, clock: Clock, meter: Meter, endpoint: str) -> None:
        self.terminal = terminal
        self.clock = clock
        self.meter = meter
        self.endpoint = endpoint
        self.log: deque[str] = deque(maxlen=6)
        self.quit = False

    def on_key(self) -> None:
        while (code := self.terminal.key()) != -1:
            now = self.clock.now_ms()
            if code in (ord("q"), ord("Q")):
                self.quit = True
            elif code in (ord("t"), ord("T")):
                self.meter.set_tamper(not self.meter.state.tamper, now)
            elif code in (ord("+"), ord("-")):
                self._nudge_load(100.0 if code == ord("+") else -100.0)
            elif code in KEYMAP:
                try:
                    outcome = self.meter.press(KEYMAP[code], now, announce=True)
                except NoKey:
                    self.log.append("keypad: no key (provision the meter)")
                    continue
                if outcome is not None:
                    self.log.append("keypad: " + outcome.line("token"))
        self.draw()

    def _nudge_load(self, delta: float) -> None:
        profile = self.meter.settings.profile
        if isinstance(profile, ConstantLoad):
            watts = max(0.0, min(23_000.0, profile.watts + delta))
            self.meter.settings = replace(self.meter.settings, profile=ConstantLoad(watts))

    def draw(self) -> None:
        self.terminal.render(panel(self.meter, self.clock.now_ms(), self.endpoint, self.log))


def run_terminal(hub: Hub, meter: Meter, endpoint: str) -> None:
    """Run the interactive meter until the person presses q (the caller saves and closes the hub)."""

    def main(window: curses.window) -> None:
        ui = TerminalMeter(CursesTerminal(window), hub.clock, meter, endpoint)
        hub.add_reader(0, ui.on_key)
        hub.on_change = ui.draw
        ui.draw()
        hub.run(lambda: ui.quit)

    curses.wrapper(main)
