"""Any meter the vending side can describe (EA07 or EA11, DKGA02 or 04, any base date) can be provisioned
in the emulator and accepts the credit tokens made for it, over the serial protocol; a typo is refused."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from meter_emulator import protocol
from meter_emulator.meter import MeterSettings
from meter_emulator.provision import Identity, create_meter, decoder_key_for
from meter_emulator.store import MemoryStore
from tokencore import KeyType, MeterProfile, VendingKey, decode_token
from tokencore.issue import Issuer
from tokencore.testing import amounts_in_tenths, digit_corruptions, issue_times, meter_profiles, vending_keys


@st.composite
def provisioned(draw: st.DrawFn) -> tuple[MeterProfile, VendingKey]:
    profile = draw(meter_profiles(kt=KeyType.DUTK))
    return profile, draw(vending_keys(profile.key.dkga))


@settings(max_examples=40, deadline=None)
@given(provisioned(), amounts_in_tenths(), st.data())
def test_any_meter_accepts_its_tokens_and_refuses_typos(
    meter: tuple[MeterProfile, VendingKey], tenths: int, data: st.DataObject
) -> None:
    profile, vending_key = meter
    identity = Identity(profile.pan, profile.key)
    key = decoder_key_for(identity, vending_key)
    emulated = create_meter(MemoryStore(), identity, key, MeterSettings(), 0)
    issued = Issuer(profile, key).credit(
        Decimal(tenths).scaleb(-1),
        at=data.draw(issue_times(profile.key.base_date)),
        rnd=data.draw(st.integers(0, 15)),
    )
    assert issued.units is not None and issued.tid is not None
    assume(issued.tid > 0)  # a fresh meter's TID memory holds zeros: TID 0 (the base date's minute) is "used"
    typo = data.draw(digit_corruptions(issued.token))
    assume(int(typo) >= 2**66 or not decode_token(typo, key, profile.key.ea).crc_ok)
    assert protocol.handle(emulated, f"TOKEN {typo}", 1).split()[1] in ("crc_error", "format_error")

    amount = f"{issued.units:.1f}"
    assert (
        protocol.handle(emulated, f"TOKEN {issued.grouped}", 2)
        == f"RESULT accept amount={amount} credit={amount}"
    )
    assert protocol.handle(emulated, "LCD", 3) == f"LCD |{'Accept':<16}|{f'+{amount} kWh':<16}|"
    assert protocol.handle(emulated, f"TOKEN {issued.token}", 4) == "RESULT used"
    info = protocol.handle(emulated, "INFO", 5)
    assert f"pan={profile.pan.pan} " in info and f" ea={profile.key.ea.value} " in info
    assert f" bd={profile.key.base_date.year} " in info
