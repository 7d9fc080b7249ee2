"""Request bodies read with a size limit: one rule for the USSD callback, provider callbacks and REST.

A body over the limit is refused before it is parsed, and before it is even read when the client
declares its length (Content-Length); a chunked body is cut off as soon as it passes the limit. So an
oversized body is never held in memory whole, whatever its size. The limits are in docs/service.md.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from api.errors import ServiceError

USSD_MAX_BYTES = 4 * 1024  # an Africa's Talking USSD form is a few hundred bytes
CALLBACK_MAX_BYTES = 64 * 1024  # the largest provider callback (M-Pesa C2B JSON) is about 1 KiB
REST_MAX_BYTES = 1024 * 1024  # a meter batch of 1,000 meters is about 300 KiB


class BodyTooLarge(ServiceError):
    """A request body over its route's limit: 413, refused before it is parsed."""

    code = "body_too_large"
    http_status = 413


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, at most `limit` bytes. Raises BodyTooLarge as soon as it is known to be longer."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"request body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_form(body: bytes, max_fields: int) -> dict[str, str]:
    """A urlencoded form (USSD, SMS callbacks). Raises ValueError when it is not one: not UTF-8, more than
    `max_fields` fields, or a NUL character anywhere (PostgreSQL text cannot hold NUL, so a NUL in a
    phone number or a USSD input would fail the first look-up with a 500)."""
    form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields))
    if any("\x00" in k or "\x00" in v for k, v in form.items()):
        raise ValueError("a form field holds a NUL character")
    return form
