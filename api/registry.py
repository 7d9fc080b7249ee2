"""Setting the service up without the web UI: vending keys, tariffs, subscribers, meters, admins, API keys.

Used by the CLI (`nguvu meter register`, `nguvu subscriber add` ...), the demo and the tests. Subscribers,
meters and tariffs go through api.usecases; every function takes the acting `Actor` (the CLI passes
`Actor.cli()`), validates first and raises `InvalidInput`/`Conflict` before writing anything.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from api import audit
from api.actors import Actor
from api.errors import Conflict, InvalidInput, NotFound, Unauthorized
from api.keyring import Keyring
from api.models import Administrator, ApiKey, Meter, Subscriber, Tariff, VendingKeyRecord
from api.models.base import utcnow
from api.queries import subscribers as subscriber_queries
from api.usecases import accounts, subscribers, tariffs
from api.usecases.meters import MeterInput
from api.usecases.subscribers import SubscriberInput
from api.usecases.tariffs import TariffInput
from tokencore import TokenError, VendingKey

SCOPES = ("vend", "manage", "keychange", "read", "meters")
KEY_PREFIX = "ngv"


def add_vending_key(
    session: Session, keyring: Keyring, label: str, key_hex: str, *, actor: Actor
) -> VendingKeyRecord:
    """Store a vending key sealed with the KEK (audited; the key is never logged). Raises InvalidInput
    or Conflict."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", label):
        raise InvalidInput("vending key label: 1-64 letters, digits, '_', '.', '-'")
    try:
        key = VendingKey.from_hex(key_hex)
    except (TokenError, ValueError):
        raise InvalidInput("vending key must be 16 or 40 hex digits", code="invalid_vending_key") from None
    if session.scalars(select(VendingKeyRecord).where(col(VendingKeyRecord.label) == label)).first():
        raise Conflict(f"vending key {label!r} exists")
    if not keyring.store.accepts_plaintext:
        raise InvalidInput(
            "the PKCS#11 key store takes vending keys only wrapped: nguvu vending-key import LABEL --wrapped FILE",
            code="plaintext_key_refused",
        )
    record = VendingKeyRecord(label=label, sealed=keyring.seal(label, key), bits=key.bits)
    session.add(record)
    session.flush()
    audit.record(session, actor, "vending_key_added", label, after={"label": label, "id": record.id})
    return record


def set_tariff(
    session: Session,
    *,
    actor: Actor,
    name: str,
    currency: str,
    price_per_kwh: Decimal,
    vat_rate: Decimal,
    min_amount: Decimal,
    max_amount: Decimal,
    fee_rate: Decimal = Decimal(0),
    at: datetime | None = None,
) -> Tariff:
    """New terms for a tariff, in force from `at` (default now): api.usecases.tariffs.create."""
    spec = TariffInput(currency, price_per_kwh, vat_rate, min_amount, max_amount, fee_rate, name)
    return tariffs.create(session, actor, spec, at or utcnow())


def add_subscriber(
    session: Session,
    *,
    actor: Actor,
    customer_code: str,
    name: str,
    phone: str,
    post_name: str = "",
    quarter: str = "",
    cell: str = "",
    avenue: str = "",
    language: str = "fr",
) -> Subscriber:
    """A subscriber with no meter yet: api.usecases.subscribers.register. Raises FieldErrors."""
    spec = SubscriberInput(name, phone, post_name, quarter, cell, avenue, language, customer_code)
    return subscribers.register(session, actor, spec)


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


def register_meter(session: Session, spec: MeterSpec, *, actor: Actor) -> Meter:
    """A meter, for the subscriber with `spec.customer_code` if given: api.usecases.subscribers
    .add_meter. Raises NotFound (`subscriber_not_found`) or FieldErrors."""
    owner = None
    if spec.customer_code:
        sub = subscriber_queries.by_code(session, spec.customer_code)
        if sub is None:
            raise NotFound(f"no subscriber {spec.customer_code!r}", code="subscriber_not_found")
        owner = sub.id
    values = {f.name: getattr(spec, f.name) for f in fields(spec) if f.name != "customer_code"}
    return subscribers.add_meter(session, actor, owner, MeterInput(**values))


def create_admin(
    session: Session,
    *,
    actor: Actor,
    email: str,
    password: str,
    name: str,
    role: str = "superadmin",
    post_name: str = "",
    position: str = "",
) -> Administrator:
    """An account of the back office; the rules (email, role, argon2id password) live in
    api.usecases.accounts.create, which the Administrators page calls too. Raises FieldErrors."""
    data = accounts.AccountInput(
        email=email, name=name, role=role, password=password, post_name=post_name, position=position
    )
    return accounts.create(session, actor, data)


def create_api_key(session: Session, *, actor: Actor, name: str, scopes: list[str]) -> str:
    """Create an API key; returns the full key ONCE (only its hash is stored)."""
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise InvalidInput(f"scopes must be among {', '.join(SCOPES)}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiKey(key_id=key_id, secret_hash=_hash_secret(secret), name=name[:80], scopes=" ".join(scopes))
    )
    session.flush()
    audit.record(
        session, actor, "api_key_created", key_id, after={"name": name[:80], "scopes": " ".join(scopes)}
    )
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


def revoke_api_key(session: Session, key_id: str, *, actor: Actor) -> None:
    row = session.scalars(select(ApiKey).where(col(ApiKey.key_id) == key_id)).first()
    if row is None:
        raise NotFound(f"no API key {key_id}")
    row.revoked_at = utcnow()
    audit.record(session, actor, "api_key_revoked", key_id)
