"""Turns a meter row into what tokencore needs: its profile and its decoder key.

Vending keys are unsealed with the KEK the first time they are needed and kept in process memory (the
process already holds the KEK, so this adds no exposure); issuers (decoder key + cipher) are cached per meter
and key parameters, bounded, because building one costs key derivation and cipher set-up on every vend.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from api.keystore import Kek, KeystoreError
from api.models import VendingKeyRecord
from tokencore import (
    BaseDate,
    DecoderKey,
    Dkga,
    Ea,
    Issuer,
    KeyParams,
    KeyType,
    MeterProfile,
    VendingKey,
    derive_decoder_key,
    parse_pan,
)

ISSUER_CACHE_SIZE = 20_000


def key_params_of(meter: Any) -> KeyParams:
    return KeyParams(
        sgc=meter.sgc,
        ti=meter.ti,
        krn=meter.krn,
        kt=KeyType(meter.kt),
        ken=meter.ken,
        base_date=BaseDate.from_year(meter.base_date),
        dkga=Dkga.parse(meter.dkga),
        ea=Ea.parse(meter.ea),
    )


def profile_of(meter: Any) -> MeterProfile:
    """The tokencore profile of a Meter or a `meters` row."""
    return MeterProfile(pan=parse_pan(meter.pan), key=key_params_of(meter))


class Keyring:
    def __init__(self, kek: Kek) -> None:
        self._kek = kek
        self._lock = threading.Lock()
        self._vending: dict[int, VendingKey] = {}
        self._issuers: OrderedDict[tuple[object, ...], Issuer] = OrderedDict()

    def __repr__(self) -> str:
        return f"Keyring(<{len(self._vending)} vending keys hidden>)"

    def seal(self, label: str, key: VendingKey) -> bytes:
        return self._kek.seal(label, key.reveal())

    def vending_key(self, record: VendingKeyRecord) -> VendingKey:
        assert record.id is not None
        with self._lock:
            cached = self._vending.get(record.id)
        if cached is not None:
            return cached
        key = VendingKey(self._kek.open(record.label, record.sealed))
        with self._lock:
            self._vending[record.id] = key
        return key

    def decoder_key(self, record: VendingKeyRecord, profile: MeterProfile) -> DecoderKey:
        return derive_decoder_key(self.vending_key(record), profile)

    def issuer(self, meter: Any, load_record: Callable[[], VendingKeyRecord | None]) -> Issuer:
        """The token issuer of a meter (a Meter or a meters row): its decoder key derived and its cipher
        built once, then cached. `load_record` fetches the sealed vending key only on a cache miss."""
        # Keyed on the raw columns (no parsing on a hit): every field the profile and the key depend on.
        cache_key = (
            meter.pan,
            meter.sgc,
            meter.ti,
            meter.krn,
            meter.kt,
            meter.ken,
            meter.base_date,
            meter.dkga,
            meter.ea,
            meter.vending_key_id,
        )
        with self._lock:
            cached = self._issuers.get(cache_key)
            if cached is not None:
                self._issuers.move_to_end(cache_key)
                return cached
        profile = profile_of(meter)
        record = load_record()
        if record is None:
            raise KeystoreError(f"vending key #{meter.vending_key_id} is missing")
        issuer = Issuer(profile, self.decoder_key(record, profile))
        with self._lock:
            self._issuers[cache_key] = issuer
            if len(self._issuers) > ISSUER_CACHE_SIZE:
                self._issuers.popitem(last=False)
        return issuer
