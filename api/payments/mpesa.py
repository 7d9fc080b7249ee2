"""Safaricom M-Pesa Daraja: STK push with its callback and query, and C2B validation/confirmation.

Wire format: shared field notes 4.1 and docs/providers.md. Daraja signs nothing, so:
- an STK callback is confirmed by an STK Push Query on ``CheckoutRequestID`` before it becomes an event
  (amount, receipt and phone come from the callback's metadata, the status from the query);
- a C2B confirmation cannot be re-queried synchronously; it is trusted on the strength of the channel
  (an unguessable callback URL plus Safaricom's IP allowlist) and marked ``Verification.CHANNEL``.
Daraja echoes neither our reference nor the AccountReference in STK callbacks: events carry
``reference=None`` and ``provider_ref=CheckoutRequestID``, which the core stored from CollectionStarted.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx

from api.payments.base import (
    C2B_CONFIRMATION_PATH,
    C2B_VALIDATION_PATH,
    AccountLookup,
    CallbackReply,
    CollectionRequest,
    CollectionStarted,
    PaymentCallbackError,
    PaymentEvent,
    PaymentRejected,
    PaymentStatus,
    ProviderConfigError,
    ProviderUnavailable,
)
from api.payments.env import EnvReader
from api.payments.mpesa_wire import (
    ACK,
    accept_c2b,
    parse_c2b,
    parse_json,
    parse_stk_callback,
    reject_c2b,
    stk_query_status,
)
from api.payments.oauth import TokenCache, lifetime
from api.payments.secret import Secret
from api.payments.transport import HttpResult, send

__all__ = ["MpesaConfig", "MpesaDaraja", "stk_password"]

_EAT = timezone(timedelta(hours=3), "EAT")  # Daraja timestamps are Nairobi local time
_ACCOUNT_MAX = 12
_DESC_MAX = 13
_FORBIDDEN_IN_URLS = ("mpesa", "safaricom")  # Daraja rejects such callback URLs


@dataclass(frozen=True)
class MpesaConfig:
    base_url: str
    consumer_key: str
    consumer_secret: Secret
    shortcode: str
    passkey: Secret
    callback_url: str
    c2b_validation_url: str
    c2b_confirmation_url: str
    transaction_type: str = "CustomerPayBillOnline"
    currency: str = "KES"
    timeout_s: float = 15.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MpesaConfig:
        e = EnvReader(env, ProviderConfigError)
        shortcode = e.text("NGUVU_MPESA_SHORTCODE")
        if not shortcode.isdigit():
            raise ProviderConfigError("NGUVU_MPESA_SHORTCODE must be digits")
        ttype = e.text("NGUVU_MPESA_TRANSACTION_TYPE", "CustomerPayBillOnline")
        if ttype not in ("CustomerPayBillOnline", "CustomerBuyGoodsOnline"):
            raise ProviderConfigError(
                "NGUVU_MPESA_TRANSACTION_TYPE must be CustomerPayBillOnline or CustomerBuyGoodsOnline"
            )
        urls = {
            "NGUVU_MPESA_CALLBACK_URL": e.callback_url("NGUVU_MPESA_CALLBACK_URL", C2B_CONFIRMATION_PATH),
            "NGUVU_MPESA_C2B_VALIDATION_URL": e.callback_url(
                "NGUVU_MPESA_C2B_VALIDATION_URL", C2B_VALIDATION_PATH
            ),
            "NGUVU_MPESA_C2B_CONFIRMATION_URL": e.callback_url(
                "NGUVU_MPESA_C2B_CONFIRMATION_URL", C2B_CONFIRMATION_PATH
            ),
        }
        for name, url in urls.items():
            if any(word in url.lower() for word in _FORBIDDEN_IN_URLS):
                raise ProviderConfigError(
                    f"{name}: Daraja refuses callback URLs containing 'mpesa' or 'safaricom'"
                )
        return cls(
            base_url=e.url("NGUVU_MPESA_BASE_URL", "https://sandbox.safaricom.co.ke"),
            consumer_key=e.text("NGUVU_MPESA_CONSUMER_KEY"),
            consumer_secret=e.secret("NGUVU_MPESA_CONSUMER_SECRET"),
            shortcode=shortcode,
            passkey=e.secret("NGUVU_MPESA_PASSKEY"),
            callback_url=urls["NGUVU_MPESA_CALLBACK_URL"],
            c2b_validation_url=urls["NGUVU_MPESA_C2B_VALIDATION_URL"],
            c2b_confirmation_url=urls["NGUVU_MPESA_C2B_CONFIRMATION_URL"],
            transaction_type=ttype,
            currency=e.text("NGUVU_MPESA_CURRENCY", "KES").upper(),
            timeout_s=e.number("NGUVU_MPESA_TIMEOUT_S", 15.0, minimum=0.1),
        )


def stk_password(shortcode: str, passkey: Secret, timestamp: str) -> str:
    """Daraja's ``Password``: base64(shortcode + passkey + timestamp)."""
    return base64.b64encode((shortcode + passkey.reveal() + timestamp).encode()).decode()


def _now_eat() -> datetime:
    return datetime.now(UTC).astimezone(_EAT)


class MpesaDaraja:
    name = "mpesa"

    def __init__(
        self, config: MpesaConfig, http: httpx.AsyncClient, *, clock: Callable[[], datetime] = _now_eat
    ) -> None:
        self._config = config
        self._http = http
        self._clock = clock
        self._tokens = TokenCache(self._fetch_token)

    async def _fetch_token(self) -> tuple[Secret, float]:
        result = await send(
            self._http,
            "GET",
            self._config.base_url + "/oauth/v1/generate?grant_type=client_credentials",
            timeout=self._config.timeout_s,
            provider=self.name,
            auth=(self._config.consumer_key, self._config.consumer_secret.reveal()),
        )
        doc = result.json()
        if result.status_code != 200 or not isinstance(doc, dict) or not doc.get("access_token"):
            raise ProviderUnavailable(
                f"mpesa: token request refused (HTTP {result.status_code})", code="provider_auth"
            )
        return Secret(str(doc["access_token"])), lifetime(doc.get("expires_in"), 3599.0)

    async def _post(self, path: str, body: Mapping[str, Any]) -> HttpResult:
        token = await self._tokens.get()
        result = await send(
            self._http,
            "POST",
            self._config.base_url + path,
            timeout=self._config.timeout_s,
            provider=self.name,
            headers={"Authorization": "Bearer " + token.reveal()},
            json_body=body,
            pass_500=True,
        )
        if result.status_code == 401:
            self._tokens.invalidate()
            raise ProviderUnavailable("mpesa: access token refused", code="provider_auth")
        return result

    def _password(self) -> tuple[str, str]:
        timestamp = self._clock().astimezone(_EAT).strftime("%Y%m%d%H%M%S")
        return stk_password(self._config.shortcode, self._config.passkey, timestamp), timestamp

    def _check(self, req: CollectionRequest) -> int:
        if req.currency.upper() != self._config.currency:
            raise PaymentRejected(f"M-Pesa is configured for {self._config.currency}", code="currency")
        if req.amount != req.amount.to_integral_value():
            raise PaymentRejected("M-Pesa amounts are whole numbers", code="amount_precision")
        if not req.account or len(req.account) > _ACCOUNT_MAX:
            raise PaymentRejected(f"M-Pesa AccountReference is 1-{_ACCOUNT_MAX} characters", code="account")
        return int(req.amount)

    async def start_collection(self, req: CollectionRequest) -> CollectionStarted:
        amount = self._check(req)
        password, timestamp = self._password()
        phone = req.msisdn[1:]
        body = {
            "BusinessShortCode": self._config.shortcode,
            "Password": password,
            "Timestamp": timestamp,
            "TransactionType": self._config.transaction_type,
            "Amount": amount,
            "PartyA": phone,
            "PartyB": self._config.shortcode,
            "PhoneNumber": phone,
            "CallBackURL": self._config.callback_url,
            "AccountReference": req.account,
            "TransactionDesc": (req.description or "Electricity")[:_DESC_MAX],
        }
        result = await self._post("/mpesa/stkpush/v1/processrequest", body)
        doc = parse_json(result.body)
        if result.status_code == 200 and str(doc.get("ResponseCode")) == "0":
            checkout_id = doc.get("CheckoutRequestID")
            if not checkout_id:
                raise ProviderUnavailable("mpesa: STK push accepted without a CheckoutRequestID")
            return CollectionStarted(
                str(checkout_id), PaymentStatus.PENDING, str(doc.get("CustomerMessage", ""))
            )
        message = str(doc.get("errorMessage") or doc.get("ResponseDescription") or "")
        if result.status_code >= 500:
            # e.g. 500.001.1001 "unable to lock subscriber": another prompt is open on the phone.
            raise ProviderUnavailable(f"mpesa: STK push not accepted now: {message}", code="provider_busy")
        raise PaymentRejected(f"mpesa refused the STK push: {message}", code="provider_refused")

    async def query_status(self, reference: str, provider_ref: str | None) -> PaymentEvent:
        if provider_ref is None:  # no CheckoutRequestID: the push never reached Daraja
            return PaymentEvent(self.name, None, reference, PaymentStatus.UNKNOWN, None, None, None)
        password, timestamp = self._password()
        body = {
            "BusinessShortCode": self._config.shortcode,
            "Password": password,
            "Timestamp": timestamp,
            "CheckoutRequestID": provider_ref,
        }
        result = await self._post("/mpesa/stkpushquery/v1/query", body)
        status, message = stk_query_status(result.status_code, parse_json(result.body))
        return PaymentEvent(
            self.name, None, reference, status, None, None, None, provider_ref=provider_ref, message=message
        )

    async def handle_callback(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[list[PaymentEvent], CallbackReply]:
        doc = parse_json(body, callback=True)
        if "TransID" in doc:  # a C2B confirmation (customer paid the paybill from the M-Pesa menu)
            return [parse_c2b(doc, self.name, self._config.currency)], ACK
        claimed = parse_stk_callback(doc, self.name, self._config.currency)
        confirmed = await self.query_status("", claimed.provider_ref)
        if confirmed.status is PaymentStatus.SUCCEEDED and claimed.status is PaymentStatus.SUCCEEDED:
            return [claimed], ACK
        # The query disagrees with or has not yet caught up with the callback: report what Safaricom
        # says over our own connection; the receipt and amount of an unconfirmed success are dropped.
        return [
            PaymentEvent(
                self.name,
                None,
                None,
                confirmed.status,
                None,
                None,
                claimed.msisdn,
                provider_ref=claimed.provider_ref,
                message=confirmed.message,
            )
        ], ACK

    async def validate_c2b(
        self, headers: Mapping[str, str], body: bytes, lookup: AccountLookup
    ) -> CallbackReply:
        try:
            event = parse_c2b(parse_json(body, callback=True), self.name, self._config.currency)
        except PaymentCallbackError as exc:
            if exc.code != "invalid_amount":
                raise
            return reject_c2b("C2B00013")  # an amount we would refuse at confirmation: stop it now
        if event.amount is None or event.amount <= Decimal(0):
            return reject_c2b("C2B00013")
        if not event.account or not await lookup(event.account):
            return reject_c2b("C2B00012")
        return accept_c2b()

    async def register_c2b_urls(self, response_type: str = "Completed") -> None:
        """Register our C2B validation/confirmation URLs for the shortcode (an operator's one-off step)."""
        if response_type not in ("Completed", "Cancelled"):
            raise ValueError("response_type is Completed or Cancelled")
        body = {
            "ShortCode": self._config.shortcode,
            "ResponseType": response_type,
            "ConfirmationURL": self._config.c2b_confirmation_url,
            "ValidationURL": self._config.c2b_validation_url,
        }
        result = await self._post("/mpesa/c2b/v1/registerurl", body)
        doc = parse_json(result.body)
        accepted = str(doc.get("ResponseCode", "")) in ("0", "00000000") or str(
            doc.get("ResponseDescription", "")
        ).lower().startswith("success")
        if result.status_code != 200 or not accepted:
            message = str(doc.get("errorMessage") or doc.get("ResponseDescription") or "")
            raise PaymentRejected(
                f"mpesa refused the C2B URL registration: {message}", code="provider_refused"
            )

    async def aclose(self) -> None:
        return None
