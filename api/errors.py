"""Operational errors of the vending service, and the one table that turns them into HTTP answers.

Every refusal the service makes is a `ServiceError` subclass with a stable machine `code`; the edges
(REST handler table, USSD screens, CLI exit codes) translate them in one place each.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Root of the service's operational errors."""

    code = "service_error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidInput(ServiceError):
    code = "invalid_input"
    http_status = 422


class NotFound(ServiceError):
    code = "not_found"
    http_status = 404


class Conflict(ServiceError):
    code = "conflict"
    http_status = 409


class AmountOutOfLimits(ServiceError):
    """The amount is below the tariff's minimum or above its maximum purchase."""

    code = "amount_out_of_limits"
    http_status = 422

    def __init__(self, message: str, *, minimum: object, maximum: object) -> None:
        super().__init__(message)
        self.minimum = minimum
        self.maximum = maximum


class NoTariff(ServiceError):
    code = "no_tariff"
    http_status = 422


class Unauthorized(ServiceError):
    code = "unauthorized"
    http_status = 401


class Forbidden(ServiceError):
    code = "forbidden"
    http_status = 403


class VendRefused(ServiceError):
    """The token engine refused to make the token (key expired, amount range...): nothing was issued."""

    code = "vend_refused"
    http_status = 422
