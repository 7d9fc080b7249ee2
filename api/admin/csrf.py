"""CSRF tokens: an HMAC of the visitor's session id (or anonymous id) under a key derived from the KEK.

Every state-changing request (a form post or an htmx request) must carry the token, in the form field
`csrf` or the `X-CSRF-Token` header (base.html puts it in htmx's `hx-headers`); a request without it, or
with another visitor's, is refused before the page runs. A new session at login means a new token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

FIELD = "csrf"
HEADER = "X-CSRF-Token"


def token(key: bytes, seed: str) -> str:
    mac = hmac.new(key, b"csrf:" + seed.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def check(key: bytes, seed: str, supplied: str | None) -> bool:
    if not supplied:
        return False
    return hmac.compare_digest(token(key, seed).encode(), supplied.encode())
