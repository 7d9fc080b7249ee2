"""`create_app(settings)`: the Starlette application of the vending service.

Routes: the USSD callback, provider callbacks, the vendor REST API (/api/v1), the OpenAPI document,
/health and /metrics. One exception-handler table turns every operational error into a JSON answer with
a stable `code`; anything unexpected becomes a 500 without details (logged, without secrets).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import func, select, text
from sqlmodel import col
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from api import admin, migrate
from api.callbacks import c2b_validation, payment_callback, sms_delivery, sms_inbound
from api.db import reading
from api.errors import ServiceError
from api.keystore import KeystoreError
from api.models import MeterPush, SmsOutbox
from api.payments.base import (
    C2B_CONFIRMATION_PATH,
    C2B_VALIDATION_PATH,
    PAYMENT_CALLBACK_PATH,
    PaymentCallbackError,
    PaymentError,
    ProviderUnavailable,
)
from api.rest.openapi import openapi_document
from api.rest.routes import routes as v1_routes
from api.service import Service
from api.settings import Settings
from api.sms.base import SMS_DELIVERY_PATH, SMS_INBOUND_PATH
from api.ussd.handler import ussd_endpoint
from api.workers import payments, push, sms
from api.workers.loop import run_forever
from tokencore import TokenError

log = logging.getLogger("nguvu.app")
SHUTDOWN_GRACE_SECONDS = 15.0  # workers finish the pass (and transaction) in progress before we stop


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


# The one table: exception type -> (HTTP status, code). Order matters: most specific first.
def _status_for(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, ServiceError):
        return exc.http_status, exc.code
    if isinstance(exc, PaymentCallbackError):
        return exc.http_status, exc.code
    if isinstance(exc, ProviderUnavailable):
        return 503, exc.code  # the provider redelivers the callback later
    if isinstance(exc, PaymentError):
        return 502, exc.code
    if isinstance(exc, TokenError):
        return 422, exc.code
    if isinstance(exc, KeystoreError):
        return 500, exc.code
    raise exc


async def _handle(request: Request, exc: Exception) -> Response:
    status, code = _status_for(exc)
    service: Service | None = getattr(request.app.state, "service", None)
    if service is not None:
        service.metrics.http_errors.labels(code).inc()
    message = "internal error" if status >= 500 and status != 503 else str(exc)
    response = _error(status, code, message)
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int):  # a rate limit (429) says when to come back
        response.headers["Retry-After"] = str(retry_after)
    return response


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return _error(exc.status_code, code, str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> Response:
    # The type only: an exception's text can carry values (a database error quotes its statement).
    log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
    service: Service | None = getattr(request.app.state, "service", None)
    if service is not None:
        service.metrics.http_errors.labels("internal_error").inc()
    return _error(500, "internal_error", "internal error")


EXCEPTION_HANDLERS: dict[Any, Callable[..., Any]] = {
    HTTPException: _http_exception,
    ServiceError: _handle,
    PaymentError: _handle,
    TokenError: _handle,
    KeystoreError: _handle,
    Exception: _unexpected,
}


async def health(request: Request) -> Response:
    service: Service = request.app.state.service

    def check() -> dict[str, Any]:
        with reading(service.engine) as session:
            session.execute(text("SELECT 1"))
            depth = session.scalar(select(func.count()).where(col(SmsOutbox.status) == "queued")) or 0
            pushes = session.scalar(select(func.count()).where(col(MeterPush.status) == "queued")) or 0
        return {
            "status": "ok",
            "database": service.engine.dialect.name,
            "sms_outbox": depth,
            "meter_pushes": pushes,
        }

    try:
        return JSONResponse(await run_in_threadpool(check))
    except Exception as exc:
        log.error("health check failed: %s", type(exc).__name__)
        return _error(503, "unhealthy", "database unreachable")


async def metrics(request: Request) -> Response:
    service: Service = request.app.state.service

    def depths() -> tuple[int, int]:
        with reading(service.engine) as session:
            a = session.scalar(select(func.count()).where(col(SmsOutbox.status) == "queued")) or 0
            b = session.scalar(select(func.count()).where(col(MeterPush.status) == "queued")) or 0
            return int(a), int(b)

    sms_depth, push_depth = await run_in_threadpool(depths)
    service.metrics.outbox_depth.set(sms_depth)
    service.metrics.push_depth.set(push_depth)
    body = await run_in_threadpool(service.metrics.render)  # with several workers, reads their files
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


def create_app(settings: Settings, *, service: Service | None = None) -> Starlette:
    """Build the app. Migrates the schema (if enabled) and starts the workers when it starts serving."""
    service = service or Service(settings)
    service.check_providers()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await run_in_threadpool(migrate.upgrade, service.engine)
        # A PKCS#11 store logs in now (in this process), so a wrong module, token or PIN stops the start.
        start_store = getattr(service.keyring.store, "start", None)
        if start_store is not None:
            await run_in_threadpool(start_store)
        service.bind_loop(asyncio.get_running_loop())
        tasks = []
        if settings.run_workers:
            for name, one_pass in (
                ("payments", payments.one_pass),
                ("sms", sms.one_pass),
                ("push", push.one_pass),
            ):
                tasks.append(asyncio.create_task(run_forever(service, name, one_pass), name=f"worker-{name}"))
        try:
            yield
        finally:
            service.stop_workers()
            _done, late = (
                await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECONDS) if tasks else (set(), set())
            )
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await service.aclose()
            service.metrics.mark_process_dead()

    routes: list[BaseRoute] = [
        Route("/ussd", ussd_endpoint, methods=["POST"]),
        Route(C2B_VALIDATION_PATH, c2b_validation, methods=["POST"]),
        Route(C2B_CONFIRMATION_PATH, _c2b_confirmation, methods=["POST"]),
        Route(PAYMENT_CALLBACK_PATH, payment_callback, methods=["POST", "PUT"]),
        Route(SMS_DELIVERY_PATH, sms_delivery, methods=["POST"]),
        Route(SMS_INBOUND_PATH, sms_inbound, methods=["POST"]),
        Mount("/api/v1", routes=[*v1_routes, Route("/openapi.json", openapi, methods=["GET"])]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    admin_routes = admin.page_routes() if settings.admin_enabled else []
    if admin_routes:
        routes.append(admin.mount(admin_routes))
    app = Starlette(
        routes=routes,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.admin_routes = admin_routes
    return app


async def _c2b_confirmation(request: Request) -> Response:
    request.path_params["provider"] = "mpesa"
    return await payment_callback(request)


def app_from_env() -> Starlette:
    """Factory for `uvicorn --factory api.app:app_from_env` (each worker process reads settings once)."""
    return create_app(Settings.from_env())
