"""Request and response bodies of the vendor REST API (pydantic: validation and the OpenAPI schemas)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

Money = Decimal


def _ascii_number(value: object) -> object:
    """Numbers as text must be ASCII: Decimal() would read other scripts' digits ("٥000")."""
    if isinstance(value, str) and not value.isascii():
        raise ValueError("numbers must be written with ASCII digits")
    return value


AsciiDecimal = Annotated[Decimal, BeforeValidator(_ascii_number)]


def refuse_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL: a NUL in any text input is refused before it reaches a query."""
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        return refuse_nul(value) if isinstance(value, str) else value


class CreditIn(Strict):
    """Either `units` (kWh) or `amount` + `currency` (units computed from the meter's tariff)."""

    units: AsciiDecimal | None = Field(default=None, gt=0, le=Decimal("1000000"), decimal_places=1)
    amount: AsciiDecimal | None = Field(default=None, gt=0, lt=Decimal("1e12"), decimal_places=2)
    currency: Literal["CDF", "USD"] | None = None
    reference: str | None = Field(default=None, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.:-]+$")


class ManagementIn(Strict):
    kind: Literal["clear_credit", "clear_tamper", "set_mpl"]
    mpl_watts: int | None = Field(default=None, ge=0, le=65535)


class KeyChangeIn(Strict):
    sgc: int = Field(ge=0, le=999999)
    ti: int = Field(ge=0, le=99)
    krn: int = Field(ge=1, le=9)
    kt: int = Field(default=2, ge=0, le=3)
    ken: int = Field(default=255, ge=0, le=255)
    vending_key: str = Field(min_length=1, max_length=64)


class MeterIn(Strict):
    number: str = Field(min_length=11, max_length=18, pattern=r"^[0-9]+$")
    sgc: int = Field(ge=0, le=999999)
    ti: int = Field(ge=0, le=99)
    krn: int = Field(ge=1, le=9)
    kt: int = Field(default=2, ge=0, le=3)
    ken: int = Field(default=255, ge=0, le=255)
    base_date: Literal[1993, 2014, 2035] = 2014
    dkga: Literal[2, 4] = 2
    ea: Literal[7, 11] = 7
    vending_key: str = Field(min_length=1, max_length=64)
    customer_code: str | None = Field(default=None, max_length=20)
    serial_number: str = Field(default="", max_length=40)
    phases: Literal[1, 3] = 1
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    altitude: float | None = Field(default=None, ge=-1000, le=10000)
    connection_date: date | None = None
    tariff_name: str = Field(default="residential", min_length=1, max_length=40)
    connected: bool = False
    serial_url: str = Field(default="", max_length=255)


class MeterBatchIn(Strict):
    meters: list[MeterIn] = Field(min_length=1, max_length=1000)


class TokenOut(BaseModel):
    id: int
    meter: str
    kind: str
    token: str
    grouped: str
    tid: int | None
    units: Decimal | None
    amount: Decimal | None
    currency: str
    created_at: datetime


class MeterOut(BaseModel):
    drn: str
    pan: str
    serial_number: str
    phases: int
    sgc: int
    ti: int
    krn: int
    kt: int
    ken: int
    base_date: int
    dkga: int
    ea: int
    customer_code: str | None
    holder: str | None
    tariff_name: str
    connected: bool
    last_tid: int | None


class PaymentOut(BaseModel):
    reference: str
    channel: str
    provider: str
    provider_txn_id: str | None
    status: str
    reason: str
    msisdn: str
    meter: str | None
    amount: Decimal
    currency: str
    paid_amount: Decimal | None
    created_at: datetime


class ErrorOut(BaseModel):
    code: str
    message: str
