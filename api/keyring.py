"""Turns a meter row into what tokencore needs: its profile and its decoder key.

The decoder key comes from a key store chosen by NGUVU_KEYSTORE: `SoftwareStore` (vending keys sealed
under the KEK, unsealed the first time they are needed and kept in process memory: the process already
holds the KEK, so this adds no exposure) or `api.hsm.Pkcs11Store` (vending keys in a PKCS#11 token,
DKGA 04 computed there). A key row of kind "decoder" holds one meter's decoder key delivered by the key
management centre (sealed under the KEK, bound to the meter's PAN and key parameters): that is how DKGA 02
meters vend under the PKCS#11 store. Issuers (decoder key + cipher) are cached per meter and key
parameters, bounded (NGUVU_ISSUER_CACHE_SIZE), because building one costs key derivation and cipher
set-up on every vend; a decoder key lives only inside its cached issuer.

A meter whose issuer is not cached (a cold meter) costs its decoder-key derivation and cipher set-up, and
nothing more: the key row of a vending key, shared by many meters, is kept by id after its first read
(key rows are never changed once written, so an id names one row; the row holds the key only sealed),
instead of being read from the database again, and the parsed key parameters are shared too.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from api.keystore import Kek, KeystoreError
from api.models import VendingKeyRecord
from api.settings import DEFAULT_ISSUER_CACHE_SIZE
from api.wrapped import binding_of
from tokencore import (
    BaseDate,
    DecoderKey,
    Dkga,
    Ea,
    Issuer,
    KeyParams,
    KeyType,
    MeterProfile,
    TokenError,
    VendingKey,
    derive_decoder_key,
    parse_pan,
)

# Distinct key-parameter sets kept (a utility has a handful: supply groups x tariff indexes x revisions).
PARAMS_CACHE_SIZE = 4096


class DecoderKeyBindingError(TokenError):
    """A KMC-delivered decoder key was made for another meter or other key parameters (a key change
    happened since): the meter needs the new key from the key management centre."""

    code = "decoder_key_for_other_parameters"


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


class KeyStore(Protocol):
    """Where vending keys live and where DKGA runs. `kek` seals what is stored in the database."""

    name: str  # the `store` column of the key rows it holds: "kek" or "pkcs11"
    accepts_plaintext: bool  # `nguvu vending-key add` (a key typed in) is allowed
    kek: Kek

    def seal(self, label: str, key: VendingKey) -> bytes: ...

    def decoder_key(self, record: VendingKeyRecord, profile: MeterProfile) -> DecoderKey: ...


class SoftwareStore:
    """Vending keys sealed under the KEK in the database; DKGA 02/04 computed in this process."""

    name = "kek"
    accepts_plaintext = True

    def __init__(self, kek: Kek) -> None:
        self.kek = kek
        self._lock = threading.Lock()
        self._vending: dict[str, VendingKey] = {}

    def __repr__(self) -> str:
        return f"SoftwareStore(<{len(self._vending)} vending keys hidden>)"

    def seal(self, label: str, key: VendingKey) -> bytes:
        return self.kek.seal(label, key.reveal())

    def vending_key(self, label: str, sealed: bytes) -> VendingKey:
        with self._lock:
            cached = self._vending.get(label)
        if cached is not None:
            return cached
        key = VendingKey(self.kek.open(label, sealed))
        with self._lock:
            self._vending[label] = key
        return key

    def decoder_key(self, record: VendingKeyRecord, profile: MeterProfile) -> DecoderKey:
        return derive_decoder_key(self.vending_key(record.label, record.sealed), profile)


class Keyring:
    def __init__(self, store: KeyStore | Kek, issuer_cache_size: int = DEFAULT_ISSUER_CACHE_SIZE) -> None:
        self.store: KeyStore = SoftwareStore(store) if isinstance(store, Kek) else store
        self._lock = threading.Lock()
        self._issuers: OrderedDict[tuple[object, ...], Issuer] = OrderedDict()
        self._issuer_cache_size = issuer_cache_size
        self._params: dict[tuple[object, ...], KeyParams] = {}
        self._records: dict[int, VendingKeyRecord] = {}  # vending-key rows by id, detached copies

    def __repr__(self) -> str:
        return f"Keyring({self.store!r})"

    def seal(self, label: str, key: VendingKey) -> bytes:
        """A vending key typed in, sealed for its row. Raises KeystoreError under the PKCS#11 store."""
        return self.store.seal(label, key)

    def decoder_key(self, record: VendingKeyRecord, profile: MeterProfile) -> DecoderKey:
        """The decoder key of the meter `profile` under the key row `record`. Raises KeystoreError (a
        key held by the other store) or TokenError (DecoderKeyBindingError, Dkga02Refused...)."""
        if record.kind == "decoder":
            if record.bound_to != binding_of(profile):
                raise DecoderKeyBindingError(
                    f"decoder key {record.label!r} was made for other key parameters or another meter"
                )
            return DecoderKey(self.store.kek.open(record.label, record.sealed))
        if self.store.name == "pkcs11" and profile.key.dkga is Dkga.DKGA02:
            # Whichever store holds the row: DKGA 02 from a vending key is not done under this store.
            from api.hsm import refuse_dkga02

            refuse_dkga02(profile)
        if record.store != self.store.name:
            raise KeystoreError(
                f"vending key {record.label!r} is held by the {record.store!r} key store, but "
                f"NGUVU_KEYSTORE is {self.store.name!r}"
            )
        return self.store.decoder_key(record, profile)

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
            params = self._params.get(cache_key[1:9])
            record = self._records.get(meter.vending_key_id)
        if params is None:
            params = self._remember_params(cache_key[1:9], key_params_of(meter))
        if record is None:
            record = self._remember_record(load_record(), meter.vending_key_id)
        profile = MeterProfile(pan=parse_pan(meter.pan), key=params)
        issuer = Issuer(profile, self.decoder_key(record, profile))
        with self._lock:
            self._issuers[cache_key] = issuer
            if len(self._issuers) > self._issuer_cache_size:
                self._issuers.popitem(last=False)
        return issuer

    def _remember_params(self, columns: tuple[object, ...], params: KeyParams) -> KeyParams:
        with self._lock:
            if len(self._params) >= PARAMS_CACHE_SIZE:
                self._params.clear()
            self._params[columns] = params
        return params

    def _remember_record(self, record: VendingKeyRecord | None, key_id: int) -> VendingKeyRecord:
        """Keep a vending key's row (a copy, free of the session that read it). A decoder key's row
        serves one meter only, whose issuer is cached anyway: not kept."""
        if record is None:
            raise KeystoreError(f"vending key #{key_id} is missing")
        if record.kind == "vending":
            copy = VendingKeyRecord(
                id=record.id,
                label=record.label,
                sealed=record.sealed,
                store=record.store,
                kind=record.kind,
                bits=record.bits,
                bound_to=record.bound_to,
            )
            with self._lock:
                self._records[key_id] = copy
        return record
