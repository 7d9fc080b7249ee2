"""Service settings: read once, at start-up, from a mapping (the environment), typed, failing fast.

Nothing in `api` reads `os.environ` at import time. `Settings.from_env()` is called by the CLI (or a test)
and the result is handed to `create_app(settings)`. Provider settings (credentials, base URLs) are kept as
the raw `NGUVU_*` mapping and parsed by the provider factories, which fail fast the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from api.hsm import Pin, Pkcs11Config
from api.keystore import Kek


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable, never its secret value."""


LANGUAGES = ("fr", "en", "sw")

# Words a subscriber texts to get the last token again (compared without case). JETON, TOKEN and TOKENI
# are the words our own token SMS uses in French, English and Swahili, so the subscriber has just read
# them; CODE is what people in Beni call the recharge coupon; RESEND (English, as in MicroPowerManager's
# keyword) and TENA (Swahili "again") say "send it again". Any other text gets a short help SMS.
DEFAULT_RESEND_KEYWORDS = ("JETON", "TOKEN", "TOKENI", "CODE", "RESEND", "TENA")
_MAX_KEYWORD = 20
# Meters whose issuer (decoder key and cipher: 0.8 KB, 2.6 KB pure Python) a process keeps, at most.
DEFAULT_ISSUER_CACHE_SIZE = 50_000


def _int(env: Mapping[str, str], name: str, default: int, lo: int = 0, hi: int = 10**9) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative")
    return value


def _keywords(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return check_keywords(tuple(w.strip() for w in raw.split(",") if w.strip()), name)


def check_keywords(words: tuple[str, ...], name: str = "NGUVU_SMS_RESEND_KEYWORDS") -> tuple[str, ...]:
    """Keywords upper-cased; each a single word of letters and digits (SettingsError otherwise)."""
    if not words:
        raise SettingsError(f"{name} must list at least one keyword")
    for word in words:
        if not (word.isascii() and word.isalnum() and len(word) <= _MAX_KEYWORD):
            raise SettingsError(
                f"{name}: each keyword must be 1-{_MAX_KEYWORD} ASCII letters or digits, got {word!r}"
            )
    return tuple(dict.fromkeys(w.upper() for w in words))


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to run. Secrets (the KEK) are wrapped and never printed."""

    kek: Kek
    # Where vending keys live: "kek" (sealed in the database) or "pkcs11" (a token, docs/keys.md).
    keystore: str = "kek"
    pkcs11: Pkcs11Config | None = None
    data_dir: Path = Path("data")
    database_url: str = ""
    payment_provider: str = "sandbox"
    sms_provider: str = "console"
    public_base_url: str = "http://127.0.0.1:8000"
    ussd_service_code: str = "*384*1234#"
    default_language: str = "fr"
    run_workers: bool = True
    worker_poll_seconds: float = 0.2
    payment_timeout_seconds: int = 180
    payment_query_after_seconds: int = 20
    sms_max_attempts: int = 8
    push_max_attempts: int = 5
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 600.0
    serial_timeout_seconds: float = 3.0
    # A worker that claims a row (payment to start or re-query, SMS, push) owns it this long; if its
    # instance dies (kill -9, a lost machine), another instance retakes the row after the lease.
    worker_lease_seconds: int = 60
    push_parallel: int = 16  # serial pushes one instance runs at once (each waits for its meter)
    migrate_on_start: bool = True
    sms_resend_keywords: tuple[str, ...] = DEFAULT_RESEND_KEYWORDS
    sms_resend_per_hour: int = 3  # replies to the keyword per phone per hour (0: never reply)
    # Rate limits shared by every instance (api.ratelimit); 0 turns one off.
    ussd_phone_per_minute: int = 30  # USSD requests per calling phone per minute
    ussd_session_requests: int = 40  # USSD requests per session (counted over an hour)
    api_key_per_minute: int = 1200  # REST requests per API key per minute
    # Dates shown to subscribers (the resend SMS) are local: Beni (North Kivu) keeps Central Africa Time.
    timezone: str = "Africa/Lubumbashi"
    vend_batch_max: int = 200  # payment events per vend transaction at most (1: no group commit)
    issuer_cache_size: int = DEFAULT_ISSUER_CACHE_SIZE
    # The back office under /admin: on by default; a session ends after this idle time or this age.
    admin_enabled: bool = True
    admin_idle_minutes: int = 30
    admin_session_hours: int = 12
    provider_env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.keystore not in ("kek", "pkcs11"):
            raise SettingsError("NGUVU_KEYSTORE must be kek or pkcs11")
        if self.keystore == "pkcs11" and self.pkcs11 is None:
            raise SettingsError("NGUVU_KEYSTORE=pkcs11 needs NGUVU_PKCS11_MODULE, _TOKEN and _PIN_FILE")
        if self.default_language not in LANGUAGES:
            raise SettingsError(f"NGUVU_LANGUAGE must be one of {', '.join(LANGUAGES)}")
        if not self.public_base_url.startswith(("http://", "https://")):
            raise SettingsError("NGUVU_PUBLIC_URL must start with http:// or https://")
        object.__setattr__(self, "sms_resend_keywords", check_keywords(tuple(self.sms_resend_keywords)))
        if not 0 <= self.sms_resend_per_hour <= 1000:
            raise SettingsError("NGUVU_SMS_RESEND_PER_HOUR must be between 0 and 1000")
        if not 5 <= self.worker_lease_seconds <= 3600:
            raise SettingsError("NGUVU_WORKER_LEASE_SECONDS must be between 5 and 3600")
        if self.serial_timeout_seconds + 5 > self.worker_lease_seconds:
            # A push must end well within its lease, or another instance would push the token again.
            raise SettingsError(
                "NGUVU_SERIAL_TIMEOUT_SECONDS must be at least 5 s below NGUVU_WORKER_LEASE_SECONDS"
            )
        if not 1 <= self.push_parallel <= 256:
            raise SettingsError("NGUVU_PUSH_PARALLEL must be between 1 and 256")
        if not 1 <= self.vend_batch_max <= 1000:
            raise SettingsError("NGUVU_VEND_BATCH_MAX must be between 1 and 1000")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(
                f"NGUVU_TIMEZONE must be an IANA time zone such as Africa/Lubumbashi, got {self.timezone!r}"
            ) from None

    @property
    def zone(self) -> ZoneInfo:
        """The local time zone of the subscribers."""
        return ZoneInfo(self.timezone)

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL: DATABASE_URL, or a WAL SQLite file under the data directory."""
        return database_url_for(self.database_url, self.data_dir)

    def __repr__(self) -> str:
        return (
            f"Settings(data_dir={str(self.data_dir)!r}, "
            f"database={_redact_url(self.resolved_database_url)!r}, "
            f"payment_provider={self.payment_provider!r}, sms_provider={self.sms_provider!r}, "
            f"keystore={self.keystore!r})"
        )

    @staticmethod
    def database_url_from_env(env: Mapping[str, str] | None = None) -> str:
        """The database URL alone (for `nguvu db upgrade`, which needs no KEK)."""
        env = dict(os.environ if env is None else env)
        return database_url_for(env.get("DATABASE_URL", ""), Path(env.get("NGUVU_DATA_DIR") or "data"))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `env` (default: the process environment). Raises SettingsError."""
        env = dict(os.environ if env is None else env)
        kek = _read_kek(env)
        data_dir = Path(env.get("NGUVU_DATA_DIR") or "data")
        keystore = env.get("NGUVU_KEYSTORE") or "kek"
        return cls(
            kek=kek,
            keystore=keystore,
            pkcs11=_read_pkcs11(env) if keystore == "pkcs11" else None,
            data_dir=data_dir,
            database_url=env.get("DATABASE_URL", ""),
            payment_provider=env.get("NGUVU_PAYMENT_PROVIDER") or "sandbox",
            sms_provider=env.get("NGUVU_SMS_PROVIDER") or "console",
            public_base_url=(env.get("NGUVU_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"),
            ussd_service_code=env.get("NGUVU_USSD_CODE") or "*384*1234#",
            default_language=env.get("NGUVU_LANGUAGE") or "fr",
            run_workers=_bool(env, "NGUVU_RUN_WORKERS", True),
            worker_poll_seconds=_float(env, "NGUVU_WORKER_POLL_SECONDS", 0.2),
            payment_timeout_seconds=_int(env, "NGUVU_PAYMENT_TIMEOUT_SECONDS", 180, 1),
            payment_query_after_seconds=_int(env, "NGUVU_PAYMENT_QUERY_AFTER_SECONDS", 20, 1),
            sms_max_attempts=_int(env, "NGUVU_SMS_MAX_ATTEMPTS", 8, 1, 100),
            push_max_attempts=_int(env, "NGUVU_PUSH_MAX_ATTEMPTS", 5, 1, 100),
            backoff_base_seconds=_float(env, "NGUVU_BACKOFF_BASE_SECONDS", 2.0),
            backoff_max_seconds=_float(env, "NGUVU_BACKOFF_MAX_SECONDS", 600.0),
            serial_timeout_seconds=_float(env, "NGUVU_SERIAL_TIMEOUT_SECONDS", 3.0),
            worker_lease_seconds=_int(env, "NGUVU_WORKER_LEASE_SECONDS", 60, 5, 3600),
            push_parallel=_int(env, "NGUVU_PUSH_PARALLEL", 16, 1, 256),
            migrate_on_start=_bool(env, "NGUVU_MIGRATE_ON_START", True),
            sms_resend_keywords=_keywords(env, "NGUVU_SMS_RESEND_KEYWORDS", DEFAULT_RESEND_KEYWORDS),
            sms_resend_per_hour=_int(env, "NGUVU_SMS_RESEND_PER_HOUR", 3, 0, 1000),
            ussd_phone_per_minute=_int(env, "NGUVU_USSD_PHONE_PER_MINUTE", 30, 0, 10**6),
            ussd_session_requests=_int(env, "NGUVU_USSD_SESSION_REQUESTS", 40, 0, 10**6),
            api_key_per_minute=_int(env, "NGUVU_API_KEY_PER_MINUTE", 1200, 0, 10**7),
            timezone=env.get("NGUVU_TIMEZONE") or "Africa/Lubumbashi",
            vend_batch_max=_int(env, "NGUVU_VEND_BATCH_MAX", 200, 1, 1000),
            issuer_cache_size=_int(env, "NGUVU_ISSUER_CACHE_SIZE", DEFAULT_ISSUER_CACHE_SIZE, 0, 10**7),
            admin_enabled=_bool(env, "NGUVU_ADMIN", True),
            admin_idle_minutes=_int(env, "NGUVU_ADMIN_IDLE_MINUTES", 30, 1, 24 * 60),
            admin_session_hours=_int(env, "NGUVU_ADMIN_SESSION_HOURS", 12, 1, 24 * 7),
            provider_env={k: v for k, v in env.items() if k.startswith("NGUVU_")},
        )


def database_url_for(database_url: str, data_dir: Path) -> str:
    if database_url:
        url = database_url
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://") :]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
    return f"sqlite:///{(data_dir / 'nguvu.db').resolve()}"


def _read_kek(env: Mapping[str, str]) -> Kek:
    raw = env.get("NGUVU_KEK")
    path = env.get("NGUVU_KEK_FILE")
    if not raw and path:
        try:
            raw = Path(path).read_text().strip()
        except OSError as exc:
            raise SettingsError(f"NGUVU_KEK_FILE cannot be read: {exc.strerror}") from None
    if not raw:
        raise SettingsError(
            "NGUVU_KEK is not set: give the key-encryption key as 64 hex digits "
            "(for example from `python -c 'import secrets; print(secrets.token_hex(32))'`) "
            "or NGUVU_KEK_FILE pointing to a file holding them"
        )
    try:
        return Kek.from_hex(raw)
    except ValueError:
        raise SettingsError("NGUVU_KEK must be 64 hex digits (a 256-bit key)") from None


def _read_pkcs11(env: Mapping[str, str]) -> Pkcs11Config:
    """The token's settings; the PIN only from a file (a secret store mounts one), never argv or env."""
    for name in ("NGUVU_PKCS11_MODULE", "NGUVU_PKCS11_TOKEN", "NGUVU_PKCS11_PIN_FILE"):
        if not env.get(name):
            raise SettingsError(f"NGUVU_KEYSTORE=pkcs11 needs {name}")
    module = Path(env["NGUVU_PKCS11_MODULE"])
    if not module.is_file():
        raise SettingsError(f"NGUVU_PKCS11_MODULE: no such file {str(module)!r}")
    try:
        pin = Path(env["NGUVU_PKCS11_PIN_FILE"]).read_text().strip()
    except OSError as exc:
        raise SettingsError(f"NGUVU_PKCS11_PIN_FILE cannot be read: {exc.strerror}") from None
    if not pin:
        raise SettingsError("NGUVU_PKCS11_PIN_FILE is empty")
    return Pkcs11Config(module, env["NGUVU_PKCS11_TOKEN"], Pin(pin))


def _redact_url(url: str) -> str:
    """Hide a password in a database URL (user:secret@host -> user:***@host)."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}://{creds}@{host}"
