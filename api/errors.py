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


# Field error keys (stable; the back office translates them, the CLI and REST show the English text).
FIELD_MESSAGES = {
    "required": "is required",
    "too_long": "is too long",
    "invalid": "is not valid",
    "invalid_phone": "must be a phone number, e.g. +243991234567",
    "invalid_customer_code": "must be 3-20 letters, digits or '-', not only digits",
    "customer_code_taken": "is already used by another subscriber",
    "invalid_meter_number": "is not a meter number (11 or 13 digits ending in the Luhn check digit, or 18)",
    "meter_exists": "is already registered",
    "duplicate_meter": "appears twice in the form",
    "invalid_choice": "is not one of the allowed values",
    "out_of_range": "is out of range",
    "invalid_number": "must be a number",
    "invalid_date": "must be a date (YYYY-MM-DD)",
    "unknown_vending_key": "names no stored vending key",
    "vending_key_too_short": "DKGA 04 needs a 160-bit vending key",
    "decoder_key_other_meter": "is a decoder key delivered for another meter",
    "dkga02_needs_decoder_key": "is in the PKCS#11 token: a DKGA 02 meter needs its decoder key from the KMC",
    "serial_url_required": "a connected meter needs a serial link",
    "unknown_tariff": "names no tariff",
    "invalid_amount": "must be a positive amount with at most 2 decimals",
    "amount_out_of_limits": "is outside the tariff's purchase limits",
    "no_tariff": "has no tariff in force in that currency",
    "invalid_rate": "must be a fraction between 0 and 1 (0.16 = 16 %)",
    "min_above_max": "is above the maximum purchase",
    "in_the_past": "must not be in the past",
    "tariff_exists": "a tariff already takes effect at that moment",
    # accounts of the back office (api.usecases.accounts)
    "invalid_email": "must be an email address",
    "email_taken": "is already used by another account",
    "password_too_short": "must have at least 10 characters",
    "password_mismatch": "differs from the new password",
    "wrong_password": "is not the current password",
}


# Keys that say "this value is fine but already taken": a conflict with stored rows (HTTP 409).
CONFLICT_KEYS = frozenset({"customer_code_taken", "meter_exists", "tariff_exists", "email_taken"})


class FieldErrors(InvalidInput):
    """Input refused field by field: `errors` maps each bad field to a key of FIELD_MESSAGES (a form
    shows each beside its field). Raised before anything is written. `is_conflict`: every error is a
    value already taken (HTTP 409, CLI exit 1) rather than a malformed one (422, exit 2)."""

    code = "invalid_fields"

    def __init__(self, errors: dict[str, str]) -> None:
        if not errors:
            raise ValueError("FieldErrors needs at least one field")
        self.errors = dict(errors)
        text = "; ".join(f"{field}: {FIELD_MESSAGES.get(key, key)}" for field, key in self.errors.items())
        # One bad field keeps its own code (`invalid_phone`), as the REST API and the CLI answered before.
        super().__init__(text, code=next(iter(self.errors.values())) if len(self.errors) == 1 else None)
        self.is_conflict = all(key in CONFLICT_KEYS for key in self.errors.values())
        if self.is_conflict:
            self.http_status = Conflict.http_status

    def prefixed(self, prefix: str) -> FieldErrors:
        """The same errors under `prefix.` (the second meter of a form: `meters.1.number`)."""
        return FieldErrors({f"{prefix}.{field}": key for field, key in self.errors.items()})
