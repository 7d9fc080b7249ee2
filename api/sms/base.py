"""The SMS provider interface shared by the vending core (outbox worker) and the SMS adapters.

The core owns the outbox: it stores each message, calls :meth:`SmsProvider.send`, and retries with
backoff on :class:`SmsTemporaryError`; :class:`SmsPermanentError` means "give up on this message".
Delivery reports arrive on ``SMS_DELIVERY_PATH`` and are parsed by
:meth:`SmsProvider.parse_delivery_report`; the core matches ``provider_message_id`` to the outbox row.
Messages subscribers send to our short code arrive on ``SMS_INBOUND_PATH`` and are parsed by
:meth:`SmsProvider.parse_inbound`; the core answers the "resend my last token" keyword.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from api.errors import ServiceError
from api.payments.fields import is_e164

__all__ = [
    "SMS_DELIVERY_PATH",
    "SMS_INBOUND_PATH",
    "SMS_PROVIDER_NAMES",
    "DeliveryReport",
    "DeliveryState",
    "InboundSms",
    "SmsConfigError",
    "SmsError",
    "SmsMessage",
    "SmsPermanentError",
    "SmsProvider",
    "SmsSent",
    "SmsTemporaryError",
]

#: Names accepted by ``NGUVU_SMS_PROVIDER``.
SMS_PROVIDER_NAMES = ("console", "africastalking")

#: Where the core mounts the delivery-report endpoint (``{provider}`` is the provider's ``name``).
SMS_DELIVERY_PATH = "/callbacks/sms/{provider}/delivery"

#: Where the core mounts the incoming-message endpoint (``{provider}`` is the provider's ``name``).
SMS_INBOUND_PATH = "/callbacks/sms/{provider}/inbound"


@dataclass(frozen=True)
class SmsMessage:
    to: str  # E.164 with "+"
    text: str
    reference: str  # the outbox row id (never sent to the provider's recipient)

    def __post_init__(self) -> None:
        if not is_e164(self.to):
            raise ValueError("SmsMessage.to must be E.164 with a leading '+'")
        if not self.text:
            raise ValueError("SmsMessage.text must not be empty")


@dataclass(frozen=True)
class SmsSent:
    provider_message_id: str | None  # None for providers without ids (console)
    status: str  # "sent" (handed to the network) | "queued" (provider will send later)
    cost: str | None = None  # the provider's cost text, e.g. "KES 0.8000", for the record


class DeliveryState(StrEnum):
    PENDING = "pending"  # still travelling (Sent, Submitted, Buffered)
    DELIVERED = "delivered"  # final: on the handset
    FAILED = "failed"  # final: rejected or failed (see failure_reason)


@dataclass(frozen=True)
class DeliveryReport:
    provider_message_id: str
    state: DeliveryState
    provider_status: str  # the provider's word, e.g. "Success", "Rejected"
    phone: str | None = None
    failure_reason: str | None = None
    network_code: str | None = None
    retry_count: int | None = None


@dataclass(frozen=True)
class InboundSms:
    """A message a phone sent to our short code, as the provider reported it (unverified: a hint)."""

    provider_message_id: str  # the provider's id of this message: redeliveries carry the same one
    sender: str  # as the provider gave it; the core replies only to E.164 numbers
    text: str
    shortcode: str | None = None  # our number or short code it was sent to
    link_id: str | None = None  # premium SMS only
    network_code: str | None = None
    date: str | None = None  # the provider's timestamp text, kept as given


class SmsError(ServiceError):
    """Root of operational SMS errors (a ServiceError: stable ``code``); the outbox worker handles them."""

    code = "sms_error"
    http_status = 502


class SmsTemporaryError(SmsError):
    """Sending failed for a reason that may go away (network, 5xx, provider balance): retry later."""

    code = "sms_temporary"


class SmsPermanentError(SmsError):
    """The provider will never deliver this message (invalid number, blacklisted ...): do not retry."""

    code = "sms_permanent"


class SmsConfigError(ValueError):
    """SMS settings are missing or invalid; raised at start-up, the message names the variable."""


@runtime_checkable
class SmsProvider(Protocol):
    name: str

    async def send(self, msg: SmsMessage) -> SmsSent:
        """Send one message. Raises SmsTemporaryError (retry) or SmsPermanentError (give up)."""
        ...

    def parse_delivery_report(self, form: Mapping[str, str]) -> DeliveryReport | None:
        """Turn a delivery-report form into a report; None when the form is not a report we know."""
        ...

    def parse_inbound(self, form: Mapping[str, str]) -> InboundSms | None:
        """Turn an incoming-message form into a message; None when the form is not one."""
        ...
