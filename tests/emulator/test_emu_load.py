"""Credit counts down under simulated load; the relay follows credit, the power limit and tamper."""

import pytest
from emulator_kit import ManualClock, Vendor, new_meter

from meter_emulator import protocol
from meter_emulator.meter import MPL_RETRY_MS, Meter, MeterSettings
from meter_emulator.sensor import ConstantLoad

HOUR_PER_SECOND = 3600.0


def loaded_meter(clock: ManualClock, watts: float, **kwargs: int) -> Meter:
    settings = MeterSettings(profile=ConstantLoad(watts), time_factor=HOUR_PER_SECOND, **kwargs)
    return new_meter(clock, settings)


def status(meter: Meter, clock: ManualClock) -> dict[str, str]:
    reply = protocol.handle(meter, "STATUS", clock.now)
    return dict(field.split("=") for field in reply.split()[1:])


def test_credit_counts_down_with_energy() -> None:
    clock, vendor = ManualClock(), Vendor()
    meter = loaded_meter(clock, 1000.0)
    meter.enter_token(vendor.credit("5").token, clock.now)
    for _ in range(4):  # one simulated hour at 1 kW, in steps of a quarter
        meter.advance(clock.advance(250))
    assert meter.credit_wh == pytest.approx(4_000, abs=1)
    values = status(meter, clock)
    assert values["credit"] in ("3.9", "4.0") and values["relay"] == "on"
    assert values["power"] == "1000" and values["energy"] in ("0.999", "1.000")
    assert meter.debited_wh + meter.credit_wh == 5_000


def test_relay_opens_at_zero_and_closes_after_a_credit_token() -> None:
    clock, vendor = ManualClock(), Vendor()
    meter = loaded_meter(clock, 2000.0)
    meter.enter_token(vendor.credit("1").token, clock.now)
    meter.drain_events()
    meter.advance(clock.advance(5_000))  # 5 simulated hours at 2 kW: far more than 1 kWh
    assert meter.credit_wh == 0 and not meter.relay_closed
    assert meter.energy_wh == pytest.approx(1_000.0)  # exactly the credit: the relay opened in time
    assert "EVENT relay state=off reason=credit" in meter.drain_events()
    assert meter.screen(clock.now).line2 == "OFF NoCred    0W"
    assert status(meter, clock)["power"] == "0"
    meter.advance(clock.advance(5_000))
    assert meter.energy_wh == pytest.approx(1_000.0)  # nothing flows through an open relay
    meter.enter_token(vendor.credit("1").token, clock.now)
    assert meter.relay_closed
    assert meter.drain_events() == ["EVENT relay state=on"]


def test_low_credit_warning() -> None:
    clock, vendor = ManualClock(), Vendor()
    meter = loaded_meter(clock, 1000.0, low_credit_wh=2_000)
    meter.enter_token(vendor.credit("3").token, clock.now)
    meter.drain_events()
    meter.advance(clock.advance(500))  # 0.5 kWh: 2.5 left
    assert meter.drain_events() == []
    meter.advance(clock.advance(600))  # 0.6 kWh more: 1.9 left
    assert meter.drain_events() == ["EVENT low_credit credit=1.9"]
    assert meter.screen(clock.advance(5_000)).line2.startswith("LOW CREDIT")


def test_relay_opens_above_the_power_limit_and_retries() -> None:
    clock, vendor = ManualClock(), Vendor()
    meter = loaded_meter(clock, 1500.0)
    meter.enter_token(vendor.credit("100").token, clock.now)
    assert protocol.handle(meter, f"TOKEN {vendor.mpl(1000).token}", clock.now) == (
        "RESULT accept mpl=1000 credit=100.0"
    )
    meter.drain_events()
    meter.advance(clock.advance(100))
    assert not meter.relay_closed
    assert meter.drain_events() == ["EVENT relay state=off reason=mpl"]
    assert meter.screen(clock.advance(5_000)).line2 == "OFF Limit     0W"
    meter.advance(clock.advance(MPL_RETRY_MS - 5_000 + 1))  # retry: closes, sees 1500 W, trips again
    assert meter.drain_events() == ["EVENT relay state=on", "EVENT relay state=off reason=mpl"]
    assert not meter.relay_closed
    # the household switches something off: after the next retry the relay stays closed
    meter.settings = MeterSettings(profile=ConstantLoad(800.0), time_factor=HOUR_PER_SECOND)
    meter.advance(clock.advance(MPL_RETRY_MS + 1))
    meter.advance(clock.advance(100))
    assert meter.relay_closed and status(meter, clock)["power"] == "800"


def test_tamper_opens_the_relay_until_a_clear_tamper_token() -> None:
    clock, vendor = ManualClock(), Vendor()
    meter = loaded_meter(clock, 0.0)
    meter.enter_token(vendor.credit("10").token, clock.now)
    meter.set_tamper(True, clock.advance(10))
    assert not meter.relay_closed and status(meter, clock)["tamper"] == "1"
    assert meter.screen(clock.advance(5_000)).line2 == "OFF Tamper    0W"
    reply = protocol.handle(meter, f"TOKEN {vendor.clear_tamper().token}", clock.advance(10))
    assert reply == "RESULT accept tamper=0 credit=10.0"
    assert meter.relay_closed


def test_a_power_cut_keeps_credit_and_loses_at_most_unsaved_consumption() -> None:
    clock, vendor = ManualClock(), Vendor()
    meter = loaded_meter(clock, 1000.0, persist_interval_ms=1_000)
    meter.enter_token(vendor.credit("10").token, clock.now)
    for _ in range(25):
        meter.advance(clock.advance(100))  # 2.5 simulated hours
    revived = Meter.load(meter.store, meter.settings, clock.advance(1))
    assert revived.credit_wh + revived.debited_wh == 10_000  # the invariant holds in what was saved
    assert 7_500 <= revived.credit_wh <= 8_000 + 1  # saved at least every simulated hour
    assert revived.relay_closed
