"""The decoder scenario vectors (tests/vectors/decoder_scenarios.json) replayed through the Python
meter-side decoder, step by step: outcome, result fields and state after each entry."""

from __future__ import annotations

from typing import Any

import pytest

from tests.vectorfiles import load
from tests.vectors.make_decoder_scenarios import snapshot
from tokencore import DecoderKey, Ea, parse_pan
from tokencore.decoder import MeterConfig, MeterKey, MeterState, enter_token

SCENARIOS = load("decoder_scenarios.json")["scenarios"]


def state_from_spec(spec: dict[str, Any]) -> MeterState:
    key = MeterKey(
        DecoderKey.from_hex(spec["decoder_key"]),
        Ea(spec["ea"]),
        spec["kt"],
        spec["krn"],
        spec["ti"],
        spec["ken"],
        spec["sgc"],
    )
    return MeterState(
        parse_pan(spec["pan"]), key, MeterConfig.from_dict(spec["config"]), tamper=spec["tamper"]
    )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s["name"])
def test_scenario(scenario: dict[str, Any]) -> None:
    state = state_from_spec(scenario["meter"])
    for number, step in enumerate(scenario["steps"]):
        state, result = enter_token(state, step["entry"], step["now_ms"])
        where = f"step {number} ({step.get('label', step['entry'])})"
        assert result.outcome.value == step["result"], where
        for name in ("amount", "register", "tid", "control"):
            assert getattr(result, name) == step.get(name), f"{where}: {name}"
        assert snapshot(state) == step["state"], where
        # The persisted form restores exactly this state.
        assert MeterState.from_dict(state.to_dict()) == state, where


def test_scenarios_cover_the_vocabulary() -> None:
    seen = {step["result"] for s in SCENARIOS for step in s["steps"]}
    from tokencore import Outcome

    assert seen == {o.value for o in Outcome}
