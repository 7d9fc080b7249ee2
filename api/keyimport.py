"""Loading keys delivered by the key management centre into the PKCS#11 key store (docs/keys.md).

Vending keys are unwrapped into the token (the row only names them); a DKGA 02 meter's decoder key is
unwrapped in the token, read back once and sealed under the KEK in a row of kind "decoder" bound to that
meter's PAN and key parameters. Both are audited; no key material is logged or returned.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from api import audit
from api.actors import Actor
from api.errors import Conflict, InvalidInput
from api.hsm import Pkcs11Store
from api.keyring import Keyring
from api.keystore import KeystoreError
from api.models import VendingKeyRecord
from api.wrapped import WrappedKey, parse

_LABEL = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _store_and_check(session: Session, keyring: Keyring, label: str) -> Pkcs11Store:
    if not _LABEL.fullmatch(label):
        raise InvalidInput("key label: 1-64 letters, digits, '_', '.', '-'")
    store = keyring.store
    if not isinstance(store, Pkcs11Store):
        raise InvalidInput(
            "wrapped keys are imported into the PKCS#11 key store: set NGUVU_KEYSTORE=pkcs11",
            code="keystore_not_pkcs11",
        )
    if session.scalars(select(VendingKeyRecord).where(col(VendingKeyRecord.label) == label)).first():
        raise Conflict(f"key {label!r} exists")
    return store


def _parse(text: str) -> WrappedKey:
    try:
        return parse(text)
    except KeystoreError as exc:
        raise InvalidInput(str(exc), code="invalid_wrapped_key") from None


def import_vending_key(
    session: Session, keyring: Keyring, label: str, text: str, *, transport_key: str, actor: Actor
) -> VendingKeyRecord:
    """Unwrap the vending key of a wrapped key file into the token under `label` and record it.
    Raises InvalidInput, Conflict or KeystoreError; on any failure nothing stays in the token or base."""
    store = _store_and_check(session, keyring, label)
    wrapped = _parse(text)
    store.import_vending_key(label, transport_key, wrapped)
    try:
        record = VendingKeyRecord(label=label, sealed=b"", store=store.name, bits=wrapped.bits)
        session.add(record)
        session.flush()
        audit.record(
            session,
            actor,
            "vending_key_imported",
            label,
            after={"label": label, "id": record.id, "store": store.name, "check": wrapped.check},
        )
    except Exception:
        store.destroy_vending_key(label)
        raise
    return record


def import_decoder_key(
    session: Session, keyring: Keyring, label: str, text: str, *, transport_key: str, actor: Actor
) -> VendingKeyRecord:
    """Unwrap one meter's decoder key (a wrapped key file of kind decoder-key) in the token and keep it
    sealed under the KEK in a row bound to that meter. Raises InvalidInput, Conflict or KeystoreError."""
    store = _store_and_check(session, keyring, label)
    wrapped = _parse(text)
    key = store.unwrap_decoder_key(transport_key, wrapped)
    record = VendingKeyRecord(
        label=label,
        sealed=store.kek.seal(label, key.reveal()),
        store="kek",
        kind="decoder",
        bits=key.bits,
        bound_to=wrapped.binding,
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        actor,
        "decoder_key_imported",
        label,
        after={"label": label, "id": record.id, "bound_to": wrapped.binding, "check": wrapped.check},
    )
    return record
