"""A fake Orange Money RDC SOAP endpoint: ``doS2M``, ``doCallback`` to the merchant, ``doCheckTrans``.

One URL takes every operation (the SOAP body names it). Checks: PartnId and mermsisdn match the
partner's, currency is CDF/USD, amount is a positive number, transid is unique. Knobs: outcome,
duplicate_callbacks, bad_signature (the doCallback claims success while Orange's record says failed),
fail_next, delay_s. Elements are built with their own small templates, independently of the adapter.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.base import FakeProvider

__all__ = ["FakeOrange"]

NS = "http://services.ws1.com/"


@dataclass
class _Txn:
    transid: str
    subsmsisdn: str
    currency: str
    amount: Decimal
    callback_url: str
    system_id: str
    result: str = "pending"  # pending | success | failed
    paid: Decimal | None = None


def _soap(operation: str, fields: dict[str, str], wrap_return: bool = True) -> Response:
    inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
    if wrap_return:
        inner = f"<return>{inner}</return>"
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<S:Body><ns2:{operation} xmlns:ns2="{NS}">{inner}</ns2:{operation}></S:Body></S:Envelope>'
    )
    return Response(xml.encode(), media_type="text/xml; charset=utf-8")


def _fault(message: str) -> Response:
    xml = (
        '<?xml version="1.0"?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>'
        f"<S:Fault><faultcode>S:Client</faultcode><faultstring>{escape(message)}</faultstring></S:Fault>"
        "</S:Body></S:Envelope>"
    )
    return Response(xml.encode(), status_code=500, media_type="text/xml; charset=utf-8")


class FakeOrange(FakeProvider):
    def __init__(self, *, partner_id: str = "PARTNER1", merchant_msisdn: str = "243890000000") -> None:
        super().__init__()
        self.partner_id, self.merchant_msisdn = partner_id, merchant_msisdn
        self.txns: dict[str, _Txn] = {}

    def routes(self) -> list[Route]:
        return [Route("/apigw/soap", self.api(self.soap), methods=["POST"])]

    async def soap(self, request: Request) -> Response:
        try:
            root = ET.fromstring(await request.body())
        except ET.ParseError:
            return _fault("malformed XML")
        body = next((el for el in root if el.tag.endswith("Body")), None)
        if body is None or len(body) == 0:
            return _fault("no SOAP body")
        op = body[0]
        name = op.tag.rsplit("}", 1)[-1]
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in op}
        if fields.get("PartnId") != self.partner_id or fields.get("mermsisdn") != self.merchant_msisdn:
            return _soap(name + "Response", {"resultCode": "403", "resultDesc": "Partenaire non autorise"})
        if name == "doS2M":
            return self._s2m(fields)
        if name == "doCheckTrans":
            return self._check(fields)
        return _fault(f"unknown operation {name}")

    def _s2m(self, f: dict[str, str]) -> Response:
        try:
            amount = Decimal(f.get("amount", ""))
        except InvalidOperation:
            amount = Decimal(0)
        if f.get("currency") not in ("CDF", "USD") or amount <= 0 or not f.get("subsmsisdn", "").isdigit():
            return _soap("doS2MResponse", {"resultCode": "400", "resultDesc": "Parametres invalides"})
        if not f.get("transid") or f["transid"] in self.txns or not f.get("callbackurl"):
            return _soap("doS2MResponse", {"resultCode": "409", "resultDesc": "Transaction deja existante"})
        txn = _Txn(
            f["transid"],
            f["subsmsisdn"],
            f["currency"],
            amount,
            f["callbackurl"],
            "OM" + secrets.token_hex(6),
        )
        self.txns[txn.transid] = txn
        if self.knobs.outcome != "timeout":
            self.spawn(self._answer(txn))
        return _soap(
            "doS2MResponse",
            {
                "partnId": self.partner_id,
                "resultCode": "0",
                "resultDesc": "Paiement En Cours de traitement",
                "systemId": txn.system_id,
                "transId": txn.transid,
            },
        )

    async def _answer(self, txn: _Txn) -> None:
        approve = self.knobs.outcome in ("approve", "wrong_amount")
        txn.result = "success" if approve else "failed"
        if approve:
            txn.paid = txn.amount - 100 if self.knobs.outcome == "wrong_amount" else txn.amount
        claims = approve or self.knobs.bad_signature
        fields = {
            "subsmsisdn": txn.subsmsisdn,
            "PartnId": self.partner_id,
            "mermsisdn": self.merchant_msisdn,
            "transid": txn.transid,
            "currency": txn.currency,
            "amount": str(txn.paid or txn.amount),
            "ResultCode": "200" if claims else "1",
            "ResultDesc": "SUCCESS" if claims else "Solde insuffisant",
        }
        xml = _soap("doCallback", fields, wrap_return=False).body
        await self.deliver(
            txn.callback_url,
            bytes(xml),
            {"content-type": "text/xml; charset=utf-8", "soapaction": '"doCallback"'},
        )

    def _check(self, f: dict[str, str]) -> Response:
        txn = self.txns.get(f.get("transid", ""))
        if txn is None:
            return _soap(
                "doCheckTransResponse", {"resultCode": "404", "resultDesc": "Transaction introuvable"}
            )
        if txn.result == "pending":
            return _soap(
                "doCheckTransResponse",
                {
                    "resultCode": "0",
                    "resultDesc": "Transaction en cours",
                    "transId": txn.transid,
                    "systemId": txn.system_id,
                },
            )
        if txn.result == "failed":
            return _soap(
                "doCheckTransResponse",
                {
                    "resultCode": "1",
                    "resultDesc": "Transaction echouee",
                    "transId": txn.transid,
                    "systemId": txn.system_id,
                },
            )
        return _soap(
            "doCheckTransResponse",
            {
                "resultCode": "200",
                "resultDesc": "SUCCESS",
                "transId": txn.transid,
                "systemId": txn.system_id,
                "amount": str(txn.paid),
                "currency": txn.currency,
                "subsmsisdn": txn.subsmsisdn,
            },
        )
