"""Reading provider settings from an environment mapping, failing fast with the variable's name.

Nothing here reads ``os.environ``: the core's Settings passes the mapping it read once at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from api.payments.secret import Secret

__all__ = ["DEFAULT_PUBLIC_URL", "EnvReader"]

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


class EnvReader:
    """Typed reads from ``env``; every problem raises ``error`` naming the variable (never its value
    when the variable is a secret)."""

    def __init__(self, env: Mapping[str, str], error: type[ValueError]) -> None:
        self._env = env
        self._error = error

    def fail(self, message: str) -> ValueError:
        return self._error(message)

    def raw(self, name: str) -> str:
        return self._env.get(name, "").strip()

    def text(self, name: str, default: str | None = None) -> str:
        value = self.raw(name)
        if value:
            return value
        if default is None:
            raise self._error(f"{name} is required but not set")
        return default

    def secret(self, name: str) -> Secret:
        value = self.raw(name)
        if not value:
            raise self._error(f"{name} is required but not set (a secret: set it in the environment)")
        return Secret(value)

    def optional_secret(self, name: str) -> Secret | None:
        value = self.raw(name)
        return Secret(value) if value else None

    def url(self, name: str, default: str | None = None) -> str:
        value = self.text(name, default).rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self._error(f"{name} must be an http(s) URL, got {value!r}")
        return value

    def number(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        raw = self.raw(name)
        if not raw:
            return default
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise self._error(f"{name} must be a number, got {raw!r}") from None
        if not value.is_finite() or value < Decimal(str(minimum)):
            raise self._error(f"{name} must be a number >= {minimum:g}, got {raw!r}")
        return float(value)

    def flag(self, name: str, default: bool) -> bool:
        raw = self.raw(name).lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise self._error(f"{name} must be true or false, got {raw!r}")

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(name, default).lower()
        if value not in choices:
            raise self._error(f"{name} must be one of {', '.join(choices)}; got {value!r}")
        return value

    def callback_url(self, override_name: str, path: str) -> str:
        """``override_name`` when set, else ``NGUVU_PUBLIC_URL`` (default: local) joined with ``path``."""
        if self.raw(override_name):
            return self.url(override_name)
        return self.url("NGUVU_PUBLIC_URL", DEFAULT_PUBLIC_URL) + path
