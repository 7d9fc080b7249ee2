"""The back office's search, listing and dashboard indexes (see api/models/indexes.py for the reason of
each): trigram GIN indexes for fragment search on PostgreSQL (pg_trgm, created in schema public), plain
B-tree indexes over the same columns on SQLite.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRGM_OPS = "public.gin_trgm_ops"
TRIGRAM: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ix_subscribers_search_trgm", "subscribers", ("name", "post_name", "customer_code", "phone")),
    ("ix_meters_number_trgm", "meters", ("drn", "pan")),
    ("ix_payments_msisdn_trgm", "payments", ("msisdn",)),
)
BTREE: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ix_subscribers_name_sort", "subscribers", ("name", "post_name", "id")),
    ("ix_tokens_created_at", "tokens", ("created_at",)),
    ("ix_payments_status_created", "payments", ("status", "created_at")),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Trusted since PostgreSQL 13: the database owner may create it. Left in place by downgrade
        # (other schemas of the same database may use it).
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
    for name, table, columns in TRIGRAM:
        op.create_index(
            name,
            table,
            list(columns),
            postgresql_using="gin",
            postgresql_ops=dict.fromkeys(columns, TRGM_OPS),
        )
    for name, table, columns in BTREE:
        op.create_index(name, table, list(columns))


def downgrade() -> None:
    for name, table, _ in (*BTREE, *TRIGRAM):
        op.drop_index(name, table_name=table)
