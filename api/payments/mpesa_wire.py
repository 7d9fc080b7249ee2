"""Daraja's JSON shapes: parsing callbacks and query answers, building C2B replies (no I/O here)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from api.payments.base import (
    CallbackReply,
    PaymentCallbackError,
    PaymentEvent,
    PaymentStatus,
    ProviderUnavailable,
    Verification,
)
from api.payments.fields import e164_from_digits, parse_amount

__all__ = [
    "ACK",
    "accept_c2b",
    "parse_c2b",
    "parse_json",
    "parse_stk_callback",
    "reject_c2b",
    "stk_query_status",
]

ACK = CallbackReply(200, b'{"ResultCode":0,"ResultDesc":"Accepted"}', "application/json")

# STK result codes (field notes 4.1). 0 is success; these are final failures; anything else unknown.
_STK_FAILED = {"1", "1001", "1019", "1025", "1032", "1037", "2001", "9999", "17", "1036", "1050"}
_STK_BEING_PROCESSED = "500.001.1001"
_C2B_REASONS = {
    "C2B00011": "Invalid MSISDN",
    "C2B00012": "Invalid Account Number",
    "C2B00013": "Invalid Amount",
    "C2B00016": "Other Error",
}


def parse_json(body: bytes, *, callback: bool = False) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: "[" nested deeper than the parser goes
        doc = None
    if isinstance(doc, dict):
        return doc
    if callback:
        raise PaymentCallbackError("mpesa callback is not a JSON object", code="malformed_callback")
    raise ProviderUnavailable(
        "mpesa answered with something that is not a JSON object", code="provider_bad_response"
    )


def parse_stk_callback(doc: dict[str, Any], provider: str, currency: str) -> PaymentEvent:
    """The claim made by ``{"Body":{"stkCallback":{...}}}`` (not yet verified)."""
    cb = doc.get("Body", {}).get("stkCallback") if isinstance(doc.get("Body"), dict) else None
    if not isinstance(cb, dict) or not cb.get("CheckoutRequestID") or "ResultCode" not in cb:
        raise PaymentCallbackError("mpesa callback lacks Body.stkCallback", code="malformed_callback")
    code = str(cb["ResultCode"])
    items: dict[str, Any] = {}
    meta = cb.get("CallbackMetadata")
    if isinstance(meta, dict) and isinstance(meta.get("Item"), list):
        items = {str(i.get("Name")): i.get("Value") for i in meta["Item"] if isinstance(i, dict)}
    if code == "0":
        receipt, amount = items.get("MpesaReceiptNumber"), _callback_amount(items.get("Amount"))
        if not receipt or amount is None:
            raise PaymentCallbackError(
                "mpesa success callback without receipt/amount", code="malformed_callback"
            )
        status = PaymentStatus.SUCCEEDED
    else:
        receipt, amount = None, None
        status = PaymentStatus.FAILED if code in _STK_FAILED else PaymentStatus.UNKNOWN
    return PaymentEvent(
        provider,
        str(receipt) if receipt else None,
        None,
        status,
        amount,
        currency if amount is not None else None,
        e164_from_digits(items.get("PhoneNumber")),
        provider_ref=str(cb["CheckoutRequestID"]),
        message=str(cb.get("ResultDesc", "")),
        verification=Verification.QUERY,
    )


def stk_query_status(http_status: int, doc: dict[str, Any]) -> tuple[PaymentStatus, str]:
    """Map an STK Push Query answer to a status."""
    if str(doc.get("errorCode", "")) == _STK_BEING_PROCESSED:
        return PaymentStatus.PENDING, str(doc.get("errorMessage", ""))
    if http_status >= 500:
        raise ProviderUnavailable(f"mpesa: STK query failed (HTTP {http_status})", code="provider_http_5xx")
    if http_status != 200 or "ResultCode" not in doc:
        message = str(doc.get("errorMessage", ""))
        raise ProviderUnavailable(
            f"mpesa: STK query refused (HTTP {http_status}) {message}", code="provider_refused"
        )
    code, message = str(doc["ResultCode"]), str(doc.get("ResultDesc", ""))
    if code == "0":
        return PaymentStatus.SUCCEEDED, message
    return (PaymentStatus.FAILED if code in _STK_FAILED else PaymentStatus.UNKNOWN), message


def parse_c2b(doc: dict[str, Any], provider: str, currency: str) -> PaymentEvent:
    """A C2B validation or confirmation payload (the same fields)."""
    txn_id, amount = doc.get("TransID"), _callback_amount(doc.get("TransAmount"))
    if not txn_id or amount is None:
        raise PaymentCallbackError("mpesa C2B payload lacks TransID/TransAmount", code="malformed_callback")
    account = str(doc.get("BillRefNumber") or "").strip() or None
    return PaymentEvent(
        provider,
        str(txn_id),
        None,
        PaymentStatus.SUCCEEDED,
        amount,
        currency,
        e164_from_digits(doc.get("MSISDN")),
        account=account,
        message=str(doc.get("TransactionType", "")),
        verification=Verification.CHANNEL,
    )


def _callback_amount(value: object) -> Decimal | None:
    try:
        return parse_amount(value)
    except ValueError as exc:
        raise PaymentCallbackError(f"mpesa callback amount refused: {exc}", code="invalid_amount") from None


def accept_c2b() -> CallbackReply:
    return CallbackReply(200, b'{"ResultCode":"0","ResultDesc":"Accepted"}', "application/json")


def reject_c2b(code: str) -> CallbackReply:
    body = json.dumps({"ResultCode": code, "ResultDesc": _C2B_REASONS.get(code, "Rejected")}).encode()
    return CallbackReply(200, body, "application/json")
