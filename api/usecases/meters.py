"""Meters: checking a new meter's fields (the thesis's form: number with its check digit, phases, GPS,
connection date, STS key parameters, vending key by label, serial link), editing and deleting one.

Key parameters are not edited here: the meter itself holds its key, so they change only with key-change
tokens (api.usecases.engineering.key_change)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from api.actors import Actor
from api.audit import record
from api.errors import Conflict, NotFound
from api.keyring import key_params_of
from api.models import Meter, VendingKeyRecord
from api.models.base import utcnow
from api.queries import meters as meter_queries
from api.queries import subscribers as subscriber_queries
from api.queries import tariffs as tariff_queries
from api.usecases.fields import Fields
from tokencore import Dkga, TokenError, meter_from_number

Value = object  # a typed value, or the text a form posted


@dataclass(frozen=True)
class MeterInput:
    """A new meter. Field names are the form's; values typed or as posted text."""

    number: Value  # DRN (11 or 13 digits with its check digit) or MeterPAN (18)
    vending_key: Value  # label of a stored vending key
    sgc: Value = ""
    ti: Value = 1
    krn: Value = 1
    kt: Value = 2
    ken: Value = 255
    base_date: Value = 2014
    dkga: Value = 2
    ea: Value = 7
    serial_number: Value = ""
    phases: Value = 1
    latitude: Value = None
    longitude: Value = None
    altitude: Value = None
    connection_date: Value = None
    tariff_name: Value = "residential"
    connected: Value = False
    serial_url: Value = ""


@dataclass(frozen=True)
class MeterEdit:
    """The editable fields of a meter; None leaves a field as it is."""

    serial_number: Value = None
    phases: Value = None
    latitude: Value = None
    longitude: Value = None
    altitude: Value = None
    connection_date: Value = None
    tariff_name: Value = None
    connected: Value = None
    serial_url: Value = None
    clear_position: bool = False  # set latitude/longitude/altitude to empty


def _place(session: Session, f: Fields, spec: MeterInput | MeterEdit, meter: Meter) -> None:
    """The non-key fields of `spec` checked and set on `meter` (a None of a MeterEdit: unchanged)."""
    edit = isinstance(spec, MeterEdit)
    if not edit or spec.serial_number is not None:
        meter.serial_number = f.text("serial_number", spec.serial_number, max_len=40)
    if not edit or spec.phases is not None:
        meter.phases = f.choice("phases", spec.phases, (1, 3))
    for name, lo, hi in (("latitude", -90, 90), ("longitude", -180, 180), ("altitude", -1000, 10000)):
        value = getattr(spec, name)
        if not edit or value is not None or (isinstance(spec, MeterEdit) and spec.clear_position):
            setattr(meter, name, f.real(name, value, lo, hi))
    if (meter.latitude is None) != (meter.longitude is None):
        f.fail("longitude" if meter.longitude is None else "latitude", "required")
    if not edit or spec.connection_date is not None:
        meter.connection_date = f.day("connection_date", spec.connection_date)
        if meter.connection_date is not None and meter.connection_date > date(2100, 1, 1):
            f.fail("connection_date", "out_of_range")
    if not edit or spec.tariff_name is not None:
        meter.tariff_name = f.text("tariff_name", spec.tariff_name, max_len=40, required=True)
        if meter.tariff_name and meter.tariff_name not in tariff_queries.names(session):
            f.fail("tariff_name", "unknown_tariff")
    if not edit or spec.connected is not None:
        meter.connected = f.flag("connected", spec.connected)
    if not edit or spec.serial_url is not None:
        meter.serial_url = f.text("serial_url", spec.serial_url, max_len=255)
    if meter.connected and not meter.serial_url:
        f.fail("serial_url", "serial_url_required")


def check_new(session: Session, f: Fields, spec: MeterInput, *, taken: set[str]) -> Meter | None:
    """A new, unsaved Meter from `spec`, its errors added to `f` (None when the number is unusable).
    `taken`: PANs earlier in the same form (a number twice is an error). Writes nothing."""
    meter = Meter(pan="", drn="", sgc=0, ti=0, krn=0, kt=0, vending_key_id=0)
    _place(session, f, spec, meter)
    meter.sgc = f.integer("sgc", spec.sgc, 0, 999_999)
    meter.ti = f.integer("ti", spec.ti, 0, 99)
    meter.krn = f.integer("krn", spec.krn, 1, 9)
    meter.kt = f.integer("kt", spec.kt, 0, 3)
    meter.ken = f.integer("ken", spec.ken, 0, 255)
    meter.base_date = f.choice("base_date", spec.base_date, (2014, 1993, 2035))
    meter.dkga = f.choice("dkga", spec.dkga, (2, 4))
    meter.ea = f.choice("ea", spec.ea, (7, 11))
    _check_key(session, f, spec.vending_key, meter)
    number = f.text("number", spec.number, max_len=24, required=True)
    if "number" in f.errors:
        return None
    try:
        pan = meter_from_number(number)
    except (TokenError, ValueError):
        f.fail("number", "invalid_meter_number")
        return None
    meter.pan, meter.drn = pan.pan, pan.drn
    _check_decoder_key(session, f, meter)
    if pan.pan in taken:
        f.fail("number", "duplicate_meter")
    elif session.scalars(select(col(Meter.id)).where(col(Meter.pan) == pan.pan)).first() is not None:
        f.fail("number", "meter_exists")
    taken.add(pan.pan)
    if not f.errors:
        try:
            key_params_of(meter)  # the one place stored columns become KeyParams: refuses what it would
        except (TokenError, ValueError):
            f.fail("kt", "invalid")
    return meter


def _check_key(session: Session, f: Fields, label: object, meter: Meter) -> None:
    text = f.text("vending_key", label, max_len=64, required=True)
    if not text:
        return
    record_ = session.scalars(select(VendingKeyRecord).where(col(VendingKeyRecord.label) == text)).first()
    if record_ is None or record_.id is None:
        f.fail("vending_key", "unknown_vending_key")
        return
    if record_.kind == "vending" and record_.store == "pkcs11" and meter.dkga == int(Dkga.DKGA02.value):
        f.fail("vending_key", "dkga02_needs_decoder_key")
    elif record_.kind == "vending" and meter.dkga == int(Dkga.DKGA04.value) and record_.bits < 160:
        f.fail("vending_key", "vending_key_too_short")
    meter.vending_key_id = record_.id


def _check_decoder_key(session: Session, f: Fields, meter: Meter) -> None:
    """A decoder key from the key management centre is one meter's: only that meter may use it."""
    record_ = session.get(VendingKeyRecord, meter.vending_key_id) if meter.vending_key_id else None
    if record_ is not None and record_.kind == "decoder" and not record_.bound_to.startswith(f"{meter.pan}:"):
        f.fail("vending_key", "decoder_key_other_meter")


def snapshot_fields(meter: Meter) -> dict[str, object]:
    """What the audit keeps of a meter (its columns; it holds no secret, only the key's row id)."""
    return {c.name: getattr(meter, c.name) for c in Meter.__table__.columns}  # type: ignore[attr-defined]


def edit(session: Session, actor: Actor, meter_id: int, changes: MeterEdit) -> Meter:
    """Change a live meter's non-key fields (audited, before -> after). Raises NotFound
    (`meter_not_found`) or FieldErrors (nothing changed)."""
    meter = meter_queries.get_live(session, meter_id, lock=True)
    before = snapshot_fields(meter)
    work = Meter(**before)  # type: ignore[arg-type]
    f = Fields()
    _place(session, f, changes, work)
    f.done()
    for name in ("serial_number", "phases", "latitude", "longitude", "altitude", "connection_date"):
        setattr(meter, name, getattr(work, name))
    for name in ("tariff_name", "connected", "serial_url"):
        setattr(meter, name, getattr(work, name))
    record(session, actor, "meter_edited", meter.drn, before=before, after=snapshot_fields(meter))
    session.flush()
    return meter


def delete(session: Session, actor: Actor, meter_id: int) -> Meter:
    """Soft-delete a live meter (its payments and tokens stay). Raises NotFound (`meter_not_found`) or
    Conflict (`payment_in_flight`) while a payment for it is queued, pending or held."""
    meter = meter_queries.get_live(session, meter_id, lock=True)
    assert meter.id is not None
    if meter_queries.payment_in_flight(session, meter.id):
        raise Conflict("a payment for this meter is still in flight", code="payment_in_flight")
    before = snapshot_fields(meter)
    meter.deleted_at = utcnow()
    record(session, actor, "meter_deleted", meter.drn, before=before, after=snapshot_fields(meter))
    session.flush()
    return meter


def attach(session: Session, actor: Actor, meter_id: int, customer_code: str | None) -> Meter:
    """Give a live meter to the subscriber with `customer_code` (None: to nobody), audited. Raises
    NotFound (`meter_not_found`, `subscriber_not_found`)."""
    meter = meter_queries.get_live(session, meter_id, lock=True)
    before = snapshot_fields(meter)
    if customer_code is None:
        meter.subscriber_id = None
    else:
        sub = subscriber_queries.by_code(session, customer_code)
        if sub is None:
            raise NotFound(f"no subscriber {customer_code!r}", code="subscriber_not_found")
        meter.subscriber_id = sub.id
    record(session, actor, "meter_attached", meter.drn, before=before, after=snapshot_fields(meter))
    session.flush()
    return meter
