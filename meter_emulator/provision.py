"""Creating a meter: identity, key parameters and decoder key, written as a fresh state document."""

from __future__ import annotations

from dataclasses import dataclass

from meter_emulator import decoding
from meter_emulator.meter import Meter, MeterSettings, Provenance
from meter_emulator.store import StateStore
from tokencore import DecoderKey, KeyParams, MeterPan, MeterProfile, VendingKey, derive_decoder_key


@dataclass(frozen=True, slots=True)
class Identity:
    """What `nguvu meter new` asks for: the meter's number and key parameters."""

    pan: MeterPan
    key: KeyParams


def decoder_key_for(identity: Identity, vending_key: VendingKey) -> DecoderKey:
    """The meter's decoder key as the vending side derives it (DKGA02/04, per the key parameters)."""
    return derive_decoder_key(vending_key, MeterProfile(identity.pan, identity.key))


def create_meter(
    store: StateStore, identity: Identity, decoder_key: DecoderKey, settings: MeterSettings, now_ms: int
) -> Meter:
    """A new meter (no credit, empty TID memory) saved into `store`; returns it powered up."""
    state = decoding.new_state(identity.pan, identity.key, decoder_key)
    provenance = Provenance(identity.key.base_date.year, identity.key.dkga.value)
    meter = Meter(state, store, settings, provenance)
    meter.save(now_ms)
    return Meter.load(store, settings, now_ms)
