"""A hypothesis state machine drives the emulated meter (keys, tokens, time, power cuts) and checks it
against a simple model: what was accepted, what the load must have consumed, when the keypad locks."""

from __future__ import annotations

from emulator_kit import KEY_A, ManualClock, Vendor, corrupt, new_meter
from hypothesis import assume, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from meter_emulator import protocol
from meter_emulator.meter import Meter, MeterSettings
from meter_emulator.sensor import ConstantLoad
from tokencore import decode_token

TIME_FACTOR = 3600.0
# The lockout the meter is specified to have (docs, sts-notes §3.4): 3 wrong entries, 10 s, doubling.
LOCK_AFTER, LOCK_BASE_MS, LOCK_MAX_MS = 3, 10_000, 1_280_000


class MeterMachine(RuleBasedStateMachine):
    accepted = Bundle("accepted")

    @initialize(
        watts=st.sampled_from([0.0, 60.0, 800.0, 2500.0]), save_ms=st.sampled_from([50, 1000, 60_000])
    )
    def start(self, watts: float, save_ms: int) -> None:
        self.clock = ManualClock()
        self.vendor = Vendor()
        self.watts = watts
        self.settings = MeterSettings(
            ConstantLoad(watts), time_factor=TIME_FACTOR, persist_interval_ms=save_ms
        )
        self.meter = new_meter(self.clock, self.settings)
        self.accepted_wh = 0
        self.accepted_tokens: set[str] = set()
        self.debited_at_last_save_point = 0
        self.wrong = 0
        self.locked_until = 0

    # ----- the model's view of the lockout ---------------------------------------------------------

    def locked(self) -> bool:
        return self.clock.now < self.locked_until

    def wrong_entry(self) -> None:
        self.wrong += 1
        if self.wrong >= LOCK_AFTER:
            self.locked_until = self.clock.now + min(LOCK_BASE_MS << (self.wrong - LOCK_AFTER), LOCK_MAX_MS)

    def enter(self, token: str, keypad: bool) -> str:
        if not keypad:
            return protocol.handle(self.meter, f"TOKEN {token}", self.clock.now)
        for digit in token:
            assert protocol.handle(self.meter, f"KEY {digit}", self.clock.now) == "OK"
        return protocol.handle(self.meter, "KEY #", self.clock.now)

    # ----- rules -----------------------------------------------------------------------------------

    @rule(target=accepted, tenths=st.integers(1, 500), keypad=st.booleans())
    def buy(self, tenths: int, keypad: bool) -> str:
        token = self.vendor.credit(f"{tenths // 10}.{tenths % 10}").token
        reply = self.enter(token, keypad)
        if self.locked():
            assert reply.startswith("RESULT locked seconds=")
            return token  # refused while locked: never credited, so replaying it later is fine too
        assert reply.split()[:2] == ["RESULT", "accept"], reply
        self.accepted_wh += tenths * 100
        self.accepted_tokens.add(token)
        self.wrong, self.locked_until = 0, 0
        self.debited_at_last_save_point = self.meter.debited_wh
        return token

    @rule(token=accepted, keypad=st.booleans())
    def replay(self, token: str, keypad: bool) -> None:
        before = self.meter.credit_wh
        outcome = self.enter(token, keypad).split()[1]
        if self.locked():
            assert outcome == "locked"
        elif token in self.accepted_tokens:
            assert outcome in ("used", "old")
        else:  # refused while locked earlier: a genuine, still unused token
            assert outcome == "accept"
            self.accepted_tokens.add(token)
            self.accepted_wh += self.meter.credit_wh - before
            self.wrong, self.locked_until = 0, 0
            self.debited_at_last_save_point = self.meter.debited_wh
        if outcome != "accept":
            assert self.meter.credit_wh == before

    @rule(position=st.integers(0, 19), delta=st.integers(1, 9))
    def typo(self, position: int, delta: int) -> None:
        token = corrupt(self.vendor.credit("1").token, position, delta)
        if int(token) < 2**66:
            assume(not decode_token(token, KEY_A).crc_ok)
        before = self.meter.credit_wh
        outcome = self.enter(token, keypad=False).split()[1]
        test_class = int(token) < 2**66 and (int(token) >> 27) & 3 == 1
        if self.locked() and not test_class:  # Class 1 (test) tokens are still processed when locked
            assert outcome == "locked"
        else:
            assert outcome in ("crc_error", "format_error")
            self.wrong_entry()
        assert self.meter.credit_wh == before

    @rule(ms=st.integers(1, 20_000))
    def wait(self, ms: int) -> None:
        credit, debited = self.meter.credit_wh, self.meter.debited_wh
        self.meter.advance(self.clock.advance(ms))
        expected = self.watts * ms * TIME_FACTOR / 3_600_000
        used = self.meter.debited_wh - debited
        if credit > expected + 2:
            assert abs(used - expected) <= 1.0
        else:  # the credit ran out during the wait
            assert self.meter.credit_wh == 0

    @rule()
    def power_cut(self) -> None:
        self.meter = Meter.load(self.meter.store, self.settings, self.clock.advance(1))
        self.meter.drain_events()
        assert self.meter.debited_wh >= self.debited_at_last_save_point

    @rule()
    def show_credit(self) -> None:
        for key in "01#":
            protocol.handle(self.meter, f"KEY {key}", self.clock.now)
        screen = self.meter.screen(self.clock.now)
        tenths = self.meter.credit_wh // 100
        assert (screen.line1.rstrip(), screen.line2.rstrip()) == (
            "Credit",
            f"{tenths // 10}.{tenths % 10} kWh",
        )

    # ----- invariants ------------------------------------------------------------------------------

    @invariant()
    def credit_is_what_was_bought_minus_what_was_used(self) -> None:
        assert self.meter.credit_wh == self.accepted_wh - self.meter.debited_wh
        assert abs(self.meter.energy_wh - self.meter.debited_wh) <= 1.0

    @invariant()
    def relay_follows_credit(self) -> None:
        assert self.meter.relay_closed == (self.meter.credit_wh > 0)

    @invariant()
    def lockout_matches_the_model(self) -> None:
        assert (self.meter.locked_seconds(self.clock.now) > 0) == self.locked()


MeterMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestMeterMachine = MeterMachine.TestCase
