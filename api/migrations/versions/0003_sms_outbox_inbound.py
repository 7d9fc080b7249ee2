"""SMS outbox: the id of the incoming SMS a reply answers (unique, so a redelivery queues nothing) and an
index on (to, created_at) for the per-phone rate limit of those replies.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sms_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inbound_message_id", sa.String(length=80), nullable=True))
        batch_op.create_unique_constraint("uq_sms_outbox_inbound_message_id", ["inbound_message_id"])
        batch_op.create_index("ix_sms_outbox_to_created", ["to", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sms_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_outbox_to_created")
        batch_op.drop_constraint("uq_sms_outbox_inbound_message_id", type_="unique")
        batch_op.drop_column("inbound_message_id")
