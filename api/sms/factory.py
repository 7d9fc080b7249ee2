"""Build the configured SMS provider from settings (``NGUVU_SMS_PROVIDER``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from api.sms.africastalking import AfricasTalkingConfig, AfricasTalkingSms
from api.sms.base import SMS_PROVIDER_NAMES, SmsConfigError, SmsProvider
from api.sms.console import ConsoleSms

__all__ = ["build_sms_provider", "load_sms_config"]


def load_sms_config(env: Mapping[str, str], name: str | None = None) -> AfricasTalkingConfig | None:
    """The checked settings of the chosen provider (None for ``console``, which has none).

    Raises SmsConfigError naming the missing or malformed variable; call it at start-up.
    """
    chosen = (name or env.get("NGUVU_SMS_PROVIDER", "").strip() or "console").lower()
    if chosen == "console":
        return None
    if chosen == "africastalking":
        return AfricasTalkingConfig.from_env(env)
    raise SmsConfigError(f"NGUVU_SMS_PROVIDER must be one of {', '.join(SMS_PROVIDER_NAMES)}; got {chosen!r}")


def build_sms_provider(
    config: AfricasTalkingConfig | Mapping[str, str] | None,
    http: httpx.AsyncClient,
    *,
    write: Callable[[str], None] | None = None,
) -> SmsProvider:
    """``config`` is a typed config, ``None`` (console) or an env mapping read with load_sms_config."""
    if config is not None and not isinstance(config, AfricasTalkingConfig):
        config = load_sms_config(config)
    if config is None:
        return ConsoleSms(write) if write is not None else ConsoleSms()
    return AfricasTalkingSms(config, http)
