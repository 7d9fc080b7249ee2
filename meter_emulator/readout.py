"""What a meter shows: the LCD screens and the `STATUS` / `INFO` fields (docs/serial-protocol.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meter_emulator import decoding, lcd
from meter_emulator.decoding import kwh_text
from meter_emulator.lcd import RelayWord, Screen

if TYPE_CHECKING:
    from meter_emulator.meter import Meter

FIRMWARE = "nguvu-emu/0.1"


def screen(meter: Meter, now_ms: int) -> Screen:
    if meter.keypad.digits and not meter.keypad.expired(now_ms):
        return lcd.entry_screen(meter.keypad.digits)
    shown = meter.transient_screen(now_ms)
    if shown is not None:
        return shown
    reading = meter.reading()
    word = _relay_word(meter, now_ms)
    locked = meter.locked_seconds(now_ms)
    return lcd.idle_screen(meter.credit_wh // 100, word, round(reading.power_w), locked, meter.provisioned)


def _relay_word(meter: Meter, now_ms: int) -> RelayWord:
    if meter.relay_closed:
        return RelayWord.LOW if meter.credit_wh <= meter.settings.low_credit_wh else RelayWord.ON
    reason = meter.relay_reason(now_ms)
    return {"tamper": RelayWord.OFF_TAMPER, "mpl": RelayWord.OFF_MPL}.get(reason or "", RelayWord.OFF_CREDIT)


def short_code_screen(meter: Meter, code: str) -> Screen:
    if code in ("04", "05") and not meter.provisioned:
        return lcd.no_key_screen()  # no meter number or key yet
    info = decoding.key_info(meter.state)
    reading = meter.reading()
    screens = {
        "01": lambda: lcd.credit_screen(meter.credit_wh // 100),
        "02": lambda: lcd.power_screen(round(reading.power_w), reading.voltage_v, reading.current_a),
        "03": lambda: lcd.last_token_screen(meter.last_result),
        "04": lambda: lcd.meter_number_screen(info.drn, info.sgc),
        "05": lambda: lcd.key_screen(info.krn, info.ti, info.ken, info.kt),
        "06": lambda: lcd.energy_screen(int(meter.energy_wh)),
    }
    return screens.get(code, lcd.unknown_code_screen)()


def status_fields(meter: Meter, now_ms: int) -> list[tuple[str, str]]:
    reading = meter.reading()
    return [
        ("credit", kwh_text(meter.credit_wh)),
        ("relay", "on" if meter.relay_closed else "off"),
        ("power", str(round(reading.power_w))),
        ("voltage", f"{reading.voltage_v:.1f}"),
        ("current", f"{reading.current_a:.3f}"),
        ("energy", f"{int(meter.energy_wh + 1e-9) / 1000:.3f}"),
        ("tamper", "1" if meter.state.tamper else "0"),
        ("locked", str(meter.locked_seconds(now_ms))),
        ("mpl", str(decoding.mpl_watts(meter.state))),
        ("low", "1" if meter.credit_wh <= meter.settings.low_credit_wh else "0"),
        ("pf", f"{reading.pf:.2f}"),
    ] + ([] if meter.provisioned else [("provision", "needed")])


def info_fields(meter: Meter) -> list[tuple[str, str]]:
    if not meter.provisioned:
        return [("provision", "needed"), ("fw", FIRMWARE)]
    info = decoding.key_info(meter.state)
    return [
        ("pan", info.pan),
        ("drn", info.drn),
        ("sgc", f"{info.sgc:06d}"),
        ("ti", f"{info.ti:02d}"),
        ("krn", str(info.krn)),
        ("kt", str(info.kt)),
        ("ken", str(info.ken)),
        ("ea", info.ea),
        ("bd", str(meter.provenance.base_year)),
        ("fw", FIRMWARE),
    ]
