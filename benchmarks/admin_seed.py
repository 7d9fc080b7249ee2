"""The data set of the back-office benchmark (`admin_pages.py`): a large utility's database, bulk-loaded.

N subscribers, one meter each, and P payments spread over the last 60 days (most vended, each with its
token; some failed, expired, held or pending), written straight into the migrated tables: PostgreSQL with
COPY, SQLite with executemany in chunks. Rows are generated in chunks so a million payments never sit in
memory at once. Values are deterministic for a given seed, so two runs measure the same data.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, Table, insert, text
from sqlmodel import SQLModel

from api.actors import Actor
from api.db import transaction
from api.keyring import Keyring
from api.keystore import Kek
from api.registry import add_vending_key, set_tariff
from tokencore import pan_from_drn
from tokencore.identity import luhn_check_digit

CHUNK = 20_000
DAYS = 60
NAMES = [
    "Kahindo",
    "Kambale",
    "Masika",
    "Paluku",
    "Kavira",
    "Muhindo",
    "Kasereka",
    "Mumbere",
    "Kahambu",
    "Katungu",
    "Mbusa",
    "Kyakimwa",
    "Vahwere",
    "Sikuli",
    "Kasoki",
    "Mathe",
    "Nzanzu",
    "Kavugho",
    "Syauswa",
    "Baraka",
    "Amani",
    "Furaha",
    "Neema",
    "Zawadi",
    "Bahati",
]
QUARTERS = ("Mabakanga", "Kanzuli", "Ngongolio", "Rwangoma", "Paida", "Matonge", "Butanuka", "Boikene")
STATUSES = (("vended", 940), ("failed", 40), ("expired", 10), ("held", 5), ("pending", 5))
PROVIDERS = ("mpesa", "airtel", "orange", "cash")


@dataclass(frozen=True)
class Size:
    subscribers: int
    payments: int


def drn(i: int) -> str:
    body = f"04{i:08d}"
    return body + str(luhn_check_digit(body))


def phone(i: int) -> str:
    return f"+2439{(i * 7919) % 100_000_000:08d}"  # a permutation: every subscriber has their own


def _subscriber(i: int, rng: random.Random, now: datetime) -> dict[str, Any]:
    return {
        "id": i + 1,
        "customer_code": f"ENK-{i + 1:06d}",
        "name": rng.choice(NAMES),
        "post_name": f"{rng.choice(NAMES)} {rng.choice(NAMES)[:3]}{i}",
        "phone": phone(i),
        "quarter": rng.choice(QUARTERS),
        "cell": f"Cellule {i % 40}",
        "avenue": f"Avenue {i % 300}",
        "language": "fr",
        "created_at": now - timedelta(days=400),
        "deleted_at": None,
    }


def _meter(i: int, now: datetime) -> dict[str, Any]:
    number = drn(i)
    return {
        "id": i + 1,
        "pan": str(pan_from_drn(number)),
        "drn": number,
        "serial_number": f"SM{i:07d}",
        "phases": 3 if i % 10 == 0 else 1,
        "latitude": 0.49 + (i % 1000) / 100_000,
        "longitude": 29.47 + (i % 997) / 100_000,
        "subscriber_id": i + 1,
        "tariff_name": "residential",
        "sgc": 123457,
        "ti": 1,
        "krn": 1,
        "kt": 2,
        "ken": 255,
        "base_date": 2014,
        "dkga": 2,
        "ea": 7,
        "vending_key_id": 1,
        "connected": i % 50 == 0,
        "serial_url": "",
        "created_at": now - timedelta(days=400),
        "deleted_at": None,
    }


def _payment_and_token(
    i: int, size: Size, rng: random.Random, start: datetime, step: float
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    who = rng.randrange(size.subscribers)
    at = start + timedelta(seconds=i * step)
    status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
    usd = rng.random() < 0.15
    currency = "USD" if usd else "CDF"
    amount = (
        Decimal(rng.choice((1, 2, 5, 10, 20))) if usd else Decimal(rng.choice((2000, 5000, 10000, 25000)))
    )
    provider = rng.choice(PROVIDERS)
    payment = {
        "id": i + 1,
        "reference": f"B{i:09d}",
        "channel": "cash" if provider == "cash" else "ussd",
        "provider": provider,
        "provider_ref": None,
        "provider_txn_id": None if provider == "cash" else f"TX{i:010d}",
        "status": status,
        "msisdn": phone(who),
        "subscriber_id": who + 1,
        "meter_id": who + 1,
        "account": drn(who),
        "amount": amount,
        "currency": currency,
        "paid_amount": amount,
        "language": "fr",
        "reason": "amount_mismatch" if status == "held" else "",
        "attempts": 0,
        "next_attempt_at": None,
        "created_at": at,
        "updated_at": at,
    }
    if status != "vended":
        return payment, None
    price = Decimal("0.15") if usd else Decimal(400)
    net = (amount / Decimal("1.16")).quantize(Decimal("0.0001"))
    token = {
        "id": i + 1,
        "payment_id": i + 1,
        "meter_id": who + 1,
        "kind": "credit",
        "token": f"{rng.randrange(10**20):020d}",
        "tid": int((at - datetime(2014, 1, 1, tzinfo=UTC)).total_seconds() // 60),
        "units": (net / price).quantize(Decimal("0.1")),
        "amount": amount,
        "currency": currency,
        "vat": amount - net,
        "issued_by": provider,
        "created_at": at,
    }
    return payment, token


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _complete(table: Table, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with every column of `table`: columns added since this script was written get their
    scalar default (or NULL), so the seed keeps working as the models grow."""
    fill: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        arg = getattr(default, "arg", None)
        fill[column.name] = None if callable(arg) else arg
    return [{**fill, **row} for row in rows]


def _write(engine: Engine, table: Table, chunks: Iterator[list[dict[str, Any]]]) -> int:
    count = 0
    for chunk in chunks:
        if not chunk:
            continue
        rows = _complete(table, chunk)
        if engine.dialect.name == "postgresql":
            _copy(engine, table, rows)
        else:
            with transaction(engine) as s:
                s.execute(insert(table), rows)
        count += len(rows)
    return count


def _copy(engine: Engine, table: Table, rows: list[dict[str, Any]]) -> None:
    names = [c.name for c in table.columns]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        quoted = ", ".join(f'"{n}"' for n in names)
        with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([row[n] for n in names])
        raw.commit()
    finally:
        raw.close()


def seed(engine: Engine, size: Size, *, kek: Kek | None = None, seed_value: int = 9) -> dict[str, int]:
    """Fill the migrated (empty) database behind `engine`; returns the number of rows per table. The
    vending key is wrapped under `kek` (a fresh one if not given)."""
    tables = SQLModel.metadata.tables
    now = datetime.now(UTC)
    with transaction(engine) as s:
        keyring = Keyring(kek or Kek.generate()[0])
        add_vending_key(s, keyring, "bench", "0123456789abcdef", actor=Actor.cli())
        for currency, price, low, high in (("CDF", "400", "500", "500000"), ("USD", "0.15", "1", "200")):
            set_tariff(
                s,
                actor=Actor.cli(),
                name="residential",
                currency=currency,
                price_per_kwh=Decimal(price),
                vat_rate=Decimal("0.16"),
                min_amount=Decimal(low),
                max_amount=Decimal(high),
            )
    rng = random.Random(seed_value)
    counts = {
        "subscribers": _write(
            engine,
            tables["subscribers"],
            _chunks(_subscriber(i, rng, now) for i in range(size.subscribers)),
        ),
        "meters": _write(engine, tables["meters"], _chunks(_meter(i, now) for i in range(size.subscribers))),
    }
    start, step = now - timedelta(days=DAYS), DAYS * 86_400 / max(size.payments, 1)
    tokens: list[dict[str, Any]] = []

    def payments() -> Iterator[dict[str, Any]]:
        for i in range(size.payments):
            payment, token = _payment_and_token(i, size, rng, start, step)
            if token is not None:
                tokens.append(token)
            yield payment

    counts["payments"] = 0
    counts["tokens"] = 0
    for chunk in _chunks(payments()):
        counts["payments"] += _write(engine, tables["payments"], iter([chunk]))
        counts["tokens"] += _write(engine, tables["tokens"], iter([tokens]))
        tokens.clear()
    _reset_sequences(engine, ("subscribers", "meters", "payments", "tokens"))
    _analyze(engine)
    return counts


def _reset_sequences(engine: Engine, names: Sequence[str]) -> None:
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for name in names:
            conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
            )


def _analyze(engine: Engine) -> None:
    """Statistics for the planner, and on PostgreSQL the GIN indexes' pending lists merged, as
    autovacuum does on a running service (right after a bulk load it has not run yet)."""
    command = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(command))
