"""The pieces every use-case stands on: phone numbers, actors, field errors and the audit snapshot."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from api.actors import Actor, ActorKind
from api.audit import record, snapshot
from api.errors import FieldErrors, InvalidInput
from api.models import Administrator, ApiKey, VendingKeyRecord
from api.phone import digits_fragment, is_msisdn, parse_msisdn


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("+243991234567", "+243991234567"),
        ("+243 99 123 4567", "+243991234567"),
        ("00243991234567", "+243991234567"),
        ("0991234567", "+243991234567"),
        ("099-123-45-67", "+243991234567"),
        ("243991234567", "+243991234567"),
        ("+254708374149", "+254708374149"),
    ],
)
def test_parse_msisdn_accepts_what_people_type(typed: str, e164: str) -> None:
    assert parse_msisdn(typed) == e164
    assert is_msisdn(e164)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "+",
        "12345",
        "+0991234567",
        "+2439912345678901",
        "+243 99١234567",
        "x" * 40,
        "991234567",
        "+24399123456a",
    ],
)
def test_parse_msisdn_refuses_everything_else(bad: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_msisdn(bad)
    assert info.value.code == "invalid_phone"
    assert not is_msisdn(bad)


def test_digits_fragment_keeps_ascii_digits_only() -> None:
    assert not is_msisdn("+243991234567\n")
    assert digits_fragment("+243 99-12") == "2439912"
    assert digits_fragment("٣٤") == ""


def test_actor_labels() -> None:
    admin = Administrator(
        id=3, role="admin", name="Jeanne", post_name="Kahindo", email="j@x", password_hash="h"
    )
    assert Actor.admin(admin).label == "admin:3 Jeanne Kahindo"
    key = ApiKey(key_id="0a1b2c3d4e5f", secret_hash="s" * 64, name="vendor", scopes="read")
    assert Actor.apikey(key).label == "apikey:0a1b2c3d4e5f vendor"
    assert Actor.cli().label == "cli" and Actor.cli().kind is ActorKind.CLI
    assert len(Actor(ActorKind.ADMIN, "1", "x" * 200).label) == 80
    with pytest.raises(ValueError):
        Actor.admin(Administrator(role="admin", name="n", email="e", password_hash="h"))


def test_field_errors_carry_each_field_and_a_code() -> None:
    one = FieldErrors({"phone": "invalid_phone"})
    assert one.code == "invalid_phone" and "phone: must be a phone number" in str(one)
    two = FieldErrors({"name": "required", "phone": "invalid_phone"})
    assert two.code == "invalid_fields" and two.errors == {"name": "required", "phone": "invalid_phone"}
    assert two.prefixed("meters.1").errors == {"meters.1.name": "required", "meters.1.phone": "invalid_phone"}
    assert isinstance(two, InvalidInput) and two.http_status == 422
    with pytest.raises(ValueError):
        FieldErrors({})


def test_snapshot_drops_secrets() -> None:
    admin = Administrator(id=1, role="admin", name="A", email="a@x", password_hash="argon2-secret")
    snap = snapshot(admin)
    assert "password_hash" not in snap and snap["email"] == "a@x"
    assert "sealed" not in snapshot(VendingKeyRecord(id=1, label="vk", sealed=b"\x00" * 40))
    assert "secret_hash" not in snapshot(ApiKey(key_id="k", secret_hash="h", name="n", scopes="read"))
    assert snapshot({"amount": Decimal("5000.0000"), "pin": "1234"}) == {"amount": "5000"}
    with pytest.raises(TypeError):
        snapshot(object())


class _Session:
    def __init__(self) -> None:
        self.added: list[object] = []

    def add(self, row: object) -> None:
        self.added.append(row)


def test_record_keeps_only_changed_fields() -> None:
    session = _Session()
    entry = record(
        session,  # type: ignore[arg-type]
        Actor.cli(),
        "subscriber_edited",
        "ENK-0001",
        before={"name": "A", "phone": "+243990000001"},
        after={"name": "B", "phone": "+243990000001"},
    )
    assert session.added == [entry] and entry.actor == "cli"
    assert json.loads(entry.detail) == {"before": {"name": "A"}, "after": {"name": "B"}}


@pytest.mark.parametrize("typed", ["٥٠٠٠", "5000\u0660", "NaN", "Infinity", "1e5", "-5", "5.0.0", ""])
def test_typed_amounts_are_ascii_digits_only(typed: str) -> None:
    from api.pricing import parse_amount

    with pytest.raises(InvalidInput):
        parse_amount(typed, "CDF")
