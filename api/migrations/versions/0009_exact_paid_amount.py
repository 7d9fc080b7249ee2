"""payments.paid_amount holds what the provider said exactly: NUMERIC(20, 8) instead of NUMERIC(18, 4).

A provider amount of 3000.00001 was held as a mismatch but stored as 3000.0000, so the record showed no
difference. Provider amounts are refused above 8 decimals or from 10^12 (api.payments.fields); this
column holds every amount accepted. Existing values fit unchanged (4 decimals, below 10^12).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.alter_column(
            "paid_amount",
            existing_type=sa.Numeric(precision=18, scale=4),
            type_=sa.Numeric(precision=20, scale=8),
            existing_nullable=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.alter_column(
            "paid_amount",
            existing_type=sa.Numeric(precision=20, scale=8),
            type_=sa.Numeric(precision=18, scale=4),
            existing_nullable=True,
        )
