"""Meter engineering, held payments and tariffs through the use-cases (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from conftest import VENDING_KEY, World, queue_payment
from sqlalchemy import select

from api.actors import Actor, ActorKind
from api.db import reading, transaction
from api.errors import Conflict, FieldErrors, NotFound
from api.keyring import profile_of
from api.models import AuditLog, Meter, Payment, PaymentStatus, SmsOutbox, Tariff, Token
from api.queries import tariffs as tariff_queries
from api.registry import add_vending_key
from api.usecases import engineering, payments, tariffs
from api.usecases.tariffs import TariffInput
from tokencore import VendingKey, decode_token, derive_decoder_key

ADMIN = Actor(ActorKind.ADMIN, "2", "Kasereka Muhindo")


def _meter(world: World) -> Meter:
    with reading(world.service.engine) as s:
        return s.scalars(select(Meter).where(Meter.drn == world.meter_drn)).one()


def _decode(meter: Meter, token: str, key: str = VENDING_KEY) -> object:
    return decode_token(token, derive_decoder_key(VendingKey.from_hex(key), profile_of(meter)))


@pytest.mark.parametrize(
    ("kind", "watts"), [("clear_credit", None), ("clear_tamper", None), ("set_mpl", "2000")]
)
def test_management_tokens_are_real_recorded_and_audited(world: World, kind: str, watts: str | None) -> None:
    with transaction(world.service.engine) as s:
        token = engineering.management_token(world.service, s, ADMIN, world.meter_drn, kind, watts)
        token_id = token.id
    meter = _meter(world)
    with reading(world.service.engine) as s:
        row = s.get(Token, token_id)
        assert row is not None and row.kind == kind and row.issued_by == ADMIN.label
        assert meter.last_tid == row.tid
        entry = s.scalars(select(AuditLog).where(AuditLog.action == f"token_{kind}")).one()
        assert entry.actor == ADMIN.label and entry.subject == world.meter_drn
    assert _decode(meter, row.token).crc_ok  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kind", "watts", "errors"),
    [
        ("reboot", None, {"kind": "invalid_choice"}),
        ("set_mpl", None, {"mpl_watts": "required"}),
        ("set_mpl", "-1", {"mpl_watts": "out_of_range"}),
        ("set_mpl", "lots", {"mpl_watts": "invalid_number"}),
    ],
)
def test_bad_management_requests_write_nothing(
    world: World, kind: str, watts: str | None, errors: dict[str, str]
) -> None:
    with pytest.raises(FieldErrors) as info, transaction(world.service.engine) as s:
        engineering.management_token(world.service, s, ADMIN, world.meter_drn, kind, watts)
    assert info.value.errors == errors
    with reading(world.service.engine) as s:
        assert s.scalars(select(Token)).all() == []


def test_key_change_moves_the_meter_and_is_audited(world: World) -> None:
    with transaction(world.service.engine) as s:
        add_vending_key(s, world.service.keyring, "vk2", "fedcba9876543210", actor=ADMIN)
    old = _meter(world)
    new = engineering.KeyChangeInput(sgc="123457", ti="2", krn="2", vending_key="vk2")
    with transaction(world.service.engine) as s:
        token = engineering.key_change(world.service, s, ADMIN, world.meter_drn, new)
        tokens = token.token.split()
    assert len(tokens) == 2 and all(_decode(old, t).crc_ok for t in tokens)  # type: ignore[attr-defined]
    moved = _meter(world)
    assert (moved.ti, moved.krn) == (2, 2)
    with reading(world.service.engine) as s:
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "meter_keys_changed")).one()
        detail = json.loads(entry.detail)
        assert detail["before"]["krn"] == 1 and detail["after"]["krn"] == 2
        assert "fedcba9876543210" not in entry.detail and VENDING_KEY not in entry.detail
    bad = engineering.KeyChangeInput(sgc="x", ti="2", krn="10", vending_key="nope")
    with pytest.raises(FieldErrors) as info, transaction(world.service.engine) as s:
        engineering.key_change(world.service, s, ADMIN, world.meter_drn, bad)
    assert info.value.errors == {
        "sgc": "invalid_number",
        "krn": "out_of_range",
        "vending_key": "unknown_vending_key",
    }


def test_test_tokens_take_the_manufacturer_code_from_the_drn(world: World) -> None:
    with transaction(world.service.engine) as s:
        token = engineering.test_token(world.service, s, ADMIN, world.meter_drn, "1")
        assert token.kind == "test" and len(token.token) == 20
    with pytest.raises(FieldErrors), transaction(world.service.engine) as s:
        engineering.test_token(world.service, s, ADMIN, world.meter_drn, "0")
    with pytest.raises(NotFound), transaction(world.service.engine) as s:
        engineering.test_token(world.service, s, ADMIN, "99999999999", "1")


def _held(world: World, reference: str, *, paid: str = "6000", meter: bool = True) -> int:
    pid = queue_payment(world.service.engine, reference, world.meter_drn, status=PaymentStatus.HELD)
    with transaction(world.service.engine) as s:
        p = s.get(Payment, pid)
        assert p is not None
        p.paid_amount, p.reason = Decimal(paid), "amount_mismatch"
        if not meter:
            p.meter_id, p.subscriber_id, p.reason = None, None, "unknown_meter"
    return pid


def test_resolving_a_held_payment_by_vending_issues_one_token_for_what_was_paid(world: World) -> None:
    pid = _held(world, "held-1")
    done = payments.resolve_held(world.service, ADMIN, pid, "vend", "payer confirmed 6000 by phone")
    assert done.status is PaymentStatus.VENDED and done.units == Decimal("12.9")
    with reading(world.service.engine) as s:
        p = s.get(Payment, pid)
        assert p is not None and p.status == PaymentStatus.VENDED
        assert s.scalars(select(SmsOutbox).where(SmsOutbox.payment_id == pid)).one().kind == "token"
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "payment_vend")).one()
        detail = json.loads(entry.detail)
        assert detail["before"]["status"] == "held" and detail["after"]["status"] == "vended"
        assert detail["note"] == "payer confirmed 6000 by phone" and entry.actor == ADMIN.label
    assert _decode(_meter(world), done.token or "").units == Decimal("12.9")  # type: ignore[attr-defined]
    with pytest.raises(Conflict) as info:
        payments.resolve_held(world.service, ADMIN, pid, "vend", "again")
    assert info.value.code == "not_held"


def test_refund_and_the_rules_of_resolution(world: World) -> None:
    pid = _held(world, "held-2")
    with pytest.raises(FieldErrors) as info:
        payments.resolve_held(world.service, ADMIN, pid, "burn", "")
    assert info.value.errors == {"action": "invalid_choice", "note": "required"}
    payments.resolve_held(world.service, ADMIN, pid, "refund", "wrong meter, money sent back")
    with reading(world.service.engine) as s:
        p = s.get(Payment, pid)
        assert p is not None and p.status == PaymentStatus.REFUND
        assert s.scalars(select(Token)).all() == []
    unknown = _held(world, "held-3", meter=False)
    with pytest.raises(FieldErrors) as info:
        payments.resolve_held(world.service, ADMIN, unknown, "vend", "typo in meter")
    assert info.value.errors == {"meter": "required"}
    too_much = _held(world, "held-4", paid="900000")
    with pytest.raises(FieldErrors) as info:
        payments.resolve_held(world.service, ADMIN, too_much, "vend", "x")
    assert info.value.errors == {"amount": "amount_out_of_limits"}
    done = payments.resolve_held(world.service, ADMIN, unknown, "vend", "typo", meter_number=world.other_drn)
    assert done.status is PaymentStatus.VENDED
    with pytest.raises(NotFound):
        payments.resolve_held(world.service, ADMIN, 999_999, "refund", "x")


def test_tariffs_are_scheduled_and_in_force_is_the_one_answer(world: World) -> None:
    now = world.clock()
    later = now + timedelta(days=3)
    spec = TariffInput("CDF", "450", "0.16", "1000", "500000")
    with transaction(world.service.engine) as s:
        scheduled = tariffs.schedule(s, ADMIN, spec, later, now)
        assert tariff_queries.in_force(s, "residential", "CDF", now).price_per_kwh == Decimal(400)  # type: ignore[union-attr]
        assert tariff_queries.in_force(s, "residential", "CDF", later).price_per_kwh == Decimal(450)  # type: ignore[union-attr]
        states = {(v.currency, v.price_per_kwh): v.state for v in tariff_queries.listing(s, now)}
        assert states[("CDF", Decimal(450))] == tariff_queries.TariffState.SCHEDULED
        assert states[("CDF", Decimal(400))] == tariff_queries.TariffState.IN_FORCE
    with pytest.raises(FieldErrors) as info, transaction(world.service.engine) as s:
        tariffs.schedule(s, ADMIN, spec, now - timedelta(seconds=1), now)
    assert info.value.errors == {"effective_from": "in_the_past"}
    with pytest.raises(FieldErrors) as info, transaction(world.service.engine) as s:
        tariffs.schedule(s, ADMIN, spec, later, now)
    assert info.value.errors == {"effective_from": "tariff_exists"} and info.value.http_status == 409
    bad = TariffInput("EUR", "-1", "1.5", "9", "1", name="")
    with pytest.raises(FieldErrors) as info, transaction(world.service.engine) as s:
        tariffs.create(s, ADMIN, bad, now)
    assert info.value.errors == {
        "name": "required",
        "currency": "invalid_choice",
        "price_per_kwh": "invalid_amount",
        "vat_rate": "invalid_rate",
    }
    with pytest.raises(FieldErrors) as info, transaction(world.service.engine) as s:
        tariffs.create(s, ADMIN, TariffInput("CDF", "400", min_amount="9", max_amount="1"), now)
    assert info.value.errors == {"min_amount": "min_above_max"}
    with transaction(world.service.engine) as s:
        assert scheduled.id is not None
        tariffs.withdraw(s, ADMIN, scheduled.id, now)
        assert tariff_queries.in_force(s, "residential", "CDF", later).price_per_kwh == Decimal(400)  # type: ignore[union-attr]
        current = tariff_queries.in_force(s, "residential", "CDF", now)
        assert current is not None
    with pytest.raises(Conflict), transaction(world.service.engine) as s:
        tariffs.withdraw(s, ADMIN, current.id, now)
    with transaction(world.service.engine) as s:
        tariffs.create(s, ADMIN, TariffInput("CDF", "500"), now)
        assert tariff_queries.in_force(s, "residential", "CDF", now).price_per_kwh == Decimal(500)  # type: ignore[union-attr]
        assert len(s.scalars(select(Tariff).where(Tariff.currency == "CDF")).all()) == 3
        actions = [a.action for a in s.scalars(select(AuditLog).where(AuditLog.actor == ADMIN.label))]
        assert actions == ["tariff_scheduled", "tariff_withdrawn", "tariff_created"]
