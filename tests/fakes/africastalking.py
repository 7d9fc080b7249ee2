"""A fake Africa's Talking SMS API: ``POST /version1/messaging`` and delivery reports.

Checks the ``apiKey`` header and ``username``, the form encoding and E.164 recipients; answers the
documented ``SMSMessageData`` JSON with one status per recipient. ``status_for[number]`` picks a
recipient's statusCode (default 101 Success); ``unroutable`` numbers are dropped from the answer;
``delivery_url`` makes it POST a delivery report for each sent message (``delivery_status``: Success,
Failed, Rejected, Buffered ...). Knobs: fail_next, delay_s, duplicate_callbacks (delivery reports).
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.base import FakeProvider

__all__ = ["FakeAfricasTalking"]

_E164 = re.compile(r"^\+\d{1,3}\d{3,}$")
_NAMES = {
    100: "Processed",
    101: "Success",
    102: "Queued",
    401: "RiskHold",
    402: "InvalidSenderId",
    403: "InvalidPhoneNumber",
    404: "UnsupportedNumberType",
    405: "InsufficientBalance",
    406: "UserInBlacklist",
    407: "CouldNotRoute",
    409: "DoNotDisturbRejection",
    500: "InternalServerError",
    501: "GatewayError",
    502: "RejectedByGateway",
}


class FakeAfricasTalking(FakeProvider):
    def __init__(self, *, username: str = "nguvu", api_key: str = "atkey") -> None:
        super().__init__()
        self.username, self.api_key = username, api_key
        self.status_for: dict[str, int] = {}
        self.unroutable: set[str] = set()  # numbers AT silently drops from the recipient list
        self.delivery_url = ""
        self.delivery_status = "Success"
        self.sent: list[dict[str, str]] = []

    def routes(self) -> list[Route]:
        return [Route("/version1/messaging", self.api(self.messaging), methods=["POST"])]

    async def messaging(self, request: Request) -> Response:
        if request.headers.get("apikey") != self.api_key:
            return Response(
                b"The supplied authentication is invalid", status_code=401, media_type="text/plain"
            )
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return Response(b"Request is missing required form field 'username'", status_code=400)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("username") != self.username:
            return Response(b"The supplied authentication is invalid", status_code=401)
        if not form.get("message") or not form.get("to"):
            return Response(b"Request is missing required form field 'to'", status_code=400)
        recipients = []
        for number in form["to"].split(","):
            if not _E164.match(number) or number in self.unroutable:
                continue  # AT drops invalid numbers from the list
            code = self.status_for.get(number, 101)
            entry = {
                "statusCode": code,
                "number": number,
                "status": _NAMES.get(code, "Unknown"),
                "cost": "KES 0.8000" if code in (100, 101, 102) else "0",
                "messageId": "None",
            }
            if code in (100, 101, 102):
                entry["messageId"] = "ATXid_" + secrets.token_hex(12)
                self.sent.append({**form, "messageId": str(entry["messageId"]), "number": number})
                if self.delivery_url:
                    self.spawn(self._report(str(entry["messageId"]), number))
            recipients.append(entry)
        sent = sum(1 for r in recipients if r["statusCode"] in (100, 101, 102))
        total = len(form["to"].split(","))
        return JSONResponse(
            {
                "SMSMessageData": {
                    "Message": f"Sent to {sent}/{total} Total Cost: KES {0.8 * sent:.4f}",
                    "Recipients": recipients,
                }
            },
            status_code=201,
        )

    async def _report(self, message_id: str, number: str) -> None:
        form = {
            "id": message_id,
            "status": self.delivery_status,
            "phoneNumber": number,
            "networkCode": "63902",
            "retryCount": "0",
        }
        if self.delivery_status in ("Failed", "Rejected"):
            form["failureReason"] = "UserInBlacklist"
        await self.deliver(
            self.delivery_url, urlencode(form).encode(), {"content-type": "application/x-www-form-urlencoded"}
        )
