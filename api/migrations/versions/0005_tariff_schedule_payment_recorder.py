"""Tariffs are scheduled (`effective_from`: one row per name, currency and start; the rows that existed
are in force since 1970), and payments record who took them by hand (`created_by`, the cashier).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0001 left the (name, currency) constraint unnamed: this names it on SQLite's reflected copy.
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s_%(column_1_name)s"}
_EPOCH = "1970-01-01 00:00:00"


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("created_by", sa.String(length=80), nullable=False, server_default=""))
    with op.batch_alter_table("payments") as batch:
        batch.alter_column("created_by", server_default=None)
    op.add_column("tariffs", sa.Column("effective_from", sa.DateTime(timezone=True), nullable=True))
    op.execute(sa.text(f"UPDATE tariffs SET effective_from = '{_EPOCH}'"))
    old = "tariffs_name_currency_key" if op.get_bind().dialect.name == "postgresql" else None
    with op.batch_alter_table("tariffs", naming_convention=_NAMING) as batch:
        batch.alter_column("effective_from", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.drop_constraint(old or "uq_tariffs_name_currency", type_="unique")
        batch.create_unique_constraint(
            "uq_tariffs_name_currency_from", ["name", "currency", "effective_from"]
        )


def downgrade() -> None:
    with op.batch_alter_table("tariffs") as batch:
        batch.drop_constraint("uq_tariffs_name_currency_from", type_="unique")
        batch.drop_column("effective_from")
        batch.create_unique_constraint("tariffs_name_currency_key", ["name", "currency"])
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("created_by")
