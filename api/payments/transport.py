"""One place where outgoing provider HTTP calls meet the network: timeouts and error mapping.

No retries happen here: a call is made once and its failure is reported as ProviderUnavailable (the
core's workers decide when to retry). Response bodies are parsed but never logged, and error messages
never include request headers (they carry credentials).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from api.payments.base import ProviderUnavailable

__all__ = ["HttpResult", "send"]


@dataclass(frozen=True)
class HttpResult:
    status_code: int
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            raise ProviderUnavailable(
                f"provider answered HTTP {self.status_code} with a body that is not JSON",
                code="provider_bad_response",
            ) from None


async def send(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    timeout: float,
    provider: str,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    content: bytes | None = None,
    auth: tuple[str, str] | None = None,
    pass_500: bool = False,
) -> HttpResult:
    """Make one request; 5xx, timeouts and connection errors raise ProviderUnavailable.

    ``pass_500`` hands HTTP 500 back to the adapter (Daraja reports some business results as 500).
    """
    try:
        response = await http.request(
            method,
            url,
            headers=dict(headers or {}),
            json=json_body,
            content=content,
            auth=auth,
            timeout=httpx.Timeout(timeout),
        )
    except httpx.TimeoutException:
        raise ProviderUnavailable(
            f"{provider}: no answer within {timeout:g} s", code="provider_timeout"
        ) from None
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(
            f"{provider}: cannot reach the API ({type(exc).__name__})", code="provider_unreachable"
        ) from None
    if response.status_code >= 500 and not (pass_500 and response.status_code == 500):
        raise ProviderUnavailable(f"{provider}: HTTP {response.status_code}", code="provider_http_5xx")
    return HttpResult(response.status_code, response.content)
