"""Meter engineering: management tokens (max power limit, clear credit, clear tamper), key change (2 or 4
tokens that move the meter to new key parameters) and test tokens. Each is stored as a token row for the
meter, issued in one transaction with the meter row locked (its last TID and keys move with the token),
and audited.

What each does to the meter (the back office shows it before confirming):
- `set_mpl`: the meter limits its load to `mpl_watts` (0: no limit) until the next such token.
- `clear_credit`: the meter's credit registers are set to zero: prepaid energy is lost.
- `clear_tamper`: the tamper flag is cleared, so a meter that locked itself supplies again.
- key change: after the tokens, the meter accepts only tokens made with the new keys; until they are all
  entered, tokens for the new keys are refused.
- test: the meter runs the test or display selected by `control` (bit 0: test 0, supported by all).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from api.actors import Actor
from api.audit import record
from api.errors import FieldErrors, VendRefused
from api.keyring import key_params_of, profile_of
from api.models import Meter, Token, VendingKeyRecord
from api.queries import meters as meter_queries
from api.service import Service
from api.usecases.fields import Fields
from api.usecases.meters import snapshot_fields
from tokencore import IssuedToken, MeterProfile, TokenError, issue_key_change_tokens, issue_test_token

ALL_REGISTERS = 0xFFFF  # clear-credit register field: every register
TOKEN_BY = 64  # Token.issued_by


class ManagementKind(StrEnum):
    SET_MPL = "set_mpl"
    CLEAR_CREDIT = "clear_credit"
    CLEAR_TAMPER = "clear_tamper"


@dataclass(frozen=True)
class KeyChangeInput:
    """The meter's new key parameters (base date, DKGA and EA stay: the meter cannot change them)."""

    sgc: object
    ti: object
    krn: object
    vending_key: object  # label of a stored vending key
    kt: object = 2
    ken: object = 255


def management_token(
    service: Service,
    session: Session,
    actor: Actor,
    meter_number: str,
    kind: ManagementKind | str,
    mpl_watts: object = None,
) -> Token:
    """A set-MPL / clear-credit / clear-tamper token for a live meter (recorded, audited). Raises
    NotFound (`meter_not_found`), FieldErrors (`kind`, `mpl_watts`) or VendRefused (the engine refused:
    nothing written)."""
    f = Fields()
    chosen = f.choice("kind", kind, list(ManagementKind))
    watts = 0
    if chosen is ManagementKind.SET_MPL and "kind" not in f.errors:
        watts = f.integer("mpl_watts", mpl_watts, 0, 18_201_624)
    f.done()
    meter = meter_queries.find_or_404(session, meter_number, lock=True)
    issuer = service.keyring.issuer(meter, lambda: session.get(VendingKeyRecord, meter.vending_key_id))
    at, rnd, last = service.clock(), service.vendor.rnd(), meter.last_tid
    try:
        if chosen is ManagementKind.CLEAR_CREDIT:
            issued = issuer.clear_credit(ALL_REGISTERS, at=at, rnd=rnd, last_tid=last)
        elif chosen is ManagementKind.CLEAR_TAMPER:
            issued = issuer.clear_tamper(at=at, rnd=rnd, last_tid=last)
        else:
            issued = issuer.max_power_limit(watts, at=at, rnd=rnd, last_tid=last)
    except TokenError as exc:
        raise VendRefused(str(exc), code=exc.code) from None
    if issued.tid is not None:
        meter.last_tid = issued.tid
    note = f"mpl_watts={watts}" if chosen is ManagementKind.SET_MPL else ""
    return _store(session, actor, meter, chosen.value, [issued], note=note)


def key_change(
    service: Service, session: Session, actor: Actor, meter_number: str, new: KeyChangeInput
) -> Token:
    """The key-change tokens (2, or 4 for a 160-bit DKGA 04 key) moving a live meter to `new`; the
    meter row takes the new parameters (audited before -> after). Raises NotFound (`meter_not_found`),
    FieldErrors (`sgc`, `ti`, `krn`, `kt`, `ken`, `vending_key`) or VendRefused (nothing written)."""
    meter = meter_queries.find_or_404(session, meter_number, lock=True)
    f = Fields()
    sgc, ti = f.integer("sgc", new.sgc, 0, 999_999), f.integer("ti", new.ti, 0, 99)
    krn, kt, ken = (
        f.integer("krn", new.krn, 1, 9),
        f.integer("kt", new.kt, 0, 3),
        f.integer("ken", new.ken, 0, 255),
    )
    label = f.text("vending_key", new.vending_key, max_len=64, required=True)
    new_record = session.scalars(select(VendingKeyRecord).where(col(VendingKeyRecord.label) == label)).first()
    if label and new_record is None:
        f.fail("vending_key", "unknown_vending_key")
    f.done()
    assert new_record is not None and new_record.id is not None
    before = snapshot_fields(meter)
    old = profile_of(meter)
    old_record = session.get(VendingKeyRecord, meter.vending_key_id)
    assert old_record is not None
    target = Meter(**{**before, "sgc": sgc, "ti": ti, "krn": krn, "kt": kt, "ken": ken})  # type: ignore[arg-type]
    try:
        params = key_params_of(target)
        new_key = service.keyring.decoder_key(new_record, MeterProfile(pan=old.pan, key=params))
        issued = issue_key_change_tokens(old, service.keyring.decoder_key(old_record, old), params, new_key)
    except TokenError as exc:
        raise VendRefused(str(exc), code=exc.code) from None
    except ValueError:
        raise FieldErrors({"kt": "invalid"}) from None
    meter.sgc, meter.ti, meter.krn, meter.kt, meter.ken = sgc, ti, krn, kt, ken
    meter.vending_key_id = new_record.id
    token = _store(session, actor, meter, "key_change", list(issued), note=f"to vending key {label}")
    record(session, actor, "meter_keys_changed", meter.drn, before=before, after=snapshot_fields(meter))
    return token


def test_token(
    service: Service, session: Session, actor: Actor, meter_number: str, control: object = 1
) -> Token:
    """A class 1 test/display token for a live meter: `control` selects the tests (bit 0 = test 0), the
    manufacturer code comes from the meter's DRN (2 digits for 11-digit DRNs, 4 for 13). Recorded and
    audited. Raises NotFound (`meter_not_found`), FieldErrors (`control`) or VendRefused."""
    f = Fields()
    bits = f.integer("control", control, 1, (1 << 36) - 1)
    f.done()
    meter = meter_queries.find_or_404(session, meter_number, lock=True)
    long_code = len(meter.drn) == 13
    if long_code and bits >= 1 << 28:
        raise FieldErrors({"control": "out_of_range"})
    try:
        issued = issue_test_token(bits, int(meter.drn[: 4 if long_code else 2]), long_mfr_code=long_code)
    except TokenError as exc:
        raise VendRefused(str(exc), code=exc.code) from None
    return _store(session, actor, meter, "test", [issued], note=f"control={bits}")


def _store(
    session: Session, actor: Actor, meter: Meter, kind: str, issued: list[IssuedToken], *, note: str
) -> Token:
    assert meter.id is not None
    tid = issued[0].tid if len(issued) == 1 else None
    token = Token(
        meter_id=meter.id,
        kind=kind,
        token=" ".join(t.token for t in issued),
        tid=tid,
        issued_by=actor.label[:TOKEN_BY],
    )
    session.add(token)
    session.flush()
    record(
        session, actor, f"token_{kind}", meter.drn, note=f"token #{token.id}" + (f", {note}" if note else "")
    )
    return token
