"""Creating a meter: identity, key parameters and decoder key, written as a fresh state document."""

from __future__ import annotations

from dataclasses import dataclass

from meter_emulator import decoding, provisioning
from meter_emulator.meter import Meter, MeterSettings, Provenance
from meter_emulator.store import StateStore
from tokencore import DecoderKey, KeyParams, MeterPan, MeterProfile, VendingKey, derive_decoder_key
from tokencore.decoder import MeterState


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


def create_unprovisioned(store: StateStore, settings: MeterSettings, now_ms: int) -> Meter:
    """A meter with no identity and key (as a freshly flashed board): it waits for PROVISION requests."""
    meter = Meter(provisioning.blank_state(), store, settings, Provenance(), provisioned=False)
    meter.save(now_ms)
    return Meter.load(store, settings, now_ms)


def provision_requests(state: MeterState, base_year: int) -> list[str]:
    """The serial `PROVISION ID` and `PROVISION KEY` requests (docs/serial-protocol.md §3.6) that give
    an unprovisioned meter this identity and key. The second line holds the decoder key: a secret."""
    k, pan = state.key, state.pan.pan
    ident = f"{pan} {k.sgc:06d} {k.ti:02d} {k.krn} {k.kt} {k.ken} {k.ea.value} {base_year}"
    return [f"PROVISION ID {ident}", f"PROVISION KEY {k.key.reveal().hex().upper()}"]
