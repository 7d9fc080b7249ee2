"""The interactive terminal meter: the LCD, the keypad on the keyboard, the relay and live readings.

Keys: digits; Backspace or `*` = delete; Enter or `#` = enter; a/b/c/d = short keys A-D;
`+`/`-` = change a constant load by 100 W; t = the tamper switch; q = quit. It runs inside the same
event loop as the serial endpoint, so a host can talk to the meter while a person watches it.
"""

from __future__ import annotations

import curses
from collections import deque
from dataclasses import replace

from meter_emulator.hub import Hub
from meter_emulator.meter import Meter
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


class TerminalMeter:
    def __init__(self, screen: curses.window, hub: Hub, meter: Meter, endpoint: str) -> None:
        self.screen = screen
        self.hub = hub
        self.meter = meter
        self.endpoint = endpoint
        self.log: deque[str] = deque(maxlen=6)
        self.quit = False
        screen.nodelay(True)
        screen.keypad(True)
        curses.curs_set(0)

    def on_key(self) -> None:
        while (code := self.screen.getch()) != -1:
            if code in (ord("q"), ord("Q")):
                self.quit = True
            elif code in (ord("t"), ord("T")):
                now = self.hub.clock.now_ms()
                self.meter.set_tamper(not self.meter.state.tamper, now)
            elif code in (ord("+"), ord("-")):
                self._nudge_load(100.0 if code == ord("+") else -100.0)
            elif code in KEYMAP:
                outcome = self.meter.press(KEYMAP[code], self.hub.clock.now_ms(), announce=True)
                if outcome is not None:
                    self.log.append("keypad: " + outcome.line("token"))
        self.draw()

    def _nudge_load(self, delta: float) -> None:
        profile = self.meter.settings.profile
        if isinstance(profile, ConstantLoad):
            watts = max(0.0, min(23_000.0, profile.watts + delta))
            self.meter.settings = replace(self.meter.settings, profile=ConstantLoad(watts))

    def draw(self) -> None:
        now = self.hub.clock.now_ms()
        lcd = self.meter.screen(now)
        status = dict(self.meter.status_fields(now))
        info = dict(self.meter.info_fields())
        rows = [
            "+----------------+",
            f"|{lcd.line1}|",
            f"|{lcd.line2}|",
            "+----------------+",
            "",
            f"Relay  : {'CLOSED (power on)' if self.meter.relay_closed else 'OPEN (power off)'}",
            f"Credit : {status['credit']} kWh    low={status['low']}  locked={status['locked']} s",
            f"Reading: {status['voltage']} V  {status['current']} A  {status['power']} W  pf {status['pf']}",
            f"Energy : {status['energy']} kWh   MPL: {status['mpl']} W   tamper: {status['tamper']}",
            f"Load   : {self.meter.settings.profile}  x{self.meter.settings.time_factor:g} time",
            f"Meter  : PAN {info['pan']}  SGC {info['sgc']}  TI {info['ti']}  KRN {info['krn']}",
            f"Serial : {self.endpoint}",
            "",
            "Keys: 0-9, Backspace=delete, Enter=enter, a-d=short keys, +/- load, t=tamper, q=quit",
            "",
            *self.log,
        ]
        self.screen.erase()
        height, width = self.screen.getmaxyx()
        for y, row in enumerate(rows[: height - 1]):
            self.screen.addnstr(y, 0, row, width - 1)
        self.screen.refresh()


def run_terminal(hub: Hub, meter: Meter, endpoint: str) -> None:
    """Run the interactive meter until the person presses q (the caller saves and closes the hub)."""

    def main(screen: curses.window) -> None:
        ui = TerminalMeter(screen, hub, meter, endpoint)
        hub.add_reader(0, ui.on_key)
        hub.on_change = ui.draw
        ui.draw()
        hub.run(lambda: ui.quit)

    curses.wrapper(main)
