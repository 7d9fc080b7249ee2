"""A fake Safaricom Daraja: OAuth, STK push + callback, STK push query, C2B register/simulate.

Checks what Daraja checks that our adapter could get wrong: Basic credentials, the bearer token, the
STK ``Password`` (base64 of shortcode + passkey + Timestamp), integer Amount, AccountReference <= 12 and
TransactionDesc <= 13 characters. Unlike Daraja it accepts plain-HTTP loopback callback URLs.
Knobs: outcome, duplicate_callbacks, bad_signature (the callback claims success while Daraja's record
says the payer cancelled), fail_next, delay_s.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.base import FakeProvider

__all__ = ["FakeDaraja"]


@dataclass
class _Stk:
    checkout_id: str
    merchant_id: str
    amount: int
    phone: str
    account: str
    callback_url: str
    result_code: str | None = None  # None while the payer has not answered
    receipt: str | None = None


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"requestId": secrets.token_hex(4), "errorCode": code, "errorMessage": message}, status
    )


class FakeDaraja(FakeProvider):
    def __init__(
        self,
        *,
        consumer_key: str = "ck",
        consumer_secret: str = "cs",
        shortcode: str = "174379",
        passkey: str = "pk",
    ) -> None:
        super().__init__()
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
        self.shortcode, self.passkey = shortcode, passkey
        self.tokens: set[str] = set()
        self.token_lifetime = "3599"  # seconds, as Daraja writes it
        self.stk: dict[str, _Stk] = {}
        self.c2b_urls: dict[str, str] = {}

    def routes(self) -> list[Route]:
        return [
            Route("/oauth/v1/generate", self.api(self.oauth, token=True), methods=["GET"]),
            Route("/mpesa/stkpush/v1/processrequest", self.api(self.stk_push), methods=["POST"]),
            Route("/mpesa/stkpushquery/v1/query", self.api(self.stk_query), methods=["POST"]),
            Route("/mpesa/c2b/v1/registerurl", self.api(self.register), methods=["POST"]),
            Route("/mpesa/c2b/v1/simulate", self.api(self.simulate), methods=["POST"]),
        ]

    async def oauth(self, request: Request) -> Response:
        expected = base64.b64encode(f"{self.consumer_key}:{self.consumer_secret}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return _error(400, "400.008.01", "Invalid Authentication passed")
        token = secrets.token_urlsafe(16)
        self.tokens.add(token)
        return JSONResponse({"access_token": token, "expires_in": self.token_lifetime})

    async def _authorised_json(self, request: Request) -> dict[str, Any] | Response:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.tokens:
            return _error(401, "404.001.03", "Invalid Access Token")
        try:
            doc = json.loads(await request.body())
        except ValueError:
            return _error(400, "400.002.02", "Bad Request - Invalid JSON")
        return doc if isinstance(doc, dict) else _error(400, "400.002.02", "Bad Request")

    def _password_ok(self, doc: dict[str, Any]) -> bool:
        raw = f"{self.shortcode}{self.passkey}{doc.get('Timestamp', '')}".encode()
        stamp = str(doc.get("Timestamp", ""))
        return doc.get("Password") == base64.b64encode(raw).decode() and len(stamp) == 14 and stamp.isdigit()

    async def stk_push(self, request: Request) -> Response:
        doc = await self._authorised_json(request)
        if isinstance(doc, Response):
            return doc
        problem = self._stk_problem(doc)
        if problem:
            return _error(400, "400.002.02", f"Bad Request - Invalid {problem}")
        stk = _Stk(
            "ws_CO_" + secrets.token_hex(8),
            secrets.token_hex(6),
            doc["Amount"],
            str(doc["PhoneNumber"]),
            doc["AccountReference"],
            doc["CallBackURL"],
        )
        self.stk[stk.checkout_id] = stk
        if self.knobs.outcome != "timeout":
            self.spawn(self._answer(stk))
        return JSONResponse(
            {
                "MerchantRequestID": stk.merchant_id,
                "CheckoutRequestID": stk.checkout_id,
                "ResponseCode": "0",
                "ResponseDescription": "Success. Request accepted for processing",
                "CustomerMessage": "Success. Request accepted for processing",
            }
        )

    def _stk_problem(self, doc: dict[str, Any]) -> str | None:
        if str(doc.get("BusinessShortCode")) != self.shortcode or str(doc.get("PartyB")) != self.shortcode:
            return "BusinessShortCode"
        if not self._password_ok(doc):
            return "Password"
        if not isinstance(doc.get("Amount"), int) or doc["Amount"] < 1:
            return "Amount"
        phone = str(doc.get("PhoneNumber", ""))
        if not phone.isdigit() or str(doc.get("PartyA")) != phone:
            return "PhoneNumber"
        if not 1 <= len(str(doc.get("AccountReference", ""))) <= 12:
            return "AccountReference"
        if not 1 <= len(str(doc.get("TransactionDesc", ""))) <= 13:
            return "TransactionDesc"
        if doc.get("TransactionType") not in ("CustomerPayBillOnline", "CustomerBuyGoodsOnline"):
            return "TransactionType"
        if not str(doc.get("CallBackURL", "")).startswith(("http://", "https://")):
            return "CallBackURL"
        return None

    async def _answer(self, stk: _Stk) -> None:
        approve = self.knobs.outcome in ("approve", "wrong_amount")
        stk.result_code = "0" if approve else "1032"
        if approve:
            stk.receipt = "Q" + secrets.token_hex(5).upper()
        claims_success = approve or self.knobs.bad_signature
        if claims_success:
            paid = stk.amount - 1 if self.knobs.outcome == "wrong_amount" else stk.amount
            items = [
                {"Name": "Amount", "Value": paid},
                {"Name": "MpesaReceiptNumber", "Value": stk.receipt or "QFORGED0001"},
                {"Name": "TransactionDate", "Value": 20261128173000},
                {"Name": "PhoneNumber", "Value": int(stk.phone)},
            ]
            cb: dict[str, Any] = {
                "MerchantRequestID": stk.merchant_id,
                "CheckoutRequestID": stk.checkout_id,
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {"Item": items},
            }
        else:
            cb = {
                "MerchantRequestID": stk.merchant_id,
                "CheckoutRequestID": stk.checkout_id,
                "ResultCode": 1032,
                "ResultDesc": "Request cancelled by user",
            }
        body = json.dumps({"Body": {"stkCallback": cb}}).encode()
        await self.deliver(stk.callback_url, body, {"content-type": "application/json"})

    async def stk_query(self, request: Request) -> Response:
        doc = await self._authorised_json(request)
        if isinstance(doc, Response):
            return doc
        if not self._password_ok(doc):
            return _error(400, "400.002.02", "Bad Request - Invalid Password")
        stk = self.stk.get(str(doc.get("CheckoutRequestID")))
        if stk is None:
            return _error(400, "400.002.02", "Bad Request - Invalid CheckoutRequestID")
        if stk.result_code is None:
            return _error(500, "500.001.1001", "The transaction is being processed")
        desc = (
            "The service request is processed successfully."
            if stk.result_code == "0"
            else "Request cancelled by user"
        )
        return JSONResponse(
            {
                "ResponseCode": "0",
                "ResponseDescription": "The service request has been accepted successsfully",
                "MerchantRequestID": stk.merchant_id,
                "CheckoutRequestID": stk.checkout_id,
                "ResultCode": stk.result_code,
                "ResultDesc": desc,
            }
        )

    async def register(self, request: Request) -> Response:
        doc = await self._authorised_json(request)
        if isinstance(doc, Response):
            return doc
        if str(doc.get("ShortCode")) != self.shortcode or doc.get("ResponseType") not in (
            "Completed",
            "Cancelled",
        ):
            return _error(400, "400.002.02", "Bad Request - Invalid ShortCode or ResponseType")
        self.c2b_urls = {
            "validation": str(doc["ValidationURL"]),
            "confirmation": str(doc["ConfirmationURL"]),
            "response_type": str(doc["ResponseType"]),
        }
        return JSONResponse(
            {
                "OriginatorCoversationID": secrets.token_hex(4),
                "ResponseCode": "0",
                "ResponseDescription": "success",
            }
        )

    async def simulate(self, request: Request) -> Response:
        """Daraja sandbox's C2B simulation: a customer pays the paybill with ``BillRefNumber``."""
        doc = await self._authorised_json(request)
        if isinstance(doc, Response):
            return doc
        if not self.c2b_urls:
            return _error(400, "400.002.02", "Bad Request - No URLs registered")
        payload = {
            "TransactionType": "Pay Bill",
            "TransID": "R" + secrets.token_hex(5).upper(),
            "TransTime": "20261128173000",
            "TransAmount": f"{doc['Amount']}.00",
            "BusinessShortCode": self.shortcode,
            "BillRefNumber": str(doc.get("BillRefNumber", "")),
            "InvoiceNumber": "",
            "OrgAccountBalance": "",
            "ThirdPartyTransID": "",
            "MSISDN": str(doc.get("Msisdn", "")),
            "FirstName": "John",
            "MiddleName": "",
            "LastName": "Doe",
        }
        self.spawn(self._c2b(json.dumps(payload).encode()))
        return JSONResponse(
            {
                "OriginatorCoversationID": secrets.token_hex(4),
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully.",
            }
        )

    async def _c2b(self, body: bytes) -> None:
        await self.deliver(self.c2b_urls["validation"], body, {"content-type": "application/json"})
        last = self.callbacks[-1]
        accepted = last.status_code == 200 and json.loads(last.reply or b"{}").get("ResultCode") in ("0", 0)
        if accepted:
            await self.deliver(self.c2b_urls["confirmation"], body, {"content-type": "application/json"})
