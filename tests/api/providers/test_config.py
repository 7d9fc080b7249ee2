"""Provider settings: typed configs from the environment, clear failures, secrets never shown."""

from __future__ import annotations

import logging
import pickle
from decimal import Decimal

import httpx
import pytest

from api.errors import ServiceError
from api.payments.airtel import AirtelConfig, AirtelMoney
from api.payments.base import (
    PaymentCallbackError,
    PaymentProvider,
    PaymentRejected,
    ProviderConfigError,
    ProviderUnavailable,
)
from api.payments.factory import build_payment_provider, load_payment_config
from api.payments.fields import e164_from_digits, parse_amount
from api.payments.mpesa import MpesaConfig, MpesaDaraja
from api.payments.oauth import lifetime
from api.payments.orange import OrangeConfig, OrangeMoney
from api.payments.sandbox import SandboxConfig, SandboxWallet
from api.payments.secret import Secret
from api.sms.base import SmsPermanentError, SmsTemporaryError

pytestmark = pytest.mark.anyio

AIRTEL = {
    "NGUVU_PAYMENT_PROVIDER": "airtel",
    "NGUVU_AIRTEL_CLIENT_ID": "id",
    "NGUVU_AIRTEL_CLIENT_SECRET": "s3cr3t-airtel",
    "NGUVU_AIRTEL_CALLBACK_SECRET": "s3cr3t-hash",
}
MPESA = {
    "NGUVU_PAYMENT_PROVIDER": "mpesa",
    "NGUVU_MPESA_CONSUMER_KEY": "ck",
    "NGUVU_MPESA_CONSUMER_SECRET": "s3cr3t-consumer",
    "NGUVU_MPESA_SHORTCODE": "174379",
    "NGUVU_MPESA_PASSKEY": "s3cr3t-passkey",
}
ORANGE = {
    "NGUVU_PAYMENT_PROVIDER": "orange",
    "NGUVU_ORANGE_URL": "https://om.example/apigw/soap",
    "NGUVU_ORANGE_PARTNER_ID": "P1",
    "NGUVU_ORANGE_MERCHANT_MSISDN": "243890000000",
}
SECRETS = ("s3cr3t-airtel", "s3cr3t-hash", "s3cr3t-consumer", "s3cr3t-passkey")


async def test_default_is_the_sandbox(http: httpx.AsyncClient) -> None:
    config = load_payment_config({})
    assert isinstance(config, SandboxConfig)
    assert config.callback_url == "http://127.0.0.1:8000/callbacks/payments/sandbox"
    provider = build_payment_provider({}, http)
    assert isinstance(provider, SandboxWallet) and isinstance(provider, PaymentProvider)


@pytest.mark.parametrize(
    ("env", "kind"),
    [(AIRTEL, AirtelMoney), (MPESA, MpesaDaraja), (ORANGE, OrangeMoney)],
)
async def test_factory_builds_each_provider(http: httpx.AsyncClient, env: dict[str, str], kind: type) -> None:
    provider = build_payment_provider(env, http)
    assert isinstance(provider, kind) and isinstance(provider, PaymentProvider)
    assert provider.name == env["NGUVU_PAYMENT_PROVIDER"]
    assert isinstance(build_payment_provider(load_payment_config(env), http), kind)


def test_callback_urls_follow_the_public_url() -> None:
    config = MpesaConfig.from_env({**MPESA, "NGUVU_PUBLIC_URL": "https://pay.nguvu.example/"})
    # Daraja refuses URLs containing "mpesa": STK results share the C2B confirmation route.
    assert config.callback_url == "https://pay.nguvu.example/callbacks/payments/c2b/confirmation"
    assert config.c2b_confirmation_url == config.callback_url
    assert config.c2b_validation_url == "https://pay.nguvu.example/callbacks/payments/c2b/validation"
    with pytest.raises(ProviderConfigError, match="NGUVU_MPESA_CALLBACK_URL"):
        MpesaConfig.from_env({**MPESA, "NGUVU_MPESA_CALLBACK_URL": "https://x.example/mpesa/cb"})
    override = OrangeConfig.from_env({**ORANGE, "NGUVU_ORANGE_CALLBACK_URL": "https://x.example/s3/cb"})
    assert override.callback_url == "https://x.example/s3/cb"


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        (AIRTEL, "NGUVU_AIRTEL_CLIENT_SECRET"),
        (AIRTEL, "NGUVU_AIRTEL_CLIENT_ID"),
        (MPESA, "NGUVU_MPESA_PASSKEY"),
        (MPESA, "NGUVU_MPESA_SHORTCODE"),
        (ORANGE, "NGUVU_ORANGE_URL"),
        (ORANGE, "NGUVU_ORANGE_PARTNER_ID"),
    ],
)
def test_missing_setting_is_named(env: dict[str, str], missing: str) -> None:
    with pytest.raises(ProviderConfigError, match=missing):
        load_payment_config({k: v for k, v in env.items() if k != missing})


@pytest.mark.parametrize(
    ("env", "bad"),
    [
        ({"NGUVU_PAYMENT_PROVIDER": "mtn"}, "NGUVU_PAYMENT_PROVIDER"),
        ({"NGUVU_SANDBOX_DELAY_S": "soon"}, "NGUVU_SANDBOX_DELAY_S"),
        ({"NGUVU_SANDBOX_DELAY_S": "-1"}, "NGUVU_SANDBOX_DELAY_S"),
        ({"NGUVU_SANDBOX_OUTCOME": "maybe"}, "NGUVU_SANDBOX_OUTCOME"),
        ({"NGUVU_PUBLIC_URL": "ftp://x"}, "NGUVU_PUBLIC_URL"),
        ({**AIRTEL, "NGUVU_AIRTEL_COUNTRY": "FR"}, "NGUVU_AIRTEL_COUNTRY"),
        ({**MPESA, "NGUVU_MPESA_SHORTCODE": "abc"}, "NGUVU_MPESA_SHORTCODE"),
        ({**MPESA, "NGUVU_MPESA_TRANSACTION_TYPE": "Gift"}, "NGUVU_MPESA_TRANSACTION_TYPE"),
        ({**ORANGE, "NGUVU_ORANGE_MERCHANT_MSISDN": "orange"}, "NGUVU_ORANGE_MERCHANT_MSISDN"),
    ],
)
def test_malformed_setting_is_named(env: dict[str, str], bad: str) -> None:
    with pytest.raises(ProviderConfigError, match=bad):
        load_payment_config(env)


def test_secrets_never_show() -> None:
    configs = [AirtelConfig.from_env(AIRTEL), MpesaConfig.from_env(MPESA)]
    for config in configs:
        for text in (repr(config), str(config), f"{config}", f"{config!r}"):
            assert not any(s in text for s in SECRETS)
    secret = Secret("pin-1234")
    assert "pin-1234" not in f"{secret} {secret!r} {secret:>20} {[secret]} {secret!s}"
    assert secret.reveal() == "pin-1234" and secret == Secret("pin-1234") and bool(secret)
    with pytest.raises(TypeError):
        pickle.dumps(secret)


async def test_secrets_stay_out_of_errors_and_logs(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = {**AIRTEL, "NGUVU_AIRTEL_BASE_URL": "http://127.0.0.1:9", "NGUVU_AIRTEL_TIMEOUT_S": "0.5"}
    env_m = {**MPESA, "NGUVU_MPESA_BASE_URL": "http://127.0.0.1:9", "NGUVU_MPESA_TIMEOUT_S": "0.5"}
    for provider in (build_payment_provider(env, http), build_payment_provider(env_m, http)):
        with pytest.raises(ProviderUnavailable) as info:
            await provider.query_status("r1", "ws_CO_1")
        assert not any(s in str(info.value) or s in repr(info.value) for s in SECRETS)
    assert not any(s in caplog.text for s in SECRETS)


def test_provider_amounts_and_numbers() -> None:
    assert parse_amount(750) == Decimal(750) and parse_amount("750.00") == Decimal("750.00")
    assert parse_amount("5000,5") == Decimal("5000.5")
    assert all(parse_amount(v) is None for v in (None, ""))
    for bad in (True, "abc", "NaN", "Infinity"):  # present but wrong: refused, not taken as absent
        with pytest.raises(ValueError):
            parse_amount(bad)
    assert e164_from_digits(254708374149) == "+254708374149"
    assert e164_from_digits("2547 ***** 126") is None  # Daraja masks numbers in newer versions
    assert e164_from_digits("e3b0c44298fc1c149afbf4c8996fb924") is None  # ... or hashes them
    assert e164_from_digits(None) is None and e164_from_digits("123") is None


def test_errors_share_the_service_root_and_map_to_http() -> None:
    assert ProviderUnavailable("down").http_status == 503  # the provider will redeliver
    assert PaymentCallbackError("forged", http_status=401).http_status == 401
    assert PaymentCallbackError("bad").http_status == 400
    assert PaymentRejected("no").http_status == 502 and SmsPermanentError("no").http_status == 502
    for exc in (ProviderUnavailable("x"), PaymentRejected("x"), SmsTemporaryError("x")):
        assert isinstance(exc, ServiceError)
    assert ProviderUnavailable("x", code="provider_timeout").code == "provider_timeout"


def test_token_lifetimes() -> None:
    assert lifetime("3599", 1.0) == 3599.0 and lifetime(180, 1.0) == 180.0
    assert all(lifetime(v, 7.0) == 7.0 for v in (None, "", "soon", "nan", "-5", 0, "1e12"))
