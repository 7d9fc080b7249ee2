"""Airtel Money Open API: collection by USSD push, callback (optional HMAC ``hash``), status query.

Wire format (docs/providers.md, shared field notes 4.4): OAuth client credentials at
``POST /auth/oauth2/token``; ``POST /merchant/v1/payments/`` with ``X-Country``/``X-Currency`` and
``{reference, subscriber{country,currency,msisdn}, transaction{amount,country,currency,id}}``;
``GET /standard/v1/payments/{id}``; callbacks
``{"transaction":{"id","message","status_code":"TS"|"TF","airtel_money_id"},"hash"}``.

Airtel states neither amount nor payer in its callback or status, so events carry ``amount=None``: the
core relies on the amount it requested. When ``NGUVU_AIRTEL_CALLBACK_SECRET`` is set, every callback
must carry a valid hash (see :func:`callback_hash`); otherwise the callback is confirmed by a status query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from api.payments.base import (
    CallbackReply,
    CollectionRequest,
    CollectionStarted,
    PaymentCallbackError,
    PaymentEvent,
    PaymentRejected,
    PaymentStatus,
    ProviderConfigError,
    ProviderUnavailable,
    Verification,
)
from api.payments.env import EnvReader
from api.payments.oauth import TokenCache, lifetime
from api.payments.secret import Secret
from api.payments.transport import HttpResult, send

__all__ = ["AirtelConfig", "AirtelMoney", "callback_hash", "wire_amount"]

# Country calling codes of Airtel Money markets: the API wants the msisdn without it.
DIAL_CODES = {
    "CD": "243",
    "KE": "254",
    "UG": "256",
    "TZ": "255",
    "RW": "250",
    "ZM": "260",
    "MW": "265",
    "NG": "234",
    "NE": "227",
    "TD": "235",
    "CG": "242",
    "GA": "241",
    "MG": "261",
    "SC": "248",
}
_STATUS = {
    "TS": PaymentStatus.SUCCEEDED,
    "TF": PaymentStatus.FAILED,
    "TE": PaymentStatus.FAILED,
    "TIP": PaymentStatus.PENDING,
    "TA": PaymentStatus.PENDING,
}
_OK = "ESB000010"
_DUPLICATE_ID = "ESB000041"  # "external transaction id already exists": the prompt was already sent
_NOT_FOUND = "ESB000045"
_RETRYABLE = {"ESB000001", "ESB000014"}  # "something went wrong": a platform hiccup


@dataclass(frozen=True)
class AirtelConfig:
    base_url: str
    client_id: str
    client_secret: Secret
    country: str
    currency: str
    callback_secret: Secret | None
    timeout_s: float = 15.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AirtelConfig:
        e = EnvReader(env, ProviderConfigError)
        country = e.text("NGUVU_AIRTEL_COUNTRY", "CD").upper()
        if country not in DIAL_CODES:
            raise ProviderConfigError(f"NGUVU_AIRTEL_COUNTRY must be one of {', '.join(sorted(DIAL_CODES))}")
        return cls(
            base_url=e.url("NGUVU_AIRTEL_BASE_URL", "https://openapiuat.airtel.africa"),
            client_id=e.text("NGUVU_AIRTEL_CLIENT_ID"),
            client_secret=e.secret("NGUVU_AIRTEL_CLIENT_SECRET"),
            country=country,
            currency=e.text("NGUVU_AIRTEL_CURRENCY", "CDF").upper(),
            callback_secret=e.optional_secret("NGUVU_AIRTEL_CALLBACK_SECRET"),
            timeout_s=e.number("NGUVU_AIRTEL_TIMEOUT_S", 15.0, minimum=0.1),
        )


def callback_hash(secret: Secret, transaction: Mapping[str, Any]) -> str:
    """base64(HMAC-SHA256(secret, compact JSON of the ``transaction`` object, keys in received order)).

    Airtel's exact canonical string is not public in the sources we read (field notes 4.4): confirm it
    with Airtel when enabling "callback with authentication"; this function is the one place to change.
    """
    message = json.dumps(transaction, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.b64encode(hmac.new(secret.reveal().encode(), message, hashlib.sha256).digest()).decode()


def wire_amount(amount: Decimal) -> int | float:
    """Airtel takes a JSON number; integral amounts go as integers, others with at most 2 decimals."""
    if amount == amount.to_integral_value():
        return int(amount)
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise PaymentRejected("Airtel amounts have at most 2 decimals", code="amount_precision")
    return float(amount)


class AirtelMoney:
    name = "airtel"

    def __init__(self, config: AirtelConfig, http: httpx.AsyncClient) -> None:
        self._config = config
        self._http = http
        self._tokens = TokenCache(self._fetch_token)

    async def _fetch_token(self) -> tuple[Secret, float]:
        result = await self._send(
            "POST",
            "/auth/oauth2/token",
            json_body={
                "client_id": self._config.client_id,
                "client_secret": self._config.client_secret.reveal(),
                "grant_type": "client_credentials",
            },
            auth=False,
        )
        doc = result.json()
        if result.status_code != 200 or not isinstance(doc, dict) or not doc.get("access_token"):
            raise ProviderUnavailable(
                f"airtel: token request refused (HTTP {result.status_code})", code="provider_auth"
            )
        return Secret(str(doc["access_token"])), lifetime(doc.get("expires_in"), 180.0)

    async def _send(self, method: str, path: str, *, json_body: Any = None, auth: bool = True) -> HttpResult:
        headers = {"Accept": "*/*", "X-Country": self._config.country, "X-Currency": self._config.currency}
        if auth:
            headers["Authorization"] = "Bearer " + (await self._tokens.get()).reveal()
        result = await send(
            self._http,
            method,
            self._config.base_url + path,
            timeout=self._config.timeout_s,
            provider=self.name,
            headers=headers,
            json_body=json_body,
        )
        if auth and result.status_code == 401:
            self._tokens.invalidate()
            raise ProviderUnavailable("airtel: access token refused", code="provider_auth")
        return result

    def _local_msisdn(self, msisdn: str) -> str:
        dial = DIAL_CODES[self._config.country]
        if not msisdn.startswith("+" + dial):
            raise PaymentRejected(f"payer is not a +{dial} number", code="msisdn_country")
        return msisdn[1 + len(dial) :]

    async def start_collection(self, req: CollectionRequest) -> CollectionStarted:
        if req.currency.upper() != self._config.currency:
            raise PaymentRejected(f"Airtel is configured for {self._config.currency}", code="currency")
        body = {
            "reference": req.account[:64],
            "subscriber": {
                "country": self._config.country,
                "currency": self._config.currency,
                "msisdn": self._local_msisdn(req.msisdn),
            },
            "transaction": {
                "amount": wire_amount(req.amount),
                "country": self._config.country,
                "currency": self._config.currency,
                "id": req.reference,
            },
        }
        result = await self._send("POST", "/merchant/v1/payments/", json_body=body)
        doc = result.json()
        code, message = _result_code(doc)
        if code in (_OK, _DUPLICATE_ID):
            return CollectionStarted(req.reference, PaymentStatus.PENDING, message)
        if code in _RETRYABLE or code is None:
            raise ProviderUnavailable(f"airtel: collection not accepted ({code}, HTTP {result.status_code})")
        raise PaymentRejected(f"airtel refused the collection: {code} {message}", code="provider_refused")

    async def query_status(self, reference: str, provider_ref: str | None) -> PaymentEvent:
        result = await self._send("GET", f"/standard/v1/payments/{quote(reference, safe='')}")
        doc = result.json()
        code, message = _result_code(doc)
        if code == _NOT_FOUND:
            return PaymentEvent(
                self.name, None, reference, PaymentStatus.UNKNOWN, None, None, None, message=message
            )
        data = doc.get("data") if isinstance(doc, dict) else None
        txn = data.get("transaction") if isinstance(data, dict) else None
        if not isinstance(txn, dict) or "status" not in txn:
            raise ProviderUnavailable(f"airtel: status answer without a transaction ({code})")
        status = _STATUS.get(str(txn["status"]).upper(), PaymentStatus.UNKNOWN)
        return self._event(
            reference, status, txn.get("airtel_money_id"), str(txn.get("message", "")), Verification.QUERY
        )

    def _event(
        self, reference: str, status: PaymentStatus, money_id: object, message: str, how: Verification
    ) -> PaymentEvent:
        txn_id = str(money_id) if money_id and status is PaymentStatus.SUCCEEDED else None
        return PaymentEvent(
            self.name,
            txn_id,
            reference,
            status,
            None,
            None,
            None,
            provider_ref=reference,
            message=message,
            verification=how,
        )

    async def handle_callback(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[list[PaymentEvent], CallbackReply]:
        txn, given_hash = _parse_callback(body)
        reference = str(txn["id"])
        if self._config.callback_secret is not None:
            expected = callback_hash(self._config.callback_secret, txn)
            if not isinstance(given_hash, str) or not hmac.compare_digest(given_hash, expected):
                raise PaymentCallbackError(
                    "airtel callback hash is missing or wrong", code="bad_signature", http_status=401
                )
            status = _STATUS.get(str(txn["status_code"]).upper(), PaymentStatus.UNKNOWN)
            event = self._event(
                reference,
                status,
                txn.get("airtel_money_id"),
                str(txn.get("message", "")),
                Verification.SIGNATURE,
            )
        else:
            event = await self.query_status(reference, None)
        return [event], CallbackReply(200, b'{"status":"ok"}', "application/json")

    async def aclose(self) -> None:
        return None


def _result_code(doc: Any) -> tuple[str | None, str]:
    status = doc.get("status") if isinstance(doc, dict) else None
    if not isinstance(status, dict):
        return None, ""
    code = status.get("result_code") or status.get("response_code")
    return (str(code) if code else None), str(status.get("message", ""))


def _parse_callback(body: bytes) -> tuple[dict[str, Any], object]:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise PaymentCallbackError("airtel callback is not JSON", code="malformed_callback") from None
    txn = doc.get("transaction") if isinstance(doc, dict) else None
    if not isinstance(txn, dict) or not txn.get("id") or not txn.get("status_code"):
        raise PaymentCallbackError(
            "airtel callback lacks transaction.id/status_code", code="malformed_callback"
        )
    return txn, doc.get("hash")
