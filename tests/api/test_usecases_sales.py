"""Counter sales through the one vend path (SQLite and PostgreSQL): the preview's units are the token's,
a double submit gives one payment and one token, every refusal names its field and writes nothing."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from conftest import VENDING_KEY, World
from sqlalchemy import func, select

from api.actors import Actor, ActorKind
from api.db import reading, transaction
from api.errors import Conflict, FieldErrors, NotFound
from api.keyring import profile_of
from api.models import AuditLog, Meter, Payment, PaymentStatus, SmsOutbox, Token
from api.usecases import sales
from tokencore import VendingKey, decode_token, derive_decoder_key

CASHIER = Actor(ActorKind.ADMIN, "4", "Esther Mbusa")


def _count(world: World, table: type) -> int:
    with reading(world.service.engine) as s:
        return s.scalar(select(func.count()).select_from(table)) or 0


def _sale(
    world: World, key: str, amount: object = "5000", currency: object = "CDF", meter: object = None
) -> sales.SaleResult:
    number = world.meter_drn if meter is None else meter
    return asyncio.run(sales.counter_sale(world.service, CASHIER, number, amount, currency, key))


def test_counter_sale_vends_the_previewed_units_and_records_the_cashier(world: World) -> None:
    with reading(world.service.engine) as s:
        quote = sales.preview(s, world.meter_drn, "5000", "CDF", world.clock())
    sale = _sale(world, "form-key-1")
    assert sale.status is PaymentStatus.VENDED and not sale.replayed
    assert sale.units == quote.units == Decimal("10.7") and sale.vat == quote.vat
    assert sale.recorded_by == "admin:4 Esther Mbusa" and sale.meter_drn == world.meter_drn
    assert sale.token is not None and len(sale.token) == 20
    with reading(world.service.engine) as s:
        meter = s.scalars(select(Meter).where(Meter.drn == world.meter_drn)).one()
        payment = s.get(Payment, sale.payment_id)
        assert payment is not None and (payment.channel, payment.provider) == ("cash", "cash")
        assert payment.created_by == CASHIER.label and payment.status == PaymentStatus.VENDED
        sms = s.scalars(select(SmsOutbox).where(SmsOutbox.payment_id == sale.payment_id)).one()
        assert sms.to == world.phone and "10.7" in sms.text
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "sale_recorded")).one()
        assert audit.actor == CASHIER.label and json.loads(audit.detail)["after"]["amount"] == "5000"
    decoded = decode_token(
        sale.token, derive_decoder_key(VendingKey.from_hex(VENDING_KEY), profile_of(meter))
    )
    assert decoded.crc_ok and decoded.units == Decimal("10.7")


def test_a_double_submit_gives_one_payment_and_one_token(world: World) -> None:
    first = _sale(world, "form-key-2")
    again = _sale(world, "form-key-2")
    assert again.replayed and (again.payment_id, again.token) == (first.payment_id, first.token)
    assert _count(world, Payment) == 1 and _count(world, Token) == 1

    async def both() -> list[sales.SaleResult]:
        calls = [
            sales.counter_sale(world.service, CASHIER, world.meter_drn, "7000", "CDF", "k3") for _ in range(2)
        ]
        return list(await asyncio.gather(*calls))

    one, two = asyncio.run(both())
    assert one.token == two.token and one.payment_id == two.payment_id and one.token is not None
    assert _count(world, Payment) == 2 and _count(world, Token) == 2


def test_a_key_reused_for_another_sale_is_refused(world: World) -> None:
    _sale(world, "form-key-4")
    with pytest.raises(Conflict) as info:
        _sale(world, "form-key-4", amount="6000")
    assert info.value.code == "idempotency_key_reused"
    assert _count(world, Payment) == 1


@pytest.mark.parametrize(
    ("amount", "currency", "meter", "errors"),
    [
        ("", "CDF", None, {"amount": "required"}),
        ("abc", "CDF", None, {"amount": "invalid_amount"}),
        ("NaN", "CDF", None, {"amount": "invalid_amount"}),
        ("Infinity", "CDF", None, {"amount": "invalid_amount"}),
        ("1e5", "CDF", None, {"amount": "invalid_amount"}),
        ("-5000", "CDF", None, {"amount": "invalid_amount"}),
        ("5000.001", "CDF", None, {"amount": "invalid_amount"}),
        ("٥٠٠٠", "CDF", None, {"amount": "invalid_amount"}),
        (Decimal("NaN"), "CDF", None, {"amount": "invalid_amount"}),
        ("1" * 14, "CDF", None, {"amount": "invalid_amount"}),
        ("10", "CDF", None, {"amount": "amount_out_of_limits"}),
        ("5000", "EUR", None, {"currency": "invalid_choice"}),
        ("5000", "CDF", "99999999999", {"meter": "meter_not_found"}),
        ("5000", "CDF", "", {"meter": "required"}),
    ],
)
def test_bad_sales_name_the_field_and_write_nothing(
    world: World, amount: object, currency: str, meter: str | None, errors: dict[str, str]
) -> None:
    with pytest.raises(FieldErrors) as info:
        _sale(world, "form-key-5", amount=amount, currency=currency, meter=meter)
    assert info.value.errors == errors
    assert _count(world, Payment) == 0 and _count(world, Token) == 0 and _count(world, AuditLog) > 0


def test_no_tariff_in_force_is_the_currency_field(world: World) -> None:
    with transaction(world.service.engine) as s:
        meter = s.scalars(select(Meter).where(Meter.drn == world.meter_drn)).one()
        meter.tariff_name = "industrial"
    with pytest.raises(FieldErrors) as info:
        _sale(world, "form-key-6")
    assert info.value.errors == {"currency": "no_tariff"}


def test_reprint_and_resend_are_audited(world: World) -> None:
    sale = _sale(world, "form-key-7")
    assert sale.token_id is not None
    with transaction(world.service.engine) as s:
        view = sales.reprint(s, CASHIER, sale.token_id)
    assert view.token == sale.token and view.units == sale.units and view.payment_reference == sale.reference
    sms_id = sales.resend_sms(world.service, CASHIER, sale.token_id)
    with reading(world.service.engine) as s:
        sms = s.get(SmsOutbox, sms_id)
        assert sms is not None and sms.to == world.phone and sale.token[:4] in sms.text
        actions = [a.action for a in s.scalars(select(AuditLog).where(AuditLog.actor == CASHIER.label))]
        assert actions == ["sale_recorded", "token_reprinted", "token_sms_resent"]
    with pytest.raises(NotFound), transaction(world.service.engine) as s:
        sales.reprint(s, CASHIER, 999_999)
    with pytest.raises(NotFound):
        sales.resend_sms(world.service, CASHIER, 999_999)
