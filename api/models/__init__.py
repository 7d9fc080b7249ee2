"""The service's tables (SQLModel). One module per concept; this module re-exports them all so that
`SQLModel.metadata` is complete for Alembic and for tests."""

# The search and dashboard indexes (migration 0007) attach themselves to the tables when imported.
from api.models import indexes as _indexes  # noqa: F401
from api.models.accounts import AdminSession, LoginThrottle
from api.models.audit import ApiKey, AuditLog
from api.models.limits import RateCount
from api.models.meters import Meter, Tariff, VendingKeyRecord
from api.models.outbox import MeterPush, SmsOutbox
from api.models.payments import Payment, PaymentStatus, Token
from api.models.people import Administrator, Subscriber

__all__ = [
    "AdminSession",
    "Administrator",
    "ApiKey",
    "AuditLog",
    "LoginThrottle",
    "Meter",
    "MeterPush",
    "Payment",
    "PaymentStatus",
    "RateCount",
    "SmsOutbox",
    "Subscriber",
    "Tariff",
    "Token",
    "VendingKeyRecord",
]
