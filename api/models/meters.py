"""Meters with their STS key parameters, the encrypted vending keys, and the tariffs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Column, Integer, LargeBinary, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from api.models.base import MONEY, RATE, UtcDateTime, utcnow


class VendingKeyRecord(SQLModel, table=True):
    """A key row meters refer to (api.keyring). Never returned by any API.

    store "kek": a vending key sealed with the KEK (api.keystore); store "pkcs11": the vending key is an
    object of that label in the PKCS#11 token (api.hsm) and `sealed` is empty. kind "decoder": one
    meter's decoder key from the key management centre, sealed with the KEK, bound to the PAN and key
    parameters in `bound_to` (api.wrapped.binding_of)."""

    __tablename__ = "vending_keys"

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(max_length=64, unique=True)
    sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    store: str = Field(default="kek", sa_column=Column(String(8), nullable=False, server_default="kek"))
    kind: str = Field(
        default="vending", sa_column=Column(String(8), nullable=False, server_default="vending")
    )
    bits: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    bound_to: str = Field(default="", sa_column=Column(String(80), nullable=False, server_default=""))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))

    def __repr__(self) -> str:
        return f"VendingKeyRecord(id={self.id!r}, label={self.label!r})"


# Tariffs that existed before scheduling were in force from the start.
TARIFF_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Tariff(SQLModel, table=True):
    """Price of a kWh in one currency, with VAT and the purchase limits (amounts are VAT-inclusive).

    A tariff name has one row per currency and per `effective_from`: the row in force at a moment is the
    active one with the latest `effective_from` not after it (api.queries.tariffs.in_force)."""

    __tablename__ = "tariffs"
    __table_args__ = (
        UniqueConstraint("name", "currency", "effective_from", name="uq_tariffs_name_currency_from"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=40)
    currency: str = Field(max_length=3)  # "CDF" | "USD"
    price_per_kwh: Decimal = Field(sa_column=Column(MONEY, nullable=False))
    vat_rate: Decimal = Field(sa_column=Column(RATE, nullable=False))  # 0.16 = 16 %
    fee_rate: Decimal = Field(default=Decimal(0), sa_column=Column(RATE, nullable=False))  # channel fee
    min_amount: Decimal = Field(sa_column=Column(MONEY, nullable=False))
    max_amount: Decimal = Field(sa_column=Column(MONEY, nullable=False))
    active: bool = True
    effective_from: datetime = Field(
        default=TARIFF_EPOCH, sa_column=Column(UtcDateTime(), nullable=False, default=TARIFF_EPOCH)
    )


class Meter(SQLModel, table=True):
    __tablename__ = "meters"

    id: int | None = Field(default=None, primary_key=True)
    pan: str = Field(max_length=18, unique=True, index=True)  # MeterPAN (IIN + DRN + check digit)
    drn: str = Field(max_length=13, index=True)  # the number printed on the meter
    serial_number: str = Field(default="", max_length=40)
    phases: int = 1  # 1 = single-phase, 3 = three-phase
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None
    connection_date: date | None = None
    subscriber_id: int | None = Field(default=None, foreign_key="subscribers.id", index=True)
    tariff_name: str = Field(default="residential", max_length=40)
    # STS key parameters.
    sgc: int
    ti: int
    krn: int
    kt: int
    ken: int = 255
    base_date: int = 2014
    dkga: int = 2
    ea: int = 7
    vending_key_id: int = Field(foreign_key="vending_keys.id")
    last_tid: int | None = None
    # Automatic recharge over the serial link.
    connected: bool = False
    serial_url: str = Field(default="", max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    deleted_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
