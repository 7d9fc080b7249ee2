"""What every provider fake shares: knobs, request log, slow/5xx behaviour, callback delivery."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Self

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import Knobs, Recorded, ThreadedServer

__all__ = ["FakeProvider", "SentCallback"]

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class SentCallback:
    url: str
    status_code: int  # 0 when the merchant could not be reached
    body: bytes
    reply: bytes


class FakeProvider:
    """Subclasses list their routes in ``routes()``; ``api(endpoint)`` wraps each API route."""

    def __init__(self) -> None:
        self.knobs = Knobs()
        self.requests: list[Recorded] = []
        self.callbacks: list[SentCallback] = []
        self._server: ThreadedServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.url = ""

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def api(self, endpoint: Endpoint, *, token: bool = False) -> Endpoint:
        """Wrap an API route with the knobs; ``token`` marks the OAuth route (spared by ``garbage``)."""

        async def wrapped(request: Request) -> Response:
            body = await request.body()
            self.requests.append(Recorded(request.method, request.url.path, dict(request.headers), body))
            if self.knobs.delay_s:
                await asyncio.sleep(self.knobs.delay_s)
            if self.knobs.fail_next > 0:
                self.knobs.fail_next -= 1
                return Response(b"Service Unavailable", status_code=503, media_type="text/plain")
            if self.knobs.garbage is not None and not token:
                status, content = self.knobs.garbage
                return Response(content, status_code=status, media_type="application/octet-stream")
            return await endpoint(request)

        return wrapped

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` after the current answer (the payer's side of the story), keeping a reference."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def paths(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    async def deliver(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """POST one callback ``knobs.duplicate_callbacks`` times, after the payer's thinking time."""
        await asyncio.sleep(self.knobs.callback_delay_s)
        async with httpx.AsyncClient(timeout=10) as client:
            for _ in range(self.knobs.duplicate_callbacks):
                try:
                    response = await client.post(url, content=body, headers=dict(headers))
                    self.callbacks.append(SentCallback(url, response.status_code, body, response.content))
                except httpx.HTTPError:
                    self.callbacks.append(SentCallback(url, 0, body, b""))

    def start(self) -> str:
        self._server = ThreadedServer(Starlette(routes=self.routes()))
        self.url = self._server.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
