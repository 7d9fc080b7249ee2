"""Setting the service up without the web UI: vending keys, tariffs, subscribers, meters, admins, API keys.

Used by the CLI (`nguvu meter register`, `nguvu subscriber add` ...) and by the REST batch registration.
Every function validates first and raises `InvalidInput`/`Conflict` before writing anything.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from api.errors import Conflict, InvalidInput, NotFound, Unauthorized
from api.keyring import Keyring
from api.models import Administrator, ApiKey, Meter, Subscriber, Tariff, VendingKeyRecord
from api.models.audit import AuditLog
from api.models.base import utcnow
from api.phone import parse_msisdn
from api.pricing import CURRENCIES, check_money
from tokencore import BaseDate, Dkga, Ea, KeyParams, KeyType, TokenError, VendingKey, meter_from_number

CUSTOMER_CODE = re.compile(r"^[A-Z0-9-]{3,20}$")
SCOPES = ("vend", "manage", "keychange", "read", "meters")
KEY_PREFIX = "ngv"


def add_vending_key(session: Session, keyring: Keyring, label: str, key_hex: str) -> VendingKeyRecord:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", label):
        raise InvalidInput("vending key label: 1-64 letters, digits, '_', '.', '-'")
    try:
        key = VendingKey.from_hex(key_hex)
    except (TokenError, ValueError):
        raise InvalidInput("vending key must be 16 or 40 hex digits", code="invalid_vending_key") from None
    if session.scalars(select(VendingKeyRecord).where(col(VendingKeyRecord.label) == label)).first():
        raise Conflict(f"vending key {label!r} exists")
    record = VendingKeyRecord(label=label, sealed=keyring.seal(label, key))
    session.add(record)
    session.add(AuditLog(actor="cli", action="vending_key_added", subject=label))
    session.flush()
    return record


def set_tariff(
    session: Session,
    *,
    name: str,
    currency: str,
    price_per_kwh: Decimal,
    vat_rate: Decimal,
    min_amount: Decimal,
    max_amount: Decimal,
    fee_rate: Decimal = Decimal(0),
) -> Tariff:
    if currency not in CURRENCIES:
        raise InvalidInput(f"currency must be one of {', '.join(CURRENCIES)}")
    check_money(price_per_kwh)
    check_money(min_amount)
    check_money(max_amount)
    if min_amount > max_amount:
        raise InvalidInput("minimum purchase is above the maximum")
    if not (Decimal(0) <= vat_rate < 1 and Decimal(0) <= fee_rate < 1):
        raise InvalidInput("VAT and fee rates are fractions between 0 and 1 (0.16 = 16 %)")
    tariff = session.scalars(
        select(Tariff).where(col(Tariff.name) == name, col(Tariff.currency) == currency)
    ).first()
    tariff = tariff or Tariff(
        name=name,
        currency=currency,
        price_per_kwh=price_per_kwh,
        vat_rate=vat_rate,
        min_amount=min_amount,
        max_amount=max_amount,
    )
    tariff.price_per_kwh, tariff.vat_rate, tariff.fee_rate = price_per_kwh, vat_rate, fee_rate
    tariff.min_amount, tariff.max_amount, tariff.active = min_amount, max_amount, True
    session.add(tariff)
    session.flush()
    return tariff


def add_subscriber(
    session: Session,
    *,
    customer_code: str,
    name: str,
    phone: str,
    post_name: str = "",
    quarter: str = "",
    cell: str = "",
    avenue: str = "",
    language: str = "fr",
) -> Subscriber:
    code = customer_code.strip().upper()
    if not CUSTOMER_CODE.match(code) or code.isdigit():
        raise InvalidInput(
            "customer code: 3-20 letters, digits or '-', not only digits", code="invalid_customer_code"
        )
    phone = parse_msisdn(phone)
    if not name.strip() or len(name) > 80 or len(post_name) > 80:
        raise InvalidInput("name is required (at most 80 characters)")
    if language not in ("fr", "en", "sw"):
        raise InvalidInput("language must be fr, en or sw")
    if session.scalars(select(Subscriber).where(col(Subscriber.customer_code) == code)).first():
        raise Conflict(f"customer code {code} exists")
    sub = Subscriber(
        customer_code=code,
        name=name.strip(),
        post_name=post_name.strip(),
        phone=phone,
        quarter=quarter,
        cell=cell,
        avenue=avenue,
        language=language,
    )
    session.add(sub)
    session.flush()
    return sub


@dataclass(frozen=True)
class MeterSpec:
    number: str  # DRN or MeterPAN
    sgc: int
    ti: int
    krn: int
    kt: int = 2
    ken: int = 255
    base_date: int = 2014
    dkga: int = 2
    ea: int = 7
    vending_key: str = ""  # label of a vending key record
    customer_code: str | None = None
    serial_number: str = ""
    phases: int = 1
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None
    connection_date: date | None = None
    tariff_name: str = "residential"
    connected: bool = False
    serial_url: str = ""


def register_meter(session: Session, spec: MeterSpec) -> Meter:
    try:
        pan = meter_from_number(spec.number)
        params = KeyParams(
            sgc=spec.sgc,
            ti=spec.ti,
            krn=spec.krn,
            kt=KeyType(spec.kt),
            ken=spec.ken,
            base_date=BaseDate.from_year(spec.base_date),
            dkga=Dkga.parse(spec.dkga),
            ea=Ea.parse(spec.ea),
        )
    except TokenError as exc:
        raise InvalidInput(str(exc), code=exc.code) from None
    except ValueError as exc:
        raise InvalidInput(f"invalid key parameter: {exc}", code="invalid_key_parameter") from None
    if spec.phases not in (1, 3):
        raise InvalidInput("phases must be 1 or 3")
    if spec.latitude is not None and not -90 <= spec.latitude <= 90:
        raise InvalidInput("latitude must be within -90..90")
    if spec.longitude is not None and not -180 <= spec.longitude <= 180:
        raise InvalidInput("longitude must be within -180..180")
    if spec.connected and not spec.serial_url:
        raise InvalidInput("a connected meter needs a serial URL")
    record = session.scalars(
        select(VendingKeyRecord).where(col(VendingKeyRecord.label) == spec.vending_key)
    ).first()
    if record is None:
        raise NotFound(f"no vending key labelled {spec.vending_key!r}", code="vending_key_not_found")
    if (
        record.sealed
        and len(record.sealed)
        and params.dkga is Dkga.DKGA04
        and len(record.sealed) < 12 + 20 + 16
    ):
        raise InvalidInput("DKGA04 needs a 160-bit vending key", code="invalid_vending_key")
    subscriber_id = None
    if spec.customer_code:
        sub = session.scalars(
            select(Subscriber).where(col(Subscriber.customer_code) == spec.customer_code.strip().upper())
        ).first()
        if sub is None:
            raise NotFound(f"no subscriber {spec.customer_code!r}", code="subscriber_not_found")
        subscriber_id = sub.id
    if session.scalars(select(Meter).where(col(Meter.pan) == pan.pan)).first():
        raise Conflict(f"meter {pan.drn} is already registered", code="meter_exists")
    meter = Meter(
        pan=pan.pan,
        drn=pan.drn,
        serial_number=spec.serial_number,
        phases=spec.phases,
        latitude=spec.latitude,
        longitude=spec.longitude,
        altitude=spec.altitude,
        connection_date=spec.connection_date,
        subscriber_id=subscriber_id,
        tariff_name=spec.tariff_name,
        sgc=params.sgc,
        ti=params.ti,
        krn=params.krn,
        kt=int(params.kt),
        ken=params.ken,
        base_date=params.base_date.year,
        dkga=int(params.dkga.value),
        ea=int(params.ea.value),
        vending_key_id=int(record.id or 0),
        connected=spec.connected,
        serial_url=spec.serial_url,
    )
    session.add(meter)
    session.flush()
    return meter


_hasher = PasswordHasher()


def create_admin(
    session: Session,
    *,
    email: str,
    password: str,
    name: str,
    role: str = "superadmin",
    post_name: str = "",
    position: str = "",
) -> Administrator:
    if role not in ("superadmin", "admin"):
        raise InvalidInput("role must be superadmin or admin")
    if "@" not in email or len(email) > 254:
        raise InvalidInput("a valid email is required")
    if len(password) < 10:
        raise InvalidInput("password must have at least 10 characters")
    if session.scalars(select(Administrator).where(col(Administrator.email) == email.lower())).first():
        raise Conflict(f"administrator {email} exists")
    admin = Administrator(
        role=role,
        name=name,
        post_name=post_name,
        email=email.lower(),
        position=position,
        password_hash=_hasher.hash(password),
    )
    session.add(admin)
    session.add(AuditLog(actor="cli", action="admin_created", subject=email.lower()))
    session.flush()
    return admin


def create_api_key(session: Session, *, name: str, scopes: list[str]) -> str:
    """Create an API key; returns the full key ONCE (only its hash is stored)."""
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise InvalidInput(f"scopes must be among {', '.join(SCOPES)}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiKey(key_id=key_id, secret_hash=_hash_secret(secret), name=name[:80], scopes=" ".join(scopes))
    )
    session.add(AuditLog(actor="cli", action="api_key_created", subject=key_id, detail=" ".join(scopes)))
    session.flush()
    return f"{KEY_PREFIX}_{key_id}_{secret}"


def _hash_secret(secret: str) -> str:
    # The secret has 256 bits of entropy, so a fast hash is enough (no dictionary to guard against).
    return hashlib.sha256(secret.encode()).hexdigest()


def check_api_key(session: Session, presented: str) -> ApiKey:
    """The key row for a presented key. Raises Unauthorized (the same message for every failure)."""
    parts = presented.split("_", 2)
    fail = Unauthorized("invalid or revoked API key", code="invalid_api_key")
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not re.fullmatch(r"[0-9a-f]{12}", parts[1]):
        raise fail
    row = session.scalars(select(ApiKey).where(col(ApiKey.key_id) == parts[1])).first()
    if row is None or row.revoked_at is not None:
        raise fail
    if not hmac.compare_digest(row.secret_hash, _hash_secret(parts[2])):
        raise fail
    return row


def revoke_api_key(session: Session, key_id: str) -> None:
    row = session.scalars(select(ApiKey).where(col(ApiKey.key_id) == key_id)).first()
    if row is None:
        raise NotFound(f"no API key {key_id}")
    row.revoked_at = utcnow()
