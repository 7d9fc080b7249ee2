"""The terminal meter's logic with a scripted terminal: keys in, rows out."""

from __future__ import annotations

import curses

from emulator_kit import ManualClock, Vendor, new_meter

from meter_emulator.meter import MeterSettings
from meter_emulator.sensor import ConstantLoad
from meter_emulator.tui import TerminalMeter


class ScriptedTerminal:
    def __init__(self) -> None:
        self.keys: list[int] = []
        self.rows: list[str] = []

    def type(self, text: str | list[int]) -> None:
        self.keys += [ord(c) for c in text] if isinstance(text, str) else text

    def key(self) -> int:
        return self.keys.pop(0) if self.keys else -1

    def render(self, rows: list[str]) -> None:
        self.rows = rows


def test_typing_a_token_with_backspace_and_enter() -> None:
    clock, terminal = ManualClock(), ScriptedTerminal()
    meter = new_meter(clock, MeterSettings(profile=ConstantLoad(300.0)))
    ui = TerminalMeter(terminal, clock, meter, "/dev/pts/99")
    token = Vendor().credit("5").token
    terminal.type(token[:5] + "9")
    terminal.type([curses.KEY_BACKSPACE])
    terminal.type(token[5:])
    ui.on_key()
    assert terminal.rows[1:3] == ["|Token      20/20|", f"|{token[-16:]}|"]
    terminal.type([10])  # Enter
    ui.on_key()
    assert terminal.rows[1:3] == ["|Accept          |", "|+5.0 kWh        |"]
    assert terminal.rows[5] == "Relay  : CLOSED (power on)"
    assert terminal.rows[-1] == "keypad: token accept amount=5.0 credit=5.0"
    assert "Serial : /dev/pts/99" in terminal.rows
    assert meter.drain_events()[-1] == "EVENT token accept amount=5.0 credit=5.0"


def test_tamper_load_and_quit_keys() -> None:
    clock, terminal = ManualClock(), ScriptedTerminal()
    meter = new_meter(clock, MeterSettings(profile=ConstantLoad(300.0)))
    ui = TerminalMeter(terminal, clock, meter, "x")
    meter.enter_token(Vendor().credit("5").token, clock.now)
    terminal.type("++-t")
    ui.on_key()
    assert str(meter.settings.profile) == "constant:400"
    assert meter.state.tamper and not meter.relay_closed
    terminal.type("a")  # short key A: the credit
    ui.on_key()
    assert terminal.rows[1:3] == ["|Credit          |", "|5.0 kWh         |"]
    assert not ui.quit
    terminal.type("q")
    ui.on_key()
    assert ui.quit
