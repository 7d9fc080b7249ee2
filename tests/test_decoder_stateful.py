"""A stateful test of the meter-side decoder against a simple model, over random sequences of valid,
replayed, old, corrupted and foreign tokens, clock jumps, consumption, power cuts (save/restore), key
changes and TID-rollover migrations.

Model: the credit is the sum of the amounts of accepted credit tokens minus what was consumed; a token
(by its digits) is accepted at most once; a token from before a key change is never accepted after it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from hypothesis import assume, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tokencore import BaseDate, DecoderKey, Issuer, KeyParams, MeterProfile, Service, parse_pan
from tokencore.decoder import MeterConfig, MeterState, Outcome, debit, enter_token, new_meter_state
from tokencore.testing import decoder_keys, digit_corruptions, foreign_tokens

PAN = parse_pan("600727000000000009")
START = datetime(2024, 1, 1)


class MeterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.params = KeyParams(sgc=123456, ti=1, krn=1, base_date=BaseDate.Y2014)
        self.key = DecoderKey(bytes(range(8)))
        self.meter = new_meter_state(PAN, self.key, self.params, MeterConfig(tid_memory_size=4))
        self.minute = 0
        self.last_tid: int | None = None
        self.now_ms = 0
        self.credit_model = 0
        self.issued: list[str] = []  # tokens under the current key, in issue order
        self.accepted: set[str] = set()
        self.retired: list[str] = []  # tokens issued under keys the meter no longer holds
        self.keys_used = {self.key}

    def issuer(self) -> Issuer:
        return Issuer(MeterProfile(PAN, self.params), self.key)

    def enter(self, token: str) -> Outcome:
        self.now_ms += 1000
        self.meter, result = enter_token(self.meter, token, self.now_ms)
        if result.outcome is Outcome.ACCEPT and result.register == Service.ELECTRICITY:
            assert token not in self.accepted, "a token was credited twice"
            assert result.amount is not None
            self.credit_model += result.amount
        if result.outcome is Outcome.ACCEPT:
            self.accepted.add(token)
        return result.outcome

    @rule(tenths=st.integers(1, 50_000), minutes=st.integers(0, 3))
    def buy(self, tenths: int, minutes: int) -> None:
        self.minute += minutes
        at = START + timedelta(minutes=self.minute)
        token = self.issuer().credit(Decimal(tenths).scaleb(-1), at=at, rnd=5, last_tid=self.last_tid)
        self.last_tid = token.tid
        self.issued.append(token.token)
        locked = self.meter.is_locked(self.now_ms + 1000)
        assert self.enter(token.token) is (Outcome.LOCKED if locked else Outcome.ACCEPT)

    @precondition(lambda self: self.issued)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        token = data.draw(st.sampled_from(self.issued))
        credited_before = token in self.accepted  # enter() records an acceptance: ask first
        outcome = self.enter(token)
        if credited_before:
            assert outcome in (Outcome.USED, Outcome.OLD, Outcome.LOCKED)

    @precondition(lambda self: self.issued)
    @rule(data=st.data())
    def mistype(self, data: st.DataObject) -> None:
        token = data.draw(st.sampled_from(self.issued))
        self.enter(data.draw(digit_corruptions(token)))

    @rule(token=foreign_tokens(BaseDate.Y2014))
    def foreign(self, token: str) -> None:
        self.enter(token)

    @precondition(lambda self: self.retired)
    @rule(data=st.data())
    def replay_from_before_a_key_change(self, data: st.DataObject) -> None:
        assert self.enter(data.draw(st.sampled_from(self.retired))) is not Outcome.ACCEPT

    @rule(jump_ms=st.integers(-3_600_000, 3_600_000))
    def clock_jump(self, jump_ms: int) -> None:
        self.now_ms = max(0, self.now_ms + jump_ms)

    @rule(wh=st.integers(0, 2_000_000))
    def consume(self, wh: int) -> None:
        self.meter, taken = debit(self.meter, 0, wh)
        assert taken == min(wh, self.credit_model)
        self.credit_model -= taken

    @rule()
    def power_cut(self) -> None:
        self.meter = MeterState.from_dict(self.meter.to_dict())

    @rule(new_key=decoder_keys(), rollover=st.booleans(), reverse=st.booleans())
    def change_key(self, new_key: DecoderKey, rollover: bool, reverse: bool) -> None:
        # A utility never returns to an earlier key: with RO set, that would let its old tokens replay.
        assume(new_key not in self.keys_used)
        self.keys_used.add(new_key)
        new = replace(self.params, krn=self.params.krn % 9 + 1)
        tokens = list(self.issuer().key_change(new, new_key, rollover=rollover))
        if reverse:
            tokens.reverse()
        outcomes = [self.enter(t.token) for t in tokens]
        if outcomes[-1] is Outcome.ACCEPT:
            self.retired.extend(self.issued)
            self.issued = []
            self.params, self.key = new, new_key
            if rollover:
                self.last_tid = None  # a new base-date epoch would restart here; the meter forgot its TIDs
        else:
            assert Outcome.LOCKED in outcomes
            # The meter may hold a section; it is forgotten after the key change window.
            self.now_ms += self.meter.config.kct_timeout_ms + 1

    @invariant()
    def credit_matches_the_model(self) -> None:
        assert self.meter.credit == self.credit_model >= 0
        assert all(r >= 0 for r in self.meter.registers)


MeterMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestMeterMachine = MeterMachine.TestCase
