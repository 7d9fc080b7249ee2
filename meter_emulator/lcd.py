"""The texts of the 16x2 character display, exactly as `docs/serial-protocol.md` §8 fixes them.

Every function returns a `Screen`: two lines of exactly 16 characters. The firmware prints the same
texts, so these functions are the reference the C code is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

WIDTH = 16


@dataclass(frozen=True, slots=True)
class Screen:
    """What the display shows: two lines, each padded (or cut) to exactly 16 characters."""

    line1: str
    line2: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "line1", self.line1[:WIDTH].ljust(WIDTH))
        object.__setattr__(self, "line2", self.line2[:WIDTH].ljust(WIDTH))

    def framed(self) -> str:
        """The `LCD` protocol reply body: `|line1|line2|`."""
        return f"|{self.line1}|{self.line2}|"


class RelayWord(Enum):
    """The state word of the idle screen's second line (protocol §8.1)."""

    ON = "Relay ON"
    LOW = "LOW CREDIT"
    OFF_CREDIT = "OFF NoCred"
    OFF_MPL = "OFF Limit"
    OFF_TAMPER = "OFF Tamper"


# Line 1 of each refusal / pending outcome, by outcome word (protocol §8.3).
OUTCOME_TEXT: dict[str, str] = {
    "accept": "Accept",
    "crc_error": "Reject",
    "used": "Used",
    "old": "Old",
    "key_expired": "Expired",
    "overflow": "Overflow",
    "format_error": "Format error",
    "function_error": "Function error",
    "range_error": "Range error",
    "key_type_error": "Key type error",
    "ddtk_error": "DDTK error",
    "mfr_code_error": "Mfr code error",
    "kct_1st_pending": "PLS 1St",
    "kct_2nd_pending": "PLS 2nd",
    "kct_3rd_pending": "PLS 3rd",
    "kct_4th_pending": "PLS 4th",
}


def tenths_text(tenths: int) -> str:
    """A register in tenths of a unit as text with one decimal: 125 -> "12.5"."""
    return f"{tenths // 10}.{tenths % 10}"


def idle_screen(
    credit_tenths: int, word: RelayWord, power_w: int, locked_s: int, provisioned: bool = True
) -> Screen:
    if not provisioned:
        line1 = "NO KEY"
    else:
        line1 = f"LOCK {locked_s}" if locked_s > 0 else f"Cr{tenths_text(credit_tenths):>11}kWh"
    return Screen(line1, f"{word.value:<10}{power_w:>5}W")


def entry_screen(digits: str) -> Screen:
    return Screen(f"Token{len(digits):>8}/20", digits[-WIDTH:])


def result_screen(outcome: str, detail: str = "", locked_s: int = 0) -> Screen:
    """The 5-second screen after a token; `detail` is line 2 of an accept (e.g. "+12.5 kWh")."""
    if outcome == "locked":
        return Screen(f"LOCK {locked_s}", "")
    return Screen(OUTCOME_TEXT.get(outcome, outcome), detail if outcome == "accept" else "")


def no_key_screen() -> Screen:
    """After a token on a meter with no key (docs/serial-protocol.md §3.6)."""
    return Screen("NO KEY", "Provision meter")


def accept_detail_credit(amount_tenths: int) -> str:
    return f"+{tenths_text(amount_tenths)} kWh"


def accept_detail_mpl(watts: int) -> str:
    return f"Limit {watts} W"


def unknown_code_screen() -> Screen:
    return Screen("Unknown code", "")


def credit_screen(credit_tenths: int) -> Screen:
    return Screen("Credit", f"{tenths_text(credit_tenths)} kWh")


def power_screen(power_w: int, voltage_v: float, current_a: float) -> Screen:
    return Screen(f"Power {power_w} W", f"{voltage_v:.1f}V {current_a:.3f}A")


def last_token_screen(last_line1: str | None) -> Screen:
    return Screen("Last token", (last_line1 or "None").rstrip())


def meter_number_screen(drn: str, sgc: int) -> Screen:
    return Screen(drn, f"SGC {sgc:06d}")


def key_screen(krn: int, ti: int, ken: int, kt: int) -> Screen:
    return Screen(f"KRN {krn} TI {ti:02d}", f"KEN {ken} KT {kt}")


def energy_screen(energy_wh: int) -> Screen:
    return Screen("Energy", f"{energy_wh // 1000}.{energy_wh % 1000:03d} kWh")
