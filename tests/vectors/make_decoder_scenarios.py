"""Writes decoder_scenarios.json: sequences of entries with the outcome and meter state after each step.

Provenance: produced by tokencore's Python decoder from tokens made by tokencore's issuer; the tokens of
the published vectors (ea07.json) appear in them. This makes them a regression guard for Python, and a
specification the firmware's C decoder is checked against independently (tests/firmware). Regenerate
only when a rule deliberately changes, never to make a failing test pass:

    .venv/bin/python tests/vectors/make_decoder_scenarios.py
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tokencore import (
    BaseDate,
    DecoderKey,
    Dkga,
    Ea,
    Issuer,
    KeyParams,
    KeyType,
    MeterProfile,
    Service,
    VendingKey,
    derive_decoder_key,
    issue_test_token,
    parse_pan,
)
from tokencore.blocks import CLASS_MANAGEMENT, credit_block, register_block, seal, test_block
from tokencore.ciphers import make_cipher
from tokencore.codec import encode_token
from tokencore.decoder import MeterConfig, MeterState, enter_token, new_meter_state

OUT = Path(__file__).with_name("decoder_scenarios.json")
PAN_A = parse_pan("600727000000000009")
VK = VendingKey.from_hex("ABABABABABABABAB")
VK160 = VendingKey.from_hex("ABABABABABABABAB949494949494949401234567")
T0 = datetime(2004, 3, 1, 13, 55)


def snapshot(state: MeterState) -> dict[str, Any]:
    """The observable state both decoders must agree on after each step."""
    k = state.key
    return {
        "registers": list(state.registers),
        "tid_memory": sorted(state.tid_memory),
        "key": k.key.hex(),
        "kt": k.kt,
        "krn": k.krn,
        "ti": k.ti,
        "ken": k.ken,
        "sgc": k.sgc,
        "mpl_watts": state.mpl_watts,
        "mppul_watts": state.mppul_watts,
        "tariff_rate": state.tariff_rate,
        "water_factor": state.water_factor,
        "tamper": state.tamper,
        "pending": [p.subclass for p in state.pending],
        "wrong_entries": state.wrong_entries,
        "locked_until_ms": state.locked_until_ms,
    }


def meter_spec(state: MeterState) -> dict[str, Any]:
    k = state.key
    return {
        "pan": state.pan.pan,
        "decoder_key": k.key.hex(),
        "ea": k.ea.value,
        "kt": k.kt,
        "krn": k.krn,
        "ti": k.ti,
        "ken": k.ken,
        "sgc": k.sgc,
        "config": state.config.to_dict(),
        "tamper": state.tamper,
    }


class Scenario:
    def __init__(self, name: str, state: MeterState, note: str = "") -> None:
        self.name, self.note, self.state = name, note, state
        self.meter = meter_spec(state)
        self.steps: list[dict[str, Any]] = []

    def enter(self, entry: str, now_ms: int, expect: str, label: str = "") -> None:
        self.state, result = enter_token(self.state, entry, now_ms)
        if result.outcome.value != expect:
            raise AssertionError(f"{self.name} / {label or entry}: got {result.outcome}, expected {expect}")
        step: dict[str, Any] = {"entry": entry, "now_ms": now_ms, "result": result.outcome.value}
        if label:
            step["label"] = label
        for name in ("amount", "register", "tid", "control"):
            value = getattr(result, name)
            if value is not None:
                step[name] = value
        step["state"] = snapshot(self.state)
        self.steps.append(step)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "note": self.note, "meter": self.meter, "steps": self.steps}


def profile(**key: Any) -> MeterProfile:
    params = {"sgc": 123456, "ti": 1, "krn": 1, "base_date": BaseDate.Y1993, **key}
    return MeterProfile(PAN_A, KeyParams(**params))


def meter(p: MeterProfile, vk: VendingKey = VK, **config: Any) -> tuple[MeterState, Issuer, DecoderKey]:
    dk = derive_decoder_key(vk, p)
    return new_meter_state(p.pan, dk, p.key, MeterConfig(**config)), Issuer(p, dk), dk


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def credit_rules() -> Scenario:
    state, iss, _ = meter(profile(), tid_memory_size=3)
    s = Scenario(
        "credit_used_old", state, "TID memory of 3: the 4th token pushes the oldest out; older is Old"
    )
    t = [iss.credit(u, at=at(i), rnd=5).token for i, u in enumerate(["0.1", "25.6", "1000", "18022.3", "5"])]
    s.enter(t[0], 0, "accept", "0.1 kWh, the published token")
    s.enter(t[0], 1000, "used", "replay")
    s.enter(t[2], 2000, "accept")
    s.enter(t[1], 3000, "accept", "older TID, memory not full yet")
    s.enter(t[4], 4000, "accept", "memory full: replaces the oldest")
    s.enter(t[0], 5000, "old", "TID below the oldest remembered")
    s.enter(t[3], 6000, "accept")
    s.enter(t[2], 7000, "used")
    return s


def refusals() -> Scenario:
    state, iss, dk = meter(profile(ken=0x59), register_limit=2_000_000)
    s = Scenario("refusals", state, "KEN 0x59; register limit 2,000,000 Wh; electricity only")
    s.enter(iss.credit("1", at=datetime(2004, 1, 1), rnd=1).token, 0, "accept", "TID >> 16 = 0x59 = KEN")
    late = Issuer(profile(), dk).credit("1", at=datetime(2004, 6, 1), rnd=1)
    s.enter(late.token, 1000, "key_expired", "TID >> 16 = 0x5A > KEN")
    big = iss.credit("1999", at=datetime(2004, 1, 2), rnd=2)
    s.enter(big.token, 2000, "overflow", "1 + 1999 kWh > 2000 kWh")
    water = iss.credit("1", at=datetime(2004, 1, 3), rnd=3, service=Service.WATER)
    s.enter(water.token, 3000, "function_error", "water token on an electricity meter")
    cipher = make_cipher(dk, Ea.EA07)
    bad_register = encode_token(CLASS_MANAGEMENT, register_block(1, 4, 0x590000 + 7, 0x0100), cipher)
    s.enter(bad_register, 4000, "range_error", "clear credit of register 0x0100")
    reserved = encode_token(CLASS_MANAGEMENT, seal(CLASS_MANAGEMENT, (10 << 60) | (0x590009 << 32)), cipher)
    s.enter(reserved, 5000, "function_error", "class 2 subclass 10")
    class3 = encode_token(3, seal(3, (0x590010 << 32) | (5 << 56)), cipher)
    s.enter(class3, 6000, "function_error", "class 3 with a valid CRC")
    s.enter("1234567890123456789", 7000, "format_error", "19 digits")
    s.enter("73786976294838206464", 8000, "format_error", "2^66: one above the largest token")
    s.enter(iss.credit("1", at=datetime(2004, 1, 4), rnd=3).token, 9000, "accept", "accept resets the count")
    return s


def ddtk() -> Scenario:
    p = profile(kt=KeyType.DDTK)
    state, iss, dk = meter(p)
    s = Scenario("ddtk", state, "a meter on a default key refuses credit but takes management tokens")
    block = credit_block(0, 5, 0x599863, 1)
    s.enter(encode_token(0, block, make_cipher(dk, Ea.EA07)), 0, "ddtk_error")
    s.enter(iss.max_power_limit(2500, at=T0, rnd=5).token, 1000, "accept", "MPL 2500 W")
    return s


def management() -> Scenario:
    state, iss, _ = meter(profile(), services=frozenset({0, 1, 2, 3}))
    state = replace(state, tamper=True)
    s = Scenario("management", state, "all four unit services; the meter starts with its tamper flag set")
    s.enter(iss.credit("10", at=at(0), rnd=5).token, 0, "accept")
    s.enter(iss.credit("3.5", at=at(1), rnd=5, service=Service.WATER).token, 1, "accept")
    s.enter(iss.max_power_limit(1818623, at=at(2), rnd=5).token, 2, "accept", "MPL rounds up to 1818624 W")
    s.enter(iss.phase_unbalance_limit(1000, at=at(3), rnd=5).token, 3, "accept")
    s.enter(iss.tariff_rate(1234, at=at(4), rnd=5).token, 4, "accept")
    s.enter(iss.water_meter_factor(77, at=at(5), rnd=5).token, 5, "accept")
    s.enter(iss.clear_tamper(at=at(6), rnd=5).token, 6, "accept")
    s.enter(iss.clear_credit(1, at=at(7), rnd=5).token, 7, "accept", "clear water only")
    s.enter(iss.credit("2", at=at(8), rnd=5, service=Service.GAS).token, 8, "accept")
    s.enter(iss.clear_credit(0xFFFF, at=at(9), rnd=5).token, 9, "accept", "clear every register")
    return s


def key_change(order: tuple[int, ...], rollover: bool) -> Scenario:
    p = profile()
    state, iss, _ = meter(p)
    new = replace(p.key, ti=2, krn=2, ken=0xFE)
    new_dk = derive_decoder_key(VK, MeterProfile(PAN_A, new))
    name = f"key_change_{''.join(map(str, order))}{'_rollover' if rollover else ''}"
    s = Scenario(name, state, "2-token STA key change; RO clears the TID memory")
    s.enter(iss.credit("1", at=at(0), rnd=5).token, 0, "accept")
    tokens = iss.key_change(new, new_dk, rollover=rollover)
    first, second = (tokens[i - 1] for i in order)
    s.enter(first.token, 1000, "kct_2nd_pending" if order[0] == 1 else "kct_1st_pending")
    s.enter(second.token, 2000, "accept", "key changed")
    s.enter(iss.credit("1", at=at(1), rnd=5).token, 3000, "crc_error", "token under the old key")
    new_iss = Issuer(MeterProfile(PAN_A, new), new_dk)
    s.enter(new_iss.credit("2", at=at(0), rnd=5).token, 4000, "accept" if rollover else "used")
    return s


def key_change_timeout_and_type() -> Scenario:
    p = profile()
    state, iss, _ = meter(p)
    s = Scenario(
        "key_change_timeout_and_type", state, "a lone section is forgotten after 10 minutes; KT 0 refused"
    )
    new = replace(p.key, ti=3)
    new_dk = derive_decoder_key(VK, MeterProfile(PAN_A, new))
    k1, k2 = iss.key_change(new, new_dk)
    s.enter(k1.token, 0, "kct_2nd_pending")
    s.enter(k2.token, 600_001, "kct_1st_pending", "the 1st section timed out")
    s.enter(k1.token, 900_000, "accept")
    # A change to KT 0 (DITK), built below the issuer (which refuses it), is refused by the meter.
    state2, _, dk2 = meter(p)
    s2 = Scenario("key_type_error", state2, "change to KT 0 from KT 2")
    from tokencore.blocks import KeySection, kct_block

    cipher = make_cipher(dk2, Ea.EA07)
    t1 = encode_token(2, kct_block(KeySection(3, 0x01020304, ken_nibble=15, krn=1, ro=False, kt=0)), cipher)
    t2 = encode_token(2, kct_block(KeySection(4, 0x05060708, ken_nibble=15, ti=1)), cipher)
    s2.enter(t1, 0, "kct_2nd_pending")
    s2.enter(t2, 1000, "key_type_error")
    return s, s2


def lockout() -> Scenario:
    state, iss, _ = meter(profile())
    s = Scenario(
        "lockout", state, "3 wrong entries lock 10 s, doubling; Class 1 still accepted; accept resets"
    )
    good = [iss.credit("1", at=at(i), rnd=5).token for i in range(3)]
    wrong = str(int(good[0]) ^ 1 << 40).zfill(20)
    s.enter(wrong, 0, "crc_error")
    s.enter(wrong, 1000, "crc_error")
    s.enter(wrong, 2000, "crc_error", "3rd: locked 10 s")
    s.enter(good[0], 3000, "locked")
    s.enter(issue_test_token(1, 0).token, 4000, "accept", "Class 1 while locked")
    s.enter(good[0], 12_000, "accept", "lock over; accept resets the counter")
    for i in range(3):
        s.enter(wrong, 13_000 + i, "crc_error")
    s.enter("0" * 20, 13_010, "locked")
    s.enter(wrong, 23_002, "crc_error", "4th wrong: 20 s")
    s.enter(good[1], 43_001, "locked")
    s.enter(good[1], 43_002, "accept")
    s.enter(issue_test_token(1, 12).token, 43_003, "mfr_code_error")
    s.enter(str(int(issue_test_token(1, 0).token) ^ 1 << 60).zfill(20), 43_004, "crc_error", "Class 1 typo")
    bad_sub = encode_token(1, seal(1, (2 << 60) | (1 << 24)), None)
    s.enter(bad_sub, 43_005, "function_error", "Class 1 subclass 2")
    return s


def misty1_meter() -> Scenario:
    p = profile(sgc=123457, dkga=Dkga.DKGA04, ea=Ea.EA11)
    state, iss, _ = meter(p, VK160)
    s = Scenario(
        "ea11_four_section_key_change", state, "MISTY1 meter: 4-token key change in the order 4, 9, 3, 8"
    )
    s.enter(
        iss.credit("0.1", at=datetime(2004, 3, 1, 13, 0), rnd=5).token,
        0,
        "accept",
        "the published EA11 token",
    )
    new = replace(p.key, krn=2, sgc=654321, ken=0xFF)
    new_dk = derive_decoder_key(VK160, MeterProfile(PAN_A, new))
    tokens = {t.subclass: t.token for t in iss.key_change(new, new_dk)}
    s.enter(tokens[4], 1000, "kct_1st_pending")
    s.enter(tokens[9], 2000, "kct_1st_pending")
    s.enter(tokens[3], 3000, "kct_2nd_pending")
    s.enter(tokens[8], 4000, "accept", "new key, KRN 2, SGC 654321")
    s.enter(Issuer(MeterProfile(PAN_A, new), new_dk).credit("5", at=at(10), rnd=5).token, 5000, "accept")
    return s


def currency() -> Scenario:
    state, iss, _ = meter(profile(), services=frozenset({0, 4}))
    s = Scenario("currency_experimental", state, "EXPERIMENTAL currency credit (CRC_C) into register 4")
    s.enter(iss.currency_credit("100.00624", at=at(0)).token, 0, "accept")
    return s


def main() -> None:
    scenarios = [credit_rules(), refusals(), ddtk(), management(), lockout(), misty1_meter(), currency()]
    for order in ((1, 2), (2, 1)):
        for rollover in (False, True):
            scenarios.append(key_change(order, rollover))
    scenarios.extend(key_change_timeout_and_type())
    data = {
        "provenance": __doc__.strip().splitlines()[2]
        + " Generated by tokencore's decoder (regression guard for Python); the C decoder checks it independently.",
        "state_fields": "registers: 8 registers (0-3 in thousandths of a unit, i.e. Wh for electricity; 4-7 in "
        "1e-5 currency units); tid_memory sorted ascending; key hex; pending = held key change subclasses",
        "scenarios": [sc.to_dict() for sc in scenarios],
    }
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {OUT} ({len(scenarios)} scenarios, {sum(len(sc.steps) for sc in scenarios)} steps)")


if __name__ == "__main__":
    main()
