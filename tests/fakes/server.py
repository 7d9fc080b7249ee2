"""Serve a Starlette app with uvicorn on a loopback ephemeral port, in a background thread.

Every provider fake runs this way, so the adapters under test talk to them over real sockets with real
HTTP (timeouts, 5xx and slow answers behave as on the wire). ``Receiver`` is the merchant side: a small
app that hands each callback to an async handler running in the *test's* event loop (where the adapter
and its httpx client live) and answers the provider with whatever the handler returns.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["Knobs", "Receiver", "Recorded", "ThreadedServer", "free_port", "wait_for"]


@dataclass
class Knobs:
    """Behaviour switches shared by the provider fakes (each fake documents which ones it honours)."""

    outcome: str = "approve"  # approve | decline | timeout (payer never answers) | wrong_amount
    duplicate_callbacks: int = 1  # how many times each callback is delivered
    bad_signature: bool = False  # callback hash wrong, or (unsigned providers) callback lies about success
    fail_next: int = 0  # the next N API requests answer 503
    delay_s: float = 0.0  # every API answer waits this long ("slow")
    callback_delay_s: float = 0.02  # time the simulated payer takes before the callback goes out
    garbage: tuple[int, bytes] | None = None  # every API route but OAuth answers this (status, body)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ThreadedServer:
    def __init__(self, app: Starlette, *, port: int = 0, lifespan: Literal["on", "off"] = "off") -> None:
        """``port`` 0 takes an ephemeral port; ``lifespan="on"`` runs the app's start-up (the service's
        workers) in the server's thread."""
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan=lifespan,
            ws="none",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-server", daemon=True)
        self.url = ""

    def start(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake server did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> ThreadedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


Handler = Callable[[str, dict[str, str], bytes], Coroutine[Any, Any, tuple[int, bytes, str]]]


@dataclass
class Receiver:
    """The service's callback endpoint, as the providers see it: ``POST {url}/{path}``.

    ``handler(path, headers, body)`` runs in ``loop`` (the test's loop) and returns (status, body,
    media type). ``hits`` counts the calls; ``calls`` keeps what came in.
    """

    loop: asyncio.AbstractEventLoop
    handler: Handler
    calls: list[Recorded] = field(default_factory=list)
    server: ThreadedServer | None = None

    def __post_init__(self) -> None:
        self.server = ThreadedServer(
            Starlette(routes=[Route("/{path:path}", self._endpoint, methods=["POST"])])
        )

    async def _endpoint(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        self.calls.append(Recorded("POST", request.url.path, headers, body))
        future = asyncio.run_coroutine_threadsafe(self.handler(request.url.path, headers, body), self.loop)
        status, reply, media_type = await asyncio.wrap_future(future)
        return Response(reply, status_code=status, media_type=media_type)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    # Async on purpose: stopping waits for in-flight callbacks, whose handlers need the test's loop to
    # keep running; a blocking stop from inside that loop would deadlock until the join timeout.
    async def __aenter__(self) -> Receiver:
        assert self.server is not None
        self.server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        await asyncio.to_thread(self.server.stop)


def free_port() -> int:
    """A loopback port free right now (for an app that must know its own URL before it starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> None:
    """Poll ``predicate`` from the test's loop until it is truthy (callbacks arrive asynchronously)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
