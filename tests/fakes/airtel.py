"""A fake Airtel Money Open API: OAuth token, USSD-push collection, callback (optional hash), status.

Checks: client credentials, bearer token, X-Country/X-Currency headers matching the body, msisdn given
without the country code, unique ``transaction.id`` (a reuse answers ESB000041 like Airtel).
Knobs: outcome (wrong_amount is not expressible: Airtel reports no amount), duplicate_callbacks,
bad_signature (wrong ``hash``), fail_next, delay_s. ``callback_secret`` turns on signed callbacks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.base import FakeProvider

__all__ = ["FakeAirtel"]


@dataclass
class _Txn:
    id: str
    amount: Any
    msisdn: str
    status: str = "TIP"
    money_id: str | None = None


def _status(code: str, message: str, success: bool, http: int = 200, data: Any = None) -> JSONResponse:
    doc: dict[str, Any] = {
        "status": {
            "code": str(http),
            "message": message,
            "result_code": code,
            "response_code": "DP00800001006" if success else "DP00800001000",
            "success": success,
        }
    }
    if data is not None:
        doc["data"] = data
    return JSONResponse(doc, http)


class FakeAirtel(FakeProvider):
    def __init__(
        self,
        *,
        client_id: str = "cid",
        client_secret: str = "csecret",
        country: str = "CD",
        currency: str = "CDF",
        callback_secret: str | None = None,
    ) -> None:
        super().__init__()
        self.client_id, self.client_secret = client_id, client_secret
        self.country, self.currency = country, currency
        self.callback_secret = callback_secret
        self.callback_url = ""  # Airtel sends callbacks to the URL set in its portal
        self.tokens: set[str] = set()
        self.txns: dict[str, _Txn] = {}

    def routes(self) -> list[Route]:
        return [
            Route("/auth/oauth2/token", self.api(self.token, token=True), methods=["POST"]),
            Route("/merchant/v1/payments/", self.api(self.collect), methods=["POST"]),
            Route("/standard/v1/payments/{id}", self.api(self.enquiry), methods=["GET"]),
        ]

    async def token(self, request: Request) -> Response:
        doc = json.loads(await request.body() or b"{}")
        if (doc.get("client_id"), doc.get("client_secret"), doc.get("grant_type")) != (
            self.client_id,
            self.client_secret,
            "client_credentials",
        ):
            return JSONResponse(
                {"error_description": "Invalid client authentication", "error": "invalid_client"}, 401
            )
        token = secrets.token_urlsafe(16)
        self.tokens.add(token)
        return JSONResponse({"token_type": "bearer", "access_token": token, "expires_in": "180"})

    def _auth_problem(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.tokens:
            return JSONResponse({"error": "invalid_token"}, 401)
        if (
            request.headers.get("x-country") != self.country
            or request.headers.get("x-currency") != self.currency
        ):
            return _status("ESB000034", "Invalid Country or Currency", False, 400)
        return None

    async def collect(self, request: Request) -> Response:
        if (problem := self._auth_problem(request)) is not None:
            return problem
        doc = json.loads(await request.body())
        sub, txn = doc.get("subscriber", {}), doc.get("transaction", {})
        msisdn = str(sub.get("msisdn", ""))
        if not msisdn.isdigit() or msisdn.startswith("243") or not 8 <= len(msisdn) <= 10:
            return _status("ESB000033", "Invalid MSISDN Length. MSISDN Length should be 9", False, 400)
        if not isinstance(txn.get("amount"), int | float) or txn["amount"] <= 0 or not txn.get("id"):
            return _status("ESB000008", "Field validation", False, 400)
        if txn["id"] in self.txns:
            return _status("ESB000041", "External Transaction ID already exists", False)
        record = _Txn(str(txn["id"]), txn["amount"], msisdn)
        self.txns[record.id] = record
        if self.knobs.outcome != "timeout":
            self.spawn(self._answer(record))
        return _status(
            "ESB000010", "SUCCESS", True, data={"transaction": {"id": record.id, "status": "Success."}}
        )

    async def _answer(self, record: _Txn) -> None:
        approve = self.knobs.outcome in ("approve", "wrong_amount")
        record.status = "TS" if approve else "TF"
        record.money_id = "MP" + secrets.token_hex(5).upper() if approve else None
        txn = {
            "id": record.id,
            "message": f"Paid {self.currency} {record.amount} to NGUVU" if approve else "Transaction failed",
            "status_code": record.status,
            "airtel_money_id": record.money_id or "",
        }
        doc: dict[str, Any] = {"transaction": txn}
        if self.callback_secret is not None:
            key = "not-the-key" if self.knobs.bad_signature else self.callback_secret
            # Our reading of "callback with authentication": HMAC-SHA256 over the compact JSON of the
            # transaction object, base64 (written here independently of the adapter).
            canonical = json.dumps(txn, separators=(",", ":")).encode()
            doc["hash"] = base64.b64encode(
                hmac.new(key.encode(), canonical, hashlib.sha256).digest()
            ).decode()
        await self.deliver(self.callback_url, json.dumps(doc).encode(), {"content-type": "application/json"})

    async def enquiry(self, request: Request) -> Response:
        if (problem := self._auth_problem(request)) is not None:
            return problem
        record = self.txns.get(request.path_params["id"])
        if record is None:
            return _status("ESB000045", "No Transaction Found With Provided Transaction Id.", False)
        data = {
            "transaction": {
                "airtel_money_id": record.money_id,
                "id": record.id,
                "message": {"TS": "success", "TF": "failed"}.get(record.status, "in progress"),
                "status": record.status,
            }
        }
        return _status("ESB000010", "SUCCESS", True, data=data)
