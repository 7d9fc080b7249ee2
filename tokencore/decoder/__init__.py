"""The meter-side decoder: a pure state machine that the emulator runs and the firmware mirrors in C."""

from tokencore.decoder.machine import DecodeResult, enter_token
from tokencore.decoder.state import (
    REGISTER_COUNT,
    UNIT_SCALE,
    MeterConfig,
    MeterKey,
    MeterState,
    PendingSection,
    debit,
    new_meter_state,
    set_tamper,
)
from tokencore.outcome import WRONG_ENTRY_OUTCOMES, Outcome

__all__ = [
    "REGISTER_COUNT",
    "UNIT_SCALE",
    "WRONG_ENTRY_OUTCOMES",
    "DecodeResult",
    "MeterConfig",
    "MeterKey",
    "MeterState",
    "Outcome",
    "PendingSection",
    "debit",
    "enter_token",
    "new_meter_state",
    "set_tamper",
]
