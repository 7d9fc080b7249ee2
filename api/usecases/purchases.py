"""Purchases that are not counter sales: a mobile-money purchase confirmed on the USSD menu (queued for
the payment worker) and a vendor's credit by units (a token with no payment behind it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.actors import Actor
from api.audit import record
from api.db import transaction
from api.errors import FieldErrors, VendRefused
from api.models import Payment, PaymentStatus
from api.queries import meters as meter_queries
from api.service import Service
from tokencore import TokenError

UNIT_MIN, UNIT_MAX = Decimal("0.1"), Decimal(1_000_000)  # kWh per unit credit


@dataclass(frozen=True)
class Collection:
    """A mobile-money purchase the payer confirmed (the USSD menu): collected by the payment worker."""

    reference: str  # one per USSD session, so a retried final request finds the same payment
    msisdn: str  # the payer, E.164
    meter_id: int
    amount: Decimal  # already quoted under the tariff in force
    currency: str
    language: str


def queue_collection(service: Service, actor: Actor, purchase: Collection) -> bool:
    """Queue the payment of a confirmed purchase for the payment worker (which starts the collection
    with the configured provider) and wake it. False when the reference exists (the same request
    retried: nothing new). Raises NotFound (`meter_not_found`) for a meter deleted meanwhile."""
    now = service.clock()
    try:
        with transaction(service.engine) as session:
            meter = meter_queries.get_live(session, purchase.meter_id)
            session.add(
                Payment(
                    reference=purchase.reference,
                    channel="ussd",
                    provider=service.payment_provider_name,
                    status=PaymentStatus.QUEUED,
                    msisdn=purchase.msisdn,
                    subscriber_id=meter.subscriber_id,
                    meter_id=meter.id,
                    account=meter.drn,
                    amount=purchase.amount,
                    currency=purchase.currency,
                    language=purchase.language,
                    created_by=actor.label,
                    next_attempt_at=now,
                )
            )
    except IntegrityError:
        return False  # the same final request was retried: the payment already exists
    finally:
        service.wake_payments()
    return True


def credit_units(service: Service, session: Session, actor: Actor, meter_number: str, units: object) -> int:
    """A credit token of `units` kWh with no payment behind it (a vendor's own accounting, a goodwill
    credit), audited. Returns the token id. Raises NotFound (`meter_not_found`), FieldErrors (`units`:
    0.1-1,000,000 kWh in steps of 0.1) or VendRefused (nothing written)."""
    kwh = _units(units)
    meter = meter_queries.find_or_404(session, meter_number, lock=True)
    try:
        issued = service.vendor.issue_credit(session, meter, kwh, issued_by=actor.label)
    except TokenError as exc:
        raise VendRefused(str(exc), code=exc.code) from None
    record(session, actor, "token_credit_units", meter.drn, note=f"token #{issued.token_id}, {kwh} kWh")
    return issued.token_id


def _units(value: object) -> Decimal:
    units = None
    if isinstance(value, Decimal):
        units = value
    elif isinstance(value, str) and re.fullmatch(r"[0-9]{1,7}(\.[0-9])?", value.strip()):
        units = Decimal(value.strip())
    if (
        units is None
        or not units.is_finite()
        or not UNIT_MIN <= units <= UNIT_MAX
        or units != round(units, 1)
    ):
        raise FieldErrors({"units": "out_of_range" if units is not None else "invalid_number"})
    return units
