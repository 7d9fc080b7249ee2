"""The simulated PZEM-004T and load profiles."""

import pytest

from meter_emulator.sensor import (
    MAX_A,
    MAX_W,
    ConstantLoad,
    DailyLoad,
    Pzem,
    StepLoad,
    parse_profile,
)


def test_open_relay_reads_voltage_but_no_current() -> None:
    reading = Pzem().read(1000.0, relay_closed=False, sim_ms=0)
    assert (reading.voltage_v, reading.current_a, reading.power_w) == (230.0, 0.0, 0.0)


def test_closed_relay_reads_the_load() -> None:
    reading = Pzem().read(2300.0, relay_closed=True, sim_ms=0)
    assert reading.power_w == 2300.0  # appliances draw their power
    assert reading.voltage_v < 230.0  # the line sags under load
    assert reading.current_a * reading.voltage_v == pytest.approx(2300.0, abs=0.5)


def test_readings_are_clamped_to_the_sensor_ranges() -> None:
    reading = Pzem().read(1e6, relay_closed=True, sim_ms=0)
    assert reading.current_a <= MAX_A and reading.power_w <= MAX_W
    assert Pzem(nominal_v=300.0).read(0, True, 0).voltage_v == 260.0


def test_daily_profile_peaks_in_the_evening() -> None:
    day = DailyLoad(2000.0)
    hour = 3_600_000
    assert day.demand_w(20 * hour) > day.demand_w(7 * hour) > day.demand_w(3 * hour) > 0


def test_profile_specs() -> None:
    assert parse_profile("constant:500") == ConstantLoad(500.0)
    assert parse_profile("daily:1500") == DailyLoad(1500.0)
    steps = parse_profile("steps:100,2500,0@600")
    assert steps == StepLoad((100.0, 2500.0, 0.0), 600_000)
    assert [steps.demand_w(t * 600_000) for t in range(4)] == [100.0, 2500.0, 0.0, 100.0]
    for bad in ("flat:1", "constant:-5", "constant:x", "steps:1@0"):
        with pytest.raises(ValueError):
            parse_profile(bad)


def test_profiles_print_as_their_spec() -> None:
    for spec in ("constant:500", "daily:1500", "steps:100,2500,0@600"):
        assert str(parse_profile(spec)) == spec
