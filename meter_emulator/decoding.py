"""The emulator's only door to `tokencore.decoder`: a token goes in, a new state and an outcome come out.

The STS rules (TID memory, key expiry, key change, lockout...) are tokencore's; this module only
translates its `DecodeResult` into what the display and the serial protocol report, and reads the
registers the meter shows. Credit registers count Wh (`UNIT_SCALE` per 0.1 kWh).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tokencore import DecoderKey, KeyParams, MeterPan
from tokencore.blocks import Kind
from tokencore.decoder import (
    UNIT_SCALE,
    WRONG_ENTRY_OUTCOMES,
    DecodeResult,
    MeterConfig,
    MeterState,
    Outcome,
    enter_token,
    new_meter_state,
    set_tamper,
)
from tokencore.decoder import debit as _debit

__all__ = ["UNIT_SCALE", "MeterState", "TokenOutcome", "apply", "debit", "new_state", "set_tamper"]

ELECTRICITY = 0
_KEY_CHANGE_KINDS = frozenset({Kind.KCT_1, Kind.KCT_2, Kind.KCT_3, Kind.KCT_4})


def kwh_text(wh: int) -> str:
    """A register in Wh shown as kWh with one decimal, truncated: 12_549 -> "12.5"."""
    tenths = wh // UNIT_SCALE
    return f"{tenths // 10}.{tenths % 10}"


@dataclass(frozen=True, slots=True)
class TokenOutcome:
    """What the meter reports about one token. `kind` is one of credit, mpl, clear_credit,
    clear_tamper, key_change, test, other (empty for refusals that never got that far)."""

    outcome: str
    kind: str = ""
    amount_wh: int = 0
    mpl_w: int = 0
    credit_wh: int = 0
    seconds: int = 0
    fails: int = 0
    key: tuple[int, int, int, int] | None = None  # krn, ti, kt, ken after a completed key change

    def fields(self) -> list[tuple[str, str]]:
        """The `key=value` fields after the outcome word (docs/serial-protocol.md §3.1)."""
        credit = ("credit", kwh_text(self.credit_wh))
        if self.outcome == Outcome.LOCKED.value:
            return [("seconds", str(self.seconds))]
        if self.outcome != Outcome.ACCEPT.value:
            extra = [("fails", str(self.fails))] if self.fails else []
            return extra + ([("seconds", str(self.seconds))] if self.seconds else [])
        if self.kind == "credit":
            return [("amount", kwh_text(self.amount_wh)), credit]
        if self.kind == "mpl":
            return [("mpl", str(self.mpl_w)), credit]
        if self.kind == "clear_tamper":
            return [("tamper", "0"), credit]
        if self.kind == "key_change" and self.key is not None:
            krn, ti, kt, ken = self.key
            return [("krn", str(krn)), ("ti", f"{ti:02d}"), ("kt", str(kt)), ("ken", str(ken)), credit]
        return [credit]

    def line(self, prefix: str = "RESULT") -> str:
        """`RESULT <outcome> [key=value ...]`, or with another prefix (`EVENT token`)."""
        extra = " ".join(f"{k}={v}" for k, v in self.fields())
        return f"{prefix} {self.outcome}" + (f" {extra}" if extra else "")


def new_state(pan: MeterPan, params: KeyParams, key: DecoderKey) -> MeterState:
    """A fresh meter state: no credit, TID memory empty, electricity only."""
    return new_meter_state(pan, key, params, MeterConfig())


def apply(state: MeterState, digits: str, clock_ms: int) -> tuple[MeterState, TokenOutcome]:
    """Run tokencore's decoder on one entry at meter time `clock_ms`."""
    new, result = enter_token(state, digits, clock_ms)
    return new, _outcome(new, result)


def _outcome(state: MeterState, result: DecodeResult) -> TokenOutcome:
    seconds = -(-result.lock_remaining_ms // 1000)
    fails = state.wrong_entries if result.outcome in WRONG_ENTRY_OUTCOMES else 0
    kind = _kind_word(result.kind)
    key = None
    if result.outcome is Outcome.ACCEPT and kind == "key_change":
        k = state.key
        key = (k.krn, k.ti, k.kt, k.ken)
    return TokenOutcome(
        outcome=result.outcome.value,
        kind=kind,
        amount_wh=(result.amount or 0) if kind == "credit" else 0,
        mpl_w=(result.amount or 0) if kind == "mpl" else 0,
        credit_wh=state.credit,
        seconds=seconds,
        fails=fails,
        key=key,
    )


def _kind_word(kind: Kind | None) -> str:
    if kind is None:
        return ""
    if kind in (Kind.CREDIT, Kind.CURRENCY_CREDIT):
        return "credit"
    if kind in _KEY_CHANGE_KINDS:
        return "key_change"
    return {
        Kind.MPL: "mpl",
        Kind.CLEAR_CREDIT: "clear_credit",
        Kind.CLEAR_TAMPER: "clear_tamper",
        Kind.TEST: "test",
    }.get(kind, "other")


def debit(state: MeterState, wh: int) -> tuple[MeterState, int]:
    """Take up to `wh` from the electricity register; returns the new state and what was taken."""
    return _debit(state, ELECTRICITY, wh)


def locked_seconds(state: MeterState, clock_ms: int) -> int:
    return max(0, -(-(state.locked_until_ms - clock_ms) // 1000))


def mpl_watts(state: MeterState) -> int:
    return state.mpl_watts or 0


@dataclass(frozen=True, slots=True)
class KeyInfo:
    pan: str
    drn: str
    sgc: int
    ti: int
    krn: int
    kt: int
    ken: int
    ea: str


def key_info(state: MeterState) -> KeyInfo:
    k = state.key
    return KeyInfo(state.pan.pan, state.pan.drn, k.sgc, k.ti, k.krn, k.kt, k.ken, k.ea.value)


def summary(state: MeterState) -> list[tuple[str, str]]:
    """Registers for `nguvu meter show` (no key material)."""
    used = sorted(t for t in state.tid_memory if t)
    newest = f", newest {used[-1]}" if used else ""
    return [
        ("credit", f"{kwh_text(state.credit)} kWh ({state.credit} Wh)"),
        ("mpl", f"{state.mpl_watts} W" if state.mpl_watts else "none"),
        ("tamper", "yes" if state.tamper else "no"),
        ("tids", f"{len(used)}/{len(state.tid_memory)} remembered{newest}"),
        ("pending", ",".join(str(p.subclass) for p in state.pending) or "none"),
        ("lockout", f"{state.wrong_entries} wrong entries"),
    ]


def state_to_dict(state: MeterState) -> dict[str, Any]:
    return state.to_dict()


def state_from_dict(data: dict[str, Any]) -> MeterState:
    return MeterState.from_dict(data)
