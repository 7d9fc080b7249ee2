"""Registering, editing and deleting subscribers and meters through the use-cases (SQLite and PostgreSQL):
every validation rule refuses with the field's name and writes nothing; every change is audited."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import VENDING_KEY, World, queue_payment
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.actors import Actor, ActorKind
from api.db import reading, transaction
from api.errors import Conflict, FieldErrors, NotFound
from api.models import AuditLog, Meter, Payment, PaymentStatus, Subscriber
from api.usecases import meters, subscribers
from api.usecases.meters import MeterEdit, MeterInput
from api.usecases.subscribers import SubscriberInput

CASHIER = Actor(ActorKind.ADMIN, "7", "Jeanne Kahindo")
NEW_DRN = "01234567913"
NEW_DRN_2 = "01234567921"


def _person(**over: Any) -> SubscriberInput:
    values: dict[str, Any] = dict(
        name="Paluku",
        post_name="Kambale",
        phone="0991234567",
        quarter="Mabakanga",
        cell="Kasabinyole",
        avenue="Av. de la Paix",
        language="fr",
    )
    values.update(over)
    return SubscriberInput(**values)


def _meter(number: str = NEW_DRN, **over: Any) -> MeterInput:
    values: dict[str, Any] = dict(
        number=number,
        vending_key="vk1",
        sgc="123457",
        ti="1",
        krn="1",
        kt="2",
        ken="255",
        base_date="2014",
        dkga="2",
        ea="7",
        phases="3",
        latitude="0.4912",
        longitude="29.4731",
        connection_date="2026-11-30",
    )
    values.update(over)
    return MeterInput(**values)


def _counts(world: World) -> tuple[int, int, int]:
    with reading(world.service.engine) as s:
        return (
            s.scalar(select(func.count()).select_from(Subscriber)) or 0,
            s.scalar(select(func.count()).select_from(Meter)) or 0,
            s.scalar(select(func.count()).select_from(AuditLog)) or 0,
        )


def _audit(s: Session, action: str) -> list[AuditLog]:
    return list(s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def test_register_a_subscriber_with_two_meters(world: World) -> None:
    with transaction(world.service.engine) as s:
        sub = subscribers.register(s, CASHIER, _person(), [_meter(), _meter(NEW_DRN_2, phases="1")])
        sub_id = sub.id
    with reading(world.service.engine) as s:
        sub = s.get(Subscriber, sub_id)
        assert sub is not None
        assert sub.phone == "+243991234567" and sub.customer_code == f"ENK-{sub_id:06d}"
        assert (sub.quarter, sub.cell, sub.avenue) == ("Mabakanga", "Kasabinyole", "Av. de la Paix")
        rows = s.scalars(select(Meter).where(Meter.subscriber_id == sub_id).order_by(Meter.id)).all()
        assert [m.drn for m in rows] == [NEW_DRN, NEW_DRN_2]
        assert rows[0].phases == 3 and rows[0].latitude == pytest.approx(0.4912) and rows[1].phases == 1
        assert str(rows[0].connection_date) == "2026-11-30"
        entries = _audit(s, "subscriber_registered")[-1:] + _audit(s, "meter_registered")[-2:]
        assert [e.actor for e in entries] == ["admin:7 Jeanne Kahindo"] * 3
        after = json.loads(entries[1].detail)["after"]
        assert after["drn"] == NEW_DRN and after["sgc"] == 123457
        assert VENDING_KEY not in "".join(e.detail for e in s.scalars(select(AuditLog)))


@pytest.mark.parametrize(
    ("person", "meter", "errors"),
    [
        ({"name": " "}, {}, {"name": "required"}),
        ({"name": "x" * 81}, {}, {"name": "too_long"}),
        ({"phone": "12345"}, {}, {"phone": "invalid_phone"}),
        ({"phone": ""}, {}, {"phone": "required"}),
        ({"language": "de"}, {}, {"language": "invalid_choice"}),
        ({"customer_code": "12345"}, {}, {"customer_code": "invalid_customer_code"}),
        ({"customer_code": "ENK-0001"}, {}, {"customer_code": "customer_code_taken"}),
        ({}, {"number": "01234567890"}, {"meters.0.number": "invalid_meter_number"}),
        ({}, {"number": "٠١٢٣٤٥٦٧٩١٣"}, {"meters.0.number": "invalid_meter_number"}),
        ({}, {"number": "01234567897"}, {"meters.0.number": "meter_exists"}),
        ({}, {"number": ""}, {"meters.0.number": "required"}),
        ({}, {"sgc": "abc"}, {"meters.0.sgc": "invalid_number"}),
        ({}, {"sgc": "1000000"}, {"meters.0.sgc": "out_of_range"}),
        ({}, {"krn": "0"}, {"meters.0.krn": "out_of_range"}),
        ({}, {"ti": "100"}, {"meters.0.ti": "out_of_range"}),
        ({}, {"kt": "4"}, {"meters.0.kt": "out_of_range"}),
        ({}, {"base_date": "2000"}, {"meters.0.base_date": "invalid_choice"}),
        ({}, {"dkga": "3"}, {"meters.0.dkga": "invalid_choice"}),
        ({}, {"ea": "9"}, {"meters.0.ea": "invalid_choice"}),
        ({}, {"dkga": "4"}, {"meters.0.vending_key": "vending_key_too_short"}),
        ({}, {"vending_key": "nope"}, {"meters.0.vending_key": "unknown_vending_key"}),
        ({}, {"phases": "2"}, {"meters.0.phases": "invalid_choice"}),
        ({}, {"latitude": "91"}, {"meters.0.latitude": "out_of_range"}),
        ({}, {"longitude": "nan"}, {"meters.0.longitude": "invalid_number"}),
        ({}, {"longitude": ""}, {"meters.0.longitude": "required"}),
        ({}, {"connection_date": "2026-02-30"}, {"meters.0.connection_date": "invalid_date"}),
        ({}, {"connected": "on"}, {"meters.0.serial_url": "serial_url_required"}),
        ({}, {"tariff_name": "industrial"}, {"meters.0.tariff_name": "unknown_tariff"}),
        (
            {"name": "", "phone": "x"},
            {"sgc": ""},
            {"name": "required", "phone": "invalid_phone", "meters.0.sgc": "required"},
        ),
    ],
)
def test_every_bad_field_is_named_and_nothing_is_saved(
    world: World, person: dict[str, Any], meter: dict[str, Any], errors: dict[str, str]
) -> None:
    before = _counts(world)
    with pytest.raises(FieldErrors) as info, transaction(world.service.engine) as s:
        subscribers.register(s, CASHIER, _person(**person), [_meter(**meter)])
    assert info.value.errors == errors
    assert _counts(world) == before


def test_the_same_meter_twice_in_one_form_is_refused(world: World) -> None:
    with pytest.raises(FieldErrors) as info, transaction(world.service.engine) as s:
        subscribers.register(s, CASHIER, _person(), [_meter(), _meter()])
    assert info.value.errors == {"meters.1.number": "duplicate_meter"}


def test_add_meter_edit_and_delete_keep_the_history(world: World) -> None:
    with transaction(world.service.engine) as s:
        sub = subscribers.register(s, CASHIER, _person(), [])
        assert sub.id is not None
        meter = subscribers.add_meter(s, CASHIER, sub.id, _meter(connected="1", serial_url="socket://x:1"))
        sub_id, meter_id = sub.id, meter.id
    assert meter_id is not None
    with transaction(world.service.engine) as s:
        subscribers.edit(s, CASHIER, sub_id, _person(name="Paluku Jean", phone="+243970000009"))
        meters.edit(s, CASHIER, meter_id, MeterEdit(phases="1", connected=False))
    with pytest.raises(FieldErrors) as info, transaction(world.service.engine) as s:
        meters.edit(s, CASHIER, meter_id, MeterEdit(latitude="100"))
    assert info.value.errors == {"latitude": "out_of_range"}
    with reading(world.service.engine) as s:
        sub2 = s.get(Subscriber, sub_id)
        m = s.get(Meter, meter_id)
        assert sub2 is not None and m is not None
        assert (sub2.name, sub2.phone, m.phases, m.connected) == ("Paluku Jean", "+243970000009", 1, False)
        edited = json.loads(_audit(s, "subscriber_edited")[0].detail)
        assert edited["before"] == {"name": "Paluku", "phone": "+243991234567"}
        assert edited["after"] == {"name": "Paluku Jean", "phone": "+243970000009"}
        assert json.loads(_audit(s, "meter_edited")[0].detail)["after"] == {"connected": False, "phases": 1}
    with transaction(world.service.engine) as s:
        subscribers.delete(s, CASHIER, sub_id)
    with reading(world.service.engine) as s:
        m = s.get(Meter, meter_id)
        assert m is not None and m.deleted_at is not None
        assert [(e.subject, e.actor) for e in _audit(s, "meter_deleted")] == [(NEW_DRN, CASHIER.label)]
    with pytest.raises(NotFound), transaction(world.service.engine) as s:
        subscribers.edit(s, CASHIER, sub_id, _person())
    with pytest.raises(NotFound), transaction(world.service.engine) as s:
        meters.delete(s, CASHIER, meter_id)


@pytest.mark.parametrize("status", [PaymentStatus.PENDING, PaymentStatus.QUEUED, PaymentStatus.HELD])
def test_a_meter_with_a_payment_in_flight_cannot_be_deleted(world: World, status: PaymentStatus) -> None:
    queue_payment(world.service.engine, "ref-1", world.meter_drn, status=status)
    with reading(world.service.engine) as s:
        meter = s.scalars(select(Meter).where(Meter.drn == world.meter_drn)).one()
    assert meter.id is not None and meter.subscriber_id is not None
    with pytest.raises(Conflict) as info, transaction(world.service.engine) as s:
        meters.delete(s, CASHIER, meter.id)
    assert info.value.code == "payment_in_flight"
    with pytest.raises(Conflict), transaction(world.service.engine) as s:
        subscribers.delete(s, CASHIER, meter.subscriber_id)
    with transaction(world.service.engine) as s:
        p = s.scalars(select(Payment)).one()
        p.status = PaymentStatus.VENDED
    with transaction(world.service.engine) as s:
        meters.delete(s, CASHIER, meter.id)
    with reading(world.service.engine) as s:
        assert s.scalars(select(Payment)).one().meter_id == meter.id  # the history stays
