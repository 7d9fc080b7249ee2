"""The OpenAPI 3.1 document of the service (schemas generated from the pydantic bodies)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from api.rest import schemas

_MODELS: list[type[BaseModel]] = [
    schemas.CreditIn,
    schemas.ManagementIn,
    schemas.KeyChangeIn,
    schemas.MeterIn,
    schemas.MeterBatchIn,
    schemas.TokenOut,
    schemas.MeterOut,
    schemas.PaymentOut,
    schemas.ErrorOut,
]
_REF = "#/components/schemas/{model}"


def _components() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model in _MODELS:
        schema = model.model_json_schema(ref_template=_REF)
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _op(
    summary: str,
    scope: str | None,
    *,
    body: str | None = None,
    ok: str | None = None,
    status: str = "200",
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {}}
    if scope:
        op["security"] = [{"apiKey": []}]
        op["description"] = f"Requires the `{scope}` scope."
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    content = {"application/json": {"schema": _ref(ok)}} if ok else {"application/json": {}}
    op["responses"][status] = {"description": "success", "content": content}
    err = {"application/json": {"schema": {"type": "object", "properties": {"error": _ref("ErrorOut")}}}}
    for code, what in (
        ("401", "missing or invalid API key"),
        ("403", "scope missing"),
        ("404", "not found"),
        ("422", "invalid input or refused by the rules"),
        ("429", "too many requests with this API key (Retry-After: seconds)"),
    ):
        op["responses"][code] = {"description": what, "content": err}
    if body:
        op["responses"]["413"] = {"description": "body over 1 MiB (api/bodies.py)", "content": err}
    return op


_NUMBER = [
    {
        "name": "number",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "DRN (11 or 13 digits), MeterPAN (18 digits) or customer code",
    }
]
_PAGE = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
    {
        "name": "cursor",
        "in": "query",
        "schema": {"type": "string"},
        "description": "the next_cursor of the previous page (keyset pagination)",
    },
]

# The form Africa's Talking posts; `text` is the subscriber's inputs so far, joined by '*'.
_USSD = {
    "schema": {
        "type": "object",
        "required": ["sessionId", "phoneNumber", "text"],
        "properties": {
            "sessionId": {"type": "string", "minLength": 1, "maxLength": 100},
            "serviceCode": {"type": "string"},
            "phoneNumber": {"type": "string", "pattern": "^\\+[1-9][0-9]{7,14}$", "description": "E.164"},
            "networkCode": {"type": "string"},
            "text": {"type": "string"},
        },
    }
}


def openapi_document() -> dict[str, Any]:
    v1 = "/api/v1"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Nguvu vending service",
            "version": "1",
            "description": "Vendor API: tokens for registered meters, look-ups, payments. Vending keys "
            "are never returned.",
        },
        "components": {
            "schemas": _components(),
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Authorization: Bearer ngv_<id>_<secret>",
                }
            },
        },
        "paths": {
            f"{v1}/meters/{{number}}": {"get": _op("Look up a meter", "read", ok="MeterOut", params=_NUMBER)},
            f"{v1}/meters/{{number}}/tokens/credit": {
                "post": _op(
                    "Issue a credit token",
                    "vend",
                    body="CreditIn",
                    ok="TokenOut",
                    status="201",
                    params=_NUMBER,
                )
            },
            f"{v1}/meters/{{number}}/tokens/management": {
                "post": _op(
                    "Issue a management token (clear credit, clear tamper, set MPL)",
                    "manage",
                    body="ManagementIn",
                    ok="TokenOut",
                    status="201",
                    params=_NUMBER,
                )
            },
            f"{v1}/meters/{{number}}/tokens/key-change": {
                "post": _op(
                    "Issue the two key-change tokens",
                    "keychange",
                    body="KeyChangeIn",
                    ok="TokenOut",
                    status="201",
                    params=_NUMBER,
                )
            },
            f"{v1}/meters/{{number}}/tokens/last": {
                "get": _op("Reprint the last token", "read", ok="TokenOut", params=_NUMBER)
            },
            f"{v1}/meters/batch": {
                "post": _op(
                    "Register meters in batch (all or nothing)", "meters", body="MeterBatchIn", status="201"
                )
            },
            f"{v1}/payments": {
                "get": _op(
                    "List and search payments",
                    "read",
                    params=[
                        *_PAGE,
                        {"name": "status", "in": "query", "schema": {"type": "string"}},
                        {"name": "meter", "in": "query", "schema": {"type": "string"}},
                        {"name": "msisdn", "in": "query", "schema": {"type": "string"}},
                        {"name": "provider", "in": "query", "schema": {"type": "string"}},
                        {"name": "currency", "in": "query", "schema": {"type": "string"}},
                    ],
                )
            },
            f"{v1}/tokens": {
                "get": _op(
                    "List tokens",
                    "read",
                    params=[*_PAGE, {"name": "meter", "in": "query", "schema": {"type": "string"}}],
                )
            },
            "/ussd": {
                "post": {
                    "summary": "USSD callback (Africa's Talking format)",
                    "requestBody": {
                        "required": True,
                        "content": {"application/x-www-form-urlencoded": _USSD},
                    },
                    "responses": {
                        "200": {"description": "CON/END text", "content": {"text/plain": {}}},
                        "400": {"description": "not a USSD callback", "content": {"text/plain": {}}},
                        "413": {"description": "body over 4096 bytes", "content": {"text/plain": {}}},
                    },
                }
            },
            "/health": {"get": {"summary": "Health", "responses": {"200": {"description": "ok"}}}},
            "/metrics": {
                "get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "ok"}}}
            },
        },
    }
