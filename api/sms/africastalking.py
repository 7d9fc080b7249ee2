"""Africa's Talking SMS API: send one message, classify the result, parse delivery reports and
incoming messages.

Send: ``POST {base}/version1/messaging`` (form: username, to, message, from?, bulkSMSMode=1, enqueue?)
with the ``apiKey`` header. The answer lists one status per recipient; we send to one recipient per
call, so that status decides: 100/101/102 sent or queued, the codes in ``_PERMANENT`` give up, every
other failure (balance, routing, gateway, 5xx, timeouts) is worth a later retry by the outbox worker.

Incoming messages (the "incoming messages" callback URL) are a form: ``from`` (the sender, E.164),
``to`` (our short code), ``text``, ``date``, ``id`` (the message id, the same on every redelivery),
``linkId`` (premium SMS only) and ``networkCode``. AT signs none of its callbacks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from api.payments.env import EnvReader
from api.payments.secret import Secret
from api.sms.base import (
    DeliveryReport,
    DeliveryState,
    InboundSms,
    SmsConfigError,
    SmsMessage,
    SmsPermanentError,
    SmsSent,
    SmsTemporaryError,
)

__all__ = ["LIVE_URL", "SANDBOX_URL", "AfricasTalkingConfig", "AfricasTalkingSms", "parse_inbound_form"]

LIVE_URL = "https://api.africastalking.com"
SANDBOX_URL = "https://api.sandbox.africastalking.com"

_SENT = {100: "sent", 101: "sent", 102: "queued"}
# 402 InvalidSenderId, 403 InvalidPhoneNumber, 404 UnsupportedNumberType, 406 UserInBlacklist,
# 409 DoNotDisturbRejection: the same message to the same number will never go through.
_PERMANENT = {402, 403, 404, 406, 409}
_FINAL_OK = {"success"}
_FINAL_FAILED = {"rejected", "failed"}
_IN_FLIGHT = {"sent", "submitted", "buffered"}
# An incoming message's id is stored to recognise redeliveries: printable ASCII, at most 80 characters
# (AT's ids look like "ATXid_..."); a sender longer than E.164's 16 characters is not a phone number.
_MAX_ID = 80
_MAX_SENDER = 32


@dataclass(frozen=True)
class AfricasTalkingConfig:
    username: str
    api_key: Secret
    base_url: str = LIVE_URL
    sender_id: str | None = None
    enqueue: bool = False
    timeout_s: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AfricasTalkingConfig:
        e = EnvReader(env, SmsConfigError)
        username = e.text("NGUVU_AT_USERNAME")
        default_url = SANDBOX_URL if username == "sandbox" else LIVE_URL
        return cls(
            username=username,
            api_key=e.secret("NGUVU_AT_API_KEY"),
            base_url=e.url("NGUVU_AT_BASE_URL", default_url),
            sender_id=e.raw("NGUVU_AT_SENDER_ID") or None,
            enqueue=e.flag("NGUVU_AT_ENQUEUE", False),
            timeout_s=e.number("NGUVU_AT_TIMEOUT_S", 10.0, minimum=0.1),
        )


class AfricasTalkingSms:
    name = "africastalking"

    def __init__(self, config: AfricasTalkingConfig, http: httpx.AsyncClient) -> None:
        self._config = config
        self._http = http

    def _form(self, msg: SmsMessage) -> dict[str, str]:
        form = {"username": self._config.username, "to": msg.to, "message": msg.text, "bulkSMSMode": "1"}
        if self._config.sender_id:
            form["from"] = self._config.sender_id
        if self._config.enqueue:
            form["enqueue"] = "1"
        return form

    async def send(self, msg: SmsMessage) -> SmsSent:
        try:
            response = await self._http.post(
                self._config.base_url + "/version1/messaging",
                data=self._form(msg),
                headers={"apiKey": self._config.api_key.reveal(), "Accept": "application/json"},
                timeout=httpx.Timeout(self._config.timeout_s),
            )
        except httpx.TimeoutException:
            raise SmsTemporaryError("africastalking: no answer in time", code="sms_timeout") from None
        except httpx.HTTPError as exc:
            raise SmsTemporaryError(
                f"africastalking: unreachable ({type(exc).__name__})", code="sms_unreachable"
            ) from None
        if response.status_code >= 500:
            raise SmsTemporaryError(f"africastalking: HTTP {response.status_code}", code="sms_http_5xx")
        if response.status_code in (401, 403):
            # A credentials problem is the operator's to fix; the message itself is fine, so keep it.
            raise SmsTemporaryError("africastalking: API key or username refused", code="sms_auth")
        if response.status_code >= 400:
            raise SmsPermanentError(
                f"africastalking: request refused (HTTP {response.status_code})", code="sms_refused"
            )
        return _classify(_recipient(response.content))

    def parse_delivery_report(self, form: Mapping[str, str]) -> DeliveryReport | None:
        message_id, word = form.get("id", "").strip(), form.get("status", "").strip()
        if not message_id or not word:
            return None
        lowered = word.lower()
        if lowered in _FINAL_OK:
            state = DeliveryState.DELIVERED
        elif lowered in _FINAL_FAILED:
            state = DeliveryState.FAILED
        elif lowered in _IN_FLIGHT:
            state = DeliveryState.PENDING
        else:
            return None
        retry = form.get("retryCount", "").strip()
        return DeliveryReport(
            provider_message_id=message_id,
            state=state,
            provider_status=word,
            phone=form.get("phoneNumber") or None,
            failure_reason=form.get("failureReason") or None,
            network_code=form.get("networkCode") or None,
            retry_count=int(retry) if retry.isdigit() else None,
        )

    def parse_inbound(self, form: Mapping[str, str]) -> InboundSms | None:
        return parse_inbound_form(form)


def parse_inbound_form(form: Mapping[str, str]) -> InboundSms | None:
    """An AT incoming-message form as an InboundSms; None when ``id``, ``from`` or ``text`` is missing
    or malformed. The sender is not checked here: the core decides whom it replies to."""
    message_id, sender, text = form.get("id", "").strip(), form.get("from", "").strip(), form.get("text")
    if not message_id or len(message_id) > _MAX_ID or not all("!" <= c <= "~" for c in message_id):
        return None
    if not sender or len(sender) > _MAX_SENDER or not sender.isprintable() or text is None:
        return None
    return InboundSms(
        provider_message_id=message_id,
        sender=sender,
        text=text,
        shortcode=form.get("to") or None,
        link_id=form.get("linkId") or None,
        network_code=form.get("networkCode") or None,
        date=form.get("date") or None,
    )


def _recipient(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
        recipients = doc["SMSMessageData"]["Recipients"]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise SmsTemporaryError(
            "africastalking: answer is not the documented JSON", code="sms_bad_response"
        ) from None
    if not isinstance(recipients, list) or not recipients or not isinstance(recipients[0], dict):
        # AT answers an empty list when it rejected the whole request (e.g. invalid number).
        message = (
            str(doc["SMSMessageData"].get("Message", "")) if isinstance(doc["SMSMessageData"], dict) else ""
        )
        raise SmsPermanentError(f"africastalking: no recipient accepted ({message})", code="sms_refused")
    first: dict[str, Any] = recipients[0]
    return first


def _classify(recipient: Mapping[str, Any]) -> SmsSent:
    try:
        code = int(recipient.get("statusCode", -1))
    except (TypeError, ValueError):
        code = -1
    status = str(recipient.get("status", ""))
    if code in _SENT:
        message_id = str(recipient.get("messageId") or "") or None
        return SmsSent(message_id, _SENT[code], str(recipient["cost"]) if recipient.get("cost") else None)
    if code in _PERMANENT:
        raise SmsPermanentError(f"africastalking: {code} {status}", code="sms_refused")
    raise SmsTemporaryError(f"africastalking: {code} {status}", code="sms_not_sent")
