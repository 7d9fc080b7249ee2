"""Fixtures of the vending-service tests: a migrated database on SQLite and on PostgreSQL, a service
with the sandbox wallet and the console SMS provider, and a seeded meter.

Every test that takes `engine` runs twice: on a fresh SQLite file and (marked `postgres`) on its own
schema of the `test` database at 127.0.0.1:5432, dropped afterwards so parallel runs never collide.
"""

from __future__ import annotations

import gc
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from apitest import TestClient
from softhsm import MODULE, Hsm, configure, make_hsm
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api import migrate
from api.actors import Actor
from api.app import create_app
from api.db import make_engine, transaction
from api.keystore import Kek
from api.models import Meter, Payment, PaymentStatus
from api.registry import (
    MeterSpec,
    add_subscriber,
    add_vending_key,
    create_api_key,
    register_meter,
    set_tariff,
)
from api.service import Service
from api.settings import Settings

SETUP = Actor.cli()  # the seed is what `nguvu` set-up commands would do
PG_USERS = ("postgres", "root")
VENDING_KEY = "0123456789abcdef"
METER_DRN = "01234567897"  # 11-digit DRN with a valid Luhn check digit
OTHER_DRN = "01234567905"


def _pg_user() -> str | None:
    for user in PG_USERS:
        try:
            with psycopg.connect(host="127.0.0.1", port=5432, dbname="test", user=user, connect_timeout=3):
                return user
        except psycopg.Error:
            continue
    return None


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'nguvu.db'}")
        migrate.upgrade(eng)
        yield eng
        eng.dispose()
        return
    user = _pg_user()
    if user is None:
        pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 (database test)")
    schema = "t_" + secrets.token_hex(6)
    dsn = dict(host="127.0.0.1", port=5432, dbname="test", user=user)
    with psycopg.connect(**dsn, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'CREATE SCHEMA "{schema}"')
    eng = make_engine(f"postgresql+psycopg://{user}@127.0.0.1:5432/test?options=-csearch_path%3D{schema}")
    try:
        migrate.upgrade(eng)
        yield eng
    finally:
        eng.dispose()
        gc.collect()  # a connection leaked by the test surfaces here, attributed to that test
        with psycopg.connect(**dsn, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="session")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hsm]:
    """The session's SoftHSM2 token in a temporary directory, with a transport key (tests/api/softhsm.py)."""
    if not MODULE.is_file():
        pytest.fail("SoftHSM2 is not installed: run scripts/install-system-deps.sh (Debian package softhsm2)")
    directory = tmp_path_factory.mktemp("softhsm")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(configure(directory)))
        yield make_hsm(directory)


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 28, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    service: Service
    settings: Settings
    sms: list[str]
    clock: Clock
    meter_drn: str
    other_drn: str
    customer_code: str = "ENK-0001"
    phone: str = "+243990000001"


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    kek, _ = Kek.generate()
    env = {
        "NGUVU_SANDBOX_DELAY_S": "0.05",
        "NGUVU_SANDBOX_EXPIRY_S": "1",
    }
    values: dict[str, object] = dict(
        kek=kek,
        data_dir=tmp_path,
        run_workers=False,
        migrate_on_start=False,
        worker_poll_seconds=0.02,
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.05,
        payment_query_after_seconds=1,
        provider_env=env,
    )
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def seed_tariffs_and_subscriber(s: Session, *, usd: bool = True) -> None:
    """The residential tariff in CDF (and in USD) and the subscriber ENK-0001 (+243990000001)."""
    set_tariff(
        s,
        actor=SETUP,
        name="residential",
        currency="CDF",
        price_per_kwh=Decimal("400"),
        vat_rate=Decimal("0.16"),
        min_amount=Decimal("1000"),
        max_amount=Decimal("500000"),
    )
    if usd:
        set_tariff(
            s,
            actor=SETUP,
            name="residential",
            currency="USD",
            price_per_kwh=Decimal("0.15"),
            vat_rate=Decimal("0.16"),
            min_amount=Decimal("1"),
            max_amount=Decimal("200"),
        )
    add_subscriber(
        s,
        actor=SETUP,
        customer_code="ENK-0001",
        name="Kahindo",
        post_name="Masika",
        phone="+243990000001",
    )


def seed(service: Service, *, connected_url: str = "") -> tuple[str, str]:
    with transaction(service.engine) as s:
        add_vending_key(s, service.keyring, "vk1", VENDING_KEY, actor=SETUP)
        seed_tariffs_and_subscriber(s)
        m1 = register_meter(
            s,
            MeterSpec(
                number=METER_DRN,
                sgc=123457,
                ti=1,
                krn=1,
                vending_key="vk1",
                customer_code="ENK-0001",
                connected=bool(connected_url),
                serial_url=connected_url,
            ),
            actor=SETUP,
        )
        m2 = register_meter(
            s, MeterSpec(number=OTHER_DRN, sgc=123457, ti=1, krn=1, vending_key="vk1"), actor=SETUP
        )
        return m1.drn, m2.drn


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Iterator[World]:
    settings = make_settings(tmp_path)
    sms: list[str] = []
    clock = Clock()
    service = Service(settings, engine=engine, clock=clock, sms_write=sms.append)
    drn, other = seed(service)
    yield World(service, settings, sms, clock, drn, other)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(world.settings, service=world.service)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def api_key(world: World) -> str:
    with transaction(world.service.engine) as s:
        return create_api_key(
            s, actor=SETUP, name="vendor", scopes=["vend", "manage", "keychange", "read", "meters"]
        )


def queue_payment(
    engine: Engine,
    reference: str,
    drn: str,
    *,
    amount: str = "5000",
    currency: str = "CDF",
    msisdn: str = "+243990000001",
    status: PaymentStatus = PaymentStatus.PENDING,
    language: str = "fr",
) -> int:
    """A payment for meter `drn` as the USSD menu leaves it (PENDING: the PIN prompt is out); its id."""
    with transaction(engine) as s:
        meter = s.scalars(select(Meter).where(Meter.drn == drn)).one()
        p = Payment(
            reference=reference,
            provider="sandbox",
            status=status,
            msisdn=msisdn,
            meter_id=meter.id,
            subscriber_id=meter.subscriber_id,
            account=meter.drn,
            amount=Decimal(amount),
            currency=currency,
            language=language,
        )
        s.add(p)
        s.flush()
        assert p.id is not None
        return p.id
