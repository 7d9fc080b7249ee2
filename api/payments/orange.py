"""Orange Money RDC (SOAP): ``doS2M`` push with PIN prompt, ``doCallback``, ``doCheckTrans``.

Wire format: shared field notes 4.5 and docs/providers.md. Orange signs nothing, so a ``doCallback`` is
only a hint: after checking it names our partner id and merchant wallet, the adapter asks
``doCheckTrans`` and reports what that answer says. Element names are matched without their namespace
(Orange's WSDL namespace is a setting, ``NGUVU_ORANGE_NAMESPACE``, used for what we send).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from api.payments.base import (
    PAYMENT_CALLBACK_PATH,
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
from api.payments.fields import e164_from_digits, parse_amount
from api.payments.soap import SoapError, envelope, parse_fields
from api.payments.transport import send

__all__ = ["OrangeConfig", "OrangeMoney", "check_status"]

_OK_CODES = ("0", "200")
_PENDING_WORDS = ("pending", "en cours", "initiated", "processing", "ongoing")
_UNKNOWN_WORDS = ("introuvable", "not found", "inconnu", "unknown")
_FAILED_WORDS = ("fail", "echec", "échec", "cancel", "annul", "expired", "expir", "refus", "insufficient")


@dataclass(frozen=True)
class OrangeConfig:
    url: str  # the SOAP endpoint Orange gives the partner
    partner_id: str  # PartnId
    merchant_msisdn: str  # mermsisdn, the merchant wallet, digits with country code
    callback_url: str
    namespace: str = "http://services.ws1.com/"
    prompt_text: str = "Paiement electricite"  # message_s2m, shown with the PIN prompt (GSM-7 safe)
    timeout_s: float = 20.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OrangeConfig:
        e = EnvReader(env, ProviderConfigError)
        merchant = e.text("NGUVU_ORANGE_MERCHANT_MSISDN").lstrip("+")
        if not merchant.isdigit():
            raise ProviderConfigError("NGUVU_ORANGE_MERCHANT_MSISDN must be a phone number (digits)")
        return cls(
            url=e.url("NGUVU_ORANGE_URL"),
            partner_id=e.text("NGUVU_ORANGE_PARTNER_ID"),
            merchant_msisdn=merchant,
            callback_url=e.callback_url(
                "NGUVU_ORANGE_CALLBACK_URL", PAYMENT_CALLBACK_PATH.format(provider="orange")
            ),
            namespace=e.text("NGUVU_ORANGE_NAMESPACE", "http://services.ws1.com/"),
            prompt_text=e.text("NGUVU_ORANGE_PROMPT_TEXT", "Paiement electricite"),
            timeout_s=e.number("NGUVU_ORANGE_TIMEOUT_S", 20.0, minimum=0.1),
        )


def check_status(fields: Mapping[str, str]) -> PaymentStatus:
    """Status of a ``doCheckTrans`` answer: an explicit ``status`` word when present, else resultCode.

    Orange's answers vary between deployments (``resultCode`` 0 or 200 for success, French or English
    descriptions); this is the one place that interprets them.
    """
    word = (fields.get("status") or fields.get("transStatus") or "").lower()
    desc = (fields.get("resultDesc") or "").lower()
    for text in (word, desc):
        if any(w in text for w in _UNKNOWN_WORDS):
            return PaymentStatus.UNKNOWN
        if any(w in text for w in _PENDING_WORDS):
            return PaymentStatus.PENDING
        if any(w in text for w in _FAILED_WORDS):
            return PaymentStatus.FAILED
    if word in ("success", "successful", "succes", "succès"):
        return PaymentStatus.SUCCEEDED
    if fields.get("resultCode", "") in _OK_CODES:
        return PaymentStatus.SUCCEEDED
    return PaymentStatus.FAILED if fields.get("resultCode") else PaymentStatus.UNKNOWN


class OrangeMoney:
    name = "orange"

    def __init__(self, config: OrangeConfig, http: httpx.AsyncClient) -> None:
        self._config = config
        self._http = http

    async def _call(self, operation: str, params: Mapping[str, str]) -> dict[str, str]:
        body = envelope(self._config.namespace, operation, params)
        result = await send(
            self._http,
            "POST",
            self._config.url,
            timeout=self._config.timeout_s,
            provider=self.name,
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{operation}"'},
            content=body,
        )
        try:
            return parse_fields(result.body, operation + "Response")
        except SoapError as exc:
            raise ProviderUnavailable(
                f"orange: {operation} answer unusable ({exc})", code="provider_bad_response"
            ) from None

    async def start_collection(self, req: CollectionRequest) -> CollectionStarted:
        if req.currency.upper() not in ("CDF", "USD"):
            raise PaymentRejected("Orange Money RDC takes CDF or USD", code="currency")
        fields = await self._call(
            "doS2M",
            {
                "subsmsisdn": req.msisdn.lstrip("+"),
                "PartnId": self._config.partner_id,
                "mermsisdn": self._config.merchant_msisdn,
                "transid": req.reference,
                "currency": req.currency.upper(),
                "amount": format(req.amount, "f"),
                "callbackurl": self._config.callback_url,
                "message_s2m": (req.description or self._config.prompt_text)[:100],
            },
        )
        code = fields.get("resultCode", "")
        if code in _OK_CODES:
            return CollectionStarted(
                fields.get("systemId") or None, PaymentStatus.PENDING, fields.get("resultDesc", "")
            )
        raise PaymentRejected(
            f"orange refused doS2M: {code} {fields.get('resultDesc', '')}", code="provider_refused"
        )

    async def query_status(self, reference: str, provider_ref: str | None) -> PaymentEvent:
        fields = await self._call(
            "doCheckTrans",
            {
                "PartnId": self._config.partner_id,
                "mermsisdn": self._config.merchant_msisdn,
                "transid": reference,
            },
        )
        status = check_status(fields)
        paid = status is PaymentStatus.SUCCEEDED
        try:
            amount = parse_amount(fields.get("amount")) if paid else None
        except ValueError as exc:  # a garbled answer proves nothing: ask again later
            raise ProviderUnavailable(f"orange: doCheckTrans amount unusable ({exc})") from None
        return PaymentEvent(
            self.name,
            # Orange's own id when it gives one; otherwise our transid, unique per collection.
            (fields.get("systemId") or fields.get("txnid") or reference) if paid else None,
            reference,
            status,
            amount,
            (fields.get("currency") or None) if amount is not None else None,
            e164_from_digits(fields.get("subsmsisdn")),
            provider_ref=fields.get("systemId") or provider_ref,
            message=fields.get("resultDesc", ""),
            verification=Verification.QUERY,
        )

    async def handle_callback(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[list[PaymentEvent], CallbackReply]:
        try:
            fields = parse_fields(body, "doCallback")
        except SoapError as exc:
            raise PaymentCallbackError(
                f"orange callback is not a doCallback ({exc})", code="malformed_callback"
            ) from None
        reference = fields.get("transid", "")
        if not reference:
            raise PaymentCallbackError("orange callback lacks transid", code="malformed_callback")
        if (
            fields.get("PartnId") != self._config.partner_id
            or fields.get("mermsisdn", "").lstrip("+") != self._config.merchant_msisdn
        ):
            raise PaymentCallbackError(
                "orange callback is for another partner or wallet", code="bad_signature", http_status=401
            )
        event = await self.query_status(reference, None)
        reply = envelope(
            self._config.namespace, "doCallbackResponse", {"resultCode": "0", "resultDesc": "OK"}
        )
        return [event], CallbackReply(200, reply, "text/xml; charset=utf-8")

    async def aclose(self) -> None:
        return None
