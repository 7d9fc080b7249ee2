"""Key rows name their key store and kind (issue 13): `store` is "kek" (sealed under NGUVU_KEK) or
"pkcs11" (the key is in the token, the row only names it); `kind` is "vending" or "decoder" (one meter's
decoder key from the key management centre, sealed, `bound_to` its PAN and key parameters); `bits` is the
key's size (existing rows: from the sealed length, nonce 12 + key + tag 16 bytes).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("vending_keys") as batch:
        batch.add_column(sa.Column("store", sa.String(length=8), nullable=False, server_default="kek"))
        batch.add_column(sa.Column("kind", sa.String(length=8), nullable=False, server_default="vending"))
        batch.add_column(sa.Column("bits", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("bound_to", sa.String(length=80), nullable=False, server_default=""))
    op.execute("UPDATE vending_keys SET bits = (length(sealed) - 28) * 8")


def downgrade() -> None:
    with op.batch_alter_table("vending_keys") as batch:
        for name in ("bound_to", "bits", "kind", "store"):
            batch.drop_column(name)
