"""Payments: an index on (msisdn, created_at). The SMS resend keyword finds the tokens a phone paid for,
and the vendor API filters payments by phone, newest first; without it both scan every payment.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_payments_msisdn_created", "payments", ["msisdn", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_payments_msisdn_created", table_name="payments")
