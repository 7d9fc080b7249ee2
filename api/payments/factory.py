"""Build the configured payment provider from settings (``NGUVU_PAYMENT_PROVIDER``)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from api.payments.airtel import AirtelConfig, AirtelMoney
from api.payments.base import PROVIDER_NAMES, DeliverCallback, PaymentProvider, ProviderConfigError
from api.payments.mpesa import MpesaConfig, MpesaDaraja
from api.payments.orange import OrangeConfig, OrangeMoney
from api.payments.sandbox import SandboxConfig, SandboxWallet

__all__ = ["ProviderConfig", "build_payment_provider", "load_payment_config"]

ProviderConfig = SandboxConfig | AirtelConfig | MpesaConfig | OrangeConfig


def load_payment_config(env: Mapping[str, str], name: str | None = None) -> ProviderConfig:
    """Read and check the settings of provider ``name`` (default: ``NGUVU_PAYMENT_PROVIDER`` or sandbox).

    Raises ProviderConfigError naming the missing or malformed variable; call it at start-up.
    """
    chosen = (name or env.get("NGUVU_PAYMENT_PROVIDER", "").strip() or "sandbox").lower()
    if chosen == "sandbox":
        return SandboxConfig.from_env(env)
    if chosen == "airtel":
        return AirtelConfig.from_env(env)
    if chosen == "mpesa":
        return MpesaConfig.from_env(env)
    if chosen == "orange":
        return OrangeConfig.from_env(env)
    raise ProviderConfigError(
        f"NGUVU_PAYMENT_PROVIDER must be one of {', '.join(PROVIDER_NAMES)}; got {chosen!r}"
    )


def build_payment_provider(
    config: ProviderConfig | Mapping[str, str],
    http: httpx.AsyncClient,
    *,
    deliver: DeliverCallback | None = None,
) -> PaymentProvider:
    """The provider for ``config`` (a typed config, or an env mapping read with load_payment_config).

    ``http`` is shared and owned by the caller (set its connection limits there); ``deliver`` is used by
    the sandbox wallet only (in-process callback delivery; without it the wallet POSTs over loopback).
    """
    if not isinstance(config, SandboxConfig | AirtelConfig | MpesaConfig | OrangeConfig):
        config = load_payment_config(config)
    if isinstance(config, SandboxConfig):
        return SandboxWallet(config, http, deliver=deliver)
    if isinstance(config, AirtelConfig):
        return AirtelMoney(config, http)
    if isinstance(config, MpesaConfig):
        return MpesaDaraja(config, http)
    return OrangeMoney(config, http)
