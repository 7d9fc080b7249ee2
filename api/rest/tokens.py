"""Management and key-change tokens for the vendor API (credit tokens live in api.vend)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from api.errors import InvalidInput, NotFound, VendRefused
from api.keyring import profile_of
from api.models import Meter, Token, VendingKeyRecord
from api.models.audit import AuditLog
from api.rest import schemas
from api.service import Service
from tokencore import KeyParams, KeyType, MeterProfile, TokenError, issue_key_change_tokens

ALL_REGISTERS = 0xFFFF  # clear-credit register field: every register


def issue_management(
    service: Service, session: Session, meter: Meter, body: schemas.ManagementIn, *, issued_by: str
) -> Token:
    """A clear-credit, clear-tamper or set-MPL token for a LOCKED meter row. Raises VendRefused."""
    record = session.get(VendingKeyRecord, meter.vending_key_id)
    assert record is not None and meter.id is not None
    if body.kind == "set_mpl" and body.mpl_watts is None:
        raise InvalidInput("mpl_watts is required for set_mpl", code="invalid_body")
    issuer = service.keyring.issuer(meter, lambda: record)
    at, rnd, last = service.clock(), service.vendor.rnd(), meter.last_tid
    try:
        if body.kind == "clear_credit":
            issued = issuer.clear_credit(ALL_REGISTERS, at=at, rnd=rnd, last_tid=last)
        elif body.kind == "clear_tamper":
            issued = issuer.clear_tamper(at=at, rnd=rnd, last_tid=last)
        else:
            assert body.mpl_watts is not None
            issued = issuer.max_power_limit(body.mpl_watts, at=at, rnd=rnd, last_tid=last)
    except TokenError as exc:
        raise VendRefused(str(exc), code=exc.code) from None
    if issued.tid is not None:
        meter.last_tid = issued.tid
    token = Token(meter_id=meter.id, kind=body.kind, token=issued.token, tid=issued.tid, issued_by=issued_by)
    session.add(token)
    session.add(AuditLog(actor=issued_by, action=f"token_{body.kind}", subject=meter.drn))
    session.flush()
    return token


def issue_key_change(
    service: Service, session: Session, meter: Meter, body: schemas.KeyChangeIn, *, issued_by: str
) -> Token:
    """The key-change tokens moving a LOCKED meter to new key parameters; the meter row is updated."""
    old_record = session.get(VendingKeyRecord, meter.vending_key_id)
    new_record = session.scalars(
        select(VendingKeyRecord).where(col(VendingKeyRecord.label) == body.vending_key)
    ).first()
    if new_record is None:
        raise NotFound(f"no vending key labelled {body.vending_key!r}", code="vending_key_not_found")
    assert old_record is not None and meter.id is not None
    old = profile_of(meter)
    try:
        params = KeyParams(
            sgc=body.sgc,
            ti=body.ti,
            krn=body.krn,
            kt=KeyType(body.kt),
            ken=body.ken,
            base_date=old.key.base_date,
            dkga=old.key.dkga,
            ea=old.key.ea,
        )
        new_key = service.keyring.decoder_key(new_record, MeterProfile(pan=old.pan, key=params))
        issued = issue_key_change_tokens(old, service.keyring.decoder_key(old_record, old), params, new_key)
    except TokenError as exc:
        raise VendRefused(str(exc), code=exc.code) from None
    except ValueError as exc:
        raise InvalidInput(f"invalid key parameter: {exc}", code="invalid_key_parameter") from None
    meter.sgc, meter.ti, meter.krn, meter.kt, meter.ken = body.sgc, body.ti, body.krn, body.kt, body.ken
    meter.vending_key_id = int(new_record.id or 0)
    token = Token(
        meter_id=meter.id,
        kind="key_change",
        token=" ".join(t.token for t in issued),
        tid=None,
        issued_by=issued_by,
    )
    session.add(token)
    session.add(
        AuditLog(
            actor=issued_by,
            action="token_key_change",
            subject=meter.drn,
            detail=f"sgc={body.sgc} ti={body.ti} krn={body.krn} kt={body.kt} ken={body.ken}",
        )
    )
    session.flush()
    return token
