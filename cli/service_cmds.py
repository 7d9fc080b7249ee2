"""Commands of the vending service: `nguvu serve`, `db upgrade`, and setting the service up without the
web UI (`vending-key add`, `tariff set`, `admin create-superuser`, `subscriber add`, `meter register`,
`apikey create`). Settings come from the environment (see docs/service.md), read once per command."""

from __future__ import annotations

import contextlib
import functools
import getpass
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from sqlalchemy import Engine

from api import migrate
from api.actors import Actor
from api.db import make_engine, transaction
from api.errors import FieldErrors, InvalidInput, ServiceError
from api.keyring import Keyring
from api.keystore import KeystoreError
from api.metrics import MULTIPROC_ENV
from api.models.base import utcnow
from api.registry import (
    SCOPES,
    MeterSpec,
    add_subscriber,
    add_vending_key,
    create_admin,
    create_api_key,
    register_meter,
)
from api.service import build_store
from api.settings import Settings, SettingsError
from api.usecases import tariffs
from api.usecases.tariffs import TariffInput
from cli.apps import app, meter_app

P = ParamSpec("P")
R = TypeVar("R")

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
admin_app = typer.Typer(help="Administrator accounts.", no_args_is_help=True)
subscriber_app = typer.Typer(help="Subscribers.", no_args_is_help=True)
apikey_app = typer.Typer(help="Vendor API keys.", no_args_is_help=True)
tariff_app = typer.Typer(help="Tariffs (price per kWh, VAT, purchase limits).", no_args_is_help=True)
vkey_app = typer.Typer(
    help="Vending keys (sealed under NGUVU_KEK, or in a PKCS#11 token: docs/keys.md).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(subscriber_app, name="subscriber")
app.add_typer(apikey_app, name="apikey")
app.add_typer(tariff_app, name="tariff")
app.add_typer(vkey_app, name="vending-key")


def service_guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Settings and service refusals become one line on stderr: exit 2 (bad input/settings), 1 (refused)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except FieldErrors as exc:  # a value already taken is refused by a rule (1), else malformed (2)
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(1 if exc.is_conflict else 2) from None
        except (SettingsError, ValueError, InvalidInput) as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(2) from None
        except ServiceError as exc:
            print(f"error: {exc} ({exc.code})", file=sys.stderr)
            raise typer.Exit(1) from None
        except KeystoreError as exc:
            print(f"error: {exc} ({exc.code})", file=sys.stderr)
            raise typer.Exit(1) from None

    return wrapper


def _engine_and_upgrade() -> tuple[Settings, Engine]:
    settings = Settings.from_env()
    engine = make_engine(settings.resolved_database_url)
    migrate.upgrade(engine)
    return settings, engine


@app.command("serve")
@service_guarded
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (each runs the background workers).")] = 1,
    log_level: Annotated[
        str, typer.Option(help="Service log level: debug, info (one line per payment event), warning.")
    ] = "info",
) -> None:
    """Run the vending service (USSD, callbacks, REST API, workers) with uvicorn."""
    import uvicorn

    logging_config = log_config(log_level)
    settings = Settings.from_env()  # fail fast here, before forking workers
    migrate.upgrade(make_engine(settings.resolved_database_url))
    print(f"nguvu: serving on http://{host}:{port} ({settings!r})", file=sys.stderr)
    with _metrics_shared_by(workers):
        uvicorn.run(
            "api.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=logging_config,
            access_log=False,
        )


LOG_LEVELS = ("debug", "info", "warning", "error")


def log_config(level: str) -> dict[str, object]:
    """uvicorn's logging set-up plus the service's own loggers (`nguvu.*`, and `api.*` for the provider
    adapters) on stderr with time, level and name. They log events and decisions, never secrets."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    if level not in LOG_LEVELS:
        raise InvalidInput(f"--log-level must be one of {', '.join(LOG_LEVELS)}", code="invalid_log_level")
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["service"] = {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    config["handlers"]["service"] = {
        "formatter": "service",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    for name in ("nguvu", "api"):
        config["loggers"][name] = {"handlers": ["service"], "level": level.upper(), "propagate": False}
    for name in ("uvicorn", "uvicorn.error"):
        config["loggers"][name]["level"] = "INFO" if level == "debug" else level.upper()
    return config


@contextlib.contextmanager
def _metrics_shared_by(workers: int) -> Iterator[None]:
    """With several workers, give them a fresh directory for their metric files, so that a scrape
    answered by any of them sums all (api/metrics.py). The spawned workers import prometheus_client
    after this, with the variable in their environment. One worker serves from this process, where
    prometheus_client is already loaded, and its own registry is the whole truth: nothing to share."""
    if workers <= 1:
        yield
        return
    previous = os.environ.get(MULTIPROC_ENV)
    removed = remove_orphan_metrics_dirs(Path(tempfile.gettempdir()))
    if removed:
        print(f"nguvu: removed {removed} metrics directories left by killed instances", file=sys.stderr)
    # A new directory per run: no stale counts of an earlier run, and never shared with another instance.
    # Its name carries this process's id, so the next start can tell an orphan (kill -9) from a live run.
    with tempfile.TemporaryDirectory(prefix=f"{METRICS_PREFIX}{os.getpid()}-") as directory:
        os.environ[MULTIPROC_ENV] = directory
        print(f"nguvu: {workers} workers write their metrics under {directory}", file=sys.stderr)
        try:
            yield
        finally:
            if previous is None:
                del os.environ[MULTIPROC_ENV]
            else:
                os.environ[MULTIPROC_ENV] = previous


METRICS_PREFIX = "nguvu-metrics-"


def remove_orphan_metrics_dirs(tmp: Path) -> int:
    """Remove `nguvu-metrics-<pid>-*` directories whose `nguvu serve` is gone (killed with SIGKILL, so
    its TemporaryDirectory was never cleaned). A directory of a live process, of another user, or with no
    process id in its name is left alone. Returns how many were removed."""
    import shutil

    removed = 0
    for path in tmp.glob(f"{METRICS_PREFIX}*-*"):
        pid_text = path.name[len(METRICS_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or not path.is_dir() or path.is_symlink():
            continue
        try:
            if path.stat().st_uid != os.getuid():
                continue
            os.kill(int(pid_text), 0)
            continue  # that process still runs (perhaps a reused id: then we wait for a later start)
        except ProcessLookupError:
            pass
        except (PermissionError, OSError):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


@db_app.command("upgrade")
@service_guarded
def db_upgrade() -> None:
    """Apply the schema migrations (DATABASE_URL, or the SQLite file under NGUVU_DATA_DIR)."""
    url = Settings.database_url_from_env()
    engine = make_engine(url)
    migrate.upgrade(engine)
    print(f"database at revision {migrate.current(engine)}")


@db_app.command("after-restore")
@service_guarded
def db_after_restore(
    ahead_minutes: Annotated[
        int,
        typer.Option(help="Minutes past the current minute the next TID of every meter must be (1-100000)."),
    ] = 1440,
) -> None:
    """Run once after restoring a backup, before serving: move every meter's next TID past any token the
    lost hours may have issued, so meters that accepted those still accept the new ones."""
    if not 1 <= ahead_minutes <= 100_000:
        raise InvalidInput("--ahead-minutes must be 1-100000", code="invalid_ahead_minutes")
    _settings, engine = _engine_and_upgrade()
    moved, total = after_restore(engine, utcnow(), ahead_minutes)
    print(f"after restore: next TID moved forward on {moved} of {total} meters ({ahead_minutes} min ahead)")


def after_restore(engine: Engine, now: datetime, ahead_minutes: int) -> tuple[int, int]:
    """Set each meter's last TID to at least the TID of `now + ahead_minutes` (one transaction, audited).

    A backup knows the tokens issued up to the moment it was taken. Tokens issued after it are gone from
    the database, but meters may have accepted them, and a meter refuses a TID it has seen (`used`) or
    one older than the oldest it remembers (`old`). Those lost tokens were issued at most now, with TIDs
    at most the current minute plus how far ahead of the clock a meter that bought several tokens in a
    minute had run (one minute per extra token in the same minute, docs/deploy.md). Starting every
    meter's next TID past now + `ahead_minutes` therefore gives new tokens TIDs above all of them.
    Running it twice moves nothing more than the clock did.
    """
    from sqlalchemy import select
    from sqlmodel import col

    from api.audit import record
    from api.models import Meter
    from tokencore import BaseDate
    from tokencore.tid import tid_at

    moved = total = 0
    at = now + timedelta(minutes=ahead_minutes)
    with transaction(engine) as session:
        for meter in session.scalars(select(Meter).order_by(col(Meter.id)).with_for_update()):
            total += 1
            floor = tid_at(at, BaseDate.from_year(meter.base_date))
            if meter.last_tid is None or meter.last_tid < floor:
                before = meter.last_tid
                meter.last_tid = floor
                moved += 1
                record(
                    session,
                    Actor.cli(),
                    "meter.tid_after_restore",
                    meter.drn,
                    before={"last_tid": before},
                    after={"last_tid": floor},
                )
    return moved, total


def _read_secret_file(path: Path | None, env: str, what: str) -> str:
    if path is not None:
        return path.read_text().strip()
    value = os.environ.get(env, "").strip()
    if not value:
        raise ValueError(f"give the {what} with --key-file or ${env}")
    return value


@vkey_app.command("add")
@service_guarded
def vending_key_add(
    label: Annotated[str, typer.Argument(help="A name for the key, used by `meter register --vending-key`.")],
    key_file: Annotated[
        Path | None, typer.Option(help="File with the key in hex (or $NGUVU_VENDING_KEY).")
    ] = None,
) -> None:
    """Store a vending key, encrypted with NGUVU_KEK. The key is never printed or returned."""
    settings, engine = _engine_and_upgrade()
    key_hex = _read_secret_file(key_file, "NGUVU_VENDING_KEY", "vending key")
    with transaction(engine) as s:
        add_vending_key(s, Keyring(build_store(settings)), label, key_hex, actor=Actor.cli())
    print(f"vending key {label} stored (encrypted)")


@tariff_app.command("set")
@service_guarded
def tariff_set(
    currency: Annotated[str, typer.Option(help="CDF or USD.")],
    price: Annotated[str, typer.Option(help="Price of one kWh, before VAT.")],
    vat: Annotated[str, typer.Option(help="VAT rate as a fraction (0.16 = 16 %).")] = "0.16",
    minimum: Annotated[str, typer.Option("--min", help="Minimum purchase (VAT included).")] = "1",
    maximum: Annotated[str, typer.Option("--max", help="Maximum purchase (VAT included).")] = "1000000",
    fee: Annotated[str, typer.Option(help="Channel fee rate deducted first (fraction).")] = "0",
    name: Annotated[str, typer.Option(help="Tariff name (meters refer to it).")] = "residential",
    effective_from: Annotated[
        str | None,
        typer.Option("--from", help="Schedule it: YYYY-MM-DD[THH:MM] in NGUVU_TIMEZONE (default: now)."),
    ] = None,
) -> None:
    """New terms for the tariff `name` in one currency: in force now, or from a later moment."""
    settings, engine = _engine_and_upgrade()
    spec = TariffInput(currency.upper(), price, vat, minimum, maximum, fee, name)
    now = utcnow()
    with transaction(engine) as s:
        if effective_from is None:
            tariffs.create(s, Actor.cli(), spec, now)
        else:
            tariffs.schedule(s, Actor.cli(), spec, _local_time(effective_from, settings), now)
    when = f"from {effective_from}" if effective_from else "in force now"
    print(f"tariff {name} {currency.upper()}: {price}/kWh, VAT {vat}, purchases {minimum}-{maximum}, {when}")


def _local_time(text: str, settings: Settings) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--from must be YYYY-MM-DD or YYYY-MM-DDTHH:MM, got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=settings.zone)


@admin_app.command("create-superuser")
@service_guarded
def create_superuser(
    email: Annotated[str, typer.Option(help="Login email.")],
    name: Annotated[str, typer.Option(help="Name.")],
    post_name: Annotated[str, typer.Option(help="Post-name.")] = "",
    position: Annotated[str, typer.Option(help="Position in the utility.")] = "",
) -> None:
    """Create the super administrator (password read from $NGUVU_ADMIN_PASSWORD or prompted)."""
    password = os.environ.get("NGUVU_ADMIN_PASSWORD") or getpass.getpass("password: ")
    _, engine = _engine_and_upgrade()
    with transaction(engine) as s:
        create_admin(
            s,
            actor=Actor.cli(),
            email=email,
            password=password,
            name=name,
            post_name=post_name,
            position=position,
        )
    print(f"super administrator {email} created")


@admin_app.command("create")
@service_guarded
def create_account(
    email: Annotated[str, typer.Option(help="Login email.")],
    name: Annotated[str, typer.Option(help="Name.")],
    role: Annotated[str, typer.Option(help="superadmin, admin or cashier.")] = "cashier",
    post_name: Annotated[str, typer.Option(help="Post-name.")] = "",
    position: Annotated[str, typer.Option(help="Position in the utility.")] = "",
) -> None:
    """Create a back-office account of any role (password from $NGUVU_ADMIN_PASSWORD or prompted)."""
    password = os.environ.get("NGUVU_ADMIN_PASSWORD") or getpass.getpass("password: ")
    _, engine = _engine_and_upgrade()
    with transaction(engine) as s:
        create_admin(
            s,
            actor=Actor.cli(),
            email=email,
            password=password,
            name=name,
            role=role,
            post_name=post_name,
            position=position,
        )
    print(f"{role} {email} created")


@subscriber_app.command("add")
@service_guarded
def subscriber_add(
    code: Annotated[str, typer.Option("--code", help="Customer code, e.g. ENK-0001.")],
    name: Annotated[str, typer.Option(help="Name.")],
    phone: Annotated[str, typer.Option(help="Phone, E.164 (+243...).")],
    post_name: Annotated[str, typer.Option(help="Post-name.")] = "",
    quarter: Annotated[str, typer.Option(help="Address: quarter.")] = "",
    cell: Annotated[str, typer.Option(help="Address: cell.")] = "",
    avenue: Annotated[str, typer.Option(help="Address: avenue.")] = "",
    language: Annotated[str, typer.Option(help="SMS language: fr, en or sw.")] = "fr",
) -> None:
    """Register a subscriber."""
    _, engine = _engine_and_upgrade()
    with transaction(engine) as s:
        sub = add_subscriber(
            s,
            actor=Actor.cli(),
            customer_code=code,
            name=name,
            phone=phone,
            post_name=post_name,
            quarter=quarter,
            cell=cell,
            avenue=avenue,
            language=language,
        )
    print(f"subscriber {sub.customer_code} added")


@meter_app.command("register")
@service_guarded
def meter_register(
    number: Annotated[str, typer.Argument(help="DRN (11 or 13 digits) or MeterPAN (18 digits).")],
    sgc: Annotated[int, typer.Option(help="Supply group code.")],
    vending_key: Annotated[str, typer.Option(help="Label of a stored vending key.")],
    ti: Annotated[int, typer.Option(help="Tariff index.")] = 1,
    krn: Annotated[int, typer.Option(help="Key revision number.")] = 1,
    kt: Annotated[int, typer.Option(help="Key type (2 = DUTK).")] = 2,
    ken: Annotated[int, typer.Option(help="Key expiry number.")] = 255,
    base_date: Annotated[int, typer.Option(help="TID base date: 1993, 2014, 2035.")] = 2014,
    dkga: Annotated[int, typer.Option(help="DKGA: 2 or 4.")] = 2,
    ea: Annotated[int, typer.Option(help="Encryption algorithm: 7 or 11.")] = 7,
    customer_code: Annotated[str | None, typer.Option(help="Owner's customer code.")] = None,
    serial_number: Annotated[str, typer.Option(help="Serial number on the case.")] = "",
    phases: Annotated[int, typer.Option(help="1 or 3.")] = 1,
    latitude: Annotated[float | None, typer.Option(help="GPS latitude.")] = None,
    longitude: Annotated[float | None, typer.Option(help="GPS longitude.")] = None,
    connection_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD.")] = None,
    tariff: Annotated[str, typer.Option(help="Tariff name.")] = "residential",
    serial_url: Annotated[
        str, typer.Option(help="Serial link for automatic recharge (marks it connected).")
    ] = "",
) -> None:
    """Register a meter with its key parameters (the vending key is referenced, never stored here)."""
    _, engine = _engine_and_upgrade()
    spec = MeterSpec(
        number=number,
        sgc=sgc,
        ti=ti,
        krn=krn,
        kt=kt,
        ken=ken,
        base_date=base_date,
        dkga=dkga,
        ea=ea,
        vending_key=vending_key,
        customer_code=customer_code,
        serial_number=serial_number,
        phases=phases,
        latitude=latitude,
        longitude=longitude,
        connection_date=date.fromisoformat(connection_date) if connection_date else None,
        tariff_name=tariff,
        connected=bool(serial_url),
        serial_url=serial_url,
    )
    with transaction(engine) as s:
        meter = register_meter(s, spec, actor=Actor.cli())
    print(f"meter {meter.drn} registered (PAN {meter.pan})")


@apikey_app.command("create")
@service_guarded
def apikey_create(
    name: Annotated[str, typer.Option(help="Who uses the key.")],
    scope: Annotated[list[str], typer.Option(help=f"Repeat for each scope: {', '.join(SCOPES)}.")],
) -> None:
    """Create a vendor API key; it is printed once (only a hash is stored)."""
    _, engine = _engine_and_upgrade()
    with transaction(engine) as s:
        key = create_api_key(s, actor=Actor.cli(), name=name, scopes=scope)
    print(key)


# The key ceremony commands (PKCS#11 store) and the rekey join the `vending-key` group defined here.
from cli import key_cmds, rekey_cmds  # noqa: E402, F401
