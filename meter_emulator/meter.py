"""One keypad prepayment meter: decoder state, keypad, display, relay, sensor and credit countdown.

Token rules are tokencore's (`meter_emulator.decoding` is the only module that calls the decoder).
This class adds what a meter does around them: it integrates the simulated load into energy, debits
the credit register (Wh), switches the relay, draws the display, and saves its state before it reports
the outcome of a token.

Two clocks: the meter clock (`now_ms` arguments: the real-time clock, which keeps running through power
cuts like a meter's RTC) runs the keypad timeout, display timeouts, lockout, key change window and MPL
retry; the simulated clock runs `time_factor` times faster and drives only the load and the energy.
Energy is only integrated while the meter runs, and at most `MAX_GAP_MS` at once (a suspended host).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from meter_emulator import decoding, lcd, provisioning, readout
from meter_emulator.decoding import TokenOutcome, kwh_text
from meter_emulator.keypad import Action, Keypad
from meter_emulator.lcd import Screen
from meter_emulator.provisioning import NoKey, PendingIdentity, ProvisionRefused
from meter_emulator.readout import FIRMWARE
from meter_emulator.sensor import ConstantLoad, LoadProfile, Pzem, Reading
from meter_emulator.store import StateStore, StorageError
from tokencore.errors import TokenError

FORMAT = "nguvu-meter/1"
SCREEN_MS = 5_000
MPL_RETRY_MS = 60_000
MAX_SEGMENT_SIM_MS = 900_000  # the load profile is sampled at least every 15 simulated minutes
MAX_EVENTS = 32
MAX_GAP_MS = 600_000
NO_LOAD = ConstantLoad(0.0)
DEFAULT_SENSOR = Pzem()


@dataclass(frozen=True, slots=True)
class MeterSettings:
    """How the simulation runs; not part of the meter's stored state."""

    profile: LoadProfile = NO_LOAD
    pzem: Pzem = DEFAULT_SENSOR
    time_factor: float = 1.0
    low_credit_wh: int = 2_000
    persist_interval_ms: int = 10_000  # how often consumption alone is written back


@dataclass(frozen=True, slots=True)
class Provenance:
    """Key facts the decoder state does not hold but the meter shows (INFO `bd`, `dkga`)."""

    base_year: int = 2014
    dkga: str = "02"


class Meter:
    """A meter loaded from (and saving to) a `StateStore`. Methods take the meter clock's ms."""

    __slots__ = (
        "_dirty",
        "_events",
        "_last_ms",
        "_last_save_ms",
        "_low",
        "_relay_closed",
        "_screen",
        "_screen_until",
        "debited_wh",
        "energy_wh",
        "keypad",
        "last_result",
        "mpl_trip_until",
        "pending_identity",
        "provenance",
        "provisioned",
        "settings",
        "sim_ms",
        "state",
        "store",
        "wh_pending",
    )

    def __init__(
        self,
        state: decoding.MeterState,
        store: StateStore,
        settings: MeterSettings,
        provenance: Provenance = Provenance(),
        provisioned: bool = True,
    ) -> None:
        self.state = state
        self.provisioned = provisioned  # False: no identity and key yet (docs/serial-protocol.md §3.6)
        self.pending_identity: PendingIdentity | None = None
        self.store = store
        self.settings = settings
        self.provenance = provenance
        self.keypad = Keypad()
        self.sim_ms = 0
        self.energy_wh = 0.0  # the sensor's energy counter (Wh)
        self.wh_pending = 0.0  # measured energy not yet debited (less than 1 Wh)
        self.debited_wh = 0  # all credit ever debited for consumption
        self.last_result: str | None = None
        self.mpl_trip_until = -1
        self._last_ms: int | None = None
        self._last_save_ms = 0
        self._dirty = False
        self._screen: Screen | None = None
        self._screen_until = 0
        self._events: list[str] | None = None
        self._relay_closed = False
        self._low = False

    # ----- loading and saving -------------------------------------------------------------------

    @classmethod
    def load(cls, store: StateStore, settings: MeterSettings, now_ms: int) -> Meter:
        """Power-up: read the stored document. Raises ValueError when there is none or it is unreadable."""
        raw = store.load()
        if raw is None:
            raise ValueError("no meter state: create one first (nguvu meter new)")
        try:
            doc = json.loads(raw)
        except ValueError:
            raise ValueError("the meter state is not JSON") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or "decoder" not in doc:
            raise ValueError("not a meter state document")
        ident = doc.get("identity", {})
        provenance = Provenance(int(ident.get("base_date", 2014)), str(ident.get("dkga", "02")))
        try:
            state = decoding.state_from_dict(doc["decoder"])
        except (KeyError, TypeError, ValueError, TokenError) as exc:
            raise ValueError(f"the meter state is damaged ({type(exc).__name__})") from None
        meter = cls(state, store, settings, provenance, bool(doc.get("provisioned", True)))
        emu = doc.get("emulator", {})
        meter.sim_ms = int(emu.get("sim_ms", 0))
        meter.energy_wh = float(emu.get("energy_wh", 0.0))
        meter.wh_pending = float(emu.get("wh_pending", 0.0))
        meter.debited_wh = int(emu.get("debited_wh", 0))
        meter.last_result = emu.get("last_result")
        meter._last_ms = now_ms
        meter._last_save_ms = now_ms
        meter._relay_closed = meter._relay_reason(now_ms) is None
        meter._low = meter.credit_wh <= settings.low_credit_wh
        meter.announce()
        return meter

    def announce(self) -> None:
        """Queue the `EVENT boot` line: at power-up, and when a host link (re)connects."""
        self.emit(f"EVENT boot fw={FIRMWARE}" + ("" if self.provisioned else " provision=needed"))

    def document(self, state: decoding.MeterState, now_ms: int, last_result: str | None) -> bytes:
        """The whole stored document for `state` plus the emulator registers (holds the key: secret)."""
        emu: dict[str, Any] = {
            "sim_ms": self.sim_ms,
            "energy_wh": self.energy_wh,
            "wh_pending": self.wh_pending,
            "debited_wh": self.debited_wh,
            "last_result": last_result,
        }
        ident = {"base_date": self.provenance.base_year, "dkga": self.provenance.dkga}
        doc = {
            "format": FORMAT,
            "identity": ident,
            "provisioned": self.provisioned,
            "decoder": decoding.state_to_dict(state),
            "emulator": emu,
        }
        return json.dumps(doc, sort_keys=True).encode()

    def save(self, now_ms: int) -> None:
        """Write the current state (raises StorageError)."""
        self.store.save(self.document(self.state, now_ms, self.last_result))
        self._last_save_ms = now_ms
        self._dirty = False

    def _try_save(self, now_ms: int) -> None:
        """Background saves (consumption, relay) retry at the next interval when the store fails."""
        try:
            self.save(now_ms)
        except StorageError:
            self._last_save_ms = now_ms

    # ----- events -----------------------------------------------------------------------------------

    def emit(self, line: str) -> None:
        if self._events is None:
            self._events = []
        if len(self._events) < MAX_EVENTS:  # nobody reading: keep the first few only
            self._events.append(line)

    def drain_events(self) -> list[str]:
        events, self._events = self._events, None
        return events or []

    # ----- readings --------------------------------------------------------------------------------

    @property
    def credit_wh(self) -> int:
        return self.state.credit

    @property
    def relay_closed(self) -> bool:
        return self._relay_closed

    def reading(self) -> Reading:
        demand = self.settings.profile.demand_w(self.sim_ms)
        return self.settings.pzem.read(demand, self._relay_closed, self.sim_ms)

    def locked_seconds(self, now_ms: int) -> int:
        return decoding.locked_seconds(self.state, now_ms)

    def _relay_reason(self, clock_ms: int) -> str | None:
        if self.state.tamper:
            return "tamper"
        if self.credit_wh <= 0:
            return "credit"
        if clock_ms < self.mpl_trip_until:
            return "mpl"
        return None

    def _switch_relay(self, now_ms: int) -> bool:
        """Set the relay from the current state; True when it moved (an event is queued)."""
        reason = self._relay_reason(now_ms)
        closed = reason is None
        if closed == self._relay_closed:
            return False
        self._relay_closed = closed
        self.emit("EVENT relay state=on" if closed else f"EVENT relay state=off reason={reason}")
        return True

    def _after_change(self, now_ms: int) -> None:
        """Relay and low-credit warning after anything that changed the credit or the limits."""
        if self._switch_relay(now_ms):
            self._dirty = True
            self._try_save(now_ms)
        low = self.credit_wh <= self.settings.low_credit_wh
        if low and not self._low:
            self.emit(f"EVENT low_credit credit={kwh_text(self.credit_wh)}")
        self._low = low

    # ----- time passing: load, energy, credit ------------------------------------------------------

    def advance(self, now_ms: int) -> None:
        """Run the simulation up to `now_ms`: energy, credit countdown, relay, MPL, periodic save."""
        last = self._last_ms if self._last_ms is not None else now_ms
        if now_ms < last:  # the clock was set back: measure from the new time on
            self._last_ms = now_ms
        elif now_ms > last:
            self._last_ms = now_ms
            self._integrate(max(last, now_ms - MAX_GAP_MS), now_ms)
        if self.keypad.expired(now_ms):
            self.keypad.clear()
        self._after_change(now_ms)
        if self._dirty and now_ms - self._last_save_ms >= self.settings.persist_interval_ms:
            self._try_save(now_ms)

    def _integrate(self, start_ms: int, end_ms: int) -> None:
        """Consume energy between two host instants, in segments of at most 15 simulated minutes."""
        factor = self.settings.time_factor
        remaining = (end_ms - start_ms) * factor
        at = float(start_ms)
        while remaining > 0:
            sim_step = min(remaining, MAX_SEGMENT_SIM_MS)
            self._switch_relay(int(at))
            if self._relay_closed:
                self._consume(sim_step, int(at))
            self.sim_ms += round(sim_step)
            remaining -= sim_step
            at += sim_step / factor

    def _consume(self, sim_step: float, now_ms: int) -> None:
        reading = self.reading()
        mpl = decoding.mpl_watts(self.state)
        if mpl and reading.power_w > mpl:
            self.mpl_trip_until = now_ms + MPL_RETRY_MS
            self._switch_relay(now_ms)
            self._dirty = True
            return
        energy = reading.power_w * sim_step / 3_600_000.0
        if energy <= 0:
            return
        available = self.credit_wh - self.wh_pending
        if energy >= available:
            energy = available  # the relay opens the moment the credit runs out
        self.energy_wh += energy
        self.wh_pending += energy
        whole = int(self.wh_pending + 1e-9)
        if whole:
            self.state, taken = decoding.debit(self.state, whole)
            self.debited_wh += taken
            self.wh_pending = max(0.0, self.wh_pending - whole)
        if self.credit_wh == 0:
            self.wh_pending = 0.0
            self._switch_relay(now_ms)
        self._dirty = True

    def set_tamper(self, tamper: bool, now_ms: int) -> None:
        """The meter's tamper switch (cover opened): the relay opens until a clear-tamper token."""
        self.advance(now_ms)
        state = decoding.set_tamper(self.state, tamper)
        self.store.save(self.document(state, now_ms, self.last_result))
        self.state = state
        self._last_save_ms = now_ms
        self._after_change(now_ms)

    # ----- tokens and keys -------------------------------------------------------------------------

    def enter_token(self, digits: str, now_ms: int) -> TokenOutcome:
        """Decode a token (keypad or serial), save the new state, then show and return the outcome.

        Raises StorageError (and applies nothing) when the state cannot be saved, NoKey when the meter is
        not provisioned and the entry is not a Class 1 test token (nothing decoded).
        """
        self.advance(now_ms)
        self.keypad.clear()
        if not self.provisioned and not provisioning.is_test_token(digits):
            self.last_result = "NO KEY"
            self._show(lcd.no_key_screen(), now_ms)
            raise NoKey
        new_state, outcome = decoding.apply(self.state, digits, now_ms)
        line1 = lcd.result_screen(outcome.outcome, locked_s=outcome.seconds).line1.rstrip()
        if new_state != self.state or line1 != self.last_result:
            self.store.save(self.document(new_state, now_ms, line1))
            self._last_save_ms = now_ms
            self._dirty = False
        self.state = new_state
        self.last_result = line1
        if outcome.outcome == "accept" and outcome.kind == "mpl":
            self.mpl_trip_until = -1
        self._show(lcd.result_screen(outcome.outcome, _accept_detail(outcome), outcome.seconds), now_ms)
        self._after_change(now_ms)
        return outcome

    def press(self, key: str, now_ms: int, announce: bool = False) -> TokenOutcome | None:
        """One key press. Returns the decoder outcome when the press submitted a token.

        `announce` (a person at the keypad, not a `KEY` request) also reports the outcome to the serial
        host as an `EVENT token ...` line.
        """
        self.advance(now_ms)
        result = self.keypad.press(key, now_ms)
        self._screen = None
        if result.action is Action.SUBMIT:
            outcome = self.enter_token(result.payload, now_ms)
            if announce:
                self.emit(outcome.line("EVENT token"))
            return outcome
        if result.action is Action.SHORT_CODE:
            self._show(self.short_code_screen(result.payload), now_ms)
        return None

    def provision_id(self, arg: str) -> None:
        """`PROVISION ID ...`: hold the identity (raises ProvisionRefused; a refused ID forgets any)."""
        if self.provisioned:
            raise ProvisionRefused("provisioned")
        self.pending_identity = None
        self.pending_identity = provisioning.parse_id(arg)

    def provision_key(self, key_hex: str, now_ms: int) -> None:
        """`PROVISION KEY ...`: the fresh state with this identity and key, saved in one write.

        Raises ProvisionRefused, or StorageError (still unprovisioned).
        """
        if self.provisioned:
            raise ProvisionRefused("provisioned")
        pending = self.pending_identity
        if pending is None:
            raise ProvisionRefused("no_id")
        state = provisioning.provisioned_state(pending, key_hex)
        self.advance(now_ms)
        dkga = "04" if pending.params.ea.key_bytes == 16 else "02"
        before = (self.provenance, self.provisioned)
        self.provenance, self.provisioned = Provenance(pending.params.base_date.year, dkga), True
        try:
            self.store.save(self.document(state, now_ms, self.last_result))
        except BaseException:
            # As the firmware: a failed write leaves the meter unprovisioned and the ID forgotten.
            self.provenance, self.provisioned = before
            self.pending_identity = None
            raise
        self.state, self.pending_identity, self._last_save_ms = state, None, now_ms
        self._after_change(now_ms)

    def _show(self, screen: Screen, now_ms: int) -> None:
        self._screen = screen
        self._screen_until = now_ms + SCREEN_MS

    # ----- what the meter shows (meter_emulator.readout) -------------------------------------------

    def screen(self, now_ms: int) -> Screen:
        return readout.screen(self, now_ms)

    def transient_screen(self, now_ms: int) -> Screen | None:
        """A token result or short-code screen still within its 5 s, if any."""
        return self._screen if self._screen is not None and now_ms < self._screen_until else None

    def short_code_screen(self, code: str) -> Screen:
        return readout.short_code_screen(self, code)

    def status_fields(self, now_ms: int) -> list[tuple[str, str]]:
        return readout.status_fields(self, now_ms)

    def info_fields(self) -> list[tuple[str, str]]:
        return readout.info_fields(self)

    def relay_reason(self, now_ms: int) -> str | None:
        """Why the relay is (or would be) open: tamper, credit, mpl; None when it may close."""
        return self._relay_reason(now_ms)


def _accept_detail(outcome: TokenOutcome) -> str:
    if outcome.kind == "credit":
        return lcd.accept_detail_credit(outcome.amount_wh // 100)
    if outcome.kind == "mpl":
        return lcd.accept_detail_mpl(outcome.mpl_w)
    return {
        "clear_credit": "Credit cleared",
        "clear_tamper": "Tamper cleared",
        "key_change": "Key changed",
    }.get(outcome.kind, "")
