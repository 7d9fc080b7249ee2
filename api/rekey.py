"""Moving every key sealed in the database to a new KEK (`nguvu vending-key rekey`), all or nothing.

Every row of `vending_keys` with a sealed key (vending keys of the "kek" store and the per-meter decoder
keys of the key management centre) is opened with the old KEK and sealed again with the new one, bound to
the same label, in ONE transaction: until it commits, every row still holds its old ciphertext for any
other reader, and an error or a killed process rolls the whole move back, so the old KEK keeps working
and nothing is ever half-moved. Rows of the PKCS#11 store hold no key (`sealed` is empty) and are left
alone. Keys pass through this process's memory only, as they do when a vend unseals them.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from api.actors import Actor
from api.audit import record
from api.keystore import Kek, KeystoreError
from api.models import VendingKeyRecord

__all__ = ["SameKek", "rekey"]


class SameKek(ValueError):
    """The new KEK is the one the keys are already sealed with."""


def rekey(
    session: Session,
    old: Kek,
    new: Kek,
    actor: Actor,
    *,
    progress: Callable[[str], None] = lambda _label: None,
) -> int:
    """Seal every stored key under `new` instead of `old`, in the caller's transaction; returns how many
    keys moved. `progress(label)` is called after each row is written (not yet committed). Raises
    KeystoreError (a row does not open with `old`: nothing written), SameKek, or whatever `progress`
    raises; the caller's transaction then rolls everything back."""
    if session.get_bind().dialect.name == "postgresql":
        # No key may be added, under the old KEK, while the others move: writers wait for the commit.
        session.execute(text("LOCK TABLE vending_keys IN SHARE ROW EXCLUSIVE MODE"))
    rows = session.scalars(
        select(VendingKeyRecord).order_by(VendingKeyRecord.id).with_for_update()  # type: ignore[arg-type]
    ).all()
    sealed = [row for row in rows if row.sealed]
    # Open every key first: one that does not open stops the move before anything is written.
    keys = [old.open(row.label, row.sealed) for row in sealed]
    if sealed and _opens(new, sealed[0]):
        raise SameKek("the new KEK is the current one: nothing to move")
    for row, key in zip(sealed, keys, strict=True):
        row.sealed = new.seal(row.label, key)
        session.flush()
        progress(row.label)
    for row, key in zip(sealed, keys, strict=True):  # read back what will be committed
        if new.open(row.label, row.sealed) != key:  # pragma: no cover - AES-GCM round trip
            raise KeystoreError(f"key {row.label!r} does not read back under the new KEK")
    record(session, actor, "keys_rekeyed", "", note=f"{len(sealed)} sealed keys moved to a new KEK")
    return len(sealed)


def _opens(kek: Kek, row: VendingKeyRecord) -> bool:
    try:
        kek.open(row.label, row.sealed)
    except KeystoreError:
        return False
    return True
