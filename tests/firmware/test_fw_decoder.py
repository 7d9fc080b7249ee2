"""The C decoder (firmware/core/tc_decoder.c) against tokencore's Python decoder.

1. The decoder scenario vectors (tests/vectors/decoder_scenarios.json, made by the Python decoder):
   the C decoder must give the same outcome, fields and state after every step.
2. A hypothesis differential test: random sequences of valid, corrupted, replayed, key change and
   malformed entries at random (also backwards) clock jumps go through both decoders, which must agree
   on the outcome and on the whole state (MeterState.to_dict) after each entry.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tokencore.blocks import currency_block
from tokencore.ciphers import make_cipher
from tokencore.codec import encode_token
from tokencore.decoder import MeterState, enter_token
from tokencore.keys import DecoderKey
from tokencore.params import Ea

if TYPE_CHECKING:
    from conftest import CDecoder

pytestmark = pytest.mark.firmware

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "decoder_scenarios.json"
SCENARIOS = json.loads(VECTORS.read_text())["scenarios"]


def initial_dict(meter: dict[str, Any]) -> dict[str, Any]:
    """The MeterState.to_dict() form of a scenario's fresh meter."""
    size = meter["config"]["tid_memory_size"]
    return {
        "pan": meter["pan"],
        "key": {
            "key": meter["decoder_key"],
            "ea": meter["ea"],
            "kt": meter["kt"],
            "krn": meter["krn"],
            "ti": meter["ti"],
            "ken": meter["ken"],
            "sgc": meter["sgc"],
        },
        "config": meter["config"],
        "registers": [0] * 8,
        "tid_memory": [0] * size,
        "mpl_watts": None,
        "mppul_watts": None,
        "tariff_rate": None,
        "water_factor": None,
        "tamper": meter.get("tamper", False),
        "pending": [],
        "wrong_entries": 0,
        "locked_until_ms": 0,
    }


def vector_state(d: dict[str, Any]) -> dict[str, Any]:
    """A to_dict() document in the scenario vectors' `state` form."""
    return {
        "registers": d["registers"],
        "tid_memory": sorted(d["tid_memory"]),
        "key": d["key"]["key"].upper(),
        "kt": d["key"]["kt"],
        "krn": d["key"]["krn"],
        "ti": d["key"]["ti"],
        "ken": d["key"]["ken"],
        "sgc": d["key"]["sgc"],
        "mpl_watts": d["mpl_watts"],
        "mppul_watts": d["mppul_watts"],
        "tariff_rate": d["tariff_rate"],
        "water_factor": d["water_factor"],
        "tamper": d["tamper"],
        "pending": [p[0] for p in d["pending"]],
        "wrong_entries": d["wrong_entries"],
        "locked_until_ms": d["locked_until_ms"],
    }


PRESENT_TID, PRESENT_AMOUNT, PRESENT_REGISTER, PRESENT_CONTROL = 0x02, 0x04, 0x08, 0x10


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_c_decoder_scenarios(cdecoder: CDecoder, scenario: dict[str, Any]) -> None:
    start = initial_dict(scenario["meter"])
    st_c = cdecoder.load(start)
    for i, step in enumerate(scenario["steps"]):
        res = cdecoder.enter(st_c, step["entry"], step["now_ms"])
        where = f"step {i} ({step.get('label', step['entry'])})"
        assert cdecoder.outcome(res) == step["result"], where
        for name, bit, value in (
            ("amount", PRESENT_AMOUNT, res.amount),
            ("register", PRESENT_REGISTER, res.reg),
            ("tid", PRESENT_TID, res.tid),
            ("control", PRESENT_CONTROL, res.control),
        ):
            expected = step.get(name)
            assert (value if res.present & bit else None) == expected, f"{where}: {name}"
        assert vector_state(cdecoder.dump(st_c, start)) == step["state"], where


# --------------------------------------------------------------------------------------------------
# Differential: random sequences through both decoders.

ALL_STEPS = [(s, step) for s in SCENARIOS for step in s["steps"]]
# Every token of the vectors, grouped by the meter (key) that can read it.
TOKENS_BY_KEY: dict[str, list[str]] = {}
for _s, _step in ALL_STEPS:
    TOKENS_BY_KEY.setdefault(_s["meter"]["decoder_key"], []).append(_step["entry"])
METERS = {s["meter"]["decoder_key"]: s["meter"] for s in SCENARIOS}


def corrupt(token: str, pos: int, digit: int) -> str:
    d = str(digit)
    if token[pos] == d:
        d = str((digit + 1) % 10)
    return token[:pos] + d + token[pos + 1 :]


@st.composite
def entries(draw: st.DrawFn, pool: list[str]) -> str:
    kind = draw(st.sampled_from(["valid"] * 8 + ["corrupt", "other", "short", "junk"]))
    token = draw(st.sampled_from(pool))
    if kind == "valid":
        return token
    if kind == "corrupt":
        return corrupt(token, draw(st.integers(0, 19)), draw(st.integers(0, 9)))
    if kind == "other":
        return draw(st.sampled_from([t for ts in TOKENS_BY_KEY.values() for t in ts]))
    if kind == "short":
        return token[: draw(st.integers(0, 21))]
    return draw(st.text(alphabet="0123456789 x", min_size=0, max_size=22))


@st.composite
def sequences(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    meter = dict(draw(st.sampled_from(list(METERS.values()))))
    config = dict(meter["config"])
    config["tid_memory_size"] = draw(st.sampled_from([1, 2, 3, 20]))
    config["lockout_threshold"] = draw(st.integers(1, 6))
    config["kct_timeout_ms"] = draw(st.sampled_from([1000, 600_000]))
    config["services"] = draw(st.sampled_from([[0], [0, 1, 2, 3], list(range(8))]))
    config["register_limit"] = draw(st.sampled_from([4_000_000_000, 1_000_000, 150]))
    meter["config"] = config
    meter["kt"] = draw(st.sampled_from([meter["kt"], 0, 1, 2]))
    meter["ken"] = draw(st.sampled_from([meter["ken"], 0, 89, 255]))
    meter["tamper"] = draw(st.booleans())
    pool = TOKENS_BY_KEY[meter["decoder_key"]]
    steps = []
    now = draw(st.integers(0, 10**6))
    for _ in range(draw(st.integers(1, 25))):
        # Clock jumps: small steps, long gaps (lockout, key change window), and backwards.
        now = max(0, now + draw(st.sampled_from([0, 1, 999, 10_001, 700_000, -5000, 2**40])))
        steps.append((draw(entries(pool)), now))
    return meter, steps


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=sequences())
def test_c_and_python_decoders_agree(
    cdecoder: CDecoder, case: tuple[dict[str, Any], list[tuple[str, int]]]
) -> None:
    meter, steps = case
    start = initial_dict(meter)
    state = MeterState.from_dict(start)
    st_c = cdecoder.load(start)
    assert cdecoder.dump(st_c, start) == state.to_dict()
    for entry, now in steps:
        state, result = enter_token(state, entry, now)
        res = cdecoder.enter(st_c, entry, now)
        event(result.outcome.value)
        assert cdecoder.outcome(res) == result.outcome.value, (entry, now)
        assert res.lock_remaining_ms == result.lock_remaining_ms
        if result.amount is not None:
            assert res.amount == result.amount
        assert cdecoder.dump(st_c, start) == state.to_dict(), (entry, now, result.outcome)


# --------------------------------------------------------------------------------------------------
# The same scenarios through the C decoder built with ASan/UBSan (firmware/test/tcdrive.c).


def drive_meter_line(meter: dict[str, Any]) -> str:
    c = meter["config"]
    services = sum(1 << s for s in c["services"])
    return (
        f"meter {meter['pan']} {meter['decoder_key']} {int(meter['ea'])} {meter['kt']} {meter['krn']} "
        f"{meter['ti']} {meter['ken']} {meter['sgc']} {c['tid_memory_size']} {c['kct_timeout_ms']} "
        f"{c['register_limit']} {services} {c['lockout_threshold']} {c['lockout_base_ms']} "
        f"{c['lockout_max_ms']} {int(meter.get('tamper', False))}"
    )


def drive_expected(outcome: str, st: dict[str, Any]) -> str:
    """The driver's output line for an outcome and a state in the vectors' form."""
    return (
        f"{outcome} {','.join(map(str, st['registers']))} {','.join(map(str, st['tid_memory']))} {st['key']}"
        f" {st['kt']} {st['krn']} {st['ti']} {st['ken']} {st['sgc']} [{','.join(map(str, st['pending']))}]"
        f" {st['wrong_entries']} {st['locked_until_ms']}"
    )


def test_scenarios_under_sanitizers(fw_make: Callable[..., Path]) -> None:
    build = fw_make("sanitize")
    lines: list[str] = []
    expected: list[str] = []
    for scenario in SCENARIOS:
        lines.append(drive_meter_line(scenario["meter"]))
        for step in scenario["steps"]:
            lines.append(f"e {step['entry'].encode().hex() or '-'} {step['now_ms']}")
            expected.append(drive_expected(step["result"], step["state"]))
    proc = subprocess.run(
        [str(build / "san" / "tcdrive")],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == expected


def test_random_sequences_under_sanitizers(fw_make: Callable[..., Path]) -> None:
    """300 seeded random sequences (as in the hypothesis test) through the sanitized C decoder and the
    Python decoder: same outcomes and states, and no ASan/UBSan report."""
    build = fw_make("sanitize")
    rng = random.Random(20261128)
    lines: list[str] = []
    expected: list[str] = []
    everything = [t for ts in TOKENS_BY_KEY.values() for t in ts]
    for _ in range(300):
        meter = dict(rng.choice(list(METERS.values())))
        config = dict(meter["config"])
        config["tid_memory_size"] = rng.choice([1, 2, 3, 20])
        config["lockout_threshold"] = rng.randint(1, 6)
        config["kct_timeout_ms"] = rng.choice([1000, 600_000])
        config["services"] = rng.choice([[0], [0, 1, 2, 3], list(range(8))])
        config["register_limit"] = rng.choice([4_000_000_000, 1_000_000, 150])
        meter["config"] = config
        meter["kt"] = rng.choice([meter["kt"], 0, 1, 2])
        meter["tamper"] = rng.random() < 0.5
        state = MeterState.from_dict(initial_dict(meter))
        lines.append(drive_meter_line(meter))
        pool = TOKENS_BY_KEY[meter["decoder_key"]]
        now = rng.randint(0, 10**6)
        for _ in range(rng.randint(1, 25)):
            now = max(0, now + rng.choice([0, 1, 999, 10_001, 700_000, -5000, 2**40]))
            kind = rng.random()
            token = rng.choice(pool)
            if kind < 0.6:
                entry = token
            elif kind < 0.75:
                entry = corrupt(token, rng.randint(0, 19), rng.randint(0, 9))
            elif kind < 0.85:
                entry = rng.choice(everything)
            elif kind < 0.95:
                entry = token[: rng.randint(0, 21)]
            else:
                entry = "".join(rng.choice("0123456789 x") for _ in range(rng.randint(0, 22)))
            state, result = enter_token(state, entry, now)
            lines.append(f"e {entry.encode().hex() or '-'} {now}")
            expected.append(drive_expected(result.outcome.value, vector_state(state.to_dict())))
    proc = subprocess.run(
        [str(build / "san" / "tcdrive")],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == expected


# --------------------------------------------------------------------------------------------------
# Currency credit (experimental, class 0 subclasses 4-7): every exponent 0-31, against Python.

CURRENCY_KEY = "E653341F9D5BF36F"


@settings(max_examples=300, deadline=None)
@given(
    sub=st.integers(4, 7),
    negative=st.booleans(),
    exponent=st.integers(0, 31),
    mantissa=st.integers(0, 16383),
    limit=st.sampled_from([4_000_000_000, 2**32 - 1, 10**9, 1000]),
    have=st.integers(0, 2**32 - 1),
)
def test_currency_amounts_match_python(
    cdecoder: CDecoder, sub: int, negative: bool, exponent: int, mantissa: int, limit: int, have: int
) -> None:
    block = currency_block(sub, negative, exponent, mantissa, tid=5_000_000)
    token = encode_token(0, block, make_cipher(DecoderKey.from_hex(CURRENCY_KEY), Ea.EA07))
    meter = dict(METERS[CURRENCY_KEY])
    meter["config"] = dict(meter["config"], services=list(range(8)), register_limit=limit)
    start = initial_dict(meter)
    start["registers"][sub] = min(have, limit)
    state, result = enter_token(MeterState.from_dict(start), token, 0)
    st_c = cdecoder.load(start)
    res = cdecoder.enter(st_c, token, 0)
    assert cdecoder.outcome(res) == result.outcome.value
    assert cdecoder.dump(st_c, start) == state.to_dict()
