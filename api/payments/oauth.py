"""A bearer-token cache for providers with OAuth client credentials (Airtel, Daraja).

One token is fetched at a time (a lock stops a stampede when many collections start together) and it is
refreshed a little before it expires. Tokens are credentials: they are kept in a Secret.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from api.payments.secret import Secret

__all__ = ["TokenCache", "lifetime"]

# Refresh this many seconds before the provider says the token expires, to absorb clock skew and latency.
_MARGIN_S = 30.0


def lifetime(value: object, default: float) -> float:
    """A token's ``expires_in`` ("3599", 180, or nothing) in seconds; ``default`` when unusable."""
    try:
        seconds = float(str(value))
    except ValueError:
        return default
    return seconds if 0 < seconds < 86400 * 30 else default


class TokenCache:
    def __init__(self, fetch: Callable[[], Awaitable[tuple[Secret, float]]]) -> None:
        """``fetch()`` returns (token, lifetime in seconds) and raises ProviderUnavailable on failure."""
        self._fetch = fetch
        self._token: Secret | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> Secret:
        if self._token is not None and time.monotonic() < self._expires_at:
            return self._token
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                token, lifetime = await self._fetch()
                self._token = token
                self._expires_at = time.monotonic() + max(lifetime - _MARGIN_S, lifetime / 2)
            return self._token

    def invalidate(self) -> None:
        """Forget the token (the provider answered 401 with it)."""
        self._token = None
        self._expires_at = 0.0
