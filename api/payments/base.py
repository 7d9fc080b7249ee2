"""The mobile-money adapter interface shared by the vending core and the provider adapters.

Every provider (sandbox wallet, Airtel Money, M-Pesa Daraja, Orange Money RDC) implements
:class:`PaymentProvider`. The core never sees a provider's wire format: it starts collections with a
:class:`CollectionRequest`, hands raw callback requests to :meth:`PaymentProvider.handle_callback`, and
acts only on the :class:`PaymentEvent` values that come back (deduplicating on ``provider_txn_id``).

Callbacks are hints. An adapter verifies each one (HMAC where the provider signs, otherwise by
re-querying the provider) before it turns it into an event; forged or malformed input raises
:class:`PaymentCallbackError`, which the core's exception table maps to 400/401 with ``code``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple, Protocol, runtime_checkable

from api.errors import ServiceError
from api.payments.fields import check_provider_amount, is_e164

__all__ = [
    "C2B_CONFIRMATION_PATH",
    "C2B_VALIDATION_PATH",
    "PAYMENT_CALLBACK_PATH",
    "PROVIDER_NAMES",
    "AccountLookup",
    "C2BValidator",
    "CallbackReply",
    "CollectionRequest",
    "CollectionStarted",
    "DeliverCallback",
    "PaymentCallbackError",
    "PaymentError",
    "PaymentEvent",
    "PaymentProvider",
    "PaymentRejected",
    "PaymentStatus",
    "ProviderConfigError",
    "ProviderUnavailable",
    "Verification",
    "check_event",
]

#: Names accepted by ``NGUVU_PAYMENT_PROVIDER``.
PROVIDER_NAMES = ("sandbox", "airtel", "mpesa", "orange")

#: Where the core mounts each provider's callback (``{provider}`` is the provider's ``name``). The
#: adapters build their public callback URL as ``NGUVU_PUBLIC_URL`` + this path unless a provider-specific
#: ``NGUVU_<PROVIDER>_CALLBACK_URL`` overrides it.
PAYMENT_CALLBACK_PATH = "/callbacks/payments/{provider}"
#: M-Pesa's two routes. Daraja refuses callback URLs that contain "mpesa" or "safaricom", so M-Pesa does
#: not use PAYMENT_CALLBACK_PATH: its STK results AND its C2B confirmations both go to
#: C2B_CONFIRMATION_PATH (one handler, ``handle_callback``, tells them apart); validations go to
#: C2B_VALIDATION_PATH (``validate_c2b``).
C2B_VALIDATION_PATH = "/callbacks/payments/c2b/validation"
C2B_CONFIRMATION_PATH = "/callbacks/payments/c2b/confirmation"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        return self in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED)


class Verification(StrEnum):
    """How an adapter convinced itself that a :class:`PaymentEvent` is true."""

    SIGNATURE = "signature"  # the callback carried a valid HMAC made with our shared secret
    QUERY = "query"  # the status was read back from the provider's API over our own connection
    CHANNEL = "channel"  # only the callback channel vouches for it (secret URL / IP allowlist): M-Pesa C2B


@dataclass(frozen=True)
class CollectionRequest:
    """One mobile-money collection: a PIN prompt ("push", STK, USSD push) sent to the payer's phone."""

    reference: str  # our payment id: the idempotency key, echoed back by the provider
    msisdn: str  # payer, E.164 "+243..."
    amount: Decimal  # in currency units (CDF, USD); adapters refuse amounts the provider cannot carry
    currency: str  # "CDF" | "USD" (| "KES" for Daraja)
    account: str  # meter number / customer code (M-Pesa AccountReference, Airtel reference ...)
    description: str  # short text shown in the prompt where the provider has one

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("CollectionRequest.amount must be a Decimal")
        if not self.amount.is_finite() or self.amount <= 0:
            raise ValueError("CollectionRequest.amount must be a positive, finite Decimal")
        if not self.reference:
            raise ValueError("CollectionRequest.reference must not be empty")
        if not is_e164(self.msisdn):
            raise ValueError("CollectionRequest.msisdn must be E.164 with a leading '+'")


@dataclass(frozen=True)
class CollectionStarted:
    """The provider accepted (or refused) to send the prompt; money has not moved yet."""

    provider_ref: str | None  # provider's id for the request (CheckoutRequestID, systemId ...), if any
    status: PaymentStatus  # PENDING when the prompt was sent; FAILED when refused outright
    message: str = ""


@dataclass(frozen=True)
class PaymentEvent:
    """A verified statement about one transaction, from a callback or a status query.

    ``amount``/``currency`` are what the provider says was paid, or ``None`` when the provider does not
    state it (Airtel): the core then relies on the requested amount. The core holds mismatches for review.
    ``provider_txn_id`` is the provider's money-movement id (MpesaReceiptNumber / TransID,
    airtel_money_id, Orange txn id, sandbox id): the deduplication key; ``None`` until money moved, and
    also ``None`` on a success learnt only by status query when the provider's query omits it (Daraja).

    Matching an event to a payment, in this order: ``reference`` (our id) when set; else ``provider_ref``
    (the ``CollectionStarted.provider_ref`` stored at start: Daraja echoes only its CheckoutRequestID,
    so M-Pesa STK events have ``reference=None``); else ``provider_txn_id``. Only an event with neither
    ``reference`` nor ``provider_ref`` (``verification=CHANNEL``, ``account`` set) is a payment we did not
    start (M-Pesa C2B).
    """

    provider: str
    provider_txn_id: str | None
    reference: str | None  # our CollectionRequest.reference; None for C2B payments we did not start
    status: PaymentStatus
    amount: Decimal | None
    currency: str | None
    msisdn: str | None  # E.164 with "+" when the provider tells us
    account: str | None = None  # C2B: what the payer typed as account (the meter number)
    provider_ref: str | None = None  # the request id (CheckoutRequestID ...), to match CollectionStarted
    message: str = ""  # provider's human-readable result text (never contains secrets)
    verification: Verification = Verification.QUERY


# Longest value of each identifier an event may carry: the widths of the `payments` columns it lands in.
EVENT_FIELD_LIMITS = {"provider_txn_id": 80, "provider_ref": 80, "reference": 40, "account": 200}


def check_event(event: PaymentEvent) -> PaymentEvent:
    """Refuse an event whose values the payments table cannot hold as given: identifiers longer than
    their column or not printable ASCII, an amount that is not finite, positive, below 10^12 with at most
    8 decimals, a currency that is not three capital letters, a phone that is not E.164. Raises
    PaymentCallbackError (400) before anything is written, so a provider sending garbage gets a definite
    answer instead of a 500 it would retry forever."""
    for name, limit in EVENT_FIELD_LIMITS.items():
        value = getattr(event, name)
        if value is not None and not (
            isinstance(value, str) and 0 < len(value) <= limit and value.isascii() and value.isprintable()
        ):
            raise PaymentCallbackError(
                f"{event.provider} callback: {name} must be 1-{limit} printable ASCII characters",
                code="malformed_callback",
            )
    if event.amount is not None:
        try:
            check_provider_amount(event.amount)
        except ValueError as exc:
            raise PaymentCallbackError(f"{event.provider} callback: {exc}", code="invalid_amount") from None
    if event.currency is not None and not (
        isinstance(event.currency, str)
        and len(event.currency) == 3
        and event.currency.isascii()
        and event.currency.isalpha()
        and event.currency.isupper()
    ):
        raise PaymentCallbackError(
            f"{event.provider} callback: currency must be three capital letters", code="malformed_callback"
        )
    if event.msisdn is not None and not is_e164(event.msisdn):
        raise PaymentCallbackError(
            f"{event.provider} callback: the payer's phone is not E.164", code="malformed_callback"
        )
    return event


class CallbackReply(NamedTuple):
    """What the core's HTTP handler answers to the provider, verbatim."""

    status_code: int
    body: bytes
    media_type: str


#: The core gives the sandbox wallet this coroutine: ``deliver(headers, body)`` must process a callback
#: exactly as the HTTP callback route would (call ``handle_callback`` and act on the events).
DeliverCallback = Callable[[Mapping[str, str], bytes], Awaitable[None]]

#: For C2B validation: ``lookup(account)`` returns True when the account (meter number / customer code)
#: is known and may be paid.
AccountLookup = Callable[[str], Awaitable[bool]]


class PaymentError(ServiceError):
    """Root of operational payment errors (a ServiceError: stable ``code``, ``http_status`` at the edge)."""

    code = "payment_error"
    http_status = 502  # the provider failed us: a bad gateway, as far as our caller is concerned


class PaymentCallbackError(PaymentError):
    """A callback is malformed, unverifiable or forged. ``http_status`` is 400 (bad) or 401 (forged)."""

    code = "invalid_callback"

    def __init__(self, message: str, *, code: str | None = None, http_status: int = 400) -> None:
        super().__init__(message, code=code)
        self.http_status = http_status


class ProviderUnavailable(PaymentError):
    """The provider could not be reached or answered 5xx / garbage: retry later (the core's workers).

    At a callback route it becomes 503, so that the provider delivers the callback again later.
    """

    code = "provider_unavailable"
    http_status = 503


class PaymentRejected(PaymentError):
    """The provider refused the request for a reason retrying will not fix (bad msisdn, bad amount ...)."""

    code = "payment_rejected"


class ProviderConfigError(ValueError):
    """Settings for a provider are missing or invalid; raised at start-up, message names the variable."""


@runtime_checkable
class PaymentProvider(Protocol):
    name: str

    async def start_collection(self, req: CollectionRequest) -> CollectionStarted:
        """Ask the provider to prompt the payer. Raises ProviderUnavailable (retry) / PaymentRejected."""
        ...

    async def handle_callback(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[list[PaymentEvent], CallbackReply]:
        """Parse and verify a callback; return the events to act on and the reply to send.

        Raises PaymentCallbackError on bad/forged input and ProviderUnavailable when verification needs
        the provider and it cannot be reached (the core answers 503 so the provider redelivers).
        """
        ...

    async def query_status(self, reference: str, provider_ref: str | None) -> PaymentEvent:
        """Read one transaction's status from the provider. Raises ProviderUnavailable."""
        ...

    async def aclose(self) -> None:
        """Release background work (sandbox timers). Does not close the shared httpx client."""
        ...


@runtime_checkable
class C2BValidator(Protocol):
    """Implemented by providers with a C2B validation step (M-Pesa): check before money moves."""

    async def validate_c2b(
        self, headers: Mapping[str, str], body: bytes, lookup: AccountLookup
    ) -> CallbackReply: ...
